//! When a cached access token counts as stale: the refresh margin the proxy and the browser share.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use crate::encode::decimal;
use crate::error::{Error, ErrorCode};

/// Seconds before expiry at which a token is renewed. The proxy renews its tokens this early, so
/// a browser margin beyond it would count every token the proxy hands out as stale.
pub const REFRESH_MARGIN_SECS: u64 = 300;

/// Whether a token expiring at `expires_at_ms` is still good at `now_ms` (Unix milliseconds) for
/// at least `margin_secs` more seconds.
pub fn is_fresh(expires_at_ms: u64, now_ms: u64, margin_secs: u64) -> bool {
    now_ms.saturating_add(margin_secs.saturating_mul(1000)) < expires_at_ms
}

/// Checks a client's `refreshMarginSeconds`: 0 to [`REFRESH_MARGIN_SECS`], rounded to whole
/// seconds; anything else (negative, larger, not a number) is `config_invalid`.
pub fn refresh_margin(seconds: f64) -> Result<u64, Error> {
    // NaN lies in no range.
    if (0.0..=REFRESH_MARGIN_SECS as f64).contains(&seconds) {
        return Ok((seconds + 0.5) as u64);
    }
    let max = decimal(REFRESH_MARGIN_SECS as usize);
    let given = if seconds.is_finite() && seconds.abs() < 1e15 && seconds == (seconds as i64) as f64 {
        let sign = if seconds < 0.0 { "-" } else { "" };
        [" (not ", sign, &decimal(seconds.abs() as usize), ")"].concat()
    } else {
        String::new()
    };
    Err(Error::new(
        ErrorCode::ConfigInvalid,
        [
            "refreshMarginSeconds must be 0 to ",
            &max,
            &given,
            ": the proxy renews tokens ",
            &max,
            " s before they expire, so a larger margin would count every token it hands out as stale",
        ]
        .concat(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_fresh_until_the_margin_before_expiry() {
        let expires = 10_000_000;
        assert!(is_fresh(expires, expires - 300_001, 300));
        assert!(!is_fresh(expires, expires - 300_000, 300));
        assert!(!is_fresh(expires, expires, 0));
        assert!(is_fresh(expires, expires - 1, 0));
        assert!(!is_fresh(expires, expires + 1, 0));
        assert!(!is_fresh(u64::MAX, u64::MAX - 1, u64::MAX));
        assert!(!is_fresh(0, 0, 0));
    }

    #[test]
    fn the_margin_must_lie_within_the_proxys() {
        assert_eq!(refresh_margin(0.0).ok(), Some(0));
        assert_eq!(refresh_margin(120.0).ok(), Some(120));
        assert_eq!(refresh_margin(2.4).ok(), Some(2));
        assert_eq!(refresh_margin(299.6).ok(), Some(300));
        assert_eq!(refresh_margin(300.0).ok(), Some(300));
        for bad in [-1.0, 300.5, 3600.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5, 1e300] {
            let e = refresh_margin(bad).expect_err("out of range");
            assert_eq!(e.code(), ErrorCode::ConfigInvalid, "{bad}");
            assert!(e.detail().starts_with("refreshMarginSeconds must be 0 to 300"), "{}", e.detail());
            assert!(e.detail().contains("renews tokens 300 s before they expire"), "{}", e.detail());
        }
        assert!(refresh_margin(3600.0).expect_err("too large").detail().contains("(not 3600)"));
        assert!(refresh_margin(-1.0).expect_err("negative").detail().contains("(not -1)"));
        assert!(!refresh_margin(f64::NAN).expect_err("NaN").detail().contains("(not"));
    }
}
