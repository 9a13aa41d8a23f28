//! Entra ID v2.0 on Microsoft's paths: discovery, keys, authorize (sign-in and consent pages),
//! token, logout, and the invitation redemption page.

#[allow(
    clippy::result_large_err,
    reason = "handlers answer early with a ready HTTP response or error fields; boxing them buys nothing here"
)]
mod authorize;
mod discovery;
mod pages;
mod redeem;
mod scopes;
#[allow(
    clippy::result_large_err,
    reason = "handlers answer early with a ready HTTP response; boxing it buys nothing here"
)]
mod token;
mod tokens;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use graphgate_core::CONSUMERS_TENANT_ID;

use crate::Ctx;
use crate::ids::opaque;
use crate::state::World;

pub(crate) use pages::set_session_cookie;

/// Identity routes, at the root.
pub(crate) fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize::get).post(authorize::post))
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token::post))
        .route("/{tenant}/oauth2/v2.0/logout", get(discovery::logout).post(discovery::logout))
        .route("/redeem", get(redeem::get).post(redeem::post))
}

/// Opens a sign-in session of the emulator's own pages for the member account `home_id`, as
/// choosing that account on the sign-in page does; returns the session ID (the cookie's value).
pub(crate) fn open_session(world: &mut World, home_id: &str) -> String {
    let session = opaque("ems.");
    world.sessions.insert(session.clone(), home_id.to_owned());
    session
}

/// `emu_session=ID`, the session cookie as a browser sends it back.
pub(crate) fn cookie_pair(session: &str) -> String {
    format!("{}={session}", pages::SESSION_COOKIE)
}

/// The `{tenant}` segment of a request, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authority {
    /// `/common/`: work, school and personal accounts.
    Common,
    /// `/organizations/`: work and school accounts.
    Organizations,
    /// `/consumers/` (or the consumer tenant's ID): personal accounts.
    Consumers,
    /// One tenant, by its ID.
    Tenant(String),
}

impl Authority {
    /// Resolves a path segment; `None` for an unknown tenant (AADSTS90002).
    pub(crate) fn resolve(world: &World, segment: &str) -> Option<Self> {
        let s = segment.to_ascii_lowercase();
        match s.as_str() {
            "common" => Some(Authority::Common),
            "organizations" => Some(Authority::Organizations),
            "consumers" | CONSUMERS_TENANT_ID => Some(Authority::Consumers),
            _ => world.tenant(&s).map(|t| Authority::Tenant(t.id.clone())),
        }
    }

    /// Whether this is one of the multi-tenant aliases.
    pub(crate) fn is_alias(&self) -> bool {
        !matches!(self, Authority::Tenant(_))
    }
}
