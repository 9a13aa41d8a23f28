//! Sign-in endpoints: `/api/config`, `/api/auth/exchange` (code → session), `/api/auth/token`
//! (an access token from the stored refresh token), `/api/auth/session` and `/api/auth/logout`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use graphgate_core::{
    AuthorizationCode, ErrorCode, Grant, IdToken, Nonce, PkceVerifier, RedirectUri, RefreshToken, Scope, Scopes,
    SessionId, TokenResponse,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::error::ApiError;
use crate::session::{Session, SessionKey};
use crate::tokens::CachedToken;

/// The session cookie's name: `__Host-graphgate` when served over https, else `graphgate`.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.settings.raw.server.public_origin.starts_with("https://") { "__Host-graphgate" } else { "graphgate" }
}

pub(super) fn session_cookie(state: &AppState, value: String, max_age_secs: i64) -> String {
    let https = state.settings.raw.server.public_origin.starts_with("https://");
    let cross_site = https && !state.settings.raw.server.allowed_origins.is_empty();
    Cookie::build((cookie_name(state), value))
        .http_only(true)
        .secure(https)
        .path("/")
        .same_site(if cross_site { SameSite::None } else { SameSite::Lax })
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

/// The session ID the browser sent, if any.
pub fn session_id(state: &AppState, headers: &HeaderMap) -> Option<SessionId> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| SessionId::new(c.value()))
}

pub(super) fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::StoreUnavailable, format!("the session store failed: {e}"))
}

/// `GET /api/config`: what the browser module boots from.
pub async fn config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let s = &state.settings;
    let mut scopes = s.scopes.clone();
    scopes.ensure_first(Scope::OPENID, 0);
    scopes.ensure_first(Scope::OFFLINE_ACCESS, 1);
    Json(json!({
        "clientId": s.client_id.as_str(),
        "cloud": s.endpoints.cloud().name(),
        "tenant": s.tenant.as_str(),
        "authority": format!("{}/{}", s.endpoints.login_base(), s.tenant.as_str()),
        "loginBaseUrl": s.endpoints.login_base().as_str(),
        "graphBaseUrl": s.endpoints.graph_base(),
        "redirectUris": s.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "defaultScopes": scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
    }))
}

/// The body of `/api/auth/exchange`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExchangeBody {
    code: String,
    code_verifier: String,
    redirect_uri: String,
    nonce: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| {
        let why = if e.classify() == serde_json::error::Category::Data && e.to_string().starts_with("missing field") {
            e.to_string()
        } else {
            format!("the body is not the expected JSON (line {}, column {})", e.line(), e.column())
        };
        ApiError::new(ErrorCode::InvalidJsonBody, why)
    })
}

/// The answer to the browser: the access token and the account. `expiresIn` (seconds from now)
/// lets the browser keep time by its own clock; `expiresOn` is the proxy's Unix time.
pub(super) fn token_answer(token: &CachedToken, account: &graphgate_core::Account, now: u64) -> Value {
    json!({
        "accessToken": token.access_token.expose_secret(),
        "expiresOn": token.expires_at,
        "expiresIn": token.expires_at.saturating_sub(now),
        "scopes": token.scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "account": account,
    })
}

pub(super) fn cached(answer: &TokenResponse, requested: &str, now: u64) -> CachedToken {
    CachedToken {
        access_token: answer.access_token.clone(),
        expires_at: now + answer.expires_in,
        scopes: answer.scope.clone().unwrap_or_else(|| requested.to_owned()),
    }
}

/// `POST /api/auth/exchange {code, codeVerifier, redirectUri, nonce}`: redeems the code (never
/// retried), verifies the ID token, stores the refresh token, sets a new session cookie.
pub async fn exchange(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let body: ExchangeBody = parse_body(&body)?;
    let s = &state.settings;
    let redirect = RedirectUri::parse(&body.redirect_uri)?;
    if !s.redirect_uris.contains(&redirect) {
        return Err(ApiError::new(
            ErrorCode::InvalidRedirectUri,
            format!("{} is not one of this proxy's redirect URIs", redirect.as_str()),
        ));
    }
    let verifier = PkceVerifier::parse(&body.code_verifier)?;
    if body.code.is_empty() {
        return Err(ApiError::new(ErrorCode::MissingCode, "the body carries no code"));
    }
    let scopes = match &body.scopes {
        Some(list) => Scopes::parse_all(list)?,
        None => s.scopes.clone(),
    };
    let now = state.clock.now();
    let code = AuthorizationCode::new(body.code);
    let grant = Grant::AuthorizationCode { code: &code, redirect_uri: &redirect, verifier: Some(&verifier) };
    let tokens = state.upstream.token(&state.credential, &s.tenant, grant, Some(&scopes), now).await?;
    let id_token: &IdToken = tokens.id_token.as_ref().ok_or_else(|| {
        ApiError::new(ErrorCode::MalformedIdToken, "the code redemption returned no ID token: ask for the openid scope")
    })?;
    let claims = state.upstream.verify_id_token(id_token, &Nonce::new(body.nonce), now).await?;
    let refresh_token: RefreshToken = tokens.refresh_token.clone().ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidScope, "no refresh token came back: the sign-in must ask for offline_access")
    })?;
    let account = claims.account();
    let token = cached(&tokens, &scopes.to_string(), now);
    // A new session ID at every sign-in; the one the browser had (if any) is dropped.
    if let Some(old) = session_id(&state, &headers) {
        state.tokens.remove(&SessionKey::of(&old));
        state.sessions.delete(&old).await.map_err(store_error)?;
    }
    let session = Session {
        account: account.clone(),
        refresh_token,
        scopes: token.scopes.clone(),
        tenant: s.tenant.as_str().to_owned(),
        created_at: now,
        last_seen: now,
        refreshed_at: now,
    };
    let id = state.sessions.create(session, now).await.map_err(store_error)?;
    *state.tokens.slot(&SessionKey::of(&id), now).lock().await = Some(token.clone());
    let lifetime = i64::try_from(s.raw.session.absolute_lifetime_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    let cookie = session_cookie(&state, id.into_exposed_secret(), lifetime);
    Ok((
        [(header::SET_COOKIE, cookie), (header::CACHE_CONTROL, "no-store".to_owned())],
        Json(token_answer(&token, &account, now)),
    )
        .into_response())
}

