//! Graph's correlation IDs: every Graph answer carries a fresh `request-id` and echoes the
//! request's `client-request-id`, and Graph error bodies repeat both (with the `date`) in
//! `innerError` (https://learn.microsoft.com/graph/errors; the headers as in Microsoft's
//! examples, where an answer to a request without `client-request-id` carries the request ID in
//! its place).
//!
//! The outer service in `server.rs` sets the IDs of a request for the time it is handled (a
//! task-local), so [`crate::errors::graph_error`] finds them wherever the error is made.

use axum::http::{HeaderMap, HeaderValue};

use crate::ids::guid;

/// The longest `client-request-id` echoed (Graph expects a GUID).
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// One request's IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ids {
    /// Assigned by the service.
    pub request_id: String,
    /// The caller's, or the request ID when the caller sent none (or an unusable one).
    pub client_request_id: String,
}

impl Ids {
    /// Fresh IDs for a request with these headers.
    pub(crate) fn for_request(headers: &HeaderMap) -> Self {
        let request_id = guid();
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned)
            .unwrap_or_else(|| request_id.clone());
        Self { request_id, client_request_id }
    }

    /// Sets `request-id` and `client-request-id` on an answer's headers.
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in [("request-id", &self.request_id), ("client-request-id", &self.client_request_id)] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
    }
}

tokio::task_local! {
    static CURRENT: Ids;
}

/// Runs `f` with `ids` as the current request's IDs.
pub(crate) async fn scope<F: Future>(ids: Ids, f: F) -> F::Output {
    CURRENT.scope(ids, f).await
}

/// The current request's IDs; fresh ones outside a request (an error made in a unit test).
pub(crate) fn current() -> Ids {
    CURRENT.try_with(Ids::clone).unwrap_or_else(|_| {
        let id = guid();
        Ids { request_id: id.clone(), client_request_id: id }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn echoes_the_clients_id_and_scopes_the_current_one() {
        let mut headers = HeaderMap::new();
        let fresh = Ids::for_request(&headers);
        assert_eq!(fresh.request_id, fresh.client_request_id, "none sent: the request ID in its place");
        headers.insert("client-request-id", HeaderValue::from_static("8a0c1d2e-0000-4000-8000-000000000001"));
        let ids = Ids::for_request(&headers);
        assert_eq!(ids.client_request_id, "8a0c1d2e-0000-4000-8000-000000000001");
        assert_ne!(ids.request_id, fresh.request_id);
        headers.insert("client-request-id", HeaderValue::from_static(""));
        assert_eq!(Ids::for_request(&headers).client_request_id.len(), 36);
        let inside = scope(ids.clone(), async { current() }).await;
        assert_eq!(inside, ids);
        assert_ne!(current(), ids, "outside the request, fresh IDs");
    }
}
