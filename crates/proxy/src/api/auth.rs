//! Sign-in endpoints: `/api/config`, `/api/auth/begin` (a sign-in's PKCE verifier, state and
//! nonce, kept here for the browser that asked), `/api/auth/exchange` (code → session),
//! `/api/auth/token` (an access token from the stored refresh token), `/api/auth/session` and
//! `/api/auth/logout` (this session, or with `everywhere` every session of the account).

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use graphgate_core::{
    Account, AuthorizationCode, ErrorCode, Grant, IdToken, Nonce, PkceVerifier, RedirectUri, RefreshToken, Scope,
    Scopes, random_token,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::claims;
use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::rate_limit::check;
use crate::refresh::{Caller, RefreshError, Refreshed, Request, publish, refresh_session, share};
use crate::session::{PENDING_LIFETIME, PendingSignIn, Session, SessionKey};
use crate::signout;
use crate::state::AppState;
use crate::tokens::{CachedToken, resource_of};

/// `GET /api/config`: what the browser module boots from.
pub(crate) async fn config(State(state): State<Arc<AppState>>) -> Json<Value> {
    let s = &state.settings.entra;
    Json(json!({
        "clientId": s.client_id.as_str(),
        "cloud": s.endpoints.cloud().name(),
        "tenant": s.tenant.as_str(),
        "authority": format!("{}/{}", s.endpoints.login_base(), s.tenant.as_str()),
        "loginBaseUrl": s.endpoints.login_base().as_str(),
        "graphBaseUrl": s.endpoints.graph_base(),
        "redirectUris": s.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "defaultScopes": s.sign_in_scopes.iter().map(Scope::as_str).collect::<Vec<_>>(),
    }))
}

/// The body of `/api/auth/begin`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BeginBody {
    redirect_uri: String,
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

/// The body of `/api/auth/exchange`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExchangeBody {
    code: String,
    state: String,
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

/// [`parse_body`] for a route whose body is optional: an empty (or blank) body is `T::default()`.
fn parse_optional_body<T: serde::de::DeserializeOwned + Default>(body: &str) -> Result<T, ApiError> {
    if body.trim().is_empty() { Ok(T::default()) } else { parse_body(body) }
}

/// The answer to the browser: the access token and the account. `expiresIn` (seconds from now)
/// lets the browser keep time by its own clock; `expiresOn` is the proxy's Unix time.
/// Written straight from the cached token and the account (no JSON tree built first: this is the
/// answer of the hot path).
fn token_answer<'a>(token: &'a CachedToken, account: &'a Account, now: u64) -> TokenAnswer<'a> {
    TokenAnswer {
        access_token: token.access_token.expose_secret(),
        expires_on: token.expires_at,
        expires_in: token.expires_at.saturating_sub(now),
        scopes: token.scopes.split(' ').filter(|s| !s.is_empty()).collect(),
        account,
    }
}

/// The body of a token answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenAnswer<'a> {
    access_token: &'a str,
    expires_on: u64,
    expires_in: u64,
    scopes: Vec<&'a str>,
    account: &'a Account,
}

/// `POST /api/auth/begin {redirectUri, scopes?}`: begins a sign-in. The PKCE verifier, the
/// state and the nonce are made and kept here (sealed, ten minutes, one use) for the browser
/// holding the sign-in cookie, which is set when it has none; the answer carries what the
/// authorize URL needs: `state`, `nonce` and `codeChallenge` (S256). Rate-limited per client
/// address (`session.sign_ins_per_minute`).
pub(crate) async fn begin(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    check(&state.sign_ins, &client.key(), state.settings.session.sign_ins_per_minute, now, "sign-ins begun")?;
    let body: BeginBody = parse_body(&body)?;
    let s = &state.settings.entra;
    let redirect = allowed_redirect(&state, &body.redirect_uri)?;
    let scopes = match &body.scopes {
        Some(list) => Scopes::parse_all(list)?,
        None => s.scopes.clone(),
    };
    check_allowed(&state, &scopes)?;
    let random = || random_token(32).map_err(ApiError::from);
    let binding = match state.settings.cookie.binding(&headers) {
        Some(b) => b,
        None => random()?,
    };
    let sign_in_state = random()?;
    let pending = PendingSignIn {
        verifier: PkceVerifier::random()?,
        nonce: Nonce::new(random()?),
        redirect_uri: redirect.as_str().to_owned(),
        scopes: scopes.space_separated(),
    };
    state.sessions.keep_pending(&binding, &sign_in_state, &pending, now).await?;
    let lifetime = i64::try_from(PENDING_LIFETIME.as_secs()).unwrap_or(i64::MAX);
    let cookie = state.settings.cookie.set_binding(&binding, lifetime);
    let challenge = pending.verifier.challenge();
    let answer = json!({
        "state": sign_in_state,
        "nonce": pending.nonce.expose_secret(),
        "codeChallenge": challenge.as_str(),
        "codeChallengeMethod": challenge.method(),
        "expiresIn": PENDING_LIFETIME.as_secs(),
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(answer)).into_response())
}

