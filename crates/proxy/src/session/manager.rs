//! The session manager: issues session IDs, seals refresh tokens, applies the absolute lifetime
//! and the idle timeout, and reads and writes [`Session`] records through any [`SessionStore`].
//!
//! A record is stored as compact JSON under [`SessionKey::of`] its ID. The refresh token inside
//! is replaced by the base64 of [`Cipher::seal`] with the record's key as associated data, so a
//! sealed token copied to another record does not open. A record that cannot be read back (bad
//! JSON, another format version, a token sealed under another key) counts as absent and is
//! deleted: a damaged record signs its user out, it never fails the request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use graphgate_core::{Account, RefreshToken, SessionId, random_token};
use serde::{Deserialize, Serialize};

use super::{Cipher, SessionKey, SessionStore, StoreError};

/// The version of the stored record layout.
const FORMAT: u8 = 1;

/// Random bytes in a session ID (256 bits).
const SESSION_ID_BYTES: usize = 32;

/// A signed-in browser session, as the proxy keeps it server-side.
///
/// Times are Unix seconds. `Debug` does not show the refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub(crate) account: Account,
    /// The refresh token (sealed whenever the session is stored).
    pub(crate) refresh_token: RefreshToken,
    /// The granted scopes, space-separated.
    pub(crate) scopes: String,
    /// The authority tenant used to sign in (the path segment), reused for refreshes.
    pub(crate) tenant: String,
    /// When the session was created (sign-in).
    pub(crate) created_at: u64,
    /// When the session was last used.
    pub last_seen: u64,
    /// When the refresh token was last redeemed successfully upstream.
    pub refreshed_at: u64,
}

/// The stored form of a [`Session`], as written.
#[derive(Serialize)]
struct StoredRef<'a> {
    v: u8,
    a: &'a Account,
    /// Base64 (no padding) of the sealed refresh token.
    rt: String,
    s: &'a str,
    t: &'a str,
    c: u64,
    l: u64,
    r: u64,
}

/// The stored form of a [`Session`], as read back.
#[derive(Deserialize)]
struct Stored {
    v: u8,
    a: Account,
    rt: String,
    s: String,
    t: String,
    c: u64,
    l: u64,
    r: u64,
}

