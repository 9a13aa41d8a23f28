//! The proxy's shared state and its HTTP surface: routes, CSRF and CORS checks, body limits,
//! timeouts, metrics per route, and the optional static directory.
//!
//! Layer order (outermost first): CORS (answers preflights, adds headers), request timeout,
//! body limit, metrics, CSRF (state-changing routes only), then the handlers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use graphgate_core::ErrorCode;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::api;
use crate::config::Settings;
use crate::credential::Credential;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::session::SessionManager;
use crate::tokens::TokenCache;
use crate::upstream::Upstream;

/// The custom header every state-changing call must carry (browsers cannot send it cross-origin
/// without a CORS preflight the proxy refuses).
pub const CSRF_HEADER: &str = "x-graphgate";

/// Everything a handler needs.
pub struct AppState {
    /// Checked configuration.
    pub settings: Settings,
    /// The upstream client.
    pub upstream: Upstream,
    /// The client credential.
    pub credential: Credential,
    /// Sessions.
    pub sessions: SessionManager,
    /// Access tokens per session, and the single-flight refresh.
    pub tokens: TokenCache,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The clock (tests move it forward).
    pub clock: Clock,
    /// The app-only token for invitations.
    pub app_token: crate::apponly::AppTokenCache,
    /// Bearer API keys allowed to invite under the `admin` policy.
    pub api_keys: Vec<String>,
    /// The self-service rate limit.
    pub rate: api::invitations::RateLimiter,
}

/// Wall-clock time plus an offset that tests move forward, so expiry is tested without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset: std::sync::atomic::AtomicU64,
}

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        crate::upstream::now_secs() + self.offset.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.offset.fetch_add(secs, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// The origins allowed to call with credentials: the public origin and the configured ones.
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut v = vec![self.settings.raw.server.public_origin.trim_end_matches('/').to_owned()];
        v.extend(self.settings.raw.server.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_owned()));
        v
    }
}

/// The whole application.
pub fn router(state: Arc<AppState>) -> Router {
    let server = &state.settings.raw.server;
    let origins: Vec<HeaderValue> = state.allowed_origins().iter().filter_map(|o| o.parse().ok()).collect();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::HeaderName::from_static(CSRF_HEADER)])
        .max_age(Duration::from_secs(600));
    let state_changing = Router::new()
        .route("/api/auth/exchange", post(api::auth::exchange))
        .route("/api/auth/token", post(api::auth::token))
        .route("/api/auth/logout", post(api::auth::logout))
        .route("/api/invitations", post(api::invitations::invite))
        .route_layer(middleware::from_fn_with_state(state.clone(), csrf));
    let mut app = Router::new()
        .route("/api/config", get(api::auth::config))
        .route("/api/auth/session", get(api::auth::session))
        .route("/api/invitations/status", get(api::invitations::status))
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
    app.layer(middleware::from_fn_with_state(state.clone(), count))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(server.body_limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            Duration::from_secs(server.request_timeout_secs),
        ))
        .layer(cors)
        .with_state(state)
}

/// Gives each request an ID (the caller's `X-Request-Id` when it is a short token, else a new
/// one), logs one line per request — method, route pattern, status, duration, request ID; never a
/// header, a query or a body — counts it by route and status, and echoes the ID back.
async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route =
        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "other".to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(|| graphgate_core::random_token(12).unwrap_or_default());
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let mut response = if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("the body exceeds {} bytes", state.settings.raw.server.body_limit),
        )
        .into_response()
    } else {
        response
    };
    let status = response.status().as_u16();
    tracing::info!(request_id = %request_id, method = %method, route = %route, status, elapsed_ms = started.elapsed().as_millis() as u64, "request");
    state.metrics.request(&route, status);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

/// State-changing calls need a JSON body, the custom header, and an allowed `Origin` (when the
/// caller is a browser, which always sends one).
async fn csrf(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !state.allowed_origins().iter().any(|o| o == origin) {
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
