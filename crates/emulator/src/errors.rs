//! Error answers shaped like the real services': Entra's token-endpoint JSON (and the same
//! fields for error redirects) and Graph's `{"error": {...}}`, with texts from the core catalogue.

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

/// Builds the fields of AADSTS error `code`. `error` empty means "the catalogue's OAuth error";
/// `detail` is appended to the catalogue's message.
pub(crate) fn entra_fields(error: &str, code: u32, detail: Option<&str>) -> EntraFields {
    let entry = lookup(Code::Aadsts(code));
    let message = entry.map(|e| e.message).unwrap_or("The request failed.");
    let error = if error.is_empty() {
        entry.map(|e| e.oauth_error).filter(|e| !e.is_empty()).unwrap_or("invalid_request")
    } else {
        error
    };
    let (trace_id, correlation_id, timestamp) = (guid(), guid(), entra_timestamp(now_secs()));
    let detail = detail.map(|d| format!(" {d}")).unwrap_or_default();
    EntraFields {
        error: error.to_owned(),
        description: format!(
            "AADSTS{code}: {message}{detail}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        code,
        timestamp,
        trace_id,
        correlation_id,
        error_uri: format!("https://login.microsoftonline.com/error?code={code}"),
    }
}

/// A token-endpoint error answer.
pub(crate) fn entra_error(status: u16, error: &str, code: u32, detail: Option<&str>) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), Json(entra_body(error, code, detail)))
        .into_response()
}

/// The JSON of a token-endpoint error.
pub(crate) fn entra_body(error: &str, code: u32, detail: Option<&str>) -> Value {
    let f = entra_fields(error, code, detail);
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
