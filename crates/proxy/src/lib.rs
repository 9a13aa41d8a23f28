//! graphgate-proxy: the confidential token proxy. It alone holds the client secret or
//! certificate, redeems authorization codes, keeps refresh tokens server-side (encrypted), answers
//! the browser's token requests from them, and sends app-only invitations.

pub mod api;
pub mod app;
pub mod apponly;
pub mod check;
pub mod config;
pub mod credential;
pub mod error;
pub mod keepalive;
pub mod metrics;
pub mod server;
pub mod session;
pub mod tokens;
pub mod upstream;

/// Locks a mutex, recovering the data if a panicking thread poisoned it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
