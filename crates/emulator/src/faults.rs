//! Fault injection and call counting: the control API's way to make the next calls to a path
//! fail, and to count what clients really sent upstream.
//!
//! A rule applies to direct requests, or (with `in_batch`) to the sub-requests of a `$batch`,
//! which Graph throttles one by one: a throttled sub-request answers 429 with its own
//! `Retry-After` inside a 200 batch answer (https://learn.microsoft.com/graph/throttling,
//! https://learn.microsoft.com/graph/json-batching). Sub-requests are counted as direct calls
//! are, under `"GET /v1.0/me"`, beside the `"POST /v1.0/$batch"` that carried them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and a Graph- or Entra-shaped error body.
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// Wait, then handle the request normally.
    Delay {
        /// Milliseconds to wait.
        ms: u64,
    },
    /// Close the connection without answering.
    Drop,
    /// Answer 200 with a body that is not valid JSON.
    MalformedJson,
    /// Answer 429 with `Retry-After`.
    Throttle {
        /// Seconds in the `Retry-After` header.
        retry_after: u64,
    },
    /// Start a 200 answer (its headers and part of its body), then break the connection
    /// mid-response, as a reset connection does.
    Reset,
    /// Fail the TLS handshake of the next new connections (`count` of them), whatever their
    /// requests: `path` and `method` are not known before the handshake and do not apply. Adding
    /// one closes the connections open at the time, so clients have to connect afresh. Over
    /// plain HTTP, the connection is closed before any request is read.
    Tls,
}

/// The longest delay a `delay` fault may ask for: ten minutes.
pub(crate) const MAX_DELAY_MS: u64 = 600_000;
/// The longest `Retry-After` a `throttle` fault may send: one day.
pub(crate) const MAX_RETRY_AFTER_SECS: u64 = 86_400;

impl FaultKind {
    /// Whether the fault acts on a connection rather than on a request.
    pub(crate) fn is_connection_level(&self) -> bool {
        matches!(self, FaultKind::Tls)
    }
}

/// A fault rule: the next `count` requests whose path starts with `path` (and, if given, whose
/// method is `method`) get `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Path prefix, such as `/v1.0/me` or `/common/oauth2/v2.0/token`.
    pub path: String,
    /// Method filter.
    #[serde(default)]
    pub method: Option<String>,
    /// How many requests it applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
}

fn one() -> u32 {
    1
}

/// The JSON of `POST /_emulator/faults`: a [`Fault`], and whether it applies to the sub-requests
/// of a `$batch` instead of direct requests (`"in_batch": true`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct FaultRule {
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
    /// Whether it applies inside `$batch`.
    #[serde(default)]
    pub in_batch: bool,
}

impl FaultRule {
    /// Refuses what a sub-request cannot do: it has no connection to drop and no body of its
    /// own to garble (a sub-response body is part of the batch's JSON).
    ///
    /// Also refuses values no test means: no use at all (`count` 0), a status that is not an
    /// error status (400 to 599), a delay over [`MAX_DELAY_MS`], a `Retry-After` over
    /// [`MAX_RETRY_AFTER_SECS`].
    pub(crate) fn check(&self) -> Result<(), String> {
        let f = &self.fault;
        if self.in_batch
            && matches!(f.kind, FaultKind::Drop | FaultKind::MalformedJson | FaultKind::Reset | FaultKind::Tls)
        {
            return Err("in_batch applies to status, throttle and delay faults".to_owned());
        }
        if f.count == 0 {
            return Err("count must be at least 1".to_owned());
        }
        match f.kind {
            FaultKind::Status { status } if !(400..=599).contains(&status) => {
                Err(format!("status must be an error status, 400 to 599 (got {status})"))
            }
            FaultKind::Delay { ms } if ms > MAX_DELAY_MS => {
                Err(format!("ms must be at most {MAX_DELAY_MS} (ten minutes; got {ms})"))
            }
            FaultKind::Throttle { retry_after } if retry_after > MAX_RETRY_AFTER_SECS => {
                Err(format!("retry_after must be at most {MAX_RETRY_AFTER_SECS} seconds (a day; got {retry_after})"))
            }
            _ => Ok(()),
        }
    }
}

/// Fault rules and call counters.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    calls: Mutex<BTreeMap<String, u64>>,
}

impl Faults {
    /// Adds a rule for direct requests.
    #[cfg(test)]
    pub(crate) fn add(&self, fault: Fault) {
        lock(&self.rules).push(FaultRule { fault, in_batch: false });
    }

    /// Adds a rule (for direct requests, or for `$batch` sub-requests).
    pub(crate) fn add_rule(&self, rule: FaultRule) {
        lock(&self.rules).push(rule);
    }

