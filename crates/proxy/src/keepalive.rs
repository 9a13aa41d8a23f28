//! The keep-alive: an optional background task that redeems the refresh token of every session
//! whose last refresh is older than `keepalive.refresh_after_hours`, so that a session the proxy
//! keeps for a long time does not lose its grant to Entra's 90 days of inactivity (a web app's
//! refresh token lapses when it goes unused that long: AADSTS700082).
//!
//! How a pass works:
//!
//! - It lists the live sessions by [`SessionKey`] ([`SessionManager::scan`]); it never knows a
//!   session ID, and it never logs keys or tokens, only counts and error codes.
//! - Each due session is refreshed while its token slot is locked: the browser's
//!   `/api/auth/token` takes the same lock, so a session is never refreshed twice at once. Under
//!   the lock the session is read again, so a refresh the browser made meanwhile is seen and the
//!   session is skipped.
//! - The rotated refresh token is stored with [`SessionManager::save_by_key`], which keeps
//!   `last_seen`: a background refresh does not count as use, so an idle session still ends at
//!   its idle timeout. The new access token goes into the slot for the browser's next call.
//! - A grant Entra refuses for good (`invalid_grant`, `interaction_required`: revoked, lapsed,
//!   consent withdrawn) ends the session, as `/api/auth/token` would. Any other failure
//!   (unreachable host, throttling, a bad client secret) leaves the session alone for the next
//!   pass.
//! - At most `keepalive.concurrency` refreshes run at once, each after a random delay below the
//!   jitter bound, so a proxy with many sessions does not hit the token endpoint in one burst.
//!
//! [`SessionManager::scan`]: crate::session::SessionManager::scan
//! [`SessionManager::save_by_key`]: crate::session::SessionManager::save_by_key

use std::sync::Arc;
use std::time::Duration;

use graphgate_core::{Error as CoreError, Grant, Scopes, Tenant, TokenResponse};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::app::AppState;
use crate::config::KeepaliveConfig;
use crate::session::{Session, SessionKey};
use crate::tokens::CachedToken;

/// The largest random delay before one session's refresh.
pub const MAX_JITTER: Duration = Duration::from_secs(30);

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepaliveReport {
    /// Sessions whose refresh token was redeemed and stored again.
    pub refreshed: usize,
    /// Sessions whose refresh failed for a reason that may pass (they are tried again next time).
    pub failed: usize,
    /// Sessions ended because Entra no longer accepts their grant.
    pub ended: usize,
}

/// What happened to one due session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Refreshed,
    Failed,
    Ended,
    /// Gone, or refreshed by the browser meanwhile: nothing to do.
    Skipped,
}

/// The longest interval between passes: 90 days (any longer and refresh tokens lapse anyway).
const MAX_INTERVAL_MINUTES: u64 = 90 * 24 * 60;

/// The time between passes: `interval_minutes`, at least one minute and at most 90 days.
pub fn interval(cfg: &KeepaliveConfig) -> Duration {
    Duration::from_secs(cfg.interval_minutes.clamp(1, MAX_INTERVAL_MINUTES) * 60)
}

/// Refreshes at once: `concurrency`, at least one (and within what a semaphore can count).
fn concurrency(cfg: &KeepaliveConfig) -> usize {
    cfg.concurrency.clamp(1, Semaphore::MAX_PERMITS)
}

/// The jitter bound the background task uses: the interval, at most [`MAX_JITTER`].
pub fn jitter_bound(cfg: &KeepaliveConfig) -> Duration {
    interval(cfg).min(MAX_JITTER)
}

/// One pass without jitter: refreshes every due session now (with the configured concurrency).
/// Does not look at `keepalive.enabled`; that only decides whether [`spawn`] runs passes.
pub async fn run_once(state: &Arc<AppState>) -> KeepaliveReport {
    run(state, Duration::ZERO).await
}

