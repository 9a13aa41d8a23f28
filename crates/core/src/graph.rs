//! Microsoft Graph errors (`{"error": {"code", "message", "innerError"}}`) and `Retry-After`.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

use serde_json::Value;

use crate::error::{Error, ErrorCode};

/// An error answered by Microsoft Graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphError {
    /// The HTTP status.
    pub status: u16,
    /// `error.code`, such as `ErrorAccessDenied`.
    pub code: String,
    /// `error.message` (developer text, not for branching).
    pub message: String,
    /// The innermost `innerError.code`, when nested errors carry one.
    pub inner_code: Option<String>,
    /// `innerError.request-id`.
    pub request_id: Option<String>,
    /// `innerError.client-request-id`.
    pub client_request_id: Option<String>,
    /// `innerError.date`.
    pub date: Option<String>,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

/// The value under `key`, compared without case (Graph writes both `innerError` and `innererror`).
fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

fn str_ci(v: &Value, key: &str) -> Option<String> {
    get_ci(v, key).and_then(Value::as_str).map(str::to_owned)
}

impl GraphError {
    /// Parses a Graph error body. A body that is not Graph's error JSON still yields an error,
    /// with a code derived from the status, so a caller always has something to explain.
    pub fn parse(status: u16, body: &str) -> Self {
        let parsed: Option<Value> = serde_json::from_str(body).ok();
        let error = parsed.as_ref().and_then(|v| get_ci(v, "error"));
        let Some(error) = error.filter(|e| e.is_object()) else {
            return Self {
                status,
                code: fallback_code(status).to_owned(),
                message: format!("HTTP {status} without a Graph error body"),
                ..Self::default()
            };
        };
        let mut inner_code = None;
        let mut request_id = None;
        let mut client_request_id = None;
        let mut date = None;
        let mut cursor = get_ci(error, "innerError");
        let mut depth = 0;
        while let Some(inner) = cursor.filter(|_| depth < 16) {
            inner_code = str_ci(inner, "code").or(inner_code);
            request_id = request_id.or_else(|| str_ci(inner, "request-id"));
            client_request_id = client_request_id.or_else(|| str_ci(inner, "client-request-id"));
            date = date.or_else(|| str_ci(inner, "date"));
            cursor = get_ci(inner, "innerError");
            depth += 1;
        }
        Self {
            status,
            code: str_ci(error, "code").unwrap_or_else(|| fallback_code(status).to_owned()),
            message: str_ci(error, "message").unwrap_or_default(),
            inner_code,
            request_id,
            client_request_id,
            date,
        }
    }

    /// This error as a graphgate [`Error`].
    pub fn into_error(self) -> Error {
        Error::Graph(Box::new(self))
    }
}

fn fallback_code(status: u16) -> &'static str {
    match status {
        400 => "invalidRequest",
        401 => "unauthenticated",
        403 => "accessDenied",
        404 => "itemNotFound",
        429 => "TooManyRequests",
        503 => "serviceNotAvailable",
        _ => "generalException",
    }
}

#[cfg(feature = "std")]
/// Parses a `Retry-After` header: delta-seconds, or an HTTP date compared with `now_unix`.
/// Returns the number of seconds to wait, or `None` when the value is not valid.
pub fn parse_retry_after(value: &str, now_unix: u64) -> Option<u64> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().or(Some(u64::MAX));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    let secs = when.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(secs.saturating_sub(now_unix))
}

/// Reads a JSON body that must be an object, mapping failures to `malformed_response`
/// without echoing the body (it may hold tokens).
pub(crate) fn parse_json_object<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, Error> {
    serde_json::from_str(body).map_err(|e| {
        let why = match e.classify() {
            serde_json::error::Category::Data => {
                let text = e.to_string();
                // "missing field `x`" names only a field; other data errors may quote values.
                if text.starts_with("missing field") {
                    text
                } else {
                    format!("a field has the wrong type (line {}, column {})", e.line(), e.column())
                }
            }
            serde_json::error::Category::Eof => "the body ends too early".to_owned(),
            _ => format!("the body is not JSON (line {}, column {})", e.line(), e.column()),
        };
        Error::new(ErrorCode::MalformedResponse, format!("{what}: {why}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graphs_error_shape() {
        let body = r#"{"error":{"code":"ErrorAccessDenied","message":"Access is denied.","innerError":{"date":"2025-02-13T10:17:05","request-id":"r-1","client-request-id":"c-1"}}}"#;
        let e = GraphError::parse(403, body);
        assert_eq!(e.code, "ErrorAccessDenied");
        assert_eq!(e.message, "Access is denied.");
        assert_eq!(e.request_id.as_deref(), Some("r-1"));
        assert_eq!(e.client_request_id.as_deref(), Some("c-1"));
        assert_eq!(e.date.as_deref(), Some("2025-02-13T10:17:05"));
        let x = e.into_error().explain();
        assert_eq!(x.code, "ErrorAccessDenied");
        assert_eq!(x.trace_id.as_deref(), Some("r-1"));
        assert!(!x.hint_zh.is_empty());
    }

    #[test]
    fn keys_are_case_insensitive_and_inner_codes_nest() {
        let body = r#"{"Error":{"Code":"generalException","MESSAGE":"m","innererror":{"code":"MailboxNotEnabledForRESTAPI","innerError":{"code":"deeper","Request-Id":"r"}}}}"#;
        let e = GraphError::parse(404, body);
        assert_eq!(e.code, "generalException");
        assert_eq!(e.message, "m");
        assert_eq!(e.inner_code.as_deref(), Some("deeper"));
        assert_eq!(e.request_id.as_deref(), Some("r"));
    }

    #[test]
    fn a_body_that_is_not_graph_json_still_explains() {
        let e = GraphError::parse(429, "<html>busy</html>");
        assert_eq!(e.code, "TooManyRequests");
        let e = GraphError::parse(502, "");
        assert_eq!(e.code, "generalException");
        assert_eq!(GraphError::parse(401, r#"{"error":"x"}"#).code, "unauthenticated");
    }

    #[test]
    fn the_mailbox_error_is_explained_with_the_common_fix() {
        let body = r#"{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"The mailbox is either inactive, soft-deleted, or is hosted on-premise."}}"#;
        let x = GraphError::parse(404, body).into_error().explain();
        assert_eq!(x.status, 404);
        assert!(x.hint.contains("/common/"), "{}", x.hint);
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
        assert_eq!(parse_retry_after("99999999999999999999999", 0), Some(u64::MAX));
    }
}
