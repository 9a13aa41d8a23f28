//! The self-service invitations' rate limit: hits per key in a sliding minute.

use std::collections::HashMap;
use std::sync::Mutex;

/// Requests per minute kept per key.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    hits: Mutex<HashMap<String, Vec<u64>>>,
}

impl RateLimiter {
    /// Records a hit for `key` at `now`; `false` when `limit` hits in the last minute were reached.
    pub(crate) fn allow(&self, key: &str, limit: u32, now: u64) -> bool {
        let mut hits = crate::lock(&self.hits);
        let list = hits.entry(key.to_owned()).or_default();
        list.retain(|t| t + 60 > now);
        if list.len() >= limit as usize {
            return false;
        }
        list.push(now);
        true
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
}
