//! The control API, under `/_emulator/` (and as methods of `Handle` in-process): seed, faults,
//! clock, call counters, mailboxes, invitations and refresh-token revocation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::{Ctx, Seed};

/// Control routes, nested under `/_emulator`.
pub(crate) fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/seed", post(seed))
        .route("/faults", post(add_fault).delete(clear_faults))
        .route("/clock", get(clock).post(advance))
        .route("/calls", get(calls).delete(reset_calls))
        .route("/mailboxes/{address}", get(get_mailbox))
        .route("/invitations", get(get_invitations))
        .route("/users/{address}/revoke", post(post_revoke))
}

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": "bad_request", "message": message}))).into_response()
}

async fn seed(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    match Seed::from_toml(&body).and_then(|s| ctx.reseed(&s)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e),
    }
}

async fn add_fault(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    match serde_json::from_str::<Fault>(&body) {
        Ok(f) => {
            ctx.faults.add(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(format!("invalid fault: {e}")),
    }
}

async fn clear_faults(State(ctx): State<Arc<Ctx>>) -> StatusCode {
    ctx.faults.clear();
    StatusCode::NO_CONTENT
}

async fn clock(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!({"now": ctx.now()}))
}

#[derive(Deserialize)]
struct Advance {
    seconds: u64,
}

async fn advance(State(ctx): State<Arc<Ctx>>, Json(a): Json<Advance>) -> Json<Value> {
    ctx.advance(a.seconds);
    Json(json!({"now": ctx.now()}))
}

async fn calls(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!(ctx.faults.calls()))
}

async fn reset_calls(State(ctx): State<Arc<Ctx>>) -> StatusCode {
    ctx.faults.reset_calls();
    StatusCode::NO_CONTENT
}

async fn get_mailbox(State(ctx): State<Arc<Ctx>>, Path(address): Path<String>) -> Response {
    match mailbox(&ctx, &address) {
        Ok(messages) => Json(json!({"value": messages})).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": e}))).into_response(),
    }
}

async fn get_invitations(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!({"value": invitations(&ctx)}))
}

async fn post_revoke(State(ctx): State<Arc<Ctx>>, Path(address): Path<String>) -> Response {
    match revoke(&ctx, &address) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": e}))).into_response(),
    }
}

/// Revokes the refresh tokens of every user object owned by `address` (the account and its
/// guest objects).
pub(crate) fn revoke(ctx: &Ctx, address: &str) -> Result<(), String> {
    let mut world = ctx.world();
    let ids: Vec<String> = world.users.iter().filter(|u| u.owns_address(address)).map(|u| u.id.clone()).collect();
    if ids.is_empty() {
        return Err(format!("no user owns {address}"));
    }
    for id in ids {
        *world.revocations.entry(id).or_default() += 1;
    }
    Ok(())
}

/// Every message in the mailbox of the account owning `address`, with `parentFolder` added.
pub(crate) fn mailbox(ctx: &Ctx, address: &str) -> Result<Vec<Value>, String> {
    let world = ctx.world();
    let user = world.member_by_address(address).ok_or_else(|| format!("no account owns {address}"))?;
    let mb = world.mailboxes.get(&user.id).ok_or_else(|| format!("{address} has no mailbox"))?;
    Ok(mb
        .folders
        .iter()
        .flat_map(|f| {
            f.messages.iter().map(move |m| {
                let mut m = m.clone();
                m["parentFolder"] = json!(f.well_known);
                m
            })
        })
        .collect())
}

/// The invitations sent so far, with the guest's current state.
pub(crate) fn invitations(ctx: &Ctx) -> Vec<Value> {
    let world = ctx.world();
    world
        .invitations
        .iter()
        .map(|i| {
            let state = world.user(&i.user_id).and_then(|u| u.external_state.clone());
            json!({
                "id": i.id, "tenantId": i.tenant_id, "email": i.email, "userId": i.user_id,
                "inviteRedeemUrl": format!("{}/redeem?rd={}", ctx.base, i.redeem_token),
                "inviteRedirectUrl": i.redirect_url, "externalUserState": state,
                "createdDateTime": crate::ids::iso8601(i.created_at),
            })
        })
        .collect()
}
