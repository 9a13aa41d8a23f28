//! Prometheus text metrics: requests by route and status, upstream latency by call kind,
//! token-cache hits and misses, live sessions, and session records no key opens. No label ever carries a token or an ID.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the upstream latency histogram, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The proxy's metrics.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    upstream: Mutex<BTreeMap<String, Histogram>>,
    upstream_status: Mutex<BTreeMap<(String, u16), u64>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl Metrics {
    /// Counts a request to `route` (the route pattern, never the path as sent) answered with `status`.
    pub(crate) fn request(&self, route: &str, status: u16) {
        *crate::lock(&self.requests).entry((route.to_owned(), status)).or_default() += 1;
    }

    /// Records an upstream call of `kind` (`token`, `graph`, `discovery`, `keys`); status 0 is a
    /// transport failure.
    pub(crate) fn upstream(&self, kind: &str, elapsed: Duration, status: u16) {
        let secs = elapsed.as_secs_f64();
        {
            let mut all = crate::lock(&self.upstream);
            let h = all.entry(kind.to_owned()).or_default();
            for (i, bound) in BUCKETS.iter().enumerate() {
                if secs <= *bound {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
        *crate::lock(&self.upstream_status).entry((kind.to_owned(), status)).or_default() += 1;
    }

    /// Counts a token served from the cache (`hit`) or fetched upstream.
    pub(crate) fn token_cache(&self, hit: bool) {
        if hit { &self.cache_hits } else { &self.cache_misses }.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with the live-session gauge and the count of look-ups
    /// that found a record no session key opens given by the caller.
    pub(crate) fn render(&self, live_sessions: u64, unopenable: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP graphgate_requests_total Requests answered, by route and status.");
        let _ = writeln!(out, "# TYPE graphgate_requests_total counter");
        for ((route, status), n) in crate::lock(&self.requests).iter() {
            let _ = writeln!(out, "graphgate_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP graphgate_upstream_seconds Upstream call latency, by kind.");
        let _ = writeln!(out, "# TYPE graphgate_upstream_seconds histogram");
        for (kind, h) in crate::lock(&self.upstream).iter() {
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "graphgate_upstream_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(out, "graphgate_upstream_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "graphgate_upstream_seconds_sum{{kind=\"{kind}\"}} {}", h.sum);
            let _ = writeln!(out, "graphgate_upstream_seconds_count{{kind=\"{kind}\"}} {}", h.count);
        }
        let _ = writeln!(
            out,
            "# HELP graphgate_upstream_responses_total Upstream answers, by kind and status (0: no answer)."
        );
        let _ = writeln!(out, "# TYPE graphgate_upstream_responses_total counter");
        for ((kind, status), n) in crate::lock(&self.upstream_status).iter() {
            let _ = writeln!(out, "graphgate_upstream_responses_total{{kind=\"{kind}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP graphgate_token_cache_total Access tokens answered from the cache (hit) or fetched (miss)."
        );
        let _ = writeln!(out, "# TYPE graphgate_token_cache_total counter");
        let _ =
            writeln!(out, "graphgate_token_cache_total{{result=\"hit\"}} {}", self.cache_hits.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "graphgate_token_cache_total{{result=\"miss\"}} {}",
            self.cache_misses.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP graphgate_sessions Live sessions in the store.");
        let _ = writeln!(out, "# TYPE graphgate_sessions gauge");
        let _ = writeln!(out, "graphgate_sessions {live_sessions}");
        let _ = writeln!(
            out,
            "# HELP graphgate_sessions_unopenable_total Session look-ups that found a record none of session.keys opens (kept)."
        );
        let _ = writeln!(out, "# TYPE graphgate_sessions_unopenable_total counter");
        let _ = writeln!(out, "graphgate_sessions_unopenable_total {unopenable}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("/api/auth/token", 200);
        m.request("/api/auth/token", 200);
        m.upstream("token", Duration::from_millis(3), 200);
        m.token_cache(true);
        let text = m.render(7, 2);
        assert!(text.contains("graphgate_requests_total{route=\"/api/auth/token\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("graphgate_upstream_seconds_bucket{kind=\"token\",le=\"0.005\"} 1"));
        assert!(text.contains("graphgate_upstream_seconds_bucket{kind=\"token\",le=\"0.0025\"} 0"));
        assert!(text.contains("graphgate_token_cache_total{result=\"hit\"} 1"));
        assert!(text.contains("graphgate_sessions 7"));
        assert!(text.contains("graphgate_sessions_unopenable_total 2"));
    }
}
