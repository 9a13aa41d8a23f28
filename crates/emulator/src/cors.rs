//! CORS, so a page on another origin can call the emulator straight from the browser: Graph's
//! policy under `/v1.0` (any origin, no credentials, as Microsoft Graph answers), Entra's on its
//! discovery document, signing keys and token endpoint, and a credentialed one for the control
//! API under `/_emulator` (a local, test-only API).
//!
//! Entra serves the OpenID configuration and the keys (JWKS) to any origin, which is how
//! `@azure/msal-browser` resolves an authority from the page. Its token endpoint answers CORS too,
//! to any origin and without credentials (`Access-Control-Allow-Credentials` is never sent, so
//! a credentialed request is refused by the browser): a page redeems the code of a redirect URI
//! of type `spa`, and refreshes, from the browser (`microsoft-identity.md` §3.6). Which requests
//! may come cross-origin is the token endpoint's own rule, not CORS's: a preflight cannot carry
//! the redirect URI, so it is answered for any origin, and a code of a Web redirect URI redeemed
//! with `Origin` is refused with AADSTS9002326, an answer the page can read (MSAL.js reports it
//! as a server error, as it does against Entra). The authorize and logout endpoints get none:
//! pages navigate to them.
//!
//! The policies wrap the outer service in `server.rs`, so fault responses (a 429 and its
//! `Retry-After`) carry them too, and a preflight is answered before calls are counted or faults
//! applied.
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
    metadata: CorsLayer,
    token: CorsLayer,
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
        // Entra's: any origin, no credentials.
        let metadata = CorsLayer::new().allow_origin(Any).allow_methods([Method::GET]);
        // MSAL.js may add request headers of its own (`X-AnchorMailbox`), so any is allowed.
        let token = CorsLayer::new().allow_origin(Any).allow_methods([Method::POST]).allow_headers(Any);
        let control = CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE]);
        Self { graph, graph_hiding_retry_after, metadata, token, control }
    }

    /// The policy for a request path: Graph's under `/v1.0` (listing `Retry-After` or not, as
    /// `switches` say), Entra's on the discovery document, the keys and the token endpoint, the
    /// control API's under `/_emulator` when that API is served, none elsewhere.
    pub(crate) fn for_path(&self, path: &str, control_api: bool, switches: &Switches) -> Option<&CorsLayer> {
        if is_graph(path) {
            Some(if switches.expose_retry_after() { &self.graph } else { &self.graph_hiding_retry_after })
        } else if control_api && under(path, "/_emulator") {
            Some(&self.control)
        } else {
            match identity_route(path)? {
                IdentityRoute::Discovery | IdentityRoute::Keys => Some(&self.metadata),
                IdentityRoute::Token => Some(&self.token),
            }
        }
    }
}

/// The identity endpoints that answer CORS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdentityRoute {
    /// `/{tenant}/v2.0/.well-known/openid-configuration`.
    Discovery,
    /// `/{tenant}/discovery/v2.0/keys`.
    Keys,
    /// `/{tenant}/oauth2/v2.0/token`.
    Token,
}

fn identity_route(path: &str) -> Option<IdentityRoute> {
    let rest = path.strip_prefix('/')?;
    let (tenant, rest) = rest.split_once('/')?;
    if tenant.is_empty() {
        return None;
    }
    match rest {
        "v2.0/.well-known/openid-configuration" => Some(IdentityRoute::Discovery),
        "discovery/v2.0/keys" => Some(IdentityRoute::Keys),
        "oauth2/v2.0/token" => Some(IdentityRoute::Token),
        _ => None,
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
        assert!(p.for_path("/common/oauth2/v2.0/authorize", true, &s).is_none(), "pages navigate there");
        assert!(p.for_path("/common/oauth2/v2.0/logout", true, &s).is_none());
        assert!(p.for_path("/redeem", true, &s).is_none());
        assert_eq!(identity_route("/common/oauth2/v2.0/token"), Some(IdentityRoute::Token));
        assert_eq!(
            identity_route("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"),
            Some(IdentityRoute::Discovery)
        );
        assert_eq!(identity_route("/organizations/discovery/v2.0/keys"), Some(IdentityRoute::Keys));
        assert_eq!(identity_route("//oauth2/v2.0/token"), None);
        assert_eq!(identity_route("/a/b/oauth2/v2.0/token"), None);
        assert!(p.for_path("/common/oauth2/v2.0/token", false, &s).is_some());
        assert!(s.expose_retry_after(), "exposed by default, as Graph does today");
        s.set_expose_retry_after(false);
        assert!(!s.expose_retry_after());
        assert!(is_preflight(&Method::OPTIONS) && !is_preflight(&Method::GET));
    }
}
