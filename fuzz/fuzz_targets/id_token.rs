//! Fuzz target: `decode_jwt_payload` and `IdTokenClaims`, the ID token's claims and the account.
//!
//! Input: one byte choosing the form, then either a whole compact JWT (even byte) or the claims
//! JSON that becomes its payload (odd byte). Checks: no panic; an error of graphgate's own never
//! carries a part of the token; an issuer check against the token's own `iss` passes.

#![no_main]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use graphgate_core::{IdToken, IdTokenClaims, Nonce, decode_jwt_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else { return };
    let token = if form % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        text.to_owned()
    } else {
        ["eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.", &URL_SAFE_NO_PAD.encode(rest), ".c2lnbmF0dXJlMQ"].concat()
    };
    let parts: Vec<&str> = token.split('.').filter(|p| common::secret_looking(p)).collect();

    match decode_jwt_payload(&token) {
        Ok(payload) => assert!(payload.len() <= token.len()),
        Err(e) => parts.iter().for_each(|p| common::assert_not_echoed(&e, p, "token")),
    }
    let claims = match IdTokenClaims::decode_unverified(&IdToken::new(token.clone())) {
        Ok(claims) => claims,
        Err(e) => {
            parts.iter().for_each(|p| common::assert_not_echoed(&e, p, "token"));
            let _ = e.explain();
            return;
        }
    };
    let account = claims.account();
    if let (Some(oid), Some(tid)) = (&claims.oid, &claims.tid)
        && !oid.is_empty()
        && !tid.is_empty()
    {
        assert_eq!(account.home_account_id, [oid.as_str(), ".", tid].concat());
    }
    let _ = claims.account_type();
    if !claims.iss.to_ascii_lowercase().contains("{tenantid}") {
        assert!(claims.check_issuer(&claims.iss).is_ok(), "the token's own issuer was refused");
    }
    let _ = claims.check_issuer("https://login.microsoftonline.com/{tenantid}/v2.0");
    let _ = claims.check_issuer("https://login.microsoftonline.com/{TenantId}");
    let nonce = claims.nonce.clone().map(Nonce::new);
    match nonce {
        Some(n) => assert!(claims.check_nonce(&n).is_ok(), "the token's own nonce was refused"),
        None => assert!(claims.check_nonce(&Nonce::new("n")).is_err()),
    }
});
