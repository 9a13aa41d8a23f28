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
        now_secs().saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

/// The longest access-token lifetime taken from upstream: 28 hours, Entra's longest (a
/// Continuous Access Evaluation token's). A longer `expires_in` counts as this long, so an absurd
/// value neither overflows nor keeps a token cached for ever.
pub(crate) const MAX_TOKEN_LIFETIME_SECS: u64 = 28 * 3600;

/// When a token that Entra says lives `expires_in` seconds expires, as of `now` (Unix seconds):
/// the lifetime clamped to [`MAX_TOKEN_LIFETIME_SECS`], the sum saturating.
pub(crate) fn expiry(now: u64, expires_in: u64) -> u64 {
    now.saturating_add(expires_in.min(MAX_TOKEN_LIFETIME_SECS))
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

    #[test]
    fn an_expiry_is_clamped_and_saturates() {
        assert_eq!(expiry(1_000, 3_599), 4_599);
        assert_eq!(expiry(1_000, u64::MAX), 1_000 + MAX_TOKEN_LIFETIME_SECS);
        assert_eq!(expiry(u64::MAX - 1, 3_599), u64::MAX);
    }
}
