//! Operations endpoints: `/healthz`, `/readyz` (store reachable, the authority's discovery
//! document and keys fetched — from the cache, at most once an hour) and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Alive.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready: the session store answers and the authority's discovery document and keys were
/// fetched (the cached ones while fresh: probing `/readyz` never multiplies upstream calls).
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let store = state.sessions.ping().await.map_err(|e| e.to_string());
    let discovery = state.upstream.ready().await.map_err(|e| e.explain().message);
    let ok = store.is_ok() && discovery.is_ok();
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "store": store.err().unwrap_or_else(|| "ok".to_owned()),
        "discovery": discovery.err().unwrap_or_else(|| "ok".to_owned()),
    });
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body)).into_response()
}

/// Prometheus text.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let live = state.sessions.live_sessions(state.clock.now()).await.unwrap_or(0);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(live, state.sessions.unopenable_total()),
    )
        .into_response()
}

/// `GET /api/explain?code=…`: the catalogue's explanation of an error code — `AADSTS50020`,
/// `50020`, a Graph code such as `MailboxNotEnabledForRESTAPI`, an SMTP code such as `5.7.708`, or
/// one of graphgate's own — so the browser module need not carry the catalogue's texts. An
/// unknown code still answers, with the lookup link for AADSTS numbers.
pub(crate) async fn explain(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    use graphgate_core::catalogue::{Code, lookup};
    let asked = q.get("code").map(|c| c.trim()).unwrap_or("");
    if asked.is_empty() || asked.len() > 100 {
        return crate::error::ApiError::new(
            graphgate_core::ErrorCode::InvalidJsonBody,
            "give ?code=AADSTS50020, a Graph error code or a graphgate code",
        )
        .into_response();
    }
    let digits = asked.strip_prefix("AADSTS").or_else(|| asked.strip_prefix("aadsts")).unwrap_or(asked);
    let aadsts = digits.parse::<u32>().ok();
    let entry = match aadsts {
        Some(n) => lookup(Code::Aadsts(n)),
        None => {
            lookup(Code::Graphgate(asked)).or_else(|| lookup(Code::Graph(asked))).or_else(|| lookup(Code::Smtp(asked)))
        }
    };
    let lookup_url = aadsts.map(graphgate_core::lookup_url);
    let body = match entry {
        Some(e) => json!({
            "known": true, "code": e.code.display(), "slug": e.slug, "status": e.status, "retryable": e.retryable,
            "message": e.message, "cause": e.cause.en, "causeZh": e.cause.zh, "hint": e.fix.en, "hintZh": e.fix.zh,
            "lookupUrl": lookup_url,
        }),
        None => {
            let unknown = graphgate_core::ErrorCode::UnknownError.entry();
            json!({
                "known": false, "code": asked, "slug": unknown.slug, "status": unknown.status, "retryable": unknown.retryable,
                "message": unknown.message, "cause": unknown.cause.en, "causeZh": unknown.cause.zh,
                "hint": unknown.fix.en, "hintZh": unknown.fix.zh, "lookupUrl": lookup_url,
            })
        }
    };
    ([(header::CACHE_CONTROL, "public, max-age=86400")], Json(body)).into_response()
}
