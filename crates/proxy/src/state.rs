//! The state every handler and the keep-alive share, built once at start-up (`server.rs`).

use std::sync::Arc;

use crate::api_keys::ApiKeys;
use crate::apponly::AppTokenCache;
use crate::clock::Clock;
use crate::config::Settings;
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::rate_limit::{InvitationLimits, RateLimiter};
use crate::session::SessionManager;
use crate::shared::Shared;
use crate::swap::Swap;
use crate::tokens::TokenCache;
use crate::upstream::Upstream;

/// Everything a handler needs.
pub struct AppState {
    /// Checked configuration.
    pub(crate) settings: Settings,
    /// The upstream client.
    pub(crate) upstream: Upstream,
    /// The client credential, replaced whole by a reload (SIGHUP).
    pub(crate) credential: Swap<Credential>,
    /// Sessions.
    pub sessions: SessionManager,
    /// Access tokens per session, and the single-flight refresh.
    pub tokens: TokenCache,
    /// Metrics.
    pub(crate) metrics: Arc<Metrics>,
    /// The clock (tests move it forward).
    pub clock: Clock,
    /// The app-only token for invitations.
    pub(crate) app_token: AppTokenCache,
    /// Bearer API keys allowed to invite under the `admin` policy.
    pub(crate) api_keys: ApiKeys,
    /// The invitation endpoints' rate limits and the daily re-mail limit.
    pub(crate) rate: InvitationLimits,
    /// Sign-ins begun per client address (`session.sign_ins_per_minute`).
    pub(crate) sign_ins: RateLimiter,
    /// The `[limits]` per client address (keys: `exchange:`, `refresh:`, `logout:` and the
    /// address).
    pub(crate) limits: RateLimiter,
    /// With the Redis store: the refresh leases and the tokens shared with the other instances.
    pub(crate) shared: Option<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
