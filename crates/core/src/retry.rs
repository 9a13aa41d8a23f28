//! Whether and when to resend a Graph request that failed: resendable statuses, `Retry-After`
//! (delta-seconds or an HTTP date) and exponential backoff with full jitter, within a time budget.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

/// How persistently a Graph request is resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most times one request is resent (default 3).
    pub max_retries: u32,
    /// The longest single wait, and the most time waited across all retries of one request,
    /// in seconds (default 60). A `Retry-After` asking for more gives up at once.
    pub max_delay_secs: u64,
    /// The first backoff step in milliseconds when Graph names no wait (default 1000): retry `n`
    /// waits a random time up to `base_delay_ms * 2^n`.
    pub base_delay_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_retries: 3, max_delay_secs: 60, base_delay_ms: 1000 }
    }
}

/// A failed attempt, as far as the retry decision needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// The request method, in any case.
    pub method: &'a str,
    /// The answer's HTTP status.
    pub status: u16,
    /// The `Retry-After` header; `None` when absent or not readable (CORS hides it unless Graph
    /// exposes it).
    pub retry_after: Option<&'a str>,
    /// How many times the request was resent already.
    pub retries: u32,
    /// How long was waited before those resends, in milliseconds.
    pub waited_ms: u64,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send the request again after this many milliseconds.
    RetryAfterMs(u64),
    /// Report the failure.
    GiveUp,
}

/// Whether a request answered with `status` may be sent again: 429 and 503 always (Graph did not
/// process it); 504 only for methods that are safe to repeat, since a write may have happened.
pub fn is_resendable(status: u16, method: &str) -> bool {
    match status {
        429 | 503 => true,
        504 => ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].iter().any(|m| method.eq_ignore_ascii_case(m)),
        _ => false,
    }
}

impl RetryPolicy {
    /// The decision after `attempt` failed, at `now_ms` (Unix milliseconds). `random` is any
    /// uniformly random `u32`; it picks the backoff within its bound (full jitter).
    ///
    /// A readable `Retry-After` is waited exactly, unless it is longer than `max_delay_secs` or
    /// would take the total wait beyond it (then the decision is to give up, without waiting).
    /// Otherwise the wait is random in `[0, min(max_delay, base * 2^retries)]`, shortened so the
    /// total never exceeds `max_delay_secs`.
    pub fn decide(&self, attempt: &Attempt<'_>, now_ms: u64, random: u32) -> RetryDecision {
        if attempt.retries >= self.max_retries || !is_resendable(attempt.status, attempt.method) {
            return RetryDecision::GiveUp;
        }
        let max_delay_ms = self.max_delay_secs.saturating_mul(1000);
        let budget = max_delay_ms.saturating_sub(attempt.waited_ms);
        if let Some(wait) = attempt.retry_after.and_then(|v| retry_after_ms(v, now_ms)) {
            return if wait <= budget { RetryDecision::RetryAfterMs(wait) } else { RetryDecision::GiveUp };
        }
        let step = 1u64.checked_shl(attempt.retries).unwrap_or(u64::MAX);
        let bound = self.base_delay_ms.saturating_mul(step).min(max_delay_ms);
        // bound × random / u32::MAX, so that 0 waits nothing and u32::MAX the whole bound; split
        // (bound = q × MAX + r) so that nothing overflows and no 128-bit arithmetic is needed.
        let (max, random) = (u64::from(u32::MAX), u64::from(random));
        let jittered = bound / max * random + bound % max * random / max;
        RetryDecision::RetryAfterMs(jittered.min(budget))
    }
}

/// Parses a `Retry-After` header: delta-seconds, or an HTTP date (IMF-fixdate, such as
/// `Sun, 06 Nov 1994 08:49:37 GMT`) compared with `now_unix` (seconds). Returns the number of
/// seconds to wait (0 for a date already past), or `None` when the value is not valid. Delta-seconds
/// too large for a `u64` count as `u64::MAX`. The obsolete RFC 850 and asctime date forms are refused.
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<u64> {
    match parse(value)? {
        RetryAfter::Seconds(s) => Some(s),
        RetryAfter::Date(at) => Some(at.saturating_sub(now_unix)),
    }
}

