//! Access tokens per session and resource, cached in memory, with one upstream refresh at a time
//! per session: concurrent callers of one session wait for the refresh in flight and share its
//! result. A token is kept under the resource it is for (core's `Scopes::resource`: Graph for
//! `User.Read`, `api://x` for `api://x/Read`), so a token for one resource is never handed out
//! for another.
//!
//! Beside each slot sits its [`View`]: what the last visit under the slot's lock learnt (the
//! account, the tokens, until when the session lives and until when its use need not be written).
//! A cached token is answered from the view alone ([`TokenCache::serve`]): no lock waited on, no
//! store read. Whatever ends a session removes its slot and view with it ([`TokenCache::remove`]),
//! and a view never outlives the session's idle or absolute end, so the fast answer is refused
//! exactly when the slow one would be. At most `session.token_cache_sessions` slots are kept; past
//! that, the ones used longest ago (and not held) are dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use graphgate_core::{AccessToken, Account, Scopes, TokenResponse};
use serde::{Deserialize, Serialize};

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
pub(crate) type Tokens = HashMap<String, Arc<CachedToken>>;

/// One slot per session; holding its lock is holding the right to refresh (the refresh token is
/// one for every resource).
pub(crate) type Slot = Arc<tokio::sync::Mutex<Tokens>>;

/// What the last visit under a slot's lock learnt of its session, for answering cached tokens
/// without the lock or the store.
#[derive(Debug)]
pub(crate) struct View {
    /// The session's account.
    pub(crate) account: Account,
    /// Its tokens, as the slot held them.
    pub(crate) tokens: Tokens,
    /// When the session ends unless used again (the earlier of its idle and absolute end).
    pub(crate) ends_at: u64,
    /// From when its use must be written to the store again (its touch interval).
    pub(crate) touch_at: u64,
    /// The version of the tokens shared with other instances that these are (0 when the store
    /// is not shared): with a shared store, a cached token is answered only while the stored
    /// version is still this one, so no instance answers an older token than another handed out.
    pub(crate) version: u64,
}

/// One token as instances share it (`shared.rs` seals the whole map).
#[derive(Serialize, Deserialize)]
struct SharedToken {
    a: String,
    e: u64,
    s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<u64>,
}

/// A session's tokens as the text instances share (sealed by `shared.rs`).
pub(crate) fn encode(tokens: &Tokens) -> Vec<u8> {
    let shared: HashMap<&str, SharedToken> = tokens
        .iter()
        .map(|(resource, t)| {
            let token = SharedToken {
                a: t.access_token.expose_secret().to_owned(),
                e: t.expires_at,
                s: t.scopes.clone(),
                f: t.forced_at,
            };
            (resource.as_str(), token)
        })
        .collect();
    serde_json::to_vec(&shared).unwrap_or_default()
}

/// The tokens [`encode`] gave; `None` when the text is not that.
pub(crate) fn decode(text: &[u8]) -> Option<Tokens> {
    let shared: HashMap<String, SharedToken> = serde_json::from_slice(text).ok()?;
    Some(
        shared
            .into_iter()
            .map(|(resource, t)| {
                let token =
                    CachedToken { access_token: AccessToken::new(t.a), expires_at: t.e, scopes: t.s, forced_at: t.f };
                (resource, Arc::new(token))
            })
            .collect(),
    )
}

/// A slot, its view and when it was last used.
#[derive(Debug)]
struct Entry {
    slot: Slot,
    view: Option<Arc<View>>,
    used: AtomicU64,
}

/// Every this many new slots, the slots of sessions that ended quietly are dropped.
const PURGE_EVERY: usize = 256;

/// The cache.
#[derive(Debug)]
pub struct TokenCache {
    entries: RwLock<HashMap<SessionKey, Entry>>,
    created: AtomicUsize,
    /// The most sessions kept.
    max: usize,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SESSIONS)
    }
}

/// `session.token_cache_sessions`'s default.
pub(crate) const DEFAULT_MAX_SESSIONS: usize = 100_000;

impl TokenCache {
    /// A cache keeping at most `max` sessions' slots (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self { entries: RwLock::default(), created: AtomicUsize::new(0), max: max.max(1) }
    }

    /// The cached token for `resource` that serves `wanted` at `now`, with the account, when the
    /// session's view has one and the session lives and needs no use written: answered under a
    /// shared read lock, without the slot's lock or the store.
    pub(crate) fn serve(
        &self,
        key: &SessionKey,
        resource: &str,
        wanted: &[String],
        now: u64,
    ) -> Option<(Arc<CachedToken>, Arc<View>)> {
        let entries = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = entries.get(key)?;
        let view = entry.view.as_ref()?;
        if now >= view.ends_at || now >= view.touch_at {
            return None;
        }
        let token = view.tokens.get(resource).filter(|t| t.serves(now, wanted))?.clone();
        entry.used.store(now, Ordering::Relaxed);
        Some((token, view.clone()))
    }

    /// Records what the holder of `key`'s slot learnt: the session's account, its tokens, when it
    /// ends and when its use is next to be written. Only the slot's holder calls this.
    pub(crate) fn publish(&self, key: &SessionKey, view: View) {
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(key) {
            entry.view = Some(Arc::new(view));
        }
    }

    /// The slot of a session (created empty on first use). Creating slots now and then drops the
    /// ones nobody holds whose token expired by `now` or that never got one (sessions that idled
    /// out, cookies that named no session), and past the bound the ones used longest ago, so the
    /// cache does not grow without bound.
    pub(crate) fn slot(&self, key: &SessionKey, now: u64) -> Slot {
        if let Some(entry) = self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(key) {
            entry.used.store(now, Ordering::Relaxed);
            return entry.slot.clone();
        }
        let mut entries = self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = entries.get(key) {
            return entry.slot.clone();
        }
        if self.created.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            entries.retain(|_, e| !unused(&e.slot, now));
        }
        if entries.len() >= self.max {
            evict_least_recently_used(&mut entries, self.max);
        }
        let entry = Entry { slot: Slot::default(), view: None, used: AtomicU64::new(now) };
        let slot = entry.slot.clone();
        entries.insert(key.clone(), entry);
        slot
    }

    /// Forgets a session's tokens and view (sign-out, a refresh that found no session, a grant
    /// Entra refused).
    pub(crate) fn remove(&self, key: &SessionKey) {
        self.entries.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }

    /// How many sessions have a slot.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
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

