//! The keep-alive: an optional background task that redeems the refresh token of every session
//! whose last refresh is older than `keepalive.refresh_after_hours`, so that a session the proxy
//! keeps for a long time does not lose its grant to Entra's 90 days of inactivity (a web app's
//! refresh token lapses when it goes unused that long: AADSTS700082).
//!
//! How a pass works:
//!
//! - It lists the live sessions by `SessionKey` (`SessionManager::scan`); it never knows a
//!   session ID, and it never logs keys or tokens, only counts and error codes. A record no
//!   session key opens is skipped and kept (only its expiry time removes it).
//! - Each due session is refreshed while its token slot is locked: the browser's
//!   `/api/auth/token` takes the same lock, so a session is never refreshed twice at once. Under
//!   the lock the session is read again, so a refresh the browser made meanwhile is seen and the
//!   session is skipped.
//! - The refresh itself is the one `/api/auth/token` makes (`refresh::refresh_session`), except
//!   that it keeps `last_seen`: a background refresh does not count as use, so an idle session
//!   still ends at its idle timeout. The new access token goes into the slot for the browser's
//!   next call.
//! - A grant Entra refuses for good (`invalid_grant`, `interaction_required`: revoked, lapsed,
//!   consent withdrawn) ends the session, as `/api/auth/token` would. Any other failure
//!   (unreachable host, throttling, a bad client secret) leaves the session alone for the next
//!   pass.
//! - At most `keepalive.concurrency` refreshes run at once, each after a random delay below the
//!   jitter bound, so a proxy with many sessions does not hit the token endpoint in one burst.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::refresh::{Caller, RefreshError, Refreshed, Request, is_due, refresh_session};
use crate::session::SessionKey;
use crate::state::AppState;

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

/// One pass without jitter: refreshes every due session now (with the configured concurrency).
/// Does not look at `keepalive.enabled`; that only decides whether [`spawn`] runs passes.
pub async fn run_once(state: &Arc<AppState>) -> KeepaliveReport {
    run(state, Duration::ZERO).await
}

/// One pass: every session whose `refreshed_at + refresh_after_hours` has come is refreshed,
/// each after a random delay below `max_jitter`, at most `keepalive.concurrency` at once.
async fn run(state: &Arc<AppState>, max_jitter: Duration) -> KeepaliveReport {
    let cfg = &state.settings.keepalive;
    let refresh_after = cfg.refresh_after.as_secs();
    let now = state.clock.now();
    match state.sessions.purge_expired(now).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(purged = n, "keep-alive: removed ended session records"),
        Err(e) => tracing::warn!(error = %e, "keep-alive: ended session records could not be removed"),
    }
    let due: Vec<SessionKey> = match state.sessions.scan(now).await {
        Ok(all) => all.into_iter().filter(|(_, s)| is_due(s, refresh_after, now)).map(|(key, _)| key).collect(),
        Err(e) => {
            // Store errors never carry session IDs or secrets.
            tracing::warn!(error = %e, "keep-alive: the session store could not be listed");
            return KeepaliveReport::default();
        }
    };
    let due_count = due.len();
    let permits = Arc::new(Semaphore::new(cfg.concurrency));
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
/// session after a random delay below the interval, at most 30 seconds. Aborting the handle stops
/// it; a refresh cut short leaves the previous refresh token in place (Entra keeps it valid).
pub fn spawn(state: Arc<AppState>) -> Option<JoinHandle<()>> {
    let max_jitter = state.settings.keepalive.jitter_bound;
    spawn_with_jitter(state, max_jitter)
}

/// [`spawn`] with another jitter bound (tests pass zero).
pub fn spawn_with_jitter(state: Arc<AppState>, max_jitter: Duration) -> Option<JoinHandle<()>> {
    let cfg = &state.settings.keepalive;
    if !cfg.enabled {
        return None;
    }
    let every = cfg.interval;
    tracing::info!(
        interval_minutes = every.as_secs() / 60,
        refresh_after_hours = cfg.refresh_after.as_secs() / 3600,
        concurrency = cfg.concurrency,
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

/// Refreshes one session (under its token slot, like the page's refreshes).
async fn refresh(state: &AppState, key: &SessionKey, refresh_after: u64) -> Outcome {
    let request = Request { caller: Caller::KeepAlive { refresh_after }, scopes: None, claims: None };
    match refresh_session(state, key, request).await {
        Ok(Refreshed::Token { .. }) => Outcome::Refreshed,
        // Signed out or ended while the pass was waiting, or refreshed by the browser meanwhile.
        Ok(Refreshed::NotDue) | Err(RefreshError::NoSession) => Outcome::Skipped,
        Err(RefreshError::GrantDead(e)) => {
            tracing::info!(code = %e.explain().code, "keep-alive: ended a session whose grant Entra refuses");
            Outcome::Ended
        }
        Err(RefreshError::Upstream(e)) => {
            tracing::warn!(code = %e.explain().code, "keep-alive: a refresh failed; it is tried again next pass");
            Outcome::Failed
        }
        Err(RefreshError::NeedsUser(x) | RefreshError::ConsentRequired(x)) => {
            let code = graphgate_core::Error::Entra(x).explain().code;
            tracing::warn!(code = %code, "keep-alive: a refresh failed; it is tried again next pass");
            Outcome::Failed
        }
        Err(RefreshError::Busy) => {
            tracing::info!(
                "keep-alive: another instance held a session's refresh for long; it is tried again next pass"
            );
            Outcome::Failed
        }
        Err(RefreshError::Store(e)) => {
            tracing::warn!(error = %e, "keep-alive: the session store failed; the session is tried again next pass");
            Outcome::Failed
        }
    }
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
}
