//! graphgate-proxy: the confidential token proxy. It alone holds the client secret or
//! certificate, redeems authorization codes, keeps refresh tokens server-side (encrypted), answers
//! the browser's token requests from them, and sends app-only invitations.
//!
//! The binary uses [`config`], [`server`] and [`check`]; the integration tests also drive
//! [`keepalive`] and look into [`AppState`].

// The refresh path's futures nest deeply (keep-alive → refresh → lease → store).
#![recursion_limit = "256"]

pub mod check;
pub mod config;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod keepalive;
pub mod reload;
pub mod server;

mod accept;
mod api;
mod api_keys;
mod app;
mod apponly;
mod client_addr;
mod clock;
mod cookie;
mod credential;
mod error;
mod metrics;
mod middleware;
mod rate_limit;
mod refresh;
mod session;
mod shared;
mod signout;
mod state;
mod swap;
mod tokens;
mod upstream;

pub use state::AppState;
pub use upstream::install_crypto_provider;

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
