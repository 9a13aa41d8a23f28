//! Fuzz target: `parse_token_response`, the token endpoint's answer.
//!
//! Input: two bytes of HTTP status, then the body. Checks: no panic; a success is a Bearer token
//! with its access token; an error of graphgate's own never carries a token from the body.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((status, body)) = data.split_first_chunk::<2>() else { return };
    let Ok(body) = std::str::from_utf8(body) else { return };
    // Mostly 200 and 400, the statuses the endpoint answers; any other now and then.
    let status = match u16::from_le_bytes(*status) {
        s if s % 4 == 0 => 200,
        s if s % 4 == 1 => 400,
        s => s,
    };
    match graphgate_core::parse_token_response(status, body) {
        Ok(token) => {
            assert!((200..300).contains(&status), "a token from HTTP {status}");
            assert!(token.token_type.eq_ignore_ascii_case("bearer"));
            let _ = token.access_token.expose_secret();
        }
        Err(e) => {
            let mut values = Vec::new();
            let json = serde_json::from_str::<serde_json::Value>(body).ok();
            if let Some(v) = &json {
                common::strings(v, &mut values);
            }
            // `token_type` is no secret: its wrong value is quoted on purpose.
            let token_type = json.as_ref().and_then(|v| v.get("token_type")).and_then(|t| t.as_str()).unwrap_or("");
            for s in values.iter().filter(|s| common::secret_looking(s) && !token_type.contains(s.as_str())) {
                common::assert_not_echoed(&e, s, "body's text");
            }
            let x = e.explain();
            assert!(!x.code.is_empty());
        }
    }
});
