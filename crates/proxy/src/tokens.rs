//! Access tokens per session, cached in memory, with one upstream refresh at a time per session:
//! concurrent callers of one session wait for the refresh in flight and share its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use graphgate_core::AccessToken;

use crate::session::SessionKey;

/// Seconds before expiry at which a cached token counts as stale.
pub const REFRESH_AHEAD_SECS: u64 = 300;

/// A cached access token.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// The token.
    pub access_token: AccessToken,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
    /// The scopes it carries, space-separated, as granted.
    pub scopes: String,
}

impl CachedToken {
    /// Whether it is still good for `REFRESH_AHEAD_SECS` and carries every scope asked for.
    pub fn serves(&self, now: u64, wanted: &[String]) -> bool {
        now + REFRESH_AHEAD_SECS < self.expires_at
            && wanted.iter().all(|w| {
                self.scopes.split(' ').any(|s| {
                    s.eq_ignore_ascii_case(w) || s.rsplit('/').next().is_some_and(|t| t.eq_ignore_ascii_case(w))
                })
            })
    }
}

/// One slot per session; holding its lock is holding the right to refresh.
pub type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// The cache.
#[derive(Debug, Default)]
pub struct TokenCache {
    slots: Mutex<HashMap<SessionKey, Slot>>,
}

impl TokenCache {
    /// The slot of a session (created empty on first use).
    pub fn slot(&self, key: &SessionKey) -> Slot {
        crate::lock(&self.slots).entry(key.clone()).or_default().clone()
    }

    /// Forgets a session's token (sign-out, failed refresh).
    pub fn remove(&self, key: &SessionKey) {
        crate::lock(&self.slots).remove(key);
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
        };
        assert!(t.serves(600, &[]));
        assert!(t.serves(600, &["Mail.Send".into(), "user.read".into()]));
        assert!(!t.serves(600, &["Mail.Read".into()]));
        assert!(!t.serves(700, &[]), "within five minutes of expiry it is refreshed");
    }
}
