//! Error answers shaped like the real services': Entra's token-endpoint JSON (and the same
//! fields for error redirects) and Graph's `{"error": {...}}`, with texts from the core catalogue:
//! one text per error, Entra's, with the request's detail put into the catalogue's placeholders.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use graphgate_core::catalogue::{Code, lookup};
use serde_json::{Value, json};

use crate::ids::{entra_timestamp, guid, iso8601};

/// The fields of an Entra error, for a JSON body or a redirect.
#[derive(Debug, Clone)]
pub(crate) struct EntraFields {
    pub error: String,
    pub description: String,
    pub code: u32,
    pub timestamp: String,
    pub trace_id: String,
    pub correlation_id: String,
    pub error_uri: String,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The catalogue's text for AADSTS error `code`, with `args` (name, value) put into its `{name}`
/// placeholders: one sentence, worded as Entra words it, with the request's detail inside.
pub(crate) fn entra_text(code: u32, args: &[(&str, &str)]) -> String {
    let template = lookup(Code::Aadsts(code)).map(|e| e.message).unwrap_or("The request failed.");
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            rest = &rest[open..];
            break;
        };
        let name = &after[..close];
        match args.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push_str(value),
            None => {
                debug_assert!(false, "AADSTS{code}: no value for {{{name}}}");
                out.push_str(&rest[open..open + close + 2]);
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Builds the fields of AADSTS error `code`. `error` empty means "the catalogue's OAuth error";
/// `args` fill the placeholders of the catalogue's text (see [`entra_text`]).
pub(crate) fn entra_fields(error: &str, code: u32, args: &[(&str, &str)]) -> EntraFields {
    let entry = lookup(Code::Aadsts(code));
    let message = entra_text(code, args);
    let error = if error.is_empty() {
        entry.map(|e| e.oauth_error).filter(|e| !e.is_empty()).unwrap_or("invalid_request")
    } else {
        error
    };
    let (trace_id, correlation_id, timestamp) = (guid(), guid(), entra_timestamp(now_secs()));
    EntraFields {
        error: error.to_owned(),
        description: format!(
            "AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        code,
        timestamp,
        trace_id,
        correlation_id,
        error_uri: format!("https://login.microsoftonline.com/error?code={code}"),
    }
}

/// A token-endpoint error answer.
pub(crate) fn entra_error(status: u16, error: &str, code: u32, args: &[(&str, &str)]) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), Json(entra_body(error, code, args)))
        .into_response()
}

/// The JSON of a token-endpoint error.
pub(crate) fn entra_body(error: &str, code: u32, args: &[(&str, &str)]) -> Value {
    let f = entra_fields(error, code, args);
    json!({
        "error": f.error,
        "error_description": f.description,
        "error_codes": [f.code],
        "timestamp": f.timestamp,
        "trace_id": f.trace_id,
        "correlation_id": f.correlation_id,
        "error_uri": f.error_uri,
    })
}

/// A Graph error answer; the message defaults to the catalogue's text for `code`. Its
/// `innerError` carries the `date` and the current request's `request-id` and
/// `client-request-id` (see `correlation.rs`), which the headers repeat.
pub(crate) fn graph_error(status: u16, code: &str, message: Option<&str>) -> Response {
    let message = message.or_else(|| lookup(Code::Graph(code)).map(|e| e.message)).unwrap_or("The request failed.");
    let ids = crate::correlation::current();
    let body: Value = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": iso8601(now_secs()).trim_end_matches('Z'),
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            },
        }
    });
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), Json(body)).into_response();
    ids.apply(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_text_with_the_detail_inside() {
        assert_eq!(
            entra_text(900144, &[("parameter", "grant_type")]),
            "The request body must contain the following parameter: 'grant_type'."
        );
        let f = entra_fields("", 9002326, &[("origin", "http://localhost:3000")]);
        assert_eq!(f.error, "invalid_request");
        let first = f.description.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "AADSTS9002326: Cross-origin token redemption is permitted only for the 'Single-Page Application' \
             client-type. Request origin: 'http://localhost:3000'."
        );
        assert_eq!(entra_text(54005, &[]), lookup(Code::Aadsts(54005)).map(|e| e.message).unwrap_or_default());
    }
}
