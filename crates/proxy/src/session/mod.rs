//! Server-side sessions: a byte-level store contract, its backends, and the manager that encrypts
//! refresh tokens and applies lifetimes on top of any backend.
//!
//! The design has two layers:
//!
//! - [`SessionStore`] is a tiny key-value contract with an expiry time per record. A backend only
//!   stores opaque bytes under opaque keys ([`MemoryStore`] for tests, [`SqliteStore`] by default;
//!   a networked store such as Redis needs nothing more).
//! - [`SessionManager`] does everything else once: it issues session IDs, derives the store key
//!   from them ([`SessionKey`]: the SHA-256 of the ID, so the ID itself is never stored), seals the
//!   refresh token with AES-256-GCM ([`Cipher`]) bound to that key, and enforces the absolute
//!   lifetime and the idle timeout.
//!
//! Time is always passed in as Unix seconds (`now`); no store reads the clock, so expiry is
//! testable without sleeping.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use graphgate_core::SessionId;
use sha2::{Digest as _, Sha256};

mod cipher;
#[cfg(test)]
mod conformance;
mod manager;
mod memory;
mod pending;
mod sqlite;

pub(crate) use cipher::Cipher;
pub(crate) use manager::{Session, SessionManager};
pub(crate) use memory::MemoryStore;
pub(crate) use pending::{PENDING_LIFETIME, PendingSignIn};
pub(crate) use sqlite::SqliteStore;

/// The future every [`SessionStore`] operation returns: boxed so the trait stays object-safe.
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A byte-level session backend: opaque blobs under opaque keys, each with an expiry time.
///
/// A record whose `expires_at` is at or before `now` is dead: [`load`](Self::load),
/// [`count`](Self::count) and [`scan`](Self::scan) treat it as absent, and
/// [`purge_expired`](Self::purge_expired) removes it. Backends never read the clock.
pub(crate) trait SessionStore: Send + Sync + 'static {
    /// The blob stored under `key`, or `None` when there is none or it expired at or before `now`.
    fn load(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Stores `blob` under `key` until `expires_at` (Unix seconds), atomically replacing any
    /// previous record.
    fn save(&self, key: &SessionKey, blob: Vec<u8>, expires_at: u64) -> StoreFuture<'_, ()>;

    /// Removes the record under `key`, if any.
    fn delete(&self, key: &SessionKey) -> StoreFuture<'_, ()>;

    /// Checks that the backend answers (for start-up and health checks).
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// How many records are live at `now` (for metrics).
    fn count(&self, now: u64) -> StoreFuture<'_, u64>;

    /// Every record live at `now`, in no particular order (for the keep-alive task).
    fn scan(&self, now: u64) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>>;

    /// Removes every record (sessions and pending sign-ins) that expired at or before `now`;
    /// returns how many were removed.
    fn purge_expired(&self, now: u64) -> StoreFuture<'_, u64>;

    /// Keeps a pending sign-in's blob under `key` until `expires_at`, apart from the sessions: it
    /// is never loaded, counted or scanned as one.
    fn put_pending(&self, key: &SessionKey, blob: Vec<u8>, expires_at: u64) -> StoreFuture<'_, ()>;

    /// Takes the pending sign-in under `key` when it is live at `now`: returns it and removes it
    /// in one step, so of two callers at most one gets it.
    fn take_pending(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>>;
}

/// The key a session is stored under: the lowercase hex SHA-256 of its session ID.
///
/// Knowing a key does not give the session ID, so a leaked store cannot be turned into cookies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey(String);

impl SessionKey {
    /// The length of a key: 64 hex digits.
    pub(crate) const LEN: usize = 64;

    /// The key of the session with this ID.
    pub(crate) fn of(id: &SessionId) -> Self {
        let digest = Sha256::digest(id.expose_secret().as_bytes());
        let mut hex = String::with_capacity(Self::LEN);
        for byte in digest.iter() {
            hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
            hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
        }
        Self(hex)
    }

    /// Accepts a key read back from a backend: exactly 64 lowercase hex digits.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let valid = text.len() == Self::LEN && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(text.to_owned()))
    }

    /// The key as text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as bytes (also the associated data that binds a sealed token to its record).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a session store operation failed. Messages never contain session IDs or secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend could not be reached or did not complete the operation.
    Unavailable(String),
    /// The backend holds data it cannot read back.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => write!(f, "the session store is unavailable: {why}"),
            Self::Corrupt(why) => write!(f, "the session store holds unreadable data: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_lowercase_hex_sha256_of_the_id() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let key = SessionKey::of(&SessionId::new("abc"));
        assert_eq!(key.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(SessionKey::parse(key.as_str()), Some(key.clone()));
        assert_eq!(key.to_string(), key.as_str());
    }

    #[test]
    fn only_well_formed_keys_parse() {
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        for bad in ["", "abc", upper, &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            assert_eq!(SessionKey::parse(bad), None, "{bad}");
        }
    }
}