/// Reads and writes sessions through a [`SessionStore`], sealing refresh tokens with a
/// [`Cipher`] and enforcing the lifetimes.
///
/// A session ends at the earlier of `created_at + absolute_lifetime` and
/// `last_seen + idle_timeout`; the store's own expiry time is set to that moment.
#[derive(Clone)]
pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    cipher: Cipher,
    absolute_lifetime: Duration,
    idle_timeout: Duration,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("cipher", &self.cipher)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager over `store`, sealing with `cipher`.
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        cipher: Cipher,
        absolute_lifetime: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self { store, cipher, absolute_lifetime, idle_timeout }
    }

    /// When `session` ends (Unix seconds), unless it is used again before then; for example, for
    /// a cookie's expiry.
    pub(crate) fn expires_at(&self, session: &Session) -> u64 {
        let absolute = session.created_at.saturating_add(self.absolute_lifetime.as_secs());
        let idle = session.last_seen.saturating_add(self.idle_timeout.as_secs());
        absolute.min(idle)
    }

    /// Whether `session` has ended at `now`.
    pub(crate) fn is_expired(&self, session: &Session, now: u64) -> bool {
        self.expires_at(session) <= now
    }

    /// Stores a new session under a fresh random ID and returns the ID (for the cookie).
    ///
    /// Every sign-in gets a new ID. `created_at` and `last_seen` are set to `now`; `refreshed_at`
    /// is kept as given.
    pub(crate) async fn create(&self, mut session: Session, now: u64) -> Result<SessionId, StoreError> {
        let id = SessionId::new(
            random_token(SESSION_ID_BYTES)
                .map_err(|_| StoreError::Unavailable("the secure random source failed".into()))?,
        );
        session.created_at = now;
        session.last_seen = now;
        self.write(&SessionKey::of(&id), &session, now).await?;
        Ok(id)
    }

    /// The session stored under `key`, or `None` when there is none, it has ended, or its record
    /// cannot be read back (ended and unreadable records are deleted). Does not count as use.
    pub(crate) async fn load(&self, key: &SessionKey, now: u64) -> Result<Option<Session>, StoreError> {
        let Some(blob) = self.store.load(key, now).await? else {
            return Ok(None);
        };
        self.check(key, &blob, now).await
    }

    /// Records a successful upstream refresh at `now` on the session stored under `key`, in one
    /// write of the whole record: the rotated refresh token (when one came back) and
    /// `refreshed_at`; and `last_seen` when the refresh counts as use (`used`: the page asked, not
    /// the keep-alive, so background refreshes do not keep an idle session alive).
    ///
    /// Returns the session as stored, or `None` when it no longer exists or has ended at `now`
    /// (then its record is deleted). Callers serialise refreshes of one session themselves.
    pub(crate) async fn record_refresh(
        &self,
        key: &SessionKey,
        refresh_token: Option<RefreshToken>,
        now: u64,
        used: bool,
    ) -> Result<Option<Session>, StoreError> {
        let Some(session) = self.load(key, now).await? else {
            return Ok(None);
        };
        let session = Session {
            refresh_token: refresh_token.unwrap_or(session.refresh_token),
            refreshed_at: now,
            last_seen: if used { now } else { session.last_seen },
            ..session
        };
        Ok(self.write(key, &session, now).await?.then_some(session))
    }

    /// Records use of `session` (stored under `key`, just loaded) at `now`: `last_seen` is
    /// written only when it is `every` or more old, so the store is not written on every request.
    /// Callers hold the session's token slot, as for a refresh, so no refresh's write is undone.
    pub(crate) async fn touch(
        &self,
        key: &SessionKey,
        session: &Session,
        now: u64,
        every: Duration,
    ) -> Result<(), StoreError> {
        if !self.touch_due(session, now, every) {
            return Ok(());
        }
        let touched = Session { last_seen: now, ..session.clone() };
        self.write(key, &touched, now).await.map(|_| ())
    }

    /// Whether [`touch`](Self::touch) would write `session` at `now`.
    pub(crate) fn touch_due(&self, session: &Session, now: u64, every: Duration) -> bool {
        session.last_seen.saturating_add(every.as_secs()) <= now
    }

    /// Deletes the session stored under `key` (sign-out, a grant Entra refuses).
    pub(crate) async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.store.delete(key).await
    }

    /// How many sessions are live at `now`, by the store's expiry times (for metrics).
    pub(crate) async fn live_sessions(&self, now: u64) -> Result<u64, StoreError> {
        self.store.count(now).await
    }

    /// Every live session with the key it is stored under, for the keep-alive task (which
    /// records their refreshes with [`record_refresh`](Self::record_refresh)). Ended and
    /// unreadable records are deleted and left out.
    pub async fn scan(&self, now: u64) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let mut live = Vec::new();
        for (key, blob) in self.store.scan(now).await? {
            if let Some(session) = self.check(&key, &blob, now).await? {
                live.push((key, session));
            }
        }
        Ok(live)
    }

    /// Removes the records whose lifetime ended at or before `now` (the keep-alive's every pass:
    /// records nobody reads again would otherwise stay in the store).
    pub(crate) async fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
        self.store.purge_expired(now).await
    }

    /// The backend (for the pending sign-ins kept beside the sessions).
    pub(super) fn store(&self) -> &dyn SessionStore {
        self.store.as_ref()
    }

    /// The cipher records are sealed with.
    pub(super) fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Checks that the store answers.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Decodes a stored record and applies the lifetimes; deletes it when unreadable or ended.
    async fn check(&self, key: &SessionKey, blob: &[u8], now: u64) -> Result<Option<Session>, StoreError> {
        let Some(session) = self.decode(key, blob) else {
            tracing::warn!("discarded a session record that could not be decrypted or parsed");
            self.store.delete(key).await?;
            return Ok(None);
        };
        if self.is_expired(&session, now) {
            self.store.delete(key).await?;
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Stores `session` under `key` with its expiry time, or deletes it if it has ended at `now`.
    async fn write(&self, key: &SessionKey, session: &Session, now: u64) -> Result<bool, StoreError> {
        let expires_at = self.expires_at(session);
        if expires_at <= now {
            self.store.delete(key).await?;
            return Ok(false);
        }
        let blob = self.encode(key, session)?;
        self.store.save(key, blob, expires_at).await?;
        Ok(true)
    }

    fn encode(&self, key: &SessionKey, session: &Session) -> Result<Vec<u8>, StoreError> {
        let sealed = self
            .cipher
            .seal(session.refresh_token.expose_secret().as_bytes(), key.as_bytes())
            .map_err(|_| StoreError::Unavailable("could not encrypt a refresh token".into()))?;
        let stored = StoredRef {
            v: FORMAT,
            a: &session.account,
            rt: STANDARD_NO_PAD.encode(sealed),
            s: &session.scopes,
            t: &session.tenant,
            c: session.created_at,
            l: session.last_seen,
            r: session.refreshed_at,
        };
        serde_json::to_vec(&stored).map_err(|_| StoreError::Corrupt("could not serialise a session".into()))
    }

    fn decode(&self, key: &SessionKey, blob: &[u8]) -> Option<Session> {
        let stored: Stored = serde_json::from_slice(blob).ok()?;
        if stored.v != FORMAT {
            return None;
        }
        let sealed = STANDARD_NO_PAD.decode(stored.rt.as_bytes()).ok()?;
        let refresh_token = String::from_utf8(self.cipher.open(&sealed, key.as_bytes()).ok()?).ok()?;
        Some(Session {
            account: stored.a,
            refresh_token: RefreshToken::new(refresh_token),
            scopes: stored.s,
            tenant: stored.t,
            created_at: stored.c,
            last_seen: stored.l,
            refreshed_at: stored.r,
        })
    }
}
