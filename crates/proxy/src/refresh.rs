//! The one refresh path, shared by `/api/auth/token` (with or without a claims challenge) and the
//! keep-alive: lock the session's token slot, load the session, answer from the cache (the token
//! of the resource asked for) or decide that nothing is due, redeem the refresh token, end the
//! session when Entra refuses its grant for good, store the rotated refresh token, and fill the
//! slot.
//!
//! Only a refresh for the session's own scopes (those it was granted) can end it: when one that
//! asks for more (a scope the user has not consented to) is refused, the page is told that
//! consent is needed and the session stays, since its grant still works for what it was given.
//!
//! Holding the slot's lock is holding the right to refresh, so one session is never refreshed
//! twice at once; whoever waited reads the result from the slot.

use graphgate_core::{Account, EntraError, Error as CoreError, Grant, Scopes, Tenant, TokenResponse};

use std::sync::Arc;

use crate::session::{Session, SessionKey, StoreError};
use crate::shared::{Lease, LeaseError};
use crate::state::AppState;
use crate::tokens::{CachedToken, Tokens, View, resource_of};

/// Who asks for the refresh.
///
/// A page's cached token served counts as use of the session (`last_seen`, written at most once
/// per `session.touch_interval_minutes`). A `force`d refresh goes upstream at most once per
/// session per `session.force_refresh_interval_secs`; inside that interval `force` is ignored,
/// so the page gets the token the last refresh fetched. A claims challenge is never held back.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller<'a> {
    /// The page (`/api/auth/token`): answered from the cache when a cached token is fresh and
    /// carries `wanted`, unless `force`d; a refresh counts as use of the session.
    Page { wanted: &'a [String], force: bool },
    /// The keep-alive: only a session last refreshed `refresh_after` seconds ago or more is
    /// refreshed, and that does not count as use (an idle session still ends at its idle timeout).
    KeepAlive { refresh_after: u64 },
}

/// A refresh to make.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub(crate) caller: Caller<'a>,
    /// The scopes to ask for; `None`: the ones the session was granted.
    pub(crate) scopes: Option<Scopes>,
    /// A claims challenge to answer (the page's `claims`): the cache is bypassed, and when Entra
    /// needs the user for these claims the session stays.
    pub(crate) claims: Option<&'a str>,
}

/// What a refresh gave.
#[derive(Debug)]
pub(crate) enum Refreshed {
    /// An access token (from the cache or just redeemed) for the session's account, as of `now`.
    Token { token: Arc<CachedToken>, account: Box<Account>, now: u64 },
    /// The keep-alive found the session refreshed recently: nothing was done.
    NotDue,
}

