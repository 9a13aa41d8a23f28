//! The control API, under `/_emulator/` (and as methods of `Handle` in-process): seed, faults,
//! clock, call counters, mailboxes, invitations, refresh-token revocation, sign-in sessions,
//! Graph's CORS switches and claims challenges.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /seed` | TOML seed → 204; replaces the whole world |
//! | `POST /faults`, `DELETE /faults` | JSON [`Fault`](crate::Fault) (plus `"in_batch": true` for `$batch` sub-requests) → 204, 400 for values out of bounds (`count` 0, a status outside 400–599, a delay over ten minutes, a `Retry-After` over a day); clear every rule → 204 |
//! | `GET /clock`, `POST /clock` | `{now}`; `{seconds}` moves the clock forward → `{now}` (at most about 100 years past real time in all, else 400) |
//! | `GET /calls`, `DELETE /calls` | the call counters; reset → 204 |
//! | `GET /mailboxes/{address}` | `{value: [message…]}`, each with `parentFolder` |
//! | `GET /invitations` | `{value: [invitation…]}` |
//! | `POST /users/{address}/revoke` | revokes the account's refresh tokens → 204 |
//! | `POST /sessions` | `{account}` → `{account, id}` and `Set-Cookie: emu_session=…`: the account is signed in, as if chosen on the sign-in page |
//! | `DELETE /sessions` | ends every sign-in session (as if each user signed out at Microsoft) → 204 |
//! | `POST /consents` | `{clientId, account, scopes}` → 204: the account has consented to those delegated scopes for the app |
//! | `GET /cors`, `POST /cors` | `{exposeRetryAfter}`: whether Graph's CORS answers list `Retry-After` (default true); POST sets it → the new state |
//! | `GET /claims-challenges` | `{value: [{account, userId, id, claims, interaction}…]}` |
//! | `POST /claims-challenges` | `{account, claims?, interaction?}` → 200 `{account, userId, id, claims, interaction}` (set on the account and its guest objects): Graph answers the account's `cp1` tokens that do not satisfy it 401 `insufficient_claims`; `claims` defaults to a CAE `nbf` claim for now |
//! | `DELETE /claims-challenges` | removes every challenge → 204 |
//!
//! Errors are `{error, message}`: 400 `bad_request`, 404 `not_found`. Browsers may call the API
//! from any origin with credentials (see `cors.rs`): it is a local, test-only API, served only
//! with `--control`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::challenges::{self, ClaimsChallenge};
use crate::faults::FaultRule;
use crate::state::User;
use crate::{Ctx, Seed, identity};

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
        .route("/sessions", post(post_session).delete(delete_sessions))
        .route("/consents", post(post_consent))
        .route("/cors", get(get_cors).post(post_cors))
        .route("/claims-challenges", get(get_challenges).post(post_challenge).delete(delete_challenges))
}

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": "bad_request", "message": message}))).into_response()
}

fn not_found(message: String) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": message}))).into_response()
}

async fn seed(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    match Seed::from_toml(&body).and_then(|s| ctx.reseed(&s)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad(e),
    }
}

async fn add_fault(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    match serde_json::from_str::<FaultRule>(&body).map_err(|e| e.to_string()).and_then(|r| r.check().map(|()| r)) {
        Ok(rule) => {
            ctx.add_rule(rule);
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
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

/// `POST /clock` `{"seconds": n}`: moves the clock forward by a whole number of seconds, at most
/// [`MAX_CLOCK_OFFSET_SECS`](crate::MAX_CLOCK_OFFSET_SECS) past real time in all; anything else
/// is 400 and leaves the clock alone.
async fn advance(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    let seconds = match serde_json::from_str::<Advance>(&body) {
        Ok(a) => a.seconds,
        Err(e) => return bad(format!("invalid clock request: {e}")),
    };
    match ctx.advance(seconds) {
        Ok(()) => Json(json!({"now": ctx.now()})).into_response(),
        Err(e) => bad(e),
    }
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
        Err(e) => not_found(e),
    }
}

async fn get_invitations(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!({"value": invitations(&ctx)}))
}

async fn post_revoke(State(ctx): State<Arc<Ctx>>, Path(address): Path<String>) -> Response {
    match revoke(&ctx, &address) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => not_found(e),
    }
}

#[derive(Deserialize)]
struct NewSession {
    account: String,
}

