//! The parsing of untrusted text, for the fuzz targets under `fuzz/` (feature `fuzzing` only):
//! the configuration loader and every JSON body and query the HTTP API accepts, run as the
//! handlers run them but without a server, a store or the network.

use crate::config::Config;
use crate::error::ApiError;

/// Why an input was refused, as the caller would be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The error code (`invalid_json_body`, …).
    pub error: String,
    /// The HTTP status.
    pub status: u16,
    /// The message.
    pub message: String,
}

impl From<ApiError> for Rejection {
    fn from(e: ApiError) -> Self {
        Self { error: e.error, status: e.explanation.status, message: e.explanation.message }
    }
}

/// The configuration loader: TOML text with `GRAPHGATE_*` overrides from `env`, then the checks
/// (no secret is read: files and variables named by the configuration are left alone).
pub fn config(text: &str, env: Vec<(String, String)>) -> Result<(), Vec<String>> {
    let config = Config::from_toml_and_env(text, env).map_err(|e| vec![e])?;
    config.validate().map(drop)
}

/// `POST /api/auth/begin`'s body.
pub fn begin_body(body: &str) -> Result<(), Rejection> {
    crate::api::auth::fuzzing::begin(body).map_err(Rejection::from)
}

/// `POST /api/auth/exchange`'s body.
pub fn exchange_body(body: &str) -> Result<(), Rejection> {
    crate::api::auth::fuzzing::exchange(body).map_err(Rejection::from)
}

/// `POST /api/auth/token`'s body.
pub fn token_body(body: &str) -> Result<(), Rejection> {
    crate::api::auth::fuzzing::token(body).map_err(Rejection::from)
}

/// `POST /api/auth/logout`'s body.
pub fn logout_body(body: &str) -> Result<(), Rejection> {
    crate::api::auth::fuzzing::logout(body).map_err(Rejection::from)
}

/// `POST /api/invitations`'s body, from a self-service (`anonymous`) caller or another.
pub fn invitation_body(body: &str, anonymous: bool) -> Result<(), Rejection> {
    crate::api::invitations::fuzzing::invite(body, anonymous).map_err(Rejection::from)
}

/// The query of `/api/admin/sessions`: `GET` (`handles` false) or `DELETE` (`handles` true).
pub fn admin_sessions_query(query: &str, handles: bool) -> Result<(), Rejection> {
    crate::api::admin::fuzzing::sessions_query(query, handles).map_err(Rejection::from)
}
