//! Time: Unix seconds from the system clock, a [`Clock`] that tests move forward, and when a
//! token counts as fresh (core's refresh margin).

use std::sync::atomic::{AtomicU64, Ordering};

use graphgate_core::REFRESH_MARGIN_SECS;

/// Unix seconds now, by the system clock.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Wall-clock time plus an offset that tests move forward, so expiry is tested without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset: AtomicU64,
}

impl Clock {
    /// Unix seconds now.
    pub fn now(&self) -> u64 {
        now_secs() + self.offset.load(Ordering::Relaxed)
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

/// Whether a token expiring at `expires_at` is still good at `now` (Unix seconds) for
/// [`REFRESH_MARGIN_SECS`] more: core's rule, shared with the browser module.
pub(crate) fn is_fresh(expires_at: u64, now: u64) -> bool {
    graphgate_core::is_fresh(expires_at.saturating_mul(1000), now.saturating_mul(1000), REFRESH_MARGIN_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_means_more_than_the_margin_left() {
        assert!(is_fresh(1_000, 1_000 - REFRESH_MARGIN_SECS - 1));
        assert!(!is_fresh(1_000, 1_000 - REFRESH_MARGIN_SECS));
        assert!(!is_fresh(0, 0));
        assert!(is_fresh(u64::MAX, 0));
    }
}
