//! The proxy's HTTP surface: the routes, and the layers around them (CORS, timeout, body limit,
//! request tracing, CSRF on state-changing routes), plus the optional static directory.
//!
//! Layer order (outermost first): `no-store` on `/api/auth/*` (so every answer there carries it,
//! preflights, timeouts and errors included), CORS (answers preflights, adds headers), request timeout,
//! body limit, request tracing (ID, log line, metrics), the body-limit answer, CSRF
//! (state-changing routes only), then the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use graphgate_core::ErrorCode;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::api;
use crate::error::ApiError;
use crate::middleware::{CSRF_HEADER, csrf, explain_body_too_large, no_store_auth, trace_request};
use crate::state::AppState;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The whole application.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let server = &state.settings.server;
    let origins: Vec<HeaderValue> = server.origins.iter().filter_map(|o| o.parse().ok()).collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::HeaderName::from_static(CSRF_HEADER)])
        .max_age(PREFLIGHT_MAX_AGE);
    let state_changing = Router::new()
        .route("/api/auth/begin", post(api::auth::begin))
        .route("/api/auth/exchange", post(api::auth::exchange))
        .route("/api/auth/token", post(api::auth::token))
        .route("/api/auth/logout", post(api::auth::logout))
        .route("/api/invitations", post(api::invitations::invite))
        .route_layer(from_fn_with_state(state.clone(), csrf));
    let mut app = Router::new()
        .route("/api/config", get(api::auth::config))
        .route("/api/auth/session", get(api::auth::session))
        .route("/api/invitations/status", get(api::invitations::status))
        // Bearer-key calls from the site's backend: no cookie, so no CSRF check.
        .route("/api/admin/sessions", get(api::admin::list).delete(api::admin::revoke))
        .route("/api/explain", get(api::ops::explain))
        .route("/healthz", get(api::ops::healthz))
        .route("/readyz", get(api::ops::readyz))
        .route("/metrics", get(api::ops::metrics))
        .merge(state_changing)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method")
        });
    if let Some(dir) = &server.static_dir {
        app = app.fallback_service(tower_http::services::ServeDir::new(dir));
    }
    app.layer(from_fn_with_state(state.clone(), explain_body_too_large))
        .layer(from_fn_with_state(state.clone(), trace_request))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(server.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, server.request_timeout))
        .layer(cors)
        .layer(axum::middleware::from_fn(no_store_auth))
        .with_state(state)
}