/// `redirect` when it is one of this proxy's redirect URIs.
fn allowed_redirect(state: &AppState, redirect: &str) -> Result<RedirectUri, ApiError> {
    let redirect = RedirectUri::parse(redirect)?;
    if !state.settings.entra.redirect_uris.contains(&redirect) {
        return Err(ApiError::new(
            ErrorCode::InvalidRedirectUri,
            format!("{} is not one of this proxy's redirect URIs", redirect.as_str()),
        ));
    }
    Ok(redirect)
}

/// `POST /api/auth/exchange {code, state}`: redeems the code of the sign-in `state` that this
/// browser began (the sign-in cookie; taken once, whether or not the redemption succeeds) with the
/// verifier kept for it (never retried), verifies the ID token against the nonce kept for it,
/// stores the refresh token, sets a new session cookie.
pub(crate) async fn exchange(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let limit = state.settings.limits.exchanges_per_minute;
    check(&state.limits, &format!("exchange:{}", client.key()), limit, state.clock.now(), "code exchanges")?;
    let body: ExchangeBody = parse_body(&body)?;
    let s = &state.settings.entra;
    if body.code.is_empty() {
        return Err(ApiError::new(ErrorCode::MissingCode, "the body carries no code"));
    }
    let binding = state.settings.cookie.binding(&headers).ok_or_else(|| {
        ApiError::new(
            ErrorCode::SignInUnknown,
            "no sign-in cookie came with the code: begin the sign-in in this browser",
        )
    })?;
    let now = state.clock.now();
    let pending = state.sessions.take_pending(&binding, &body.state, now).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::SignInUnknown,
            "this browser has no sign-in waiting under this state (another browser's, expired, or redeemed already)",
        )
    })?;
    let redirect = RedirectUri::parse(&pending.redirect_uri)?;
    let scopes = Scopes::parse_all(pending.scopes.split_whitespace())?;
    let code = AuthorizationCode::new(body.code);
    let grant = Grant::AuthorizationCode { code: &code, redirect_uri: &redirect, verifier: Some(&pending.verifier) };
    let tokens = state.upstream.token(&state.credential.load(), &s.tenant, grant, Some(&scopes), now).await?;
    let id_token: &IdToken = tokens.id_token.as_ref().ok_or_else(|| {
        ApiError::new(ErrorCode::MalformedIdToken, "the code redemption returned no ID token: ask for the openid scope")
    })?;
    let claims = state.upstream.verify_id_token(id_token, &pending.nonce, now).await?;
    let refresh_token: RefreshToken = tokens.refresh_token.clone().ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidScope, "no refresh token came back: the sign-in must ask for offline_access")
    })?;
    let account = claims.account();
    let token = CachedToken::from_answer(&tokens, &scopes, now);
    // A new session ID at every sign-in; the one the browser had (if any) is dropped.
    if let Some(old) = state.settings.cookie.session_key(&headers) {
        state.tokens.remove(&old);
        state.sessions.delete(&old).await?;
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
    let key_session = session.clone();
    let id = state.sessions.create(session, now).await?;
    let key = SessionKey::of(&id);
    let slot = state.tokens.slot(&key, now);
    let mut tokens = slot.lock().await;
    tokens.insert(resource_of(&scopes), std::sync::Arc::new(token.clone()));
    let version = share(&state, &key, &tokens).await?;
    publish(&state, &key, &key_session, &tokens, version);
    drop(tokens);
    let lifetime = i64::try_from(state.settings.session.absolute_lifetime.as_secs()).unwrap_or(i64::MAX);
    let cookie = state.settings.cookie.set(id, lifetime);
    Ok((
        [(header::SET_COOKIE, cookie), (header::CACHE_CONTROL, "no-store".to_owned())],
        Json(token_answer(&token, &account, now)),
    )
        .into_response())
}

