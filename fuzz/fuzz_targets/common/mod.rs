//! What the fuzz targets share: telling secret-looking text apart, and checking that an error
//! graphgate built itself does not carry it (core's invariant: details name fields, lengths and
//! positions, never the values of codes, tokens or secrets).

#![allow(dead_code, reason = "each target uses part of it")]

use graphgate_core::Error;

/// Whether `s` looks like a secret for the invariant: at least 8 bytes, a digit, no whitespace.
/// The fixed texts of graphgate's errors hold no such run, so finding one in an error's detail
/// means the input leaked into it.
pub fn secret_looking(s: &str) -> bool {
    s.len() >= 8 && s.bytes().any(|b| b.is_ascii_digit()) && !s.chars().any(char::is_whitespace)
}

/// Panics when `error` is one of graphgate's own errors and its detail contains `secret`.
pub fn assert_not_echoed(error: &Error, secret: &str, what: &str) {
    if let Error::Graphgate { detail, .. } = error {
        assert!(!detail.contains(secret), "the error echoes the {what}: {detail:?}");
    }
}

/// Every string in a JSON value (keys excluded), at any depth.
pub fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}