/// One pass: every session whose `refreshed_at + refresh_after_hours` has come is refreshed,
/// each after a random delay below `max_jitter`, at most `keepalive.concurrency` at once.
pub async fn run(state: &Arc<AppState>, max_jitter: Duration) -> KeepaliveReport {
    let cfg = &state.settings.raw.keepalive;
    let refresh_after = cfg.refresh_after_hours.saturating_mul(3600);
    let now = state.clock.now();
    let due: Vec<SessionKey> = match state.sessions.scan(now).await {
        Ok(all) => all.into_iter().filter(|(_, s)| is_due(s, refresh_after, now)).map(|(key, _)| key).collect(),
        Err(e) => {
            // Store errors never carry session IDs or secrets.
            tracing::warn!(error = %e, "keep-alive: the session store could not be listed");
            return KeepaliveReport::default();
        }
    };
    let due_count = due.len();
    let permits = Arc::new(Semaphore::new(concurrency(cfg)));
    let mut tasks = JoinSet::new();
    for key in due {
        let (state, permits) = (state.clone(), permits.clone());
        let delay = jitter(max_jitter);
        tasks.spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let Ok(_permit) = permits.acquire_owned().await else {
                return Outcome::Failed;
            };
            refresh(&state, &key, refresh_after).await
        });
    }
    let mut report = KeepaliveReport::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Outcome::Refreshed) => report.refreshed += 1,
            Ok(Outcome::Ended) => report.ended += 1,
            Ok(Outcome::Failed) | Err(_) => report.failed += 1,
            Ok(Outcome::Skipped) => {}
        }
    }
    if due_count > 0 {
        tracing::info!(
            due = due_count,
            refreshed = report.refreshed,
            failed = report.failed,
            ended = report.ended,
            "keep-alive pass"
        );
    } else {
        tracing::debug!("keep-alive pass: no session due");
    }
    report
}

/// Starts the background task when `keepalive.enabled`: a pass at once, then one every
/// `interval_minutes` (a pass that overruns delays the next one rather than stacking them), each
/// session after a random delay below [`jitter_bound`]. Aborting the handle stops it; a refresh
/// cut short leaves the previous refresh token in place (Entra keeps it valid).
pub fn spawn(state: Arc<AppState>) -> Option<JoinHandle<()>> {
    let max_jitter = jitter_bound(&state.settings.raw.keepalive);
    spawn_with_jitter(state, max_jitter)
}

/// [`spawn`] with another jitter bound (tests pass zero).
pub fn spawn_with_jitter(state: Arc<AppState>, max_jitter: Duration) -> Option<JoinHandle<()>> {
    let cfg = &state.settings.raw.keepalive;
    if !cfg.enabled {
        return None;
    }
    let every = interval(cfg);
    tracing::info!(
        interval_minutes = every.as_secs() / 60,
        refresh_after_hours = cfg.refresh_after_hours,
        concurrency = concurrency(cfg),
        "keep-alive started"
    );
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            run(&state, max_jitter).await;
        }
    }))
}

/// Whether `session` was last refreshed `refresh_after` seconds or more before `now`.
fn is_due(session: &Session, refresh_after: u64, now: u64) -> bool {
    session.refreshed_at.saturating_add(refresh_after) <= now
}

/// A random delay below `bound` (zero when the bound is zero or the random source fails).
fn jitter(bound: Duration) -> Duration {
    let Ok(millis) = u64::try_from(bound.as_millis()) else {
        return Duration::ZERO;
    };
    if millis == 0 {
        return Duration::ZERO;
    }
    getrandom::u64().map(|r| Duration::from_millis(r % millis)).unwrap_or(Duration::ZERO)
}

