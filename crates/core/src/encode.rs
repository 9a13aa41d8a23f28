//! Percent-encoding for URLs and `application/x-www-form-urlencoded` bodies.
//!
//! Everything except the RFC 3986 unreserved characters is encoded, so a space is always `%20`
//! and a redirect URI such as `http://localhost:5173` becomes `http%3A%2F%2Flocalhost%3A5173`.
//! Also base64url and decimal numbers. All of it is written out here, without the crates or the
//! formatting code that would otherwise be compiled into the browser module.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

/// Whether `b` is an RFC 3986 unreserved character, the only ones left as they are.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes one URL component (a query value, a path segment).
pub fn percent_encode(value: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Encodes `name=value` pairs as a query string or form body.
pub fn form_encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&percent_encode(name));
        out.push('=');
        out.push_str(&percent_encode(value));
    }
    out
}

/// Decodes one query or form value: `+` is a space, `%XX` a byte; `None` if the bytes are not UTF-8.
pub fn percent_decode_param(value: &str) -> Option<String> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        out.push(match b {
            b'+' => b' ',
            // A `%` not followed by two hex digits stands for itself.
            b'%' => match (hex(bytes.get(i)), hex(bytes.get(i + 1))) {
                (Some(high), Some(low)) => {
                    i += 2;
                    (high * 16 + low) as u8
                }
                _ => b'%',
            },
            other => other,
        });
    }
    String::from_utf8(out).ok()
}

/// `bytes` in base64url without padding (RFC 4648 §5), as PKCE, `state` and `nonce` use it.
///
/// Written out rather than taken from the `base64` crate (which core still uses to decode): its
/// encoder would cost the browser module about 1 KB gzipped for these few lines.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        // One more character than whole bytes: 1 byte gives 2 characters, 2 give 3, 3 give 4.
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Whether `s` contains the ASCII character `c`. Prefer it to `str::contains(char)`, which
/// also compiles a substring searcher (for non-ASCII characters) into the browser module.
pub(crate) fn has_ascii(s: &str, c: u8) -> bool {
    s.as_bytes().contains(&c)
}

/// `n` in decimal, without the formatting machinery (which the browser module leaves out).
pub(crate) fn decimal(mut n: usize) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(char::from(b'0' + (n % 10) as u8));
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.iter().rev().collect()
}

/// Splits a query string, fragment or form body into decoded pairs.
///
/// Returns `None` if any name or value is not valid UTF-8 once decoded.
pub(crate) fn parse_pairs(input: &str) -> Option<Vec<(String, String)>> {
    input
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Some((percent_decode_param(name)?, percent_decode_param(value)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_everything_but_unreserved() {
        assert_eq!(percent_encode("a b+c/d:e~f.g-h_i"), "a%20b%2Bc%2Fd%3Ae~f.g-h_i");
        assert_eq!(percent_encode("http://localhost:5173"), "http%3A%2F%2Flocalhost%3A5173");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    proptest::proptest! {
        #[test]
        fn decoding_undoes_encoding(value in ".*") {
            let encoded = percent_encode(&value);
            proptest::prop_assert!(encoded.bytes().all(|b| is_unreserved(b) || b == b'%'));
            proptest::prop_assert_eq!(percent_decode_param(&encoded), Some(value));
        }
    }

    #[test]
    fn form_encoding_joins_pairs() {
        assert_eq!(form_encode([("a", "1 2"), ("b", "&=")]), "a=1%202&b=%26%3D");
    }

    #[test]
    fn base64url_matches_the_base64_crate() {
        use base64::Engine as _;
        let mut bytes = Vec::new();
        for n in 0..=70u8 {
            assert_eq!(base64url(&bytes), base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes), "{n} bytes");
            bytes.push(n.wrapping_mul(97).wrapping_add(251));
        }
        assert_eq!(base64url(&[0xfb, 0xff, 0xbf]), "-_-_");
    }

    #[test]
    fn decimal_writes_numbers() {
        for n in [0, 7, 10, 43, 129, 1_000_007, usize::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn decoding_handles_plus_and_bad_utf8() {
        assert_eq!(percent_decode_param("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode_param("%2B%2b%C3%A9%7e").as_deref(), Some("++é~"));
        assert_eq!(percent_decode_param("100%").as_deref(), Some("100%"));
        assert_eq!(percent_decode_param("%4").as_deref(), Some("%4"));
        assert_eq!(percent_decode_param("%zz%4g").as_deref(), Some("%zz%4g"));
        assert_eq!(percent_decode_param("%FF"), None);
        assert_eq!(
            parse_pairs("a=1&&b&c=%3D"),
            Some(vec![("a".into(), "1".into()), ("b".into(), "".into()), ("c".into(), "=".into())])
        );
    }
}
