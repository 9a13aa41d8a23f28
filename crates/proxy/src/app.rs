//! The proxy's HTTP surface: the routes, and the layers around them (security headers, CORS,
//! timeout, body limit, request tracing, CSRF on state-changing routes), plus the optional static
//! directory (with its `Content-Security-Policy`) and the operations routes (on their own
//! listener when `server.ops_listen` is set).
//!
//! Layer order (outermost first): the security headers and `no-store` on `/api/auth/*` (so every
//! answer carries them, preflights, timeouts and errors included), CORS (answers preflights, adds
//! headers), request timeout, request tracing (ID, log line, metrics), the body-limit answer (the
//! catalogue's, for a `Content-Length` over the limit as for a longer chunked body), body limit,
//! CSRF (state-changing routes only), then the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use graphgate_core::ErrorCode;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api;
use crate::error::ApiError;
use crate::middleware::{CSRF_HEADER, csrf, explain_body_too_large, no_store_auth, trace_request};
use crate::state::AppState;

/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// How long browsers keep to https once told (`Strict-Transport-Security`): a year.
const HSTS: &str = "max-age=31536000";

/// The operations routes.
fn ops_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(api::ops::healthz))
        .route("/readyz", get(api::ops::readyz))
        .route("/metrics", get(api::ops::metrics))
}

/// The operations listener's application: `/healthz`, `/readyz` and `/metrics` alone.
pub(crate) fn ops_router(state: Arc<AppState>) -> Router {
    let app = ops_routes().fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") });
    security_headers(app.layer(from_fn_with_state(state.clone(), trace_request)), &state).with_state(state)
}

/// `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` on every answer (a page's
/// address after sign-in carries the code in its query: no `Referer` takes it anywhere), and
/// `Strict-Transport-Security` when the public origin is https. A header a handler set stays.
fn security_headers(app: Router<Arc<AppState>>, state: &AppState) -> Router<Arc<AppState>> {
    let app = app
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ));
    if state.settings.server.https {
        app.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        ))
    } else {
        app
    }
}

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
        .merge(state_changing)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(ErrorCode::MethodNotAllowed, "this route does not take that method")
        });
    if server.ops_listen.is_none() {
        app = app.merge(ops_routes());
    }
    if let Some(dir) = &server.static_dir {
        // The policy is checked at start-up; a bad one cannot reach here.
        let csp = HeaderValue::from_str(&server.static_csp).unwrap_or(HeaderValue::from_static("default-src 'none'"));
        let files = tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, csp))
            .service(tower_http::services::ServeDir::new(dir));
        app = app.fallback_service(files);
    }
    let app = app
        .layer(tower_http::limit::RequestBodyLimitLayer::new(server.body_limit))
        .layer(from_fn_with_state(state.clone(), explain_body_too_large))
        .layer(from_fn_with_state(state.clone(), trace_request))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, server.request_timeout))
        .layer(cors)
        .layer(axum::middleware::from_fn(no_store_auth));
    security_headers(app, &state).with_state(state)
}
