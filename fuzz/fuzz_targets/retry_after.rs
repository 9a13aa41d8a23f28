//! Fuzz target: `parse_retry_after` and `RetryPolicy::decide`, Graph's throttling answers.
//!
//! Input: 8 bytes of "now" (Unix seconds), 4 of randomness, 4 of policy and attempt, then the
//! header value. Checks: no panic; delta-seconds read as their number; a date's wait shrinks as
//! "now" grows; a decision never waits beyond the policy's budget.

#![no_main]

use graphgate_core::{Attempt, RetryDecision, RetryPolicy, parse_retry_after};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((now, rest)) = data.split_first_chunk::<8>() else { return };
    let Some((random, rest)) = rest.split_first_chunk::<4>() else { return };
    let Some((knobs, value)) = rest.split_first_chunk::<4>() else { return };
    let Ok(value) = std::str::from_utf8(value) else { return };
    let now = u64::from_le_bytes(*now) % 8_000_000_000; // until about the year 2223
    let random = u32::from_le_bytes(*random);

    let wait = parse_retry_after(value, now);
    let trimmed = value.trim_ascii();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        assert_eq!(wait, Some(trimmed.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let earlier = parse_retry_after(value, 0);
    assert_eq!(wait.is_some(), earlier.is_some(), "validity depends on the time");
    if let (Some(w), Some(e)) = (wait, earlier) {
        assert!(w <= e, "waiting longer later: {w} > {e}");
    }

    let policy = RetryPolicy {
        max_retries: u32::from(knobs[0] % 8),
        max_delay_secs: u64::from(knobs[1]),
        base_delay_ms: u64::from(knobs[2]) << (knobs[3] % 40),
    };
    let status = [429, 503, 504, 500][usize::from(knobs[3] >> 6)];
    let method = ["GET", "post", "Delete", "PATCH"][usize::from((knobs[3] >> 4) & 3)];
    for retries in 0..3 {
        let waited_ms = u64::from(knobs[1]) * 400 * u64::from(retries);
        let attempt = Attempt { method, status, retry_after: Some(value), retries, waited_ms };
        let decision = policy.decide(&attempt, now.saturating_mul(1000), random);
        if let RetryDecision::RetryAfterMs(ms) = decision {
            let budget = policy.max_delay_secs.saturating_mul(1000).saturating_sub(waited_ms);
            assert!(ms <= budget, "waits {ms} ms with {budget} ms left");
            assert!(retries < policy.max_retries);
        }
        let without = Attempt { retry_after: None, ..attempt };
        if let RetryDecision::RetryAfterMs(ms) = policy.decide(&without, 0, random) {
            assert!(ms <= policy.max_delay_secs.saturating_mul(1000).saturating_sub(waited_ms));
        }
    }
});
