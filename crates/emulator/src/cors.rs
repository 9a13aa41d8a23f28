//! CORS, so a page on another origin can call the emulator straight from the browser: Graph's
//! policy under `/v1.0` (any origin, no credentials, as Microsoft Graph answers) and a
//! credentialed one for the control API under `/_emulator` (a local, test-only API).
//!
//! The policies wrap the outer service in `server.rs`, so fault responses (a 429 and its
//! `Retry-After`) carry them too, and a preflight is answered before calls are counted or faults
//! applied. The sign-in and token endpoints get none: pages navigate to them.

use axum::http::{HeaderName, Method, header};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// `ConsistencyLevel` (advanced queries) and `Prefer`, request headers Graph accepts.
const CONSISTENCY_LEVEL: HeaderName = HeaderName::from_static("consistencylevel");
const PREFER: HeaderName = HeaderName::from_static("prefer");
/// The correlation IDs Graph echoes (`client-request-id`) and assigns (`request-id`).
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// The CORS policies, built once per server.
#[derive(Debug, Clone)]
pub(crate) struct Policies {
    graph: CorsLayer,
    control: CorsLayer,
}

impl Policies {
    /// Graph's and the control API's policies.
    pub(crate) fn new() -> Self {
        let graph = CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, CONSISTENCY_LEVEL, PREFER, CLIENT_REQUEST_ID])
            .expose_headers([header::RETRY_AFTER, REQUEST_ID, CLIENT_REQUEST_ID, header::LOCATION]);
        let control = CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE]);
        Self { graph, control }
    }

    /// The policy for a request path: Graph's under `/v1.0`, the control API's under
    /// `/_emulator` when that API is served, none elsewhere.
    pub(crate) fn for_path(&self, path: &str, control_api: bool) -> Option<&CorsLayer> {
        let under =
            |prefix: &str| path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        if under("/v1.0") {
            Some(&self.graph)
        } else if control_api && under("/_emulator") {
            Some(&self.control)
        } else {
            None
        }
    }
}

/// Whether a request is a CORS preflight. The CORS layer answers every `OPTIONS` request on the
/// paths it covers (no route answers `OPTIONS` there), so this is the method alone.
pub(crate) fn is_preflight(method: &Method) -> bool {
    method == Method::OPTIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_follow_the_path() {
        let p = Policies::new();
        assert!(p.for_path("/v1.0", false).is_some());
        assert!(p.for_path("/v1.0/me", false).is_some());
        assert!(p.for_path("/v1.0/$batch", true).is_some());
        assert!(p.for_path("/v1.00/me", true).is_none());
        assert!(p.for_path("/_emulator/calls", true).is_some());
        assert!(p.for_path("/_emulator/calls", false).is_none(), "not served, no policy");
        assert!(p.for_path("/_emulatorx", true).is_none());
        assert!(p.for_path("/common/oauth2/v2.0/token", true).is_none());
        assert!(p.for_path("/common/oauth2/v2.0/authorize", true).is_none());
        assert!(is_preflight(&Method::OPTIONS) && !is_preflight(&Method::GET));
    }
}
