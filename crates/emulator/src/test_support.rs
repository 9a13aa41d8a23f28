//! Helpers for the emulator's own unit tests: a context without a server, minted tokens, and
//! requests sent through the router in memory.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{Ctx, cors, faults, jwt, server, state};

/// One signing key for every test (RSA generation is the slow part).
fn shared_keys() -> &'static jwt::Keys {
    static KEYS: OnceLock<jwt::Keys> = OnceLock::new();
    KEYS.get_or_init(|| jwt::Keys::generate().expect("key"))
}

/// A context over the sandbox seed, with base `https://emulator.test`.
pub(crate) fn ctx() -> Arc<Ctx> {
    let ctx = Arc::new(Ctx {
        base: "https://emulator.test".into(),
        keys: shared_keys().clone(),
        world: Mutex::new(state::World::default()),
        faults: faults::Faults::default(),
        offset: AtomicU64::new(0),
        control_api: true,
        cors: cors::Switches::default(),
        recycle: tokio::sync::watch::channel(0).0,
    });
    ctx.reseed(&crate::Seed::sandbox()).expect("sandbox seed");
    ctx
}

/// The object ID of the seeded user owning `address`.
pub(crate) fn user_id(ctx: &Ctx, address: &str) -> String {
    ctx.world().member_by_address(address).expect("seeded user").id.clone()
}

/// A delegated Graph access token for user object `user_id` in tenant `tid` with scopes `scp`.
pub(crate) fn user_token(ctx: &Ctx, user_id: &str, tid: &str, scp: &str) -> String {
    let now = ctx.now();
    ctx.keys.sign(&json!({
        "aud": "https://graph.microsoft.com", "iss": format!("{}/{tid}/v2.0", ctx.base), "tid": tid,
        "oid": user_id, "sub": user_id, "idtyp": "user", "scp": scp, "appid": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "iat": now, "nbf": now, "exp": now + 3600,
    }))
}

/// An app-only Graph access token in tenant `tid` with `roles`.
pub(crate) fn app_token(ctx: &Ctx, tid: &str, roles: &[&str]) -> String {
    let now = ctx.now();
    ctx.keys.sign(&json!({
        "aud": "https://graph.microsoft.com", "iss": format!("{}/{tid}/v2.0", ctx.base), "tid": tid,
        "oid": "5e0c7a1b-0000-4000-8000-00000000a991", "sub": "5e0c7a1b-0000-4000-8000-00000000a991", "idtyp": "app",
        "roles": roles, "appid": "6731de76-14a6-49ae-97bc-6eba6914391e", "iat": now, "nbf": now, "exp": now + 3600,
    }))
}

/// Sends a request through the whole router in memory; returns status, headers and the body
/// parsed as JSON (`Value::Null` when empty, a string when not JSON).
pub(crate) async fn send(
    ctx: &Arc<Ctx>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body.to_owned())).expect("request");
    let res = server::router(ctx.clone()).oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let bytes = to_bytes(res.into_body(), 16 * 1024 * 1024).await.expect("body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, headers, json)
}

/// `send` with a bearer token and a JSON body.
pub(crate) async fn graph(
    ctx: &Arc<Ctx>,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let auth = format!("Bearer {token}");
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    send(ctx, method, path, &[("authorization", &auth), ("content-type", "application/json")], &text).await
}