/// Why a refresh gave no token.
#[derive(Debug)]
pub(crate) enum RefreshError {
    /// There is no such session (unknown, ended, or signed out meanwhile).
    NoSession,
    /// Answering the claims challenge needs the user (MFA, consent); the session stays.
    NeedsUser(Box<EntraError>),
    /// Entra refused scopes beyond the session's own (consent, or MFA, needed for them): the
    /// session stays.
    ConsentRequired(Box<EntraError>),
    /// Entra refuses the grant for good (revoked, lapsed): the session was ended.
    GrantDead(CoreError),
    /// Entra refused for a reason that may pass, or could not be reached; the session stays.
    Upstream(CoreError),
    /// The session store failed.
    Store(StoreError),
    /// Another instance held the session's refresh lease for longer than the wait allows.
    Busy,
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Whether `session` was last refreshed `refresh_after` seconds or more before `now`.
pub(crate) fn is_due(session: &Session, refresh_after: u64, now: u64) -> bool {
    session.refreshed_at.saturating_add(refresh_after) <= now
}

/// What a look under the slot's lock decided.
enum Decision {
    /// Answer this cached token (use of the session written when due).
    Serve(Arc<CachedToken>),
    /// The keep-alive finds nothing due.
    NotDue,
    /// Redeem the refresh token; `used`: the refresh counts as use, `forced`: a forced refresh.
    Redeem { used: bool, forced: bool },
}

/// Refreshes the session stored under `key` while holding its token slot (see the module's
/// documentation). With a shared store, the slot's holder also takes the session's lease before
/// going upstream, and then looks again at what the other instances stored.
pub(crate) async fn refresh_session(
    state: &AppState,
    key: &SessionKey,
    request: Request<'_>,
) -> Result<Refreshed, RefreshError> {
    let slot = state.tokens.slot(key, state.clock.now());
    let mut guard = slot.lock().await;
    let mut lease: Option<Lease> = None;
    let (session, scopes, own, resource, used, forced, now) = loop {
        // Read the clock again once the slot (or the lease) is ours: waiting can take a while.
        let now = state.clock.now();
        let Some((session, version)) = state.sessions.load_versioned(key, now).await? else {
            // No slot stays behind for a session that is gone, or a cookie that names none.
            guard.clear();
            drop(guard);
            state.tokens.remove(key);
            return Err(RefreshError::NoSession);
        };
        let shared_version = adopt_shared(state, key, &mut guard).await?;
        let own = granted_scopes(state, &session);
        let scopes = request.scopes.clone().unwrap_or_else(|| own.clone());
        let resource = resource_of(&scopes);
        match decide(state, &request, &session, &guard, &resource, now) {
            Decision::Serve(token) => {
                state.metrics.token_cache(true);
                // Serving a cached token is use of the session.
                let every = state.settings.session.touch_interval;
                let touched = state.sessions.touch_due(&session, now, every);
                state.sessions.touch(key, &session, &version, now, every).await?;
                let session = if touched { Session { last_seen: now, ..session } } else { session };
                publish(state, key, &session, &guard, shared_version);
                return Ok(Refreshed::Token { token, account: Box::new(session.account), now });
            }
            Decision::NotDue => return Ok(Refreshed::NotDue),
            Decision::Redeem { used, forced } => match (&state.shared, &lease) {
                // Another instance may be refreshing: wait for its lease, then look again.
                (Some(shared), None) => {
                    lease = Some(shared.lease_session(key).await.map_err(|e| match e {
                        LeaseError::Busy => RefreshError::Busy,
                        LeaseError::Store(e) => RefreshError::Store(e),
                    })?);
                }
                _ => {
                    if matches!(request.caller, Caller::Page { .. }) {
                        state.metrics.token_cache(false);
                    }
                    break (session, scopes, own, resource, used, forced, now);
                }
            },
        }
    };
    let tokens = match redeem(state, &session, &scopes, request.claims, now).await {
        Ok(t) => t,
        Err(CoreError::Entra(x)) if request.claims.is_some() && needs_user(&x) => {
            return Err(RefreshError::NeedsUser(x));
        }
        Err(CoreError::Entra(x)) if !is_own(&scopes, &own) && (x.grant_is_dead() || x.needs_interaction()) => {
            return Err(RefreshError::ConsentRequired(x));
        }
        Err(e) if e.grant_is_dead() => {
            guard.clear();
            state.sessions.delete(key).await?;
            drop(guard);
            state.tokens.remove(key);
            return Err(RefreshError::GrantDead(e));
        }
        Err(e) => return Err(RefreshError::Upstream(e)),
    };
    let mut token = CachedToken::from_answer(&tokens, &scopes, now);
    token.forced_at = if forced { Some(now) } else { guard.get(&resource).and_then(|t| t.forced_at) };
    let stored =
        state.sessions.record_refresh(key, Some(&session.refresh_token), tokens.refresh_token, now, used).await?;
    let Some(stored) = stored else {
        // Signed out, or at the end of its lifetime, while the refresh was under way.
        guard.clear();
        drop(guard);
        state.tokens.remove(key);
        return Err(RefreshError::NoSession);
    };
    let token = Arc::new(token);
    guard.insert(resource, token.clone());
    let version = share(state, key, &guard).await?;
    publish(state, key, &stored, &guard, version);
    if let Some(lease) = lease {
        lease.release().await;
    }
    Ok(Refreshed::Token { token, account: Box::new(stored.account), now })
}

/// Whether the cached token serves `request`, the keep-alive has nothing to do, or the refresh
/// token is to be redeemed.
fn decide(
    state: &AppState,
    request: &Request<'_>,
    session: &Session,
    tokens: &Tokens,
    resource: &str,
    now: u64,
) -> Decision {
    match request.caller {
        Caller::Page { wanted, force } => {
            // Inside the interval after an upstream forced refresh, `force` counts for nothing:
            // the page gets the token that refresh fetched (when it serves).
            let interval = state.settings.session.force_refresh_interval.as_secs();
            let held_back =
                tokens.get(resource).and_then(|t| t.forced_at).is_some_and(|at| now < at.saturating_add(interval));
            let force = force && !held_back;
            let cached = tokens.get(resource).filter(|t| !force && request.claims.is_none() && t.serves(now, wanted));
            match cached {
                Some(token) => Decision::Serve(token.clone()),
                None => Decision::Redeem { used: true, forced: force && request.claims.is_none() },
            }
        }
        Caller::KeepAlive { refresh_after } => {
            if is_due(session, refresh_after, now) {
                Decision::Redeem { used: false, forced: false }
            } else {
                // Refreshed meanwhile (by the page, or another instance, while this waited).
                Decision::NotDue
            }
        }
    }
}

/// With a shared store: takes into the slot the tokens the instances keep for the session under
/// `key` (whoever fetched them last) and returns their version; 0 without a shared store or
/// when none are kept.
async fn adopt_shared(state: &AppState, key: &SessionKey, slot: &mut Tokens) -> Result<u64, StoreError> {
    let Some(shared) = &state.shared else {
        return Ok(0);
    };
    let Some((version, plain)) = shared.tokens(&state.sessions.keys(), key).await? else {
        return Ok(0);
    };
    if let Some(tokens) = crate::tokens::decode(&plain) {
        *slot = tokens;
    }
    Ok(version)
}

/// With a shared store: keeps the slot's tokens for the other instances; returns their version
/// (0 without a shared store, or when the session is gone).
pub(crate) async fn share(state: &AppState, key: &SessionKey, tokens: &Tokens) -> Result<u64, StoreError> {
    let Some(shared) = &state.shared else {
        return Ok(0);
    };
    let version = shared.put_tokens(&state.sessions.keys(), key, &crate::tokens::encode(tokens)).await?;
    Ok(version.unwrap_or(0))
}

/// Publishes what the slot's holder knows of `session` (as stored) and its `tokens` (of the
/// shared `version`), so the next cached token is answered without the slot's lock or the store.
pub(crate) fn publish(state: &AppState, key: &SessionKey, session: &Session, tokens: &Tokens, version: u64) {
    let touch_at = session.last_seen.saturating_add(state.settings.session.touch_interval.as_secs());
    let view = View {
        account: session.account.clone(),
        tokens: tokens.clone(),
        ends_at: state.sessions.expires_at(session),
        touch_at,
        version,
    };
    state.tokens.publish(key, view);
}

/// Whether `scopes` ask for nothing beyond the session's `own` (granted) ones: every resource
/// scope is one of them (the same permission of the same resource).
fn is_own(scopes: &Scopes, own: &Scopes) -> bool {
    scopes.resource_scopes().iter().all(|s| own.iter().any(|o| o.same_permission(s)))
}

/// Whether Entra's answer to a claims challenge asks for the user: an interaction error, or
/// claims of its own for the next sign-in.
fn needs_user(x: &EntraError) -> bool {
    x.needs_interaction() || x.claims.as_deref().is_some_and(|c| !c.trim().is_empty())
}

/// The refresh-token grant for `scopes`, with `claims` merged with the configured capabilities.
async fn redeem(
    state: &AppState,
    session: &Session,
    scopes: &Scopes,
    claims: Option<&str>,
    now: u64,
) -> Result<TokenResponse, CoreError> {
    let tenant = Tenant::parse(&session.tenant)?;
    let grant = Grant::RefreshToken(&session.refresh_token);
    state.upstream.token_with_claims(&state.credential.load(), &tenant, grant, Some(scopes), claims, now).await
}

/// The scopes granted to the session (so the refresh never asks for one the user did not
/// consent to, which Entra would refuse with `invalid_grant`); the configured defaults when the
/// stored text cannot be used.
fn granted_scopes(state: &AppState, session: &Session) -> Scopes {
    Scopes::parse_space_separated(&session.scopes)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| state.settings.entra.scopes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_grant_and_interaction_required_end_a_session() {
        let entra = |body: &str| graphgate_core::parse_token_response(400, body).expect_err("an error");
        assert!(entra(r#"{"error":"invalid_grant","error_codes":[700082]}"#).grant_is_dead());
        assert!(entra(r#"{"error":"interaction_required","error_codes":[50076]}"#).grant_is_dead());
        assert!(!entra(r#"{"error":"invalid_client","error_codes":[7000215]}"#).grant_is_dead());
        assert!(!entra(r#"{"error":"temporarily_unavailable"}"#).grant_is_dead());
        assert!(!CoreError::new(graphgate_core::ErrorCode::UpstreamUnreachable, "x").grant_is_dead());
    }

    #[test]
    fn own_scopes_are_the_granted_ones_whatever_their_spelling() {
        let set = |s: &str| Scopes::parse_space_separated(s).expect("valid");
        let own = set("User.Read Mail.Send profile openid email");
        assert!(is_own(&set("openid user.read https://graph.microsoft.com/Mail.Send"), &own));
        assert!(!is_own(&set("User.Read Mail.Read"), &own));
        assert!(!is_own(&set("api://x/User.Read"), &own));
    }

    #[test]
    fn a_claims_answer_needs_the_user_for_interaction_or_claims() {
        let entra = |body: &str| match graphgate_core::parse_token_response(400, body) {
            Err(CoreError::Entra(x)) => x,
            other => panic!("not an Entra error: {other:?}"),
        };
        assert!(needs_user(&entra(r#"{"error":"interaction_required","error_codes":[50076]}"#)));
        assert!(needs_user(&entra(r#"{"error":"invalid_grant","claims":"{\"access_token\":{}}"}"#)));
        assert!(!needs_user(&entra(r#"{"error":"invalid_grant","claims":" "}"#)));
        assert!(!needs_user(&entra(r#"{"error":"invalid_grant","error_codes":[50173]}"#)));
    }
}
