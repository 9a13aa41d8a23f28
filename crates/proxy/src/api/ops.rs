//! Operations endpoints: `/healthz`, `/readyz` (store reachable, discovery fetched) and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;

/// Alive.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: the session store answers and the authority's discovery document can be fetched.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let store = state.sessions.ping().await.map_err(|e| e.to_string());
    let discovery = state.upstream.discovery().await.map(|_| ()).map_err(|e| e.explain().message);
    let ok = store.is_ok() && discovery.is_ok();
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "store": store.err().unwrap_or_else(|| "ok".to_owned()),
        "discovery": discovery.err().unwrap_or_else(|| "ok".to_owned()),
    });
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body)).into_response()
}

/// Prometheus text.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let live = state.sessions.live_sessions(state.clock.now()).await.unwrap_or(0);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(live)).into_response()
}
