//! Percent-encoding for URLs and `application/x-www-form-urlencoded` bodies.
//!
//! Everything except the RFC 3986 unreserved characters is encoded, so a space is always `%20`
//! and a redirect URI such as `http://localhost:5173` becomes `http%3A%2F%2Flocalhost%3A5173`.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};

/// The characters that are encoded: all but `A–Z a–z 0–9 - . _ ~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one URL component (a query value, a path segment).
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
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
    let spaced = value.replace('+', " ");
    percent_decode(spaced.as_bytes()).decode_utf8().ok().map(|s| s.into_owned())
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

    #[test]
    fn form_encoding_joins_pairs() {
        assert_eq!(form_encode([("a", "1 2"), ("b", "&=")]), "a=1%202&b=%26%3D");
    }

    #[test]
    fn decoding_handles_plus_and_bad_utf8() {
        assert_eq!(percent_decode_param("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode_param("%FF"), None);
        assert_eq!(
            parse_pairs("a=1&&b&c=%3D"),
            Some(vec![("a".into(), "1".into()), ("b".into(), "".into()), ("c".into(), "=".into())])
        );
    }
}
