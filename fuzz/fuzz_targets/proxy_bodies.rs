//! Fuzz target: every JSON body and query the proxy's HTTP API accepts, parsed and checked as
//! the handlers do (through `graphgate_proxy::fuzzing`): `/api/auth/begin`, `/api/auth/exchange`,
//! `/api/auth/token`, `/api/auth/logout`, `/api/invitations` (self-service or not) and the query
//! of `/api/admin/sessions` (list or revoke).
//!
//! Input: one byte choosing the route, then the body or query. Checks: no panic; a refusal is a
//! client error with a code and a message, and never quotes a code from the body.

#![no_main]

mod common;

use graphgate_proxy::fuzzing::{self, Rejection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&route, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let result = match route % 8 {
        0 => fuzzing::begin_body(text),
        1 => fuzzing::exchange_body(text),
        2 => fuzzing::token_body(text),
        3 => fuzzing::logout_body(text),
        4 => fuzzing::invitation_body(text, true),
        5 => fuzzing::invitation_body(text, false),
        6 => fuzzing::admin_sessions_query(text, false),
        _ => fuzzing::admin_sessions_query(text, true),
    };
    let Err(Rejection { error, status, message }) = result else { return };
    assert!((400..500).contains(&status), "{error} answered with {status}: {message}");
    assert!(!error.is_empty() && !message.is_empty());
    if route % 8 == 1 {
        // The code of `/api/auth/exchange` is a secret: never quoted back.
        let code = serde_json::from_str::<serde_json::Value>(text).ok();
        let code = code.as_ref().and_then(|v| v.get("code")).and_then(|c| c.as_str()).unwrap_or("");
        if common::secret_looking(code) {
            assert!(!message.contains(code), "the error quotes the code: {message}");
        }
    }
});
