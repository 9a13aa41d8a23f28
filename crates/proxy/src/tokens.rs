//! Access tokens per session and resource, cached in memory, with one upstream refresh at a time
//! per session: concurrent callers of one session wait for the refresh in flight and share its
//! result. A token is kept under the resource it is for (core's `Scopes::resource`: Graph for
//! `User.Read`, `api://x` for `api://x/Read`), so a token for one resource is never handed out
//! for another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use graphgate_core::{AccessToken, Scopes, TokenResponse};

use crate::clock::{expiry, is_fresh};
use crate::session::SessionKey;

/// A cached access token.
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    /// The token.
    pub(crate) access_token: AccessToken,
    /// When it expires (Unix seconds).
    pub(crate) expires_at: u64,
    /// The scopes it carries, space-separated, as granted.
    pub(crate) scopes: String,
    /// When this session's last upstream forced refresh was (Unix seconds), if any: kept when a
    /// later refresh replaces the token, so forced refreshes are held to one per interval.
    pub(crate) forced_at: Option<u64>,
}

impl CachedToken {
    /// The access token of Entra's `answer` at `now`, carrying the scopes Entra names (else
    /// the `requested` ones).
    pub(crate) fn from_answer(answer: &TokenResponse, requested: &Scopes, now: u64) -> Self {
        Self {
            access_token: answer.access_token.clone(),
            expires_at: expiry(now, answer.expires_in),
            scopes: answer.scope.clone().unwrap_or_else(|| requested.to_string()),
            forced_at: None,
        }
    }

    /// Whether it is still fresh (core's refresh margin) and carries every scope asked for (by
    /// permission name: the slot it sits in is already the resource's).
    pub(crate) fn serves(&self, now: u64, wanted: &[String]) -> bool {
        let name = |s: &str| s.rsplit('/').next().unwrap_or(s).to_owned();
        is_fresh(self.expires_at, now)
            && wanted.iter().all(|w| {
                let w = name(w);
                self.scopes.split(' ').any(|s| name(s).eq_ignore_ascii_case(&w))
            })
    }
}

/// The cache key of the resource `scopes` are for (Graph when they name none).
pub(crate) fn resource_of(scopes: &Scopes) -> String {
    scopes.resource().unwrap_or(graphgate_core::GRAPH_RESOURCE).to_ascii_lowercase()
}

/// A session's tokens, one per resource.
pub(crate) type Tokens = HashMap<String, CachedToken>;

/// One slot per session; holding its lock is holding the right to refresh (the refresh token is
/// one for every resource).
pub(crate) type Slot = Arc<tokio::sync::Mutex<Tokens>>;

/// Every this many new slots, the slots of sessions that ended quietly are dropped.
const PURGE_EVERY: usize = 256;

/// The cache.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<SessionKey, Slot>>,
    created: AtomicUsize,
}

impl TokenCache {
    /// The slot of a session (created empty on first use). Creating slots now and then drops the
    /// ones nobody holds whose token expired by `now` or that never got one (sessions that idled
    /// out, cookies that named no session), so the cache does not grow without bound.
    pub(crate) fn slot(&self, key: &SessionKey, now: u64) -> Slot {
        let mut slots = crate::lock(&self.slots);
        if let Some(slot) = slots.get(key) {
            return slot.clone();
        }
        if self.created.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            slots.retain(|_, slot| !unused(slot, now));
        }
        slots.entry(key.clone()).or_default().clone()
    }

    /// Forgets a session's token (sign-out, failed refresh).
    pub(crate) fn remove(&self, key: &SessionKey) {
        crate::lock(&self.slots).remove(key);
    }

    /// How many sessions have a slot.
    pub fn len(&self) -> usize {
        crate::lock(&self.slots).len()
    }

    /// Whether no session has a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A slot no request holds or waits on, with no token still valid at `now`.
fn unused(slot: &Slot, now: u64) -> bool {
    Arc::strong_count(slot) == 1 && slot.try_lock().is_ok_and(|t| t.values().all(|t| t.expires_at <= now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_serves_until_shortly_before_expiry_and_for_its_scopes() {
        let t = CachedToken {
            access_token: AccessToken::new("x"),
            expires_at: 1_000,
            scopes: "openid https://graph.microsoft.com/Mail.Send User.Read".into(),
            forced_at: None,
        };
        assert!(t.serves(600, &[]));
        assert!(t.serves(600, &["Mail.Send".into(), "user.read".into()]));
        assert!(!t.serves(600, &["Mail.Read".into()]));
        assert!(!t.serves(700, &[]), "within five minutes of expiry it is refreshed");
    }

    #[test]
    fn an_absurd_lifetime_is_clamped() {
        let max = u64::MAX;
        let body = format!(r#"{{"token_type":"Bearer","expires_in":{max},"ext_expires_in":{max},"access_token":"x"}}"#);
        let answer = graphgate_core::parse_token_response(200, &body).expect("parsed");
        let now = 1_700_000_000;
        let t = CachedToken::from_answer(&answer, &Scopes::new(), now);
        assert!(t.expires_at > now && t.expires_at <= now + 2 * 24 * 3600, "{}", t.expires_at);
        let t = CachedToken::from_answer(&answer, &Scopes::new(), u64::MAX - 5);
        assert_eq!(t.expires_at, u64::MAX, "no overflow at the end of time either");
    }

    #[test]
    fn the_resource_is_the_scopes_one_graph_by_default() {
        let of = |list: &[&str]| resource_of(&Scopes::parse_all(list).expect("valid"));
        assert_eq!(of(&["User.Read"]), "https://graph.microsoft.com");
        assert_eq!(of(&["openid", "https://graph.microsoft.com/Mail.Send"]), "https://graph.microsoft.com");
        assert_eq!(of(&["openid"]), "https://graph.microsoft.com");
        assert_eq!(of(&["api://X/Read"]), "api://x");
    }

    fn key(n: usize) -> SessionKey {
        SessionKey::of(&graphgate_core::SessionId::new(format!("session-{n}")))
    }

    #[test]
    fn slots_of_ended_sessions_are_dropped_and_live_ones_kept() {
        let cache = TokenCache::default();
        let token = |expires_at| CachedToken {
            access_token: AccessToken::new("x"),
            expires_at,
            scopes: String::new(),
            forced_at: None,
        };
        // A session in use (its slot held), one with a valid token, one whose token expired.
        let held = cache.slot(&key(0), 0);
        cache.slot(&key(1), 0).try_lock().expect("free").insert("r".into(), token(5_000));
        cache.slot(&key(2), 0).try_lock().expect("free").insert("r".into(), token(500));
        // Cookies that named no session leave empty slots behind.
        for n in 3..PURGE_EVERY - 1 {
            cache.slot(&key(n), 1_000);
        }
        assert_eq!(cache.len(), PURGE_EVERY - 1, "nothing dropped before the purge point");
        cache.slot(&key(PURGE_EVERY - 1), 1_000);
        assert_eq!(cache.len(), 3, "the held slot, the valid token and the new slot stay");
        let kept = cache.slot(&key(1), 1_000);
        assert!(!kept.try_lock().expect("free").is_empty(), "the valid token is still there");
        assert!(Arc::ptr_eq(&held, &cache.slot(&key(0), 1_000)), "the held slot is the same");
        for n in PURGE_EVERY..3 * PURGE_EVERY {
            cache.slot(&key(n), 1_000);
        }
        assert!(cache.len() <= PURGE_EVERY + 2, "bounded: {}", cache.len());
    }
}
