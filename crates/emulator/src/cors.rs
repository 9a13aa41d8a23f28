//! CORS, so a page on another origin can call the emulator straight from the browser: Graph's
//! policy under `/v1.0` (any origin, no credentials, as Microsoft Graph answers) and a
//! credentialed one for the control API under `/_emulator` (a local, test-only API).
//!
//! The policies wrap the outer service in `server.rs`, so fault responses (a 429 and its
//! `Retry-After`) carry them too, and a preflight is answered before calls are counted or faults
//! applied. The sign-in and token endpoints get none: pages navigate to them.
//!
//! Which response headers page code may read: only CORS-safelisted ones and those Graph lists in
//! `Access-Control-Expose-Headers`. Graph lists `WWW-Authenticate` (claims challenges),
//! `request-id`, `client-request-id` and `Location`. Whether it lists `Retry-After` has changed
//! over time: in 2022 it did not (microsoft-graph-docs issue 17488), today it does (as
//! Microsoft's Dev Proxy models it). The control API's `/cors` switch picks either; the default
//! is today's.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderName, Method, header};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// `ConsistencyLevel` (advanced queries) and `Prefer`, request headers Graph accepts.
const CONSISTENCY_LEVEL: HeaderName = HeaderName::from_static("consistencylevel");
const PREFER: HeaderName = HeaderName::from_static("prefer");
/// The correlation IDs Graph echoes (`client-request-id`) and assigns (`request-id`).
const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("client-request-id");
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// The switches of Graph's CORS policy the control API turns.
#[derive(Debug)]
pub(crate) struct Switches {
    expose_retry_after: AtomicBool,
}

impl Default for Switches {
    fn default() -> Self {
        Self { expose_retry_after: AtomicBool::new(true) }
    }
}

impl Switches {
    /// Whether Graph's answers list `Retry-After` in `Access-Control-Expose-Headers`.
    pub(crate) fn expose_retry_after(&self) -> bool {
        self.expose_retry_after.load(Ordering::Relaxed)
    }

    /// Sets whether they do.
    pub(crate) fn set_expose_retry_after(&self, expose: bool) {
        self.expose_retry_after.store(expose, Ordering::Relaxed);
    }
}

/// The CORS policies, built once per server.
#[derive(Debug, Clone)]
pub(crate) struct Policies {
    graph: CorsLayer,
    graph_hiding_retry_after: CorsLayer,
    control: CorsLayer,
}

impl Policies {
    /// Graph's (both variants) and the control API's policies.
    pub(crate) fn new() -> Self {
        let graph_with = |exposed: &[HeaderName]| {
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    CONSISTENCY_LEVEL,
                    PREFER,
                    CLIENT_REQUEST_ID,
                ])
                .expose_headers(exposed.to_vec())
        };
        let graph = graph_with(&[
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            REQUEST_ID,
            CLIENT_REQUEST_ID,
            header::LOCATION,
        ]);
        let graph_hiding_retry_after =
            graph_with(&[header::WWW_AUTHENTICATE, REQUEST_ID, CLIENT_REQUEST_ID, header::LOCATION]);
        let control = CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE]);
        Self { graph, graph_hiding_retry_after, control }
    }

    /// The policy for a request path: Graph's under `/v1.0` (listing `Retry-After` or not, as
    /// `switches` say), the control API's under `/_emulator` when that API is served, none
    /// elsewhere.
    pub(crate) fn for_path(&self, path: &str, control_api: bool, switches: &Switches) -> Option<&CorsLayer> {
        if is_graph(path) {
            Some(if switches.expose_retry_after() { &self.graph } else { &self.graph_hiding_retry_after })
        } else if control_api && under(path, "/_emulator") {
            Some(&self.control)
        } else {
            None
        }
    }
}

fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether a request path is Graph's (under `/v1.0`).
pub(crate) fn is_graph(path: &str) -> bool {
    under(path, "/v1.0")
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
        let s = Switches::default();
        assert!(p.for_path("/v1.0", false, &s).is_some());
        assert!(p.for_path("/v1.0/me", false, &s).is_some());
        assert!(p.for_path("/v1.0/$batch", true, &s).is_some());
        assert!(p.for_path("/v1.00/me", true, &s).is_none());
        assert!(p.for_path("/_emulator/calls", true, &s).is_some());
        assert!(p.for_path("/_emulator/calls", false, &s).is_none(), "not served, no policy");
        assert!(p.for_path("/_emulatorx", true, &s).is_none());
        assert!(p.for_path("/common/oauth2/v2.0/token", true, &s).is_none());
        assert!(p.for_path("/common/oauth2/v2.0/authorize", true, &s).is_none());
        assert!(s.expose_retry_after(), "exposed by default, as Graph does today");
        s.set_expose_retry_after(false);
        assert!(!s.expose_retry_after());
        assert!(is_preflight(&Method::OPTIONS) && !is_preflight(&Method::GET));
    }
}