    /// Removes every rule.
    pub(crate) fn clear(&self) {
        lock(&self.rules).clear();
    }

    /// The fault for this direct request, if a rule matches; consumes one use of the rule.
    pub(crate) fn take(&self, method: &str, path: &str) -> Option<FaultKind> {
        self.take_where(false, method, path)
    }

    /// The fault for this `$batch` sub-request (`path` under `/v1.0`), if a rule matches;
    /// consumes one use of the rule.
    pub(crate) fn take_in_batch(&self, method: &str, path: &str) -> Option<FaultKind> {
        self.take_where(true, method, path)
    }

    /// Whether a new connection meets a connection-level fault (`tls`); consumes one use.
    pub(crate) fn take_connection(&self) -> bool {
        self.take_matching(|r| r.fault.kind.is_connection_level()).is_some()
    }

    fn take_where(&self, in_batch: bool, method: &str, path: &str) -> Option<FaultKind> {
        self.take_matching(|r| {
            let f = &r.fault;
            r.in_batch == in_batch
                && !f.kind.is_connection_level()
                && path.starts_with(&f.path)
                && f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
        })
    }

    fn take_matching(&self, matches: impl Fn(&FaultRule) -> bool) -> Option<FaultKind> {
        let mut rules = lock(&self.rules);
        let i = rules.iter().position(|r| r.fault.count > 0 && matches(r))?;
        rules[i].fault.count -= 1;
        let kind = rules[i].fault.kind.clone();
        if rules[i].fault.count == 0 {
            rules.remove(i);
        }
        Some(kind)
    }

    /// Counts one call under `key`.
    pub(crate) fn count(&self, key: impl Into<String>) {
        *lock(&self.calls).entry(key.into()).or_default() += 1;
    }

    /// The counters.
    pub(crate) fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.calls).clone()
    }

    /// Resets the counters.
    pub(crate) fn reset_calls(&self) {
        lock(&self.calls).clear();
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_count_times_to_matching_requests() {
        let f = Faults::default();
        f.add(Fault {
            path: "/v1.0/me".into(),
            method: Some("GET".into()),
            count: 2,
            kind: FaultKind::Throttle { retry_after: 3 },
        });
        assert_eq!(f.take("POST", "/v1.0/me/sendMail"), None);
        assert_eq!(f.take("GET", "/v1.0/me"), Some(FaultKind::Throttle { retry_after: 3 }));
        assert_eq!(f.take("get", "/v1.0/me/messages"), Some(FaultKind::Throttle { retry_after: 3 }));
        assert_eq!(f.take("GET", "/v1.0/me"), None);
        f.count("token:refresh_token");
        f.count("token:refresh_token");
        assert_eq!(f.calls()["token:refresh_token"], 2);
        let parsed: Fault = serde_json::from_str(r#"{"path":"/x","kind":"status","status":503}"#).expect("json");
        assert_eq!(parsed.kind, FaultKind::Status { status: 503 });
        assert_eq!(parsed.count, 1);
    }

    #[test]
    fn batch_rules_apply_to_sub_requests_only() {
        let f = Faults::default();
        let rule: FaultRule = serde_json::from_str(
            r#"{"kind":"throttle","path":"/v1.0/me","method":"GET","count":1,"retry_after":1,"in_batch":true}"#,
        )
        .expect("json");
        assert_eq!(rule.fault.kind, FaultKind::Throttle { retry_after: 1 });
        assert!(rule.in_batch && rule.check().is_ok());
        f.add_rule(rule);
        assert_eq!(f.take("GET", "/v1.0/me"), None, "not a direct request's");
        assert_eq!(f.take_in_batch("GET", "/v1.0/me"), Some(FaultKind::Throttle { retry_after: 1 }));
        assert_eq!(f.take_in_batch("GET", "/v1.0/me"), None, "used up");
        let direct: FaultRule = serde_json::from_str(r#"{"path":"/v1.0/me","kind":"drop"}"#).expect("json");
        assert!(!direct.in_batch && direct.check().is_ok());
        f.add_rule(direct);
        assert_eq!(f.take_in_batch("GET", "/v1.0/me"), None);
        assert_eq!(f.take("GET", "/v1.0/me"), Some(FaultKind::Drop));
        for kind in ["drop", "malformed_json"] {
            let text = ["{\"path\":\"/v1.0/me\",\"kind\":\"", kind, "\",\"in_batch\":true}"].concat();
            let rule: FaultRule = serde_json::from_str(&text).expect("json");
            assert!(rule.check().is_err(), "{kind}");
        }
    }
}
