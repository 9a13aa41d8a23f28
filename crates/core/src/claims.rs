//! Claims challenges (Continuous Access Evaluation, Conditional Access): reading the
//! `insufficient_claims` challenge of a `WWW-Authenticate` header, and declaring client
//! capabilities (`cp1`) in a claims request.
//!
//! A client that declares `cp1` on its token requests
//! (`claims={"access_token":{"xms_cc":{"values":["cp1"]}}}`) gets claims challenges from Graph:
//! HTTP 401 with `WWW-Authenticate: Bearer realm="", authorization_uri="…",
//! error="insufficient_claims", claims="<base64 JSON>"`. The decoded JSON, merged with the
//! client's capabilities, is the `claims` parameter of the next token request, or of the next
//! `/authorize` when Entra needs the user (https://learn.microsoft.com/entra/identity-platform/claims-challenge).
//!
//! Used by the browser module too: no `format!`, strings built with `concat`/`push_str`.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use serde_json::{Map, Value};

use crate::error::{Error, ErrorCode};

/// The client capability that asks for claims challenges (CAE).
pub const CP1: &str = "cp1";

/// The decoded claims (JSON object text) of an `insufficient_claims` challenge in a
/// `WWW-Authenticate` header value; `None` when the header holds no such challenge.
///
/// Tolerates several challenges in one header (Graph may send `Bearer` and `PoP`), parameters
/// in any order and case, quoted or bare values, spaces around `=`, and standard or URL-safe
/// base64 with or without padding. The claims must decode to a JSON object.
pub fn parse_claims_challenge(www_authenticate: &str) -> Option<String> {
    let mut parser = Parser { bytes: www_authenticate.as_bytes(), at: 0 };
    // The challenge being read: whether its scheme counts, its `error` and its `claims`.
    let mut scheme_ok = true;
    let mut error: Option<String> = None;
    let mut claims: Option<String> = None;
    loop {
        parser.skip(|b| b == b',' || is_space(b));
        let Some(word) = parser.token() else {
            if parser.at < parser.bytes.len() {
                // A stray character: skip it rather than give up.
                parser.at += 1;
                continue;
            }
            break;
        };
        parser.skip(is_space);
        if parser.peek() == Some(b'=') {
            parser.at += 1;
            parser.skip(is_space);
            let value = parser.value();
            if word.eq_ignore_ascii_case("error") {
                error = Some(value);
            } else if word.eq_ignore_ascii_case("claims") {
                claims = Some(value);
            }
        } else {
            // A new scheme: finish the challenge before it.
            if let Some(found) = finish(scheme_ok, error.take(), claims.take()) {
                return Some(found);
            }
            scheme_ok = word.eq_ignore_ascii_case("bearer") || word.eq_ignore_ascii_case("pop");
        }
    }
    finish(scheme_ok, error, claims)
}

/// The decoded claims of a finished challenge, when it is an `insufficient_claims` one.
fn finish(scheme_ok: bool, error: Option<String>, claims: Option<String>) -> Option<String> {
    if !scheme_ok || !error.is_some_and(|e| e.trim().eq_ignore_ascii_case("insufficient_claims")) {
        return None;
    }
    let encoded = claims?;
    let encoded = encoded.trim();
    // Some servers send the JSON itself; Graph sends base64.
    let text = if encoded.as_bytes().first() == Some(&b'{') {
        encoded.to_owned()
    } else {
        String::from_utf8(base64_decode(encoded)?).ok()?
    };
    // A claims request is a JSON object. Only its shape is checked here, so that the browser
    // module carries no JSON parser: whoever redeems it (the proxy, through
    // [`merge_client_capabilities`]) parses it and refuses what is not an object.
    let text = text.trim();
    (text.starts_with('{') && text.ends_with('}')).then(|| text.to_owned())
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 7230 `tchar`, plus `/` so a bare base64 value reads as one token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/".contains(&b)
}

/// A cursor over the header's bytes; every step stays in bounds.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip(&mut self, what: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&what) {
            self.at += 1;
        }
    }

    /// A token, or `None` when none starts here.
    fn token(&mut self) -> Option<String> {
        let start = self.at;
        self.skip(is_tchar);
        let word = self.bytes.get(start..self.at)?;
        if word.is_empty() { None } else { Some(String::from_utf8_lossy(word).into_owned()) }
    }

    /// A parameter value: a quoted string (with `\` escapes) or everything up to `,` or a space
    /// (base64 padding `=` included).
    fn value(&mut self) -> String {
        let mut out = Vec::new();
        if self.peek() == Some(b'"') {
            self.at += 1;
            while let Some(b) = self.peek() {
                self.at += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        if let Some(escaped) = self.peek() {
                            out.push(escaped);
                            self.at += 1;
                        }
                    }
                    _ => out.push(b),
                }
            }
        } else {
            while let Some(b) = self.peek().filter(|&b| b != b',' && !is_space(b)) {
                out.push(b);
                self.at += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// Decodes standard or URL-safe base64, padded or not; `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut digits = text.as_bytes();
    while let [rest @ .., b'='] = digits {
        digits = rest;
    }
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in digits {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `claims` (a JSON claims request; empty means none) with `capabilities` added to
/// `access_token.xms_cc.values` (a union, compared without regard to case), as JSON text.
///
/// Fails with `invalid_claims` when `claims` is not a JSON object or its `access_token` is not
/// an object.
pub fn merge_client_capabilities(claims: &str, capabilities: &[&str]) -> Result<String, Error> {
    let mut root = if claims.trim().is_empty() {
        Map::new()
    } else {
        match serde_json::from_str::<Value>(claims) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::new(ErrorCode::InvalidClaims, "the claims request is not a JSON object")),
        }
    };
    if !capabilities.is_empty() {
        let access = root.entry("access_token").or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(access) = access else {
            return Err(Error::new(ErrorCode::InvalidClaims, "access_token in the claims request is not an object"));
        };
        let xms_cc = access.entry("xms_cc").or_insert_with(|| Value::Object(Map::new()));
        if !xms_cc.is_object() {
            *xms_cc = Value::Object(Map::new());
        }
        if let Value::Object(xms_cc) = xms_cc {
            let values = xms_cc.entry("values").or_insert_with(|| Value::Array(Vec::new()));
            if !values.is_array() {
                *values = Value::Array(Vec::new());
            }
            if let Value::Array(values) = values {
                for cap in capabilities {
                    let present = values.iter().any(|v| v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(cap)));
                    if !present {
                        values.push(Value::String((*cap).to_owned()));
                    }
                }
            }
        }
    }
    serde_json::to_string(&Value::Object(root))
        .map_err(|_| Error::new(ErrorCode::InvalidClaims, "the claims request cannot be written as JSON"))
}

#[cfg(test)]
mod tests;
