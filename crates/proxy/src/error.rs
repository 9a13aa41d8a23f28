//! The proxy's one error type and its JSON answer:
//! `{error, code, message, cause, causeZh, hint, hintZh, traceId, correlationId}` (plus `slug` and `retryable`,
//! and `claims` when the next sign-in must send a claims request), with every text taken from the core catalogue.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use graphgate_core::{Error as CoreError, ErrorCode, Explanation};
use serde_json::json;

use crate::session::StoreError;

/// An error answered to a caller.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    /// What the caller branches on: a graphgate code, or the upstream OAuth error / Graph code.
    pub(crate) error: String,
    /// The catalogue's explanation.
    pub(crate) explanation: Box<Explanation>,
    /// A claims request (JSON text) the next `/authorize` must send as `claims`: Entra's
    /// `claims` field, or the claims challenge a refresh could not satisfy without the user.
    pub(crate) claims: Option<String>,
}

impl ApiError {
    /// One of graphgate's own errors.
    pub(crate) fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::from(CoreError::new(code, detail))
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.explanation.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// An upstream grant failure the user can only fix by signing in again: answered as 401
    /// `interaction_required`, keeping Entra's code and the catalogue's hint.
    pub(crate) fn interaction_required(mut self) -> Self {
        self.error = ErrorCode::InteractionRequired.as_str().to_owned();
        self.explanation.status = 401;
        self.explanation.retryable = false;
        self
    }

    /// Entra refused scopes beyond the session's own (AADSTS65001 and the like): answered as
    /// 403 `consent_required`, keeping Entra's code and the catalogue's hint. The session stays.
    pub(crate) fn consent_required(mut self) -> Self {
        self.error = "consent_required".to_owned();
        self.explanation.status = 403;
        self.explanation.retryable = false;
        self
    }

    /// Adds the claims the next sign-in must send.
    pub(crate) fn with_claims(mut self, claims: impl Into<String>) -> Self {
        self.claims = Some(claims.into());
        self
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let error = match &e {
            CoreError::Graphgate { code, .. } => code.as_str().to_owned(),
            CoreError::Entra(x) => x.error.clone(),
            CoreError::Graph(x) => x.code.clone(),
            _ => ErrorCode::InternalError.as_str().to_owned(),
        };
        let mut explanation = Box::new(e.explain());
        if let CoreError::Graph(g) = &e {
            // Graph's own status is what the browser expects to see again.
            explanation.status = g.status;
        }
        let claims = match &e {
            CoreError::Entra(x) => x.claims.clone().filter(|c| !c.trim().is_empty()),
            _ => None,
        };
        Self { error, explanation, claims }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::new(ErrorCode::StoreUnavailable, format!("the session store failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let x = &self.explanation;
        let mut body = json!({
            "error": self.error,
            "code": x.code,
            "message": x.message,
            "cause": x.cause,
            "causeZh": x.cause_zh,
            "hint": x.hint,
            "hintZh": x.hint_zh,
            "traceId": x.trace_id,
            "correlationId": x.correlation_id,
            "slug": x.slug,
            "retryable": x.retryable,
        });
        if let (Some(claims), Some(map)) = (&self.claims, body.as_object_mut()) {
            map.insert("claims".to_owned(), claims.clone().into());
        }
        let mut response = (self.status(), Json(body)).into_response();
        if self.error == ErrorCode::RateLimited.as_str() {
            // Every per-client limit counts a minute.
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("60"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn errors_answer_the_catalogue_shape() {
        let response = ApiError::new(ErrorCode::CsrfHeaderMissing, "add the X-Graphgate header").into_response();
        assert_eq!(response.status(), 403);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 10_000).await.expect("body")).expect("json");
        assert_eq!(body["error"], "csrf_header_missing");
        assert_eq!(body["code"], "csrf_header_missing");
        assert_eq!(body["message"], "add the X-Graphgate header");
        assert!(!body["hint"].as_str().expect("hint").is_empty());
        assert!(!body["hintZh"].as_str().expect("hintZh").is_empty());
        assert!(!body["cause"].as_str().expect("cause").is_empty());
        assert!(!body["causeZh"].as_str().expect("causeZh").is_empty());
    }

    #[tokio::test]
    async fn entra_s_claims_reach_the_answer() {
        let e = graphgate_core::parse_token_response(
            400,
            r#"{"error":"interaction_required","error_codes":[50076],"claims":"{\"access_token\":{\"acrs\":{\"essential\":true,\"value\":\"c1\"}}}"}"#,
        )
        .expect_err("an error");
        let api = ApiError::from(e).interaction_required();
        let response = api.into_response();
        assert_eq!(response.status(), 401);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(response.into_body(), 10_000).await.expect("body")).expect("json");
        assert_eq!(body["claims"], r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#);
        let plain = ApiError::new(ErrorCode::NotSignedIn, "x").into_response();
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(plain.into_body(), 10_000).await.expect("body")).expect("json");
        assert!(body.get("claims").is_none(), "no claims field without claims");
    }

    #[test]
    fn a_failed_refresh_becomes_interaction_required() {
        let e = graphgate_core::parse_token_response(
            400,
            r#"{"error":"invalid_grant","error_description":"AADSTS50173: revoked","error_codes":[50173]}"#,
        )
        .expect_err("an error");
        let api = ApiError::from(e).interaction_required();
        assert_eq!(api.status(), 401);
        assert_eq!(api.error, "interaction_required");
        assert_eq!(api.explanation.code, "AADSTS50173");
    }
}