/// Drops the slots used longest ago that nobody holds, down to seven eighths of `max` (so the next
/// eviction is `max / 8` new sessions away: the scan's cost is shared among them).
fn evict_least_recently_used(entries: &mut HashMap<SessionKey, Entry>, max: usize) {
    let keep = max - max / 8;
    let mut idle: Vec<(u64, SessionKey)> = entries
        .iter()
        .filter(|(_, e)| Arc::strong_count(&e.slot) == 1)
        .map(|(k, e)| (e.used.load(Ordering::Relaxed), k.clone()))
        .collect();
    idle.sort_unstable();
    let excess = entries.len().saturating_sub(keep).max(1);
    for (_, key) in idle.into_iter().take(excess) {
        entries.remove(&key);
    }
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
        cache.slot(&key(1), 0).try_lock().expect("free").insert("r".into(), Arc::new(token(5_000)));
        cache.slot(&key(2), 0).try_lock().expect("free").insert("r".into(), Arc::new(token(500)));
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

    fn account() -> Account {
        Account {
            home_account_id: "o.t".into(),
            tenant_id: "t".into(),
            object_id: "o".into(),
            username: "ada@contoso.com".into(),
            name: None,
            email: None,
            account_type: graphgate_core::AccountType::Member,
            idp: None,
        }
    }

    #[test]
    fn a_view_serves_until_the_session_ends_or_its_use_is_due() {
        let cache = TokenCache::default();
        let token = Arc::new(CachedToken {
            access_token: AccessToken::new("x"),
            expires_at: 10_000,
            scopes: "User.Read".into(),
            forced_at: None,
        });
        let k = key(1);
        let resource = "https://graph.microsoft.com";
        assert!(cache.serve(&k, resource, &[], 100).is_none(), "no slot");
        let _ = cache.slot(&k, 100);
        assert!(cache.serve(&k, resource, &[], 100).is_none(), "no view yet");
        let tokens: Tokens = [(resource.to_owned(), token)].into_iter().collect();
        cache.publish(&k, View { account: account(), tokens, ends_at: 2_000, touch_at: 1_000, version: 0 });
        let (served, view) = cache.serve(&k, resource, &["user.read".into()], 500).expect("served");
        assert_eq!((served.access_token.expose_secret(), view.account.object_id.as_str()), ("x", "o"));
        assert!(cache.serve(&k, resource, &["Mail.Send".into()], 500).is_none(), "another scope");
        assert!(cache.serve(&k, "api://x", &[], 500).is_none(), "another resource");
        assert!(cache.serve(&k, resource, &[], 1_000).is_none(), "its use is due");
        cache
            .publish(&k, View { account: account(), tokens: Tokens::new(), ends_at: 900, touch_at: 5_000, version: 0 });
        assert!(cache.serve(&k, resource, &[], 950).is_none(), "the session ended");
        cache.remove(&k);
        assert!(cache.serve(&k, resource, &[], 500).is_none(), "removed with the slot");
        cache.publish(
            &k,
            View { account: account(), tokens: Tokens::new(), ends_at: 9_000, touch_at: 9_000, version: 0 },
        );
        assert!(cache.is_empty(), "no view without a slot");
    }

    #[test]
    fn shared_tokens_read_back_as_written() {
        let token = |a: &str, f| {
            Arc::new(CachedToken {
                access_token: AccessToken::new(a),
                expires_at: 10_000,
                scopes: "User.Read".into(),
                forced_at: f,
            })
        };
        let tokens: Tokens =
            [("https://graph.microsoft.com".to_owned(), token("x", Some(5))), ("api://y".to_owned(), token("y", None))]
                .into_iter()
                .collect();
        let back = decode(&encode(&tokens)).expect("decoded");
        assert_eq!(back.len(), 2);
        let graph = &back["https://graph.microsoft.com"];
        assert_eq!((graph.access_token.expose_secret(), graph.expires_at, graph.forced_at), ("x", 10_000, Some(5)));
        assert_eq!(back["api://y"].forced_at, None);
        assert!(decode(b"[1]").is_none() && decode(b"").is_none());
    }

    #[test]
    fn past_the_bound_the_sessions_used_longest_ago_go_first() {
        let cache = TokenCache::new(16);
        let held = cache.slot(&key(0), 0);
        for n in 1..16 {
            let _ = cache.slot(&key(n), n as u64);
        }
        let _ = cache.slot(&key(1), 100);
        let _ = cache.slot(&key(16), 200);
        assert!(cache.len() <= 16, "bounded: {}", cache.len());
        let present = |n: usize| cache.entries.read().expect("lock").contains_key(&key(n));
        assert!(present(0), "a held slot stays");
        assert!(present(1), "used again lately");
        assert!(present(16), "the new one");
        assert!(!present(2), "the one used longest ago went");
        for n in 17..1_000 {
            let _ = cache.slot(&key(n), n as u64);
        }
        assert!(cache.len() <= 16);
        drop(held);
    }
}
