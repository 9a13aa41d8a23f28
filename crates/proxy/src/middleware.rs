//! The layers around the handlers: `Cache-Control: no-store` on `/api/auth/*`, request IDs with
//! one log line and the metrics per request, the catalogue's answer for a body over the limit,
//! and the CSRF check of state-changing calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use graphgate_core::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The custom header every state-changing call must carry (browsers cannot send it cross-origin
/// without a CORS preflight the proxy refuses).
pub(crate) const CSRF_HEADER: &str = "x-graphgate";

/// The request ID header, read from the caller and echoed back.
const REQUEST_ID: &str = "x-request-id";

/// What the request IDs this process makes start with: random, so IDs of several instances (or
/// restarts) do not collide in one log store.
static ID_PREFIX: LazyLock<String> = LazyLock::new(|| graphgate_core::random_token(6).unwrap_or_default());

/// How many request IDs this process has made.
static IDS_MADE: AtomicU64 = AtomicU64::new(0);

/// A new request ID: the process's prefix and a counter (no secure random number per request:
/// an ID names a request in the log, it guards nothing).
fn new_request_id() -> String {
    format!("{}-{:x}", *ID_PREFIX, IDS_MADE.fetch_add(1, Ordering::Relaxed))
}

/// Gives each request an ID (the caller's `X-Request-Id` when it is a short token, else a new
/// one), logs one line per request — method, route pattern, status, duration, request ID; never a
/// header, a query or a body — counts it by route and status, and echoes the ID back.
pub(crate) async fn trace_request(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "other".to_owned());
    let request_id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let mut response = next.run(req).await;
    let status = response.status().as_u16();
    tracing::info!(request_id = %request_id, method = %method, route = %route, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    state.metrics.request(&route, status);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// Marks every answer under `/api/auth/` (tokens, the account, errors included) `Cache-Control:
/// no-store`, so neither the browser nor a proxy in between keeps it.
pub(crate) async fn no_store_auth(req: Request, next: Next) -> Response {
    let auth = req.uri().path().starts_with("/api/auth/");
    let mut response = next.run(req).await;
    if auth {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Answers a body over `server.body_limit` (the bare 413 of the body reader) with the catalogue's
/// `body_too_large` error.
pub(crate) async fn explain_body_too_large(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    ApiError::new(ErrorCode::BodyTooLarge, format!("the body exceeds {} bytes", state.settings.server.body_limit))
        .into_response()
}

/// State-changing calls need a JSON body, the custom header, and an allowed `Origin` (when the
/// caller is a browser, which always sends one).
pub(crate) async fn csrf(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !state.settings.server.origins.iter().any(|o| o == origin) {
            return ApiError::new(
                ErrorCode::OriginNotAllowed,
                format!("the origin {origin} is not allowed to call this proxy"),
            )
            .into_response();
        }
    }
    if !headers.contains_key(CSRF_HEADER) {
        return ApiError::new(ErrorCode::CsrfHeaderMissing, "state-changing calls need the header X-Graphgate: 1")
            .into_response();
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return ApiError::new(ErrorCode::UnsupportedContentType, "send Content-Type: application/json").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_short_and_fit_a_header() {
        let ids: std::collections::BTreeSet<String> = (0..1_000).map(|_| new_request_id()).collect();
        assert_eq!(ids.len(), 1_000);
        for id in &ids {
            assert!(id.len() <= 64 && HeaderValue::from_str(id).is_ok(), "{id}");
        }
    }
}