/// Refreshes one session while holding its token slot.
async fn refresh(state: &AppState, key: &SessionKey, refresh_after: u64) -> Outcome {
    let slot = state.tokens.slot(key, state.clock.now());
    let mut guard = slot.lock().await;
    // Read again once the slot is ours: waiting for a refresh under way can take a while.
    let now = state.clock.now();
    let session = match state.sessions.load_by_key(key, now).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            // Signed out or ended while the pass was waiting.
            *guard = None;
            drop(guard);
            state.tokens.remove(key);
            return Outcome::Skipped;
        }
        Err(e) => {
            tracing::warn!(error = %e, "keep-alive: a session could not be read");
            return Outcome::Failed;
        }
    };
    if !is_due(&session, refresh_after, now) {
        // The browser refreshed it while this pass waited for the lock.
        return Outcome::Skipped;
    }
    let tokens = match redeem(state, &session, now).await {
        Ok(t) => t,
        Err(e) if e.grant_is_dead() => {
            *guard = None;
            if let Err(store) = state.sessions.delete_by_key(key).await {
                tracing::warn!(error = %store, "keep-alive: a dead session could not be deleted");
                return Outcome::Failed;
            }
            drop(guard);
            state.tokens.remove(key);
            tracing::info!(code = %e.explain().code, "keep-alive: ended a session whose grant Entra refuses");
            return Outcome::Ended;
        }
        Err(e) => {
            tracing::warn!(code = %e.explain().code, "keep-alive: a refresh failed; it is tried again next pass");
            return Outcome::Failed;
        }
    };
    let access = CachedToken {
        access_token: tokens.access_token.clone(),
        expires_at: now.saturating_add(tokens.expires_in),
        scopes: tokens.scope.clone().unwrap_or_else(|| scopes_for(state, &session).to_string()),
    };
    let refresh_token = tokens.refresh_token.unwrap_or_else(|| session.refresh_token.clone());
    let updated = Session { refresh_token, refreshed_at: now, ..session };
    match state.sessions.save_by_key(key, &updated, now).await {
        Ok(true) => {
            *guard = Some(access);
            Outcome::Refreshed
        }
        Ok(false) => {
            // It reached the end of its lifetime just now.
            *guard = None;
            Outcome::Skipped
        }
        Err(e) => {
            tracing::warn!(error = %e, "keep-alive: a refreshed session could not be stored");
            Outcome::Failed
        }
    }
}

/// The refresh-token grant, as `/api/auth/token` sends it, for the scopes the session holds.
async fn redeem(state: &AppState, session: &Session, now: u64) -> Result<TokenResponse, CoreError> {
    let tenant = Tenant::parse(&session.tenant)?;
    let scopes = scopes_for(state, session);
    state
        .upstream
        .token(&state.credential, &tenant, Grant::RefreshToken(&session.refresh_token), Some(&scopes), now)
        .await
}

/// The scopes granted to the session (so the refresh never asks for one the user did not
/// consent to, which Entra would refuse with `invalid_grant`); the configured defaults when the
/// stored text cannot be used.
fn scopes_for(state: &AppState, session: &Session) -> Scopes {
    Scopes::parse_space_separated(&session.scopes)
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| state.settings.scopes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_below_its_bound() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        assert_eq!(jitter(Duration::from_micros(900)), Duration::ZERO, "below a millisecond is no delay");
        for _ in 0..100 {
            assert!(jitter(Duration::from_millis(50)) < Duration::from_millis(50));
        }
    }

    #[test]
    fn the_interval_and_jitter_bound_have_floors_and_ceilings() {
        let mut cfg = KeepaliveConfig { interval_minutes: 0, ..KeepaliveConfig::default() };
        assert_eq!(interval(&cfg), Duration::from_secs(60), "zero would make tokio's interval panic");
        assert_eq!(jitter_bound(&cfg), MAX_JITTER);
        cfg.interval_minutes = 60;
        assert_eq!(interval(&cfg), Duration::from_secs(3600));
        assert_eq!(jitter_bound(&cfg), MAX_JITTER);
        cfg.interval_minutes = u64::MAX;
        assert_eq!(interval(&cfg), Duration::from_secs(90 * 24 * 3600), "no overflow in tokio's interval");
        cfg.concurrency = 0;
        assert_eq!(concurrency(&cfg), 1, "zero permits would wait forever");
        cfg.concurrency = usize::MAX;
        assert_eq!(concurrency(&cfg), Semaphore::MAX_PERMITS, "more would make the semaphore panic");
    }

    #[test]
    fn only_invalid_grant_and_interaction_required_end_a_session() {
        let entra = |body: &str| graphgate_core::parse_token_response(400, body).expect_err("an error");
        assert!(entra(r#"{"error":"invalid_grant","error_codes":[700082]}"#).grant_is_dead());
        assert!(entra(r#"{"error":"interaction_required","error_codes":[50076]}"#).grant_is_dead());
        assert!(!entra(r#"{"error":"invalid_client","error_codes":[7000215]}"#).grant_is_dead());
        assert!(!entra(r#"{"error":"temporarily_unavailable"}"#).grant_is_dead());
        assert!(!CoreError::new(graphgate_core::ErrorCode::UpstreamUnreachable, "x").grant_is_dead());
    }
}
