//! Microsoft Graph errors (`{"error": {"code", "message", "innerError"}}`), from JSON text or any serde format.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

mod body;

pub use body::GraphErrorBody;
use body::Level;

use crate::encode::decimal;
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

impl GraphError {
    /// Parses a Graph error body. A body that is not Graph's error JSON still yields an error,
    /// with a code derived from the status, so a caller always has something to explain.
    pub fn parse(status: u16, body: &str) -> Self {
        Self::from_body(status, serde_json::from_str(body).ok())
    }

    /// The error from a body already deserialized (by any serde deserializer, such as the
    /// browser's parsed JSON); `None`, or a body without an `error` object, gives the status's
    /// fallback code.
    pub fn from_body(status: u16, body: Option<GraphErrorBody>) -> Self {
        let mut levels = body.map(|b| b.levels).unwrap_or_default().into_iter();
        let Some(error) = levels.next() else {
            return Self {
                status,
                code: fallback_code(status).to_owned(),
                message: ["HTTP ", &decimal(status.into()), " without a Graph error body"].concat(),
                ..Self::default()
            };
        };
        let inner: Vec<Level> = levels.collect();
        let first = |field: fn(&Level) -> &Option<String>| inner.iter().find_map(|l| field(l).clone());
        Self {
            status,
            code: error.code.unwrap_or_else(|| fallback_code(status).to_owned()),
            message: error.message.unwrap_or_default(),
            // The innermost code is the most specific.
            inner_code: inner.iter().rev().find_map(|l| l.code.clone()),
            request_id: first(|l| &l.request_id),
            client_request_id: first(|l| &l.client_request_id),
            date: first(|l| &l.date),
        }
    }

    /// Fills `request_id` and `client_request_id` from the answer's `request-id` and
    /// `client-request-id` headers (names in any case) where the body did not give them.
    pub fn with_response_headers<K: AsRef<str>, V: AsRef<str>>(mut self, headers: &[(K, V)]) -> Self {
        let header = |name: &str| {
            headers.iter().find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref().to_owned())
        };
        self.request_id = self.request_id.or_else(|| header("request-id"));
        self.client_request_id = self.client_request_id.or_else(|| header("client-request-id"));
        self
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

/// Reads a JSON body that must be an object, mapping failures to `malformed_response`
/// without echoing the body (it may hold tokens).
pub(crate) fn parse_json_object<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, Error> {
    let value = parse_json(body, what)?;
    // serde reads a struct from an array of its fields too; the messages parsed here are objects.
    if !body.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{') {
        return Err(Error::new(ErrorCode::MalformedResponse, format!("{what}: the body is not a JSON object")));
    }
    Ok(value)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, Error> {
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
    fn from_body_takes_any_deserializer_and_applies_the_fallback() {
        let value = serde_json::json!({"error": {"code": "ErrorItemNotFound", "innererror": {"request-id": "r"}}});
        let e = GraphError::from_body(404, serde_json::from_value(value).ok());
        assert_eq!((e.code.as_str(), e.request_id.as_deref()), ("ErrorItemNotFound", Some("r")));
        let e = GraphError::from_body(403, None);
        assert_eq!((e.code.as_str(), e.message.as_str()), ("accessDenied", "HTTP 403 without a Graph error body"));
        let e = GraphError::from_body(503, serde_json::from_value(serde_json::json!({"error": {"message": "m"}})).ok());
        assert_eq!((e.code.as_str(), e.message.as_str()), ("serviceNotAvailable", "m"));
    }

    #[test]
    fn a_json_array_is_not_an_object() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "only deserialized")]
        struct Two {
            a: String,
            b: u32,
        }
        let e = parse_json_object::<Two>(r#" ["x", 1] "#, "answer").expect_err("an array");
        assert_eq!(e.code(), ErrorCode::MalformedResponse);
        assert_eq!(e.detail(), "answer: the body is not a JSON object");
        let two = parse_json_object::<Two>("\n {\"a\": \"x\", \"b\": 1}", "answer").expect("an object");
        assert_eq!((two.a.as_str(), two.b), ("x", 1));
        assert!(parse_json_object::<Two>("<html>", "answer").expect_err("not JSON").detail().contains("not JSON"));
    }

    #[test]
    fn headers_fill_the_ids_the_body_lacks() {
        let headers = [("Request-Id", "h-r"), ("client-request-id", "h-c")];
        let e = GraphError::parse(500, "").with_response_headers(&headers);
        assert_eq!((e.request_id.as_deref(), e.client_request_id.as_deref()), (Some("h-r"), Some("h-c")));
        let body = r#"{"error":{"code":"x","innerError":{"request-id":"b-r"}}}"#;
        let e = GraphError::parse(500, body).with_response_headers(&headers);
        assert_eq!((e.request_id.as_deref(), e.client_request_id.as_deref()), (Some("b-r"), Some("h-c")));
    }
}