/// The body of `/api/auth/token`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenBody {
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Skip the cached token (Graph refused it): refresh upstream.
    #[serde(default)]
    force_refresh: bool,
    /// A claims challenge to answer (the decoded JSON of Graph's `insufficient_claims`
    /// challenge): refresh upstream with these claims, whatever is cached.
    #[serde(default)]
    claims: Option<String>,
}

/// `POST /api/auth/token {scopes?, forceRefresh?, claims?}`: a fresh access token for the session's user
/// (with `claims`, one that answers that claims challenge: see `claims.rs`). A cached token
/// that is still fresh is answered at once; otherwise one refresh per session goes upstream while
/// concurrent callers wait for it. A refresh token Entra no longer accepts ends the session with
/// 401 `interaction_required`.
pub async fn token(State(state): State<Arc<AppState>>, headers: HeaderMap, body: String) -> Result<Response, ApiError> {
    let body: TokenBody = if body.trim().is_empty() { TokenBody::default() } else { parse_body(&body)? };
    let wanted = body.scopes.unwrap_or_default();
    let wanted_scopes = Scopes::parse_all(&wanted)?;
    let challenge = body.claims.as_deref().map(super::claims::check).transpose()?;
    // Without a usable session the page must sign the user in: 401 `interaction_required`
    // (code `not_signed_in`), as for a refresh token Entra no longer accepts.
    let id = session_id(&state, &headers)
        .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "no session cookie").interaction_required())?;
    let key = SessionKey::of(&id);
    let now = state.clock.now();
    let slot = state.tokens.slot(&key, now);
    let mut guard = slot.lock().await;
    let session = match state.sessions.load(&id, now).await.map_err(store_error)? {
        Some(s) => s,
        None => {
            // No slot stays behind for a cookie that names no session.
            *guard = None;
            drop(guard);
            state.tokens.remove(&key);
            return Err(
                ApiError::new(ErrorCode::NotSignedIn, "the session is unknown or expired").interaction_required()
            );
        }
    };
    if let Some(challenge) = &challenge {
        state.metrics.token_cache(false);
        let scopes = if wanted_scopes.is_empty() { state.settings.scopes.clone() } else { wanted_scopes };
        return super::claims::answer(&state, &id, &session, &mut guard, &scopes, challenge, now).await;
    }
    if let Some(t) = guard.as_ref().filter(|t| !body.force_refresh && t.serves(now, &wanted)) {
        state.metrics.token_cache(true);
        return Ok(Json(token_answer(t, &session.account, now)).into_response());
    }
    state.metrics.token_cache(false);
    let s = &state.settings;
    let scopes = if wanted_scopes.is_empty() { s.scopes.clone() } else { wanted_scopes };
    let tenant = graphgate_core::Tenant::parse(&session.tenant)?;
    let refreshed = state
        .upstream
        .token(&state.credential, &tenant, Grant::RefreshToken(&session.refresh_token), Some(&scopes), now)
        .await;
    let tokens = match refreshed {
        Ok(t) => t,
        Err(e @ graphgate_core::Error::Entra(_)) => {
            let grant_dead = e.grant_is_dead();
            let api = ApiError::from(e);
            if grant_dead {
                *guard = None;
                state.sessions.delete(&id).await.map_err(store_error)?;
                let clear = session_cookie(&state, String::new(), 0);
                return Ok(([(header::SET_COOKIE, clear)], api.interaction_required()).into_response());
            }
            return Err(api);
        }
        Err(e) => return Err(e.into()),
    };
    let token = cached(&tokens, &scopes.to_string(), now);
    if let Some(rt) = tokens.refresh_token.clone() {
        state.sessions.replace_refresh_token(&id, rt, now, now).await.map_err(store_error)?;
    }
    *guard = Some(token.clone());
    Ok(Json(token_answer(&token, &session.account, now)).into_response())
}

/// `GET /api/auth/session`: the signed-in account, or 401.
pub async fn session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let id = session_id(&state, &headers).ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "no session cookie"))?;
    match state.sessions.load(&id, state.clock.now()).await.map_err(store_error)? {
        Some(s) => Ok(Json(json!({"account": s.account, "scopes": s.scopes.split(' ').collect::<Vec<_>>()}))),
        None => Err(ApiError::new(ErrorCode::NotSignedIn, "the session is unknown or expired")),
    }
}

/// `POST /api/auth/logout`: deletes the session, clears the cookie, answers Entra's logout URL.
pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(id) = session_id(&state, &headers) {
        state.tokens.remove(&SessionKey::of(&id));
        state.sessions.delete(&id).await.map_err(store_error)?;
    }
    let s = &state.settings;
    let post_logout = s.redirect_uris.first().map(RedirectUri::as_str);
    let url = s.endpoints.logout_url(&s.tenant, post_logout);
    let clear = session_cookie(&state, String::new(), 0);
    Ok(([(header::SET_COOKIE, clear)], Json(json!({"logoutUrl": url}))).into_response())
}
