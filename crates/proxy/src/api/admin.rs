//! The administration API for sessions, for the site's own backend with one of the API keys
//! (`Authorization: Bearer …`, the keys of `invitations.api_keys`):
//! `GET /api/admin/sessions?tenantId=…&objectId=…` lists a user's sessions and
//! `DELETE /api/admin/sessions?tenantId=…&objectId=…[&handle=…]` revokes them (or the one with
//! that handle). A session is shown by its handle (the first 16 hex digits of its store key),
//! never by its ID or a token. Every revocation writes one audit line (target `graphgate::audit`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use graphgate_core::ErrorCode;
use serde_json::{Value, json};

use crate::api_keys::KeyRefused;
use crate::error::ApiError;
use crate::session::{HANDLE_LEN, SessionKey};
use crate::signout;
use crate::state::AppState;

/// The longest tenant or object ID accepted (Entra's are 36-character GUIDs).
const MAX_ID_LEN: usize = 256;

/// Whose sessions: the account's tenant ID (empty for an account without one) and object ID,
/// and optionally one session's handle.
#[derive(Debug)]
struct Who {
    tenant_id: String,
    object_id: String,
    handle: Option<String>,
}

/// Checks the bearer key; returns how the audit line names it (never the key itself).
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    state.api_keys.presented_in(headers).map_err(|refused| match refused {
        KeyRefused::Missing => ApiError::new(
            ErrorCode::AdminKeyRequired,
            "the administration API needs an API key (Authorization: Bearer …)",
        ),
        KeyRefused::Unknown => ApiError::new(ErrorCode::AdminKeyRequired, "the API key is not one of this proxy's"),
    })
}

/// Reads and checks the query: `tenantId` and `objectId`, and `handle` where `handles` allows.
fn who(query: Result<Query<HashMap<String, String>>, QueryRejection>, handles: bool) -> Result<Who, ApiError> {
    let bad = |why: String| ApiError::new(ErrorCode::InvalidQuery, why);
    let Query(mut q) = query.map_err(|_| bad("the query string cannot be read".into()))?;
    let mut take = |name: &str| q.remove(name);
    let tenant_id = take("tenantId").ok_or_else(|| bad("give tenantId (empty for an account without one)".into()))?;
    let object_id = take("objectId").filter(|o| !o.is_empty()).ok_or_else(|| bad("give objectId".into()))?;
    let handle = if handles { take("handle") } else { None };
    if let Some(other) = q.keys().next() {
        return Err(bad(format!(
            "the parameter {:?} is not one this route takes",
            other.chars().take(40).collect::<String>()
        )));
    }
    for (name, value) in [("tenantId", &tenant_id), ("objectId", &object_id)] {
        if value.len() > MAX_ID_LEN || value.chars().any(char::is_control) {
            return Err(bad(format!("{name} is not an account ID")));
        }
    }
    if let Some(h) = &handle {
        if h.len() != HANDLE_LEN || !h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad(format!("handle is not {HANDLE_LEN} lowercase hex digits, as listed")));
        }
    }
    Ok(Who { tenant_id, object_id, handle })
}

/// `GET /api/admin/sessions?tenantId=…&objectId=…`: the account's live sessions, oldest first,
/// each with its handle, times (Unix seconds) and granted scopes.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers)?;
    let who = who(query, false)?;
    let now = state.clock.now();
    let mut found = Vec::new();
    for key in state.sessions.keys_of(&who.tenant_id, &who.object_id, now).await? {
        let Some(s) = state.sessions.load(&key, now).await? else { continue };
        // The index found it; the sealed account decides.
        if s.account.tenant_id != who.tenant_id || s.account.object_id != who.object_id {
            continue;
        }
        found.push((s.created_at, key.handle().to_owned(), s.last_seen, state.sessions.expires_at(&s), s.scopes));
    }
    found.sort();
    let sessions: Vec<Value> = found
        .into_iter()
        .map(|(created, handle, last_seen, expires, scopes)| {
            json!({
                "handle": handle,
                "createdAt": created,
                "lastSeen": last_seen,
                "expiresAt": expires,
                "scopes": scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({"tenantId": who.tenant_id, "objectId": who.object_id, "sessions": sessions})))
}

/// `DELETE /api/admin/sessions?tenantId=…&objectId=…[&handle=…]`: ends the account's sessions
/// (or the one with that handle), each under its slot's lock as a sign-out does; answers how many.
pub(crate) async fn revoke(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let caller = match authorize(&state, &headers) {
        Ok(caller) => caller,
        Err(e) => {
            tracing::info!(target: "graphgate::audit", action = "revoke_sessions", at = now, outcome = "refused", "an administrator's revocation was refused: no valid API key");
            return Err(e);
        }
    };
    let who = who(query, true)?;
    let handle = who.handle.as_deref().unwrap_or("*");
    let audit = |outcome: &str, revoked: usize| {
        tracing::info!(
            target: "graphgate::audit",
            action = "revoke_sessions",
            api_key = %caller,
            tenant_id = %who.tenant_id,
            object_id = %who.object_id,
            handle,
            revoked,
            at = now,
            outcome,
            "an administrator revoked sessions"
        );
    };
    let result = async {
        let mut keys = state.sessions.keys_of(&who.tenant_id, &who.object_id, now).await?;
        if let Some(h) = &who.handle {
            keys.retain(|k: &SessionKey| k.handle() == h);
        }
        signout::end_all(&state, &keys).await
    }
    .await;
    match result {
        Ok(0) => {
            audit("none_found", 0);
            Ok(Json(json!({"revoked": 0})))
        }
        Ok(n) => {
            audit("revoked", n);
            Ok(Json(json!({"revoked": n})))
        }
        Err(e) => {
            audit("failed", 0);
            Err(e.into())
        }
    }
}

/// The query's parsing and checks; `crate::fuzzing` hands them to the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use axum::extract::Query;
    use axum::http::Uri;

    use crate::error::ApiError;

    /// `GET` (`handles` false) or `DELETE` (`handles` true) `/api/admin/sessions?{query}`; a
    /// query no request line could carry is not checked.
    pub(crate) fn sessions_query(query: &str, handles: bool) -> Result<(), ApiError> {
        let Ok(uri) = ["/api/admin/sessions?", query].concat().parse::<Uri>() else { return Ok(()) };
        super::who(Query::try_from_uri(&uri), handles).map(drop)
    }
}
