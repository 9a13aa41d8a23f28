//! Fuzz target: `GraphError::parse` and `GraphErrorBody`, Microsoft Graph's error answers.
//!
//! Input: two bytes of HTTP status, a byte of header choice, then the body. Checks: no panic; any
//! JSON document deserializes as a `GraphErrorBody` (the shape never fails); parsing the text and
//! building from the deserialized body agree; headers fill only missing IDs.

#![no_main]

use graphgate_core::{GraphError, GraphErrorBody};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<3>() else { return };
    let Ok(body) = std::str::from_utf8(body) else { return };
    let status = u16::from_le_bytes([head[0], head[1]]);
    let parsed = GraphError::parse(status, body);
    let deserialized = serde_json::from_str::<GraphErrorBody>(body);
    if serde_json::from_str::<serde_json::Value>(body).is_ok() {
        assert!(deserialized.is_ok(), "valid JSON refused as a Graph error body: {deserialized:?}");
    }
    assert_eq!(parsed, GraphError::from_body(status, deserialized.ok()));
    assert_eq!(parsed.status, status);
    let headers: &[(&str, &str)] = match head[2] % 3 {
        0 => &[],
        1 => &[("Request-Id", "header-request-id"), ("client-request-id", "header-client-id")],
        _ => &[("retry-after", "5")],
    };
    let had_id = parsed.request_id.clone();
    let with = parsed.with_response_headers(headers);
    if let Some(id) = had_id {
        assert_eq!(with.request_id.as_deref(), Some(id.as_str()), "a header replaced the body's request-id");
    }
    let _ = with.to_string();
    let x = with.into_error().explain();
    assert!(!x.slug.is_empty());
});
