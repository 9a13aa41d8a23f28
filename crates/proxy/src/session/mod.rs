//! Server-side sessions: a byte-level store contract, its backends, and the manager that seals
//! records and applies lifetimes on top of any backend.
//!
//! The design has two layers:
//!
//! - [`SessionStore`] is a tiny key-value contract with an expiry time and an account index per
//!   record. A backend only stores opaque bytes under opaque keys ([`MemoryStore`] for tests,
//!   [`SqliteStore`] by default, [`RedisStore`] for several instances).
//! - [`SessionManager`] does everything else once: it issues session IDs, derives the store key
//!   from them ([`SessionKey`]: the SHA-256 of the ID, so the ID itself is never stored), seals the
//!   whole record with AES-256-GCM ([`Cipher`], the keys of a [`Keyring`]) bound to that key,
//!   computes the account index, and enforces the absolute lifetime and the idle timeout.
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
mod keyring;
mod manager;
mod memory;
mod pending;
mod record;
mod redis;
#[cfg(test)]
#[path = "../../tests/it/redis_server.rs"]
pub(crate) mod redis_harness;
#[cfg(test)]
#[path = "../../tests/it/scratch.rs"]
mod scratch;
mod sqlite;

pub(crate) use cipher::{Cipher, decode_key};
pub(crate) use keyring::{Keyring, LEGACY_KEY_ID, is_valid_key_id};
pub(crate) use manager::{Session, SessionManager};
pub(crate) use memory::MemoryStore;
pub(crate) use pending::{PENDING_LIFETIME, PendingSignIn};
pub(crate) use redis::{RedisOptions, RedisStore, RedisTarget};
pub(crate) use sqlite::SqliteStore;

/// The future every [`SessionStore`] operation returns: boxed so the trait stays object-safe.
pub(crate) type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One stored record: the sealed blob, the account index (which the manager computes; the
/// backend only compares it) and the expiry time (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) blob: Vec<u8>,
    pub(crate) index: String,
    pub(crate) expires_at: u64,
    /// When the write is made (Unix seconds, the caller's clock): a backend that drops records by
    /// itself keeps this one for `expires_at - written_at`.
    pub(crate) written_at: u64,
}

/// A byte-level session backend: opaque blobs under opaque keys, each with an expiry time and an
/// account index.
///
/// A record whose `expires_at` is at or before `now` is dead: [`load`](Self::load),
/// [`count`](Self::count), [`scan`](Self::scan), [`sample`](Self::sample) and
/// [`keys_with_index`](Self::keys_with_index) treat it as absent, and
/// [`purge_expired`](Self::purge_expired) removes it. Backends never read the clock.
pub(crate) trait SessionStore: Send + Sync + 'static {
    /// The blob stored under `key`, or `None` when there is none or it expired at or before `now`.
    fn load(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Stores `record` under `key`, atomically replacing any previous record (a new session).
    fn save(&self, key: &SessionKey, record: Record) -> StoreFuture<'_, ()>;

    /// Replaces the record under `key` with `record`, only if there is one and, when `only_if`
    /// is given, only if it still holds exactly that blob. Never creates a record: a session
    /// deleted meanwhile stays deleted. Returns whether it was written.
    fn update(&self, key: &SessionKey, record: Record, only_if: Option<Vec<u8>>) -> StoreFuture<'_, bool>;

    /// Removes the record under `key`, if any.
    fn delete(&self, key: &SessionKey) -> StoreFuture<'_, ()>;

    /// Checks that the backend answers (for start-up and health checks).
    fn ping(&self) -> StoreFuture<'_, ()>;

    /// How many records are live at `now` (for metrics).
    fn count(&self, now: u64) -> StoreFuture<'_, u64>;

    /// Every record live at `now`, in no particular order (for the keep-alive task).
    fn scan(&self, now: u64) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>>;

    /// At most `limit` records live at `now`, any of them (for the start-up check of the keys).
    fn sample(&self, now: u64, limit: usize) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>>;

    /// The keys of the records live at `now` whose account index is `index`.
    fn keys_with_index(&self, index: &str, now: u64) -> StoreFuture<'_, Vec<SessionKey>>;

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
        Self(hex(&Sha256::digest(id.expose_secret().as_bytes())))
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

    /// A short handle for the record, safe to show an operator: the key's first 16 hex digits.
    pub(crate) fn handle(&self) -> &str {
        self.0.get(..HANDLE_LEN).unwrap_or(&self.0)
    }

    /// The key as bytes (also part of the associated data that binds a sealed record to its key).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The length of a [`SessionKey::handle`].
pub(crate) const HANDLE_LEN: usize = 16;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

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
        assert_eq!(key.handle(), "ba7816bf8f01cfea");
    }

    #[test]
    fn only_well_formed_keys_parse() {
        let upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        for bad in ["", "abc", upper, &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            assert_eq!(SessionKey::parse(bad), None, "{bad}");
        }
    }
}
