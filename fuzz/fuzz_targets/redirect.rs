//! Fuzz target: `redirect_params` and `parse_redirect`, the redirect URL a browser came back with.
//!
//! Input: one byte choosing the response mode, then the URL (or form body). Checks: no panic; the
//! parameters are part of the URL; an error of graphgate's own never carries a code or state.

#![no_main]

mod common;

use graphgate_core::{RedirectResponse, ResponseMode, State, parse_redirect, percent_decode_param, redirect_params};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(url) = std::str::from_utf8(rest) else { return };
    let mode = match mode % 4 {
        0 => None,
        1 => Some(ResponseMode::Query),
        2 => Some(ResponseMode::Fragment),
        _ => Some(ResponseMode::FormPost),
    };
    let params = redirect_params(url, mode);
    let (start, end) = (url.as_ptr() as usize, url.as_ptr() as usize + url.len());
    let at = params.as_ptr() as usize;
    assert!(params.is_empty() || (at >= start && at + params.len() <= end), "the parameters are not the URL's");

    let secrets: Vec<String> = params
        .trim_start_matches(['?', '#'])
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(name, _)| matches!(*name, "code" | "state" | "id_token" | "session_state"))
        .filter_map(|(_, value)| percent_decode_param(value))
        .filter(|v| common::secret_looking(v))
        .collect();
    match parse_redirect(params) {
        Ok(response) => {
            let state = match &response {
                RedirectResponse::Success(s) => Some(s.state.clone()),
                RedirectResponse::Error { state, .. } => state.clone(),
            };
            let foreign = State::new("a state this redirect does not carry");
            match response.clone().verify(&foreign) {
                Ok(_) => assert!(state.as_ref() == Some(&foreign), "a foreign state was accepted"),
                Err(e) => {
                    for s in &secrets {
                        common::assert_not_echoed(&e, s, "code or state");
                    }
                    let _ = e.explain();
                }
            }
            if let Some(state) = state {
                let verified = response.verify(&state);
                assert!(!matches!(verified, Err(graphgate_core::Error::Graphgate { .. })), "its own state was refused");
            }
        }
        Err(e) => {
            for s in &secrets {
                common::assert_not_echoed(&e, s, "code or state");
            }
            let _ = e.explain();
        }
    }
});