/// [`parse_retry_after`] in milliseconds, against `now_ms` (Unix milliseconds).
pub(crate) fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    match parse(value)? {
        RetryAfter::Seconds(s) => Some(s.saturating_mul(1000)),
        RetryAfter::Date(at) => Some(at.saturating_mul(1000).saturating_sub(now_ms)),
    }
}

/// The `Retry-After` value among a `$batch` sub-response's `headers` (names in any case).
pub fn retry_after_header<K: AsRef<str>, V>(headers: impl IntoIterator<Item = (K, V)>) -> Option<V> {
    headers.into_iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case("retry-after")).map(|(_, v)| v)
}

/// Of several `Retry-After` values (the throttled requests of one `$batch`), the one that asks
/// for the longest wait at `now_ms` (Unix milliseconds): seconds and HTTP dates compare by the
/// wait they mean; a value that is not valid asks for none. `None` when there are none.
pub fn longest_retry_after<'a>(values: impl IntoIterator<Item = &'a str>, now_ms: u64) -> Option<&'a str> {
    let wait = |v: &str| retry_after_ms(v, now_ms).unwrap_or(0);
    values.into_iter().fold(None, |best, v| match best {
        Some(b) if wait(b) >= wait(v) => Some(b),
        _ => Some(v),
    })
}

enum RetryAfter {
    Seconds(u64),
    /// Unix seconds.
    Date(u64),
}

fn parse(value: &str) -> Option<RetryAfter> {
    let value = value.trim_ascii();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value.bytes().try_fold(0u64, |n, b| n.checked_mul(10)?.checked_add(u64::from(b - b'0')));
        return Some(RetryAfter::Seconds(seconds.unwrap_or(u64::MAX)));
    }
    http_date(value).map(RetryAfter::Date)
}

