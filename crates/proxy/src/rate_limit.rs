//! Sliding-window rate limits: hits per key within a window (a minute for the invitation limits, a
//! day for re-mailing a pending guest). Memory stays bounded: a key whose hits all left the window
//! is dropped, and past the key cap the keys used longest ago (a tenth of the cap, so a flood of
//! new keys costs one scan per tenth) give way.

use std::collections::HashMap;
use std::sync::Mutex;

/// The keys a limiter keeps by default.
pub(crate) const DEFAULT_MAX_KEYS: usize = 10_000;

/// How long a pending guest's address waits before Microsoft mails it another invitation.
pub(crate) const RESEND_INTERVAL_SECS: u64 = 24 * 3600;

/// The invitation endpoints' limiters.
#[derive(Debug)]
pub(crate) struct InvitationLimits {
    /// The per-minute limits (keys name the limit: `ip:`, `email:`, `key:`, `account:`, `status:`).
    pub(crate) per_minute: RateLimiter,
    /// One invitation email a day per address (keys: the address, lower-case).
    pub(crate) resend: RateLimiter,
}

impl Default for InvitationLimits {
    fn default() -> Self {
        Self {
            per_minute: RateLimiter::default(),
            resend: RateLimiter::new(RESEND_INTERVAL_SECS, 5 * DEFAULT_MAX_KEYS),
        }
    }
}

/// Counts a hit of `key` on `limiter`: 429 `rate_limited` (naming `what`, never the key) when
/// `limit` a minute were reached.
pub(crate) fn check(
    limiter: &RateLimiter,
    key: &str,
    limit: u32,
    now: u64,
    what: &str,
) -> Result<(), crate::error::ApiError> {
    if limiter.allow(key, limit, now) {
        return Ok(());
    }
    Err(crate::error::ApiError::new(
        graphgate_core::ErrorCode::RateLimited,
        format!("at most {limit} {what} a minute from one address; try again in a minute"),
    ))
}

/// Hits per key within a sliding window.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// The window, seconds.
    window: u64,
    /// The most keys kept.
    max_keys: usize,
    hits: Mutex<HashMap<String, Vec<u64>>>,
}

impl Default for RateLimiter {
    /// A minute's window, [`DEFAULT_MAX_KEYS`] keys.
    fn default() -> Self {
        Self::new(60, DEFAULT_MAX_KEYS)
    }
}

impl RateLimiter {
    /// A limiter counting hits in the last `window` seconds, keeping at most `max_keys` keys.
    pub(crate) fn new(window: u64, max_keys: usize) -> Self {
        Self { window: window.max(1), max_keys: max_keys.max(1), hits: Mutex::default() }
    }

    /// Records a hit for `key` at `now`; `false` (and nothing recorded) when `limit` hits in the
    /// window were reached.
    pub(crate) fn allow(&self, key: &str, limit: u32, now: u64) -> bool {
        let window = self.window;
        let live = |t: &u64| t.saturating_add(window) > now;
        let mut hits = crate::lock(&self.hits);
        if !hits.contains_key(key) && hits.len() >= self.max_keys {
            hits.retain(|_, list| list.iter().any(live));
            if hits.len() >= self.max_keys {
                let evict = (self.max_keys / 10).max(1);
                let mut last: Vec<(u64, String)> =
                    hits.iter().map(|(k, list)| (list.last().copied().unwrap_or(0), k.clone())).collect();
                last.select_nth_unstable_by_key(evict - 1, |(t, _)| *t);
                for (_, k) in last.iter().take(evict) {
                    hits.remove(k);
                }
            }
        }
        let list = hits.entry(key.to_owned()).or_default();
        list.retain(live);
        if list.len() >= limit as usize {
            return false;
        }
        list.push(now);
        true
    }

    /// Forgets `key`'s hits (what was recorded for an attempt that then failed).
    pub(crate) fn forget(&self, key: &str) {
        crate::lock(&self.hits).remove(key);
    }

    /// How many keys are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        crate::lock(&self.hits).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_limit_hits_a_minute() {
        let rate = RateLimiter::default();
        assert!(rate.allow("a", 2, 100) && rate.allow("a", 2, 110));
        assert!(!rate.allow("a", 2, 120), "the third within a minute");
        assert!(rate.allow("b", 2, 120), "keys are counted apart");
        assert!(rate.allow("a", 2, 160), "the first hit left the minute");
    }

    #[test]
    fn keys_are_evicted_and_capped() {
        let rate = RateLimiter::new(60, 3);
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            assert!(rate.allow(key, 1, 100 + i as u64));
        }
        assert_eq!(rate.len(), 3);
        // Full, all live: the key used longest ago ("a") gives way.
        assert!(rate.allow("d", 1, 110));
        assert_eq!(rate.len(), 3);
        assert!(rate.allow("a", 1, 111), "a was evicted, so it starts again");
        assert!(!rate.allow("d", 1, 112), "d is still counted");
        // Once the window has passed, every stale key goes at the next new key.
        assert!(rate.allow("e", 1, 500));
        assert_eq!(rate.len(), 1, "only e is left");
        for i in 0..1000 {
            rate.allow(&format!("k{i}"), 1, 600);
        }
        assert_eq!(rate.len(), 3, "never more than the cap");
    }

    #[test]
    fn memory_stays_bounded_under_100_000_distinct_keys() {
        let cap = 1_000;
        let rate = RateLimiter::new(60, cap);
        for i in 0..100_000u64 {
            // All live: nothing leaves the window, so only the cap keeps the map small.
            assert!(rate.allow(&format!("2001:db8:{i:x}::/64"), 5, 1_000 + i / 1_000));
            assert!(rate.len() <= cap, "{} keys after {i}", rate.len());
        }
        assert!(rate.len() > cap / 2, "eviction takes a tenth at a time, not everything");
        // The newest keys are still counted.
        assert!(rate.allow("2001:db8:1869f::/64", 2, 1_100), "the last key has one hit");
        assert!(!rate.allow("2001:db8:1869f::/64", 2, 1_100), "and now two");
    }

    #[test]
    fn a_day_window_and_forgetting() {
        let day = RateLimiter::new(86_400, 10);
        assert!(day.allow("bob", 1, 0));
        assert!(!day.allow("bob", 1, 86_399));
        assert!(day.allow("bob", 1, 86_400));
        day.forget("bob");
        assert!(day.allow("bob", 1, 86_401), "forgotten");
    }
}
