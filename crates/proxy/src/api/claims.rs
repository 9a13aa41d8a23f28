//! Answering a claims challenge on `/api/auth/token`: the page got Graph's 401
//! `insufficient_claims` (which Graph sends only to clients that declared `cp1`, see
//! `entra.client_capabilities`), decoded its `claims` and sends them as `{"claims": "<JSON>"}`.
//!
//! The proxy redeems the session's refresh token at once with those claims merged with its
//! capabilities (whatever is cached: the cached token is the one Graph refused), under the
//! session's slot lock like any refresh, and replaces the cached access token and the refresh
//! token with the new ones (https://learn.microsoft.com/entra/identity-platform/claims-challenge).
//!
//! When Entra needs the user for those claims (MFA: `interaction_required`, often with its own
//! `claims`), the answer is 401 `interaction_required` with a `claims` field, the claims the
//! page's next sign-in must send as `claims=` on `/authorize`. The session stays: its grant still
//! works for everything the challenge does not cover. A grant Entra refuses outright
//! (`invalid_grant` without claims: revoked, lapsed) ends the session, as any refresh does.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use graphgate_core::{Error as CoreError, ErrorCode, Grant, Scopes, SessionId};

use super::auth::{cached, session_cookie, store_error, token_answer};
use crate::app::AppState;
use crate::error::ApiError;
use crate::session::Session;
use crate::tokens::CachedToken;

/// The longest `claims` accepted (Graph's challenges are a few hundred bytes).
pub(super) const MAX_CLAIMS_LEN: usize = 8 * 1024;

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

/// Redeems the session's refresh token with `challenge` (and the configured capabilities) for
/// `scopes`, while the caller holds the session's slot (`guard`).
pub(super) async fn answer(
    state: &AppState,
    id: &SessionId,
    session: &Session,
    guard: &mut Option<CachedToken>,
    scopes: &Scopes,
    challenge: &str,
    now: u64,
) -> Result<Response, ApiError> {
    let tenant = graphgate_core::Tenant::parse(&session.tenant)?;
    let grant = Grant::RefreshToken(&session.refresh_token);
    let refreshed =
        state.upstream.token_with_claims(&state.credential, &tenant, grant, Some(scopes), Some(challenge), now).await;
    let tokens = match refreshed {
        Ok(t) => t,
        Err(CoreError::Entra(x))
            if x.needs_interaction() || x.claims.as_deref().is_some_and(|c| !c.trim().is_empty()) =>
        {
            // What the next authorize must carry: Entra's claims, else the ones sent.
            let sent = state.settings.token_claims(Some(challenge))?.unwrap_or_else(|| challenge.to_owned());
            let claims = x.claims.clone().filter(|c| !c.trim().is_empty()).unwrap_or(sent);
            tracing::info!(code = %CoreError::Entra(x.clone()).explain().code, "a claims challenge needs the user");
            return Err(ApiError::from(CoreError::Entra(x)).interaction_required().with_claims(claims));
        }
        Err(e) if e.grant_is_dead() => {
            *guard = None;
            state.sessions.delete(id).await.map_err(store_error)?;
            let clear = session_cookie(state, String::new(), 0);
            return Ok(([(header::SET_COOKIE, clear)], ApiError::from(e).interaction_required()).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    let token = cached(&tokens, &scopes.to_string(), now);
    if let Some(rt) = tokens.refresh_token.clone() {
        state.sessions.replace_refresh_token(id, rt, now, now).await.map_err(store_error)?;
    }
    *guard = Some(token.clone());
    Ok(Json(token_answer(&token, &session.account, now)).into_response())
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