/// An IMF-fixdate (RFC 9110 §5.6.7) as Unix seconds; `None` for any other text or a date before 1970.
fn http_date(value: &str) -> Option<u64> {
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    // Sun, 06 Nov 1994 08:49:37 GMT
    let b: &[u8; 29] = value.as_bytes().try_into().ok()?;
    let number = |at: usize, len: usize| -> Option<u32> {
        let digits = b.get(at..at + len)?;
        digits.iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let separators = [(3, b','), (4, b' '), (7, b' '), (11, b' '), (16, b' '), (19, b':'), (22, b':')];
    if !DAYS.contains(&b.get(..3)?) || !separators.iter().all(|&(i, c)| b.get(i) == Some(&c)) {
        return None;
    }
    if b.get(25..)? != b" GMT" {
        return None;
    }
    let month = MONTHS.iter().position(|m| Some(*m) == b.get(8..11))? as u32 + 1;
    let (day, year) = (number(5, 2)?, number(12, 4)?);
    let (hour, minute, second) = (number(17, 2)?, number(20, 2)?, number(23, 2)?);
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    u64::try_from(seconds).ok()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    // Years start in March, so the leap day is the last of its year.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = i64::from((153 * ((month + 9) % 12) + 2) / 5 + day - 1);
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(method: &str, status: u16, retries: u32) -> Attempt<'_> {
        Attempt { method, status, retry_after: None, retries, waited_ms: 0 }
    }

    /// Sends a request answered `throttles` times with `status` and then 200, the way a client
    /// loop would; returns the attempts made and the total waited.
    fn run(policy: &RetryPolicy, throttles: u32, status: u16, retry_after: Option<&str>, random: u32) -> (u32, u64) {
        let (mut attempts, mut retries, mut waited_ms) = (0, 0, 0);
        loop {
            attempts += 1;
            if attempts > throttles {
                return (attempts, waited_ms);
            }
            let a = Attempt { method: "get", status, retry_after, retries, waited_ms };
            match policy.decide(&a, 1_000_000, random) {
                RetryDecision::RetryAfterMs(ms) => {
                    retries += 1;
                    waited_ms += ms;
                }
                RetryDecision::GiveUp => return (attempts, waited_ms),
            }
        }
    }

    #[test]
    fn n_throttles_make_at_most_max_retries_plus_one_attempts() {
        let policy = RetryPolicy::default();
        for n in 0..8 {
            for status in [429, 503, 504] {
                assert_eq!(run(&policy, n, status, None, 12345).0, n.min(3) + 1, "{n} × {status}");
                assert_eq!(run(&policy, n, status, Some("1"), 0).0, n.min(3) + 1, "{n} × {status}, Retry-After");
            }
        }
        let none = RetryPolicy { max_retries: 0, ..policy };
        assert_eq!(run(&none, 5, 429, None, 0).0, 1);
    }

    #[test]
    fn backoff_is_full_jitter_within_its_bound() {
        let policy = RetryPolicy::default();
        let wait = |retries, random| policy.decide(&attempt("GET", 429, retries), 0, random);
        for retries in 0..3 {
            assert_eq!(wait(retries, 0), RetryDecision::RetryAfterMs(0));
            assert_eq!(wait(retries, u32::MAX), RetryDecision::RetryAfterMs(1000 << retries));
            let RetryDecision::RetryAfterMs(mid) = wait(retries, u32::MAX / 2) else { panic!("retry") };
            assert!(mid > 0 && mid < 1000 << retries, "{mid}");
        }
        // The bound stops at max_delay, however many retries were allowed.
        let many = RetryPolicy { max_retries: 100, ..policy };
        for retries in [6, 7, 63, 64, 99] {
            let d = many.decide(&attempt("GET", 429, retries), 0, u32::MAX);
            assert_eq!(d, RetryDecision::RetryAfterMs(60_000), "{retries}");
        }
    }

    #[test]
    fn the_total_wait_never_exceeds_max_delay() {
        let policy = RetryPolicy { max_retries: 10, max_delay_secs: 5, base_delay_ms: 1000 };
        // 1000 + 2000 + 2000 (of 4000: the budget left) + 0 …
        assert_eq!(run(&policy, 20, 429, None, u32::MAX), (11, 5000));
        let a = Attempt { waited_ms: 4500, ..attempt("GET", 503, 3) };
        assert_eq!(policy.decide(&a, 0, u32::MAX), RetryDecision::RetryAfterMs(500));
        // A Retry-After that would go beyond the budget gives up rather than waiting.
        let a = Attempt { retry_after: Some("1"), waited_ms: 4500, ..attempt("GET", 503, 3) };
        assert_eq!(policy.decide(&a, 0, 0), RetryDecision::GiveUp);
        assert_eq!(run(&policy, 20, 429, Some("2"), 0), (3, 4000));
    }

    #[test]
    fn retry_after_is_waited_exactly_or_not_at_all() {
        let policy = RetryPolicy::default();
        let with = |value| Attempt { retry_after: Some(value), ..attempt("POST", 429, 0) };
        assert_eq!(policy.decide(&with("7"), 0, u32::MAX), RetryDecision::RetryAfterMs(7000));
        assert_eq!(policy.decide(&with("0"), 0, u32::MAX), RetryDecision::RetryAfterMs(0));
        assert_eq!(policy.decide(&with("60"), 0, 0), RetryDecision::RetryAfterMs(60_000));
        assert_eq!(policy.decide(&with("61"), 0, 0), RetryDecision::GiveUp);
        assert_eq!(policy.decide(&with("99999999999999999999999"), 0, 0), RetryDecision::GiveUp);
        // 784111777 is the date; now is 2.5 s before it.
        let date = with("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(policy.decide(&date, 784_111_774_500, 0), RetryDecision::RetryAfterMs(2500));
        assert_eq!(policy.decide(&date, 784_111_999_000, 0), RetryDecision::RetryAfterMs(0));
        assert_eq!(policy.decide(&date, 0, 0), RetryDecision::GiveUp);
        // An unreadable value counts as none: backoff.
        assert_eq!(policy.decide(&with("soon"), 0, u32::MAX), RetryDecision::RetryAfterMs(1000));
    }

    #[test]
    fn only_throttling_and_safe_timeouts_are_resent() {
        let policy = RetryPolicy::default();
        let decide = |method, status| policy.decide(&attempt(method, status, 0), 0, 0);
        for method in ["GET", "get", "Head", "PUT", "DELETE", "OPTIONS"] {
            assert_eq!(decide(method, 504), RetryDecision::RetryAfterMs(0), "{method}");
        }
        for method in ["POST", "PATCH", "post"] {
            assert_eq!(decide(method, 504), RetryDecision::GiveUp, "{method}");
            assert_eq!(decide(method, 429), RetryDecision::RetryAfterMs(0), "{method}");
            assert_eq!(decide(method, 503), RetryDecision::RetryAfterMs(0), "{method}");
        }
        for status in [200, 400, 401, 403, 404, 409, 500, 502] {
            assert_eq!(decide("GET", status), RetryDecision::GiveUp, "{status}");
        }
    }

    #[test]
    fn finds_retry_after_among_batch_headers() {
        let headers = [("Content-Type", "application/json"), ("retry-AFTER", "10")];
        assert_eq!(retry_after_header(headers), Some("10"));
        let owned: Vec<(String, String)> = vec![("Retry-After".into(), "3".into())];
        assert_eq!(retry_after_header(owned).as_deref(), Some("3"));
        assert_eq!(retry_after_header(Vec::<(&str, &str)>::new()), None);
    }

    #[test]
    fn the_longest_retry_after_of_a_batch_compares_waits() {
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777: five seconds after `now`.
        let now = 784_111_772_000;
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(longest_retry_after(["1", date, "3"], now), Some(date), "a date five seconds away wins");
        assert_eq!(longest_retry_after([date, "7"], now), Some("7"));
        assert_eq!(longest_retry_after(["soon", "2"], now), Some("2"), "an invalid value asks for no wait");
        assert_eq!(longest_retry_after(["2", "2"], now), Some("2"));
        assert_eq!(longest_retry_after([], now), None);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120", 0), Some(120));
        assert_eq!(parse_retry_after(" 0 ", 0), Some(0));
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777.
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770), Some(7));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_999), Some(0));
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-5", 0), None);
        assert_eq!(parse_retry_after("", 0), None);
        assert_eq!(parse_retry_after("99999999999999999999999", 0), Some(u64::MAX));
    }

    #[test]
    fn http_dates_convert_to_unix_seconds() {
        let date = |s| http_date(s);
        assert_eq!(date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(date("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
        assert_eq!(date("Wed, 21 Oct 2026 07:28:00 GMT"), Some(1_792_567_680));
        assert_eq!(date("Fri, 31 Dec 9999 23:59:59 GMT"), Some(253_402_300_799));
        for bad in [
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Mon, 29 Feb 1900 00:00:00 GMT",
            "Mon, 31 Apr 2024 00:00:00 GMT",
            "Mon, 00 Apr 2024 00:00:00 GMT",
            "Mon, 01 Apr 2024 24:00:00 GMT",
            "Mon, 01 Apr 2024 00:60:00 GMT",
            "Mon, 01 Foo 2024 00:00:00 GMT",
            "Xyz, 01 Apr 2024 00:00:00 GMT",
            "Mon, 01 Apr 2024 00:00:00 UTC",
            "Mon, 01 apr 2024 00:00:00 GMT",
            "Mon,  1 Apr 2024 00:00:00 GMT",
            "Mon, 01 Apr 2024 0a:00:00 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(date(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates_agree_with_days_counted_one_by_one() {
        let mut days = 0;
        for year in 1970..2101 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), days, "{year}-{month}-{day}");
                    days += 1;
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn jitter_is_bound_times_random_over_max(bound in proptest::num::u64::ANY, random in proptest::num::u32::ANY) {
            let policy = RetryPolicy { max_retries: 1, max_delay_secs: u64::MAX, base_delay_ms: bound };
            let exact = u128::from(bound) * u128::from(random) / u128::from(u32::MAX);
            let d = policy.decide(&attempt("GET", 429, 0), 0, random);
            proptest::prop_assert_eq!(d, RetryDecision::RetryAfterMs(u64::try_from(exact).unwrap_or(u64::MAX)));
        }

        #[test]
        fn never_panics(value in ".{0,40}", now in proptest::num::u64::ANY, random in proptest::num::u32::ANY) {
            let _ = parse_retry_after(&value, now);
            let a = Attempt { method: "GET", status: 429, retry_after: Some(&value), retries: 1, waited_ms: now };
            let _ = RetryPolicy::default().decide(&a, now, random);
        }
    }
}