/// The body of `/api/auth/token`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
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
/// concurrent callers wait for it. Only scopes of `entra.allowed_scopes` may be asked for (403
/// `scope_not_allowed`). A refresh token Entra no longer accepts for the session's own scopes
/// ends the session with 401 `interaction_required`; Entra refusing scopes beyond them answers
/// 403 `consent_required` (with Entra's code) and the session stays.
pub(crate) async fn token(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let body: TokenBody = parse_optional_body(&body)?;
    if body.force_refresh || body.claims.is_some() {
        // These go upstream whatever is cached.
        let limit = state.settings.limits.token_refreshes_per_minute;
        let key = format!("refresh:{}", client.key());
        check(&state.limits, &key, limit, state.clock.now(), "forced or claims refreshes")?;
    }
    let wanted = body.scopes.unwrap_or_default();
    let wanted_scopes = Scopes::parse_all(&wanted)?;
    check_allowed(&state, &wanted_scopes)?;
    let challenge = body.claims.as_deref().map(claims::check).transpose()?;
    // Without a usable session the page must sign the user in: 401 `interaction_required`
    // (code `not_signed_in`), as for a refresh token Entra no longer accepts.
    let key = state
        .settings
        .cookie
        .session_key(&headers)
        .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "no session cookie").interaction_required())?;
    let scopes =
        if wanted_scopes.is_empty() { Cow::Borrowed(&state.settings.entra.scopes) } else { Cow::Owned(wanted_scopes) };
    if !body.force_refresh && challenge.is_none() {
        // A cached token the session's view holds: answered without its lock or the store.
        let now = state.clock.now();
        if let Some((token, view)) = state.tokens.serve(&key, &resource_of(&scopes), &wanted, now) {
            // With a shared store, only while the session lives there and no other instance has
            // stored newer tokens since (one read; no staleness window after a sign-out elsewhere).
            let current = match &state.shared {
                Some(shared) => shared.token_version(&key, now).await? == Some(view.version),
                None => true,
            };
            if current {
                state.metrics.token_cache(true);
                return Ok(Json(token_answer(&token, &view.account, now)).into_response());
            }
        }
    }
    let request = Request {
        caller: Caller::Page { wanted: &wanted, force: body.force_refresh },
        scopes: Some(scopes.into_owned()),
        claims: challenge.as_deref(),
    };
    match refresh_session(&state, &key, request).await {
        Ok(Refreshed::Token { token, account, now }) => Ok(Json(token_answer(&token, &account, now)).into_response()),
        Ok(Refreshed::NotDue) => Err(ApiError::new(ErrorCode::InternalError, "a page's refresh was not made")),
        Err(RefreshError::NoSession) => {
            Err(ApiError::new(ErrorCode::NotSignedIn, "the session is unknown or expired").interaction_required())
        }
        Err(RefreshError::ConsentRequired(x)) => {
            tracing::info!(code = %graphgate_core::Error::Entra(x.clone()).explain().code, "scopes beyond the session's need consent");
            Err(ApiError::from(graphgate_core::Error::Entra(x)).consent_required())
        }
        Err(RefreshError::NeedsUser(x)) => Err(claims::needs_user(&state, x, challenge.as_deref().unwrap_or(""))),
        Err(RefreshError::GrantDead(e)) => {
            let clear = state.settings.cookie.clear();
            Ok(([(header::SET_COOKIE, clear)], ApiError::from(e).interaction_required()).into_response())
        }
        Err(RefreshError::Upstream(e)) => Err(e.into()),
        Err(RefreshError::Store(e)) => Err(e.into()),
        Err(RefreshError::Busy) => Err(ApiError::new(
            ErrorCode::SessionBusy,
            "another instance is refreshing this session and did not finish in time",
        )),
    }
}

/// Refuses (403 `scope_not_allowed`) a scope outside `entra.allowed_scopes`; the OpenID scopes
/// are always allowed. The refused scope is named (a scope is no secret).
fn check_allowed(state: &AppState, wanted: &Scopes) -> Result<(), ApiError> {
    let allowed = &state.settings.entra.allowed_scopes;
    match wanted.resource_scopes().iter().find(|w| !allowed.iter().any(|a| a.same_permission(w))) {
        None => Ok(()),
        Some(refused) => Err(ApiError::new(
            ErrorCode::ScopeNotAllowed,
            format!("{} is not in this proxy's entra.allowed_scopes", refused.as_str()),
        )),
    }
}

