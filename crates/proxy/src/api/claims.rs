//! Answering a claims challenge on `/api/auth/token`: the page got Graph's 401
//! `insufficient_claims` (which Graph sends only to clients that declared `cp1`, see
//! `entra.client_capabilities`), decoded its `claims` and sends them as `{"claims": "<JSON>"}`.
//!
//! The proxy redeems the session's refresh token at once with those claims merged with its
//! capabilities (whatever is cached: the cached token is the one Graph refused), through the one
//! refresh path (`refresh.rs`) like any refresh, and replaces the cached access token and the
//! refresh token with the new ones (<https://learn.microsoft.com/entra/identity-platform/claims-challenge>).
//!
//! When Entra needs the user for those claims (MFA: `interaction_required`, often with its own
//! `claims`), the answer is 401 `interaction_required` with a `claims` field, the claims the
//! page's next sign-in must send as `claims=` on `/authorize`. The session stays: its grant still
//! works for everything the challenge does not cover. A grant Entra refuses outright
//! (`invalid_grant` without claims: revoked, lapsed) ends the session, as any refresh does.

use graphgate_core::{EntraError, Error as CoreError, ErrorCode};

use crate::error::ApiError;
use crate::state::AppState;

/// The longest `claims` accepted (Graph's challenges are a few hundred bytes).
const MAX_CLAIMS_LEN: usize = 8 * 1024;

/// Checks a `claims` value from the page: at most [`MAX_CLAIMS_LEN`] bytes, a JSON object
/// (`invalid_claims` otherwise). The value itself never appears in the error.
pub(super) fn check(claims: &str) -> Result<String, ApiError> {
    let claims = claims.trim();
    if claims.len() > MAX_CLAIMS_LEN {
        return Err(ApiError::new(
            ErrorCode::InvalidClaims,
            format!("claims is {} bytes long; at most {MAX_CLAIMS_LEN} are accepted", claims.len()),
        ));
    }
    if claims.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidClaims, "claims is empty; send the decoded challenge's JSON"));
    }
    graphgate_core::merge_client_capabilities(claims, &[])?;
    Ok(claims.to_owned())
}

/// The answer when Entra needs the user for `challenge`: 401 `interaction_required` with the
/// claims the next sign-in must send (Entra's own, else the ones sent with the capabilities).
pub(super) fn needs_user(state: &AppState, x: Box<EntraError>, challenge: &str) -> ApiError {
    let sent = match state.settings.entra.token_claims(Some(challenge)) {
        Ok(sent) => sent.unwrap_or_else(|| challenge.to_owned()),
        Err(e) => return e.into(),
    };
    let claims = x.claims.clone().filter(|c| !c.trim().is_empty()).unwrap_or(sent);
    tracing::info!(code = %CoreError::Entra(x.clone()).explain().code, "a claims challenge needs the user");
    ApiError::from(CoreError::Entra(x)).interaction_required().with_claims(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_must_be_a_small_json_object() {
        assert_eq!(check(r#" {"access_token":{}} "#).expect("valid"), r#"{"access_token":{}}"#);
        for bad in ["", "  ", "[]", "\"x\"", "{", "eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="] {
            let e = check(bad).expect_err(bad);
            assert_eq!(e.error, "invalid_claims", "{bad}");
            assert_eq!(e.status(), 400);
        }
        let long = ["{\"x\":\"", &"a".repeat(MAX_CLAIMS_LEN), "\"}"].concat();
        let e = check(&long).expect_err("too long");
        assert_eq!(e.error, "invalid_claims");
        assert!(!e.explanation.message.contains("aaaa"), "the value is not repeated");
    }
}