/// `POST /sessions` `{"account": "<UPN or email>"}`: signs the account in, as choosing it on the
/// sign-in page does. Answers `{"account": <UPN>, "id": <user object ID>}` with the session
/// cookie; an authorize request carrying it and a `login_hint` naming the account then skips the
/// account picker (single sign-on).
async fn post_session(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    let account = match serde_json::from_str::<NewSession>(&body) {
        Ok(s) => s.account,
        Err(e) => return bad(format!("invalid session request: {e}")),
    };
    match open_session(&ctx, &account) {
        Ok((session, user)) => (
            [(header::SET_COOKIE, identity::set_session_cookie(&session))],
            Json(json!({"account": user.upn, "id": user.id})),
        )
            .into_response(),
        Err(e) => not_found(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewConsent {
    client_id: String,
    account: String,
    scopes: Vec<String>,
}

/// `POST /consents` `{"clientId", "account", "scopes"}`: records the account's consent to those
/// delegated scopes (and the OpenID ones) for the app, as accepting the consent page does.
async fn post_consent(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    let consent = match serde_json::from_str::<NewConsent>(&body) {
        Ok(c) => c,
        Err(e) => return bad(format!("invalid consent request: {e}")),
    };
    let mut world = ctx.world();
    if !world.apps.iter().any(|a| a.seed.client_id == consent.client_id) {
        return not_found(format!("no app has the client ID {}", consent.client_id));
    }
    let Some(user) = world.member_by_address(&consent.account).cloned() else {
        return not_found(format!("no account owns {}", consent.account));
    };
    let granted = world.consents.entry((consent.client_id, user.id)).or_default();
    granted.extend(["openid", "profile", "email", "offline_access"].map(str::to_owned));
    granted.extend(consent.scopes);
    StatusCode::NO_CONTENT.into_response()
}

fn cors_state(ctx: &Ctx) -> Json<Value> {
    Json(json!({"exposeRetryAfter": ctx.cors.expose_retry_after()}))
}

async fn get_cors(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    cors_state(&ctx)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CorsSwitches {
    expose_retry_after: bool,
}

/// `POST /cors` `{"exposeRetryAfter": false}`: Graph's CORS answers stop (or start) listing
/// `Retry-After` in `Access-Control-Expose-Headers`; answers the new state.
async fn post_cors(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    match serde_json::from_str::<CorsSwitches>(&body) {
        Ok(s) => {
            ctx.cors.set_expose_retry_after(s.expose_retry_after);
            cors_state(&ctx).into_response()
        }
        Err(e) => bad(format!("invalid CORS switches: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChallenge {
    account: String,
    #[serde(default)]
    claims: Option<Value>,
    #[serde(default)]
    interaction: bool,
}

async fn get_challenges(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    let world = ctx.world();
    let mut value: Vec<Value> = world
        .claims_challenges
        .iter()
        .map(|(user_id, c)| {
            let account = world.user(user_id).map(|u| u.upn.clone()).unwrap_or_default();
            challenge_json(&account, user_id, c)
        })
        .collect();
    value.sort_by(|a, b| a["userId"].as_str().cmp(&b["userId"].as_str()));
    Json(json!({"value": value}))
}

fn challenge_json(account: &str, user_id: &str, c: &ClaimsChallenge) -> Value {
    json!({"account": account, "userId": user_id, "id": c.id, "claims": c.claims, "interaction": c.interaction})
}

/// `POST /claims-challenges` `{"account", "claims"?, "interaction"?}`: see [`claims_challenge`].
async fn post_challenge(State(ctx): State<Arc<Ctx>>, body: String) -> Response {
    let new = match serde_json::from_str::<NewChallenge>(&body) {
        Ok(c) => c,
        Err(e) => return bad(format!("invalid claims challenge: {e}")),
    };
    match claims_challenge(&ctx, &new.account, new.claims, new.interaction) {
        Ok(answer) => Json(answer).into_response(),
        Err(Refusal::BadRequest(e)) => bad(e),
        Err(Refusal::NotFound(e)) => not_found(e),
    }
}

/// Why a control request was refused.
pub(crate) enum Refusal {
    BadRequest(String),
    NotFound(String),
}

impl From<Refusal> for String {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::BadRequest(e) | Refusal::NotFound(e) => e,
        }
    }
}

/// Sets the claims challenge of every user object `address` owns (the account and its guest
/// objects), replacing any before: Graph then answers their `cp1` tokens that do not satisfy it
/// 401 `insufficient_claims`. `claims` (a JSON object) defaults to a CAE `nbf` claim; with
/// `interaction`, only an interactive sign-in satisfies it. Answers the challenge as JSON.
pub(crate) fn claims_challenge(
    ctx: &Ctx,
    address: &str,
    claims: Option<Value>,
    interaction: bool,
) -> Result<Value, Refusal> {
    let claims = match claims {
        None | Some(Value::Null) => challenges::default_claims(ctx.now()),
        Some(c @ Value::Object(_)) if c.as_object().is_some_and(|m| !m.is_empty()) => c,
        Some(_) => return Err(Refusal::BadRequest("claims must be a non-empty JSON object".to_owned())),
    };
    let mut world = ctx.world();
    let owners: Vec<(String, String)> =
        world.users.iter().filter(|u| u.owns_address(address)).map(|u| (u.id.clone(), u.upn.clone())).collect();
    let Some((first, upn)) = owners.first().cloned() else {
        return Err(Refusal::NotFound(format!("no user owns {address}")));
    };
    let challenge = ClaimsChallenge { id: crate::ids::guid(), claims, interaction };
    for (id, _) in owners {
        world.claims_challenges.insert(id, challenge.clone());
    }
    let home = world.member_by_address(address).map(|u| (u.id.clone(), u.upn.clone())).unwrap_or((first, upn));
    Ok(challenge_json(&home.1, &home.0, &challenge))
}

/// `DELETE /claims-challenges`: Graph challenges no one.
async fn delete_challenges(State(ctx): State<Arc<Ctx>>) -> StatusCode {
    ctx.world().claims_challenges.clear();
    StatusCode::NO_CONTENT
}

/// `DELETE /sessions`: ends every sign-in session; cookies that name one no longer sign anyone in.
async fn delete_sessions(State(ctx): State<Arc<Ctx>>) -> StatusCode {
    ctx.world().sessions.clear();
    StatusCode::NO_CONTENT
}

/// Opens a sign-in session for the member account owning `address` (the one the sign-in page
/// lists); returns the session ID and the account.
pub(crate) fn open_session(ctx: &Ctx, address: &str) -> Result<(String, User), String> {
    let mut world = ctx.world();
    let user = world.member_by_address(address).cloned().ok_or_else(|| format!("no account owns {address}"))?;
    let session = identity::open_session(&mut world, &user.id);
    Ok((session, user))
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