/// `GET /api/auth/session`: the signed-in account, or 401.
pub(crate) async fn session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let key = state
        .settings
        .cookie
        .session_key(&headers)
        .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "no session cookie"))?;
    // A session the store no longer gives (ended, signed out elsewhere, unopenable) takes its
    // cached tokens with it, so they are not answered from memory either.
    let gone = || {
        state.tokens.remove(&key);
        ApiError::new(ErrorCode::NotSignedIn, "the session is unknown or expired")
    };
    let now = state.clock.now();
    let mut s = state.sessions.load(&key, now).await?.ok_or_else(gone)?;
    // Reading the session is use of it: recorded under the session's token slot, as a refresh is.
    let every = state.settings.session.touch_interval;
    if state.sessions.touch_due(&s, now, every) {
        let slot = state.tokens.slot(&key, now);
        let _held = slot.lock().await;
        let now = state.clock.now();
        let (session, version) = state.sessions.load_versioned(&key, now).await?.ok_or_else(gone)?;
        state.sessions.touch(&key, &session, &version, now, every).await?;
        s = session;
    }
    Ok(Json(json!({"account": s.account, "scopes": s.scopes.split(' ').collect::<Vec<_>>()})))
}

/// The body of `/api/auth/logout` (an empty body is `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LogoutBody {
    /// End every session of the signed-in account (by tenant ID and object ID), not just this one.
    #[serde(default)]
    everywhere: bool,
}

/// `POST /api/auth/logout [{everywhere}]`: deletes the session (with `everywhere`, every session
/// of its account, and says how many ended), clears the cookie, answers Entra's logout URL.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let limit = state.settings.limits.logouts_per_minute;
    check(&state.limits, &format!("logout:{}", client.key()), limit, state.clock.now(), "sign-outs")?;
    let body: LogoutBody = parse_optional_body(&body)?;
    let mut ended = 0;
    if let Some(key) = state.settings.cookie.session_key(&headers) {
        let now = state.clock.now();
        let account = if body.everywhere { state.sessions.load(&key, now).await?.map(|s| s.account) } else { None };
        signout::end(&state, &key).await?;
        if let Some(account) = account {
            let others = state.sessions.keys_of(&account.tenant_id, &account.object_id, now).await?;
            ended = 1 + signout::end_all(&state, &others).await?;
        }
    }
    let s = &state.settings.entra;
    let post_logout = s.redirect_uris.first().map(RedirectUri::as_str);
    let url = s.endpoints.logout_url(&s.tenant, post_logout);
    let clear = state.settings.cookie.clear();
    let answer = if body.everywhere { json!({"logoutUrl": url, "ended": ended}) } else { json!({"logoutUrl": url}) };
    Ok(([(header::SET_COOKIE, clear)], Json(answer)).into_response())
}

/// The bodies' parsing and the checks that need no proxy state, in the order the handlers run
/// them; `crate::fuzzing` hands them to the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use graphgate_core::{ErrorCode, RedirectUri, Scopes};

    use super::{BeginBody, ExchangeBody, LogoutBody, TokenBody, claims, parse_body, parse_optional_body};
    use crate::error::ApiError;

    /// `/api/auth/begin`: the body, its redirect URI and its scopes.
    pub(crate) fn begin(body: &str) -> Result<(), ApiError> {
        let body: BeginBody = parse_body(body)?;
        RedirectUri::parse(&body.redirect_uri)?;
        if let Some(list) = &body.scopes {
            let scopes = Scopes::parse_all(list)?;
            let _resource = scopes.resource_scopes();
        }
        Ok(())
    }

    /// `/api/auth/exchange`: the body and its code.
    pub(crate) fn exchange(body: &str) -> Result<(), ApiError> {
        let body: ExchangeBody = parse_body(body)?;
        if body.code.is_empty() {
            return Err(ApiError::new(ErrorCode::MissingCode, "the body carries no code"));
        }
        Ok(())
    }

    /// `/api/auth/token`: the (optional) body, its scopes and its claims.
    pub(crate) fn token(body: &str) -> Result<(), ApiError> {
        let body: TokenBody = parse_optional_body(body)?;
        let wanted = Scopes::parse_all(body.scopes.unwrap_or_default())?;
        let _resource = wanted.resource_scopes();
        body.claims.as_deref().map(claims::check).transpose()?;
        Ok(())
    }

    /// `/api/auth/logout`: the (optional) body.
    pub(crate) fn logout(body: &str) -> Result<(), ApiError> {
        let _body: LogoutBody = parse_optional_body(body)?;
        Ok(())
    }
}
