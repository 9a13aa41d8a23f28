//! The session manager: issues session IDs, seals records, applies the absolute lifetime and the
//! idle timeout, and reads and writes [`Session`] records through any [`SessionStore`].
//!
//! A record is sealed whole ([`record`](super::record): format 2) under the keyring's first key,
//! bound to [`SessionKey::of`] its ID, with the account index beside it. A record in format 1, or
//! sealed under another configured key, is sealed again the first time it is loaded (only if it
//! is still exactly the record read, so no concurrent write is undone). A record that no key
//! opens (altered, sealed under a key no longer configured, an unknown format) is reported as
//! unopenable and kept: a wrong key must not wipe the store. It answers as no session.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use graphgate_core::{Account, RefreshToken, SessionId, random_token};

use super::{Keyring, Record, SessionKey, SessionStore, StoreError, record};
use crate::swap::Swap;

/// Random bytes in a session ID (256 bits).
const SESSION_ID_BYTES: usize = 32;

/// How often a compare-and-set write of a refresh is tried before giving up.
const WRITE_ATTEMPTS: usize = 4;

/// How many records the start-up check tries to open.
const KEY_CHECK_SAMPLE: usize = 20;

/// A signed-in browser session, as the proxy keeps it server-side.
///
/// Times are Unix seconds. `Debug` does not show the refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who signed in.
    pub(crate) account: Account,
    /// The refresh token (sealed with the rest whenever the session is stored).
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

/// What a look-up of a store key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A live session.
    Live(Box<Session>),
    /// No record, or one that has ended (deleted).
    Absent,
    /// A record no configured key opens (kept, counted).
    Unopenable,
}

/// What the start-up check of the keys found in a sample of the store's live records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyCheck {
    /// Records tried.
    pub(crate) sampled: usize,
    /// Records that opened with a configured key.
    pub(crate) opened: usize,
}

impl KeyCheck {
    /// Whether records exist and none of those tried opens: the keys are wrong.
    pub(crate) fn none_open(&self) -> bool {
        self.sampled > 0 && self.opened == 0
    }
}

/// What a write of a session compares against: its sealed record as read. Every seal takes a
/// fresh nonce, so no two writes leave the same bytes, and "still this record" is "still this
/// version" (compare-and-set, in every store).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Version(Vec<u8>);

impl Version {
    /// The version of a record whose sealed bytes are `blob` (for tests that read a store).
    #[cfg(test)]
    pub(crate) fn of_blob(blob: Vec<u8>) -> Self {
        Self(blob)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Version(..)")
    }
}

/// How a record is written.
enum Write {
    /// A new session: created, replacing anything under its key.
    New,
    /// An existing session, only if its record is still exactly this blob.
    Replacing(Vec<u8>),
}

/// Reads and writes sessions through a [`SessionStore`], sealing them with a [`Keyring`] and
/// enforcing the lifetimes.
///
/// A session ends at the earlier of `created_at + absolute_lifetime` and
/// `last_seen + idle_timeout`; the store's own expiry time is set to that moment.
#[derive(Clone)]
pub struct SessionManager {
    store: Arc<dyn SessionStore>,
    /// Replaced whole by a reload (SIGHUP); every clone of the manager sees the new keys.
    keys: Arc<Swap<Keyring>>,
    absolute_lifetime: Duration,
    idle_timeout: Duration,
    /// Records a look-up found that no key opens, since start-up (for metrics).
    unopenable: Arc<AtomicU64>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("keys", &self.keys)
            .field("absolute_lifetime", &self.absolute_lifetime)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl SessionManager {
    /// A manager over `store`, sealing with the first of `keys` and opening with any.
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        keys: Keyring,
        absolute_lifetime: Duration,
        idle_timeout: Duration,
    ) -> Self {
        Self { store, keys: Arc::new(Swap::new(keys)), absolute_lifetime, idle_timeout, unopenable: Arc::default() }
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
        self.write(&SessionKey::of(&id), &session, now, Write::New).await?;
        Ok(id)
    }

    /// What is stored under `key` at `now`: a live session, nothing (an ended record is deleted),
    /// or a record no configured key opens (kept, and counted). A record in format 1 or sealed
    /// under an older key is sealed again under the first key. Does not count as use.
    pub(crate) async fn lookup(&self, key: &SessionKey, now: u64) -> Result<Lookup, StoreError> {
        Ok(self.fetch(key, now).await?.0)
    }

    /// [`Self::lookup`], with the version of a live session's record.
    async fn fetch(&self, key: &SessionKey, now: u64) -> Result<(Lookup, Option<Version>), StoreError> {
        let Some(blob) = self.store.load(key, now).await? else {
            return Ok((Lookup::Absent, None));
        };
        let Some(opened) = record::open(&self.keys.load(), key, &blob) else {
            self.unopenable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("a session record opens with none of session.keys: it is kept, and answered as no session");
            return Ok((Lookup::Unopenable, None));
        };
        let session = opened.session;
        if self.is_expired(&session, now) {
            self.store.delete(key).await?;
            return Ok((Lookup::Absent, None));
        }
        let mut version = Version(blob);
        if opened.stale {
            // Only if the record is still the one read: a refresh meanwhile is not undone.
            if let Some(sealed) = self.write(key, &session, now, Write::Replacing(version.0.clone())).await? {
                version = Version(sealed);
            }
        }
        Ok((Lookup::Live(Box::new(session)), Some(version)))
    }

    /// The live session stored under `key` with its record's version (for a write that must not
    /// undo another's, [`Self::touch`]), or `None` as [`Self::load`].
    pub(crate) async fn load_versioned(
        &self,
        key: &SessionKey,
        now: u64,
    ) -> Result<Option<(Session, Version)>, StoreError> {
        Ok(match self.fetch(key, now).await? {
            (Lookup::Live(session), Some(version)) => Some((*session, version)),
            _ => None,
        })
    }

    /// The live session stored under `key`, or `None` when there is none, it has ended, or no
    /// configured key opens its record (see [`lookup`](Self::lookup)).
    pub(crate) async fn load(&self, key: &SessionKey, now: u64) -> Result<Option<Session>, StoreError> {
        Ok(match self.lookup(key, now).await? {
            Lookup::Live(session) => Some(*session),
            Lookup::Absent | Lookup::Unopenable => None,
        })
    }

    /// Records a successful upstream refresh at `now` on the session stored under `key`, in one
    /// write of the whole record: the rotated refresh token (when one came back) and
    /// `refreshed_at`; and `last_seen` when the refresh counts as use (`used`: the page asked, not
    /// the keep-alive, so background refreshes do not keep an idle session alive).
    ///
    /// Returns the session as stored, or `None` when it no longer exists or has ended at `now`
    /// (then its record is deleted). The write only replaces a record that still exists, so a
    /// session deleted meanwhile (sign-out, revocation) is never written back.
    ///
    /// `redeemed` is the refresh token the refresh redeemed. When the record holds another by now
    /// (another instance refreshed meanwhile, its lease lapsed), that newer one is kept and
    /// nothing is written; every write is compare-and-set on the record's version, so a write
    /// made meanwhile (a touch elsewhere) is read again, never undone.
    pub(crate) async fn record_refresh(
        &self,
        key: &SessionKey,
        redeemed: Option<&RefreshToken>,
        refresh_token: Option<RefreshToken>,
        now: u64,
        used: bool,
    ) -> Result<Option<Session>, StoreError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((session, version)) = self.load_versioned(key, now).await? else {
                return Ok(None);
            };
            if redeemed.is_some_and(|r| *r != session.refresh_token) {
                return Ok(Some(session));
            }
            let session = Session {
                refresh_token: refresh_token.clone().unwrap_or(session.refresh_token),
                refreshed_at: now,
                last_seen: if used { now } else { session.last_seen },
                ..session
            };
            if self.write(key, &session, now, Write::Replacing(version.0)).await?.is_some() {
                return Ok(Some(session));
            }
        }
        Err(StoreError::Unavailable("the session's record kept changing while a refresh was recorded".into()))
    }

    /// Records use of `session` (stored under `key`, just loaded as `version`) at `now`:
    /// `last_seen` is written only when it is `every` or more old, so the store is not written on
    /// every request, and only if the record is still that version, so no refresh's write (from
    /// any instance) is undone; a use lost so is written at the next one.
    pub(crate) async fn touch(
        &self,
        key: &SessionKey,
        session: &Session,
        version: &Version,
        now: u64,
        every: Duration,
    ) -> Result<(), StoreError> {
        if !self.touch_due(session, now, every) {
            return Ok(());
        }
        let touched = Session { last_seen: now, ..session.clone() };
        self.write(key, &touched, now, Write::Replacing(version.0.clone())).await.map(|_| ())
    }

    /// Whether [`touch`](Self::touch) would write `session` at `now`.
    pub(crate) fn touch_due(&self, session: &Session, now: u64, every: Duration) -> bool {
        session.last_seen.saturating_add(every.as_secs()) <= now
    }

    /// Deletes the session stored under `key` (sign-out, a grant Entra refuses).
    pub(crate) async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        self.store.delete(key).await
    }

    /// The keys of the live sessions of the account (`tenant_id`, `object_id`), found by its
    /// index under every configured key.
    pub(crate) async fn keys_of(
        &self,
        tenant_id: &str,
        object_id: &str,
        now: u64,
    ) -> Result<Vec<SessionKey>, StoreError> {
        let mut keys = Vec::new();
        for index in self.keys.load().account_indexes(tenant_id, object_id) {
            for key in self.store.keys_with_index(&index, now).await? {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// How many sessions are live at `now`, by the store's expiry times (for metrics).
    pub(crate) async fn live_sessions(&self, now: u64) -> Result<u64, StoreError> {
        self.store.count(now).await
    }

    /// How many look-ups found a record no configured key opens, since start-up.
    pub(crate) fn unopenable_total(&self) -> u64 {
        self.unopenable.load(Ordering::Relaxed)
    }

    /// Every live session with the key it is stored under, for the keep-alive task (which
    /// records their refreshes with [`record_refresh`](Self::record_refresh)). Ended records are
    /// deleted and left out; records no key opens are left out and kept.
    pub async fn scan(&self, now: u64) -> Result<Vec<(SessionKey, Session)>, StoreError> {
        let mut live = Vec::new();
        for (key, blob) in self.store.scan(now).await? {
            let Some(opened) = record::open(&self.keys.load(), &key, &blob) else { continue };
            if self.is_expired(&opened.session, now) {
                self.store.delete(&key).await?;
                continue;
            }
            live.push((key, opened.session));
        }
        Ok(live)
    }

    /// Tries to open up to 20 of the store's live records with the configured keys, changing
    /// nothing (the start-up check: a wrong key must not look like an empty store).
    pub(crate) async fn check_keys(&self, now: u64) -> Result<KeyCheck, StoreError> {
        self.check_other_keys(&self.keys.load(), now).await
    }

    /// [`Self::check_keys`] with `keys` instead of the configured ones (a reload's candidates).
    pub(crate) async fn check_other_keys(&self, keys: &Keyring, now: u64) -> Result<KeyCheck, StoreError> {
        let sample = self.store.sample(now, KEY_CHECK_SAMPLE).await?;
        let opened = sample.iter().filter(|(key, blob)| record::open(keys, key, blob).is_some()).count();
        Ok(KeyCheck { sampled: sample.len(), opened })
    }

    /// Replaces the keys: from now on the first of `keys` seals and all of them open.
    pub(crate) fn replace_keys(&self, keys: Keyring) {
        self.keys.store(keys);
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

    /// The keys records are sealed and opened with (also what instances share is sealed with).
    pub(crate) fn keys(&self) -> Arc<Keyring> {
        self.keys.load()
    }

    /// Checks that the store answers.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Seals `session` and stores it under `key` with its expiry time and account index (or
    /// deletes it if it has ended at `now`). Returns the sealed record when it was written.
    async fn write(
        &self,
        key: &SessionKey,
        session: &Session,
        now: u64,
        how: Write,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let expires_at = self.expires_at(session);
        if expires_at <= now {
            self.store.delete(key).await?;
            return Ok(None);
        }
        let keys = self.keys.load();
        let blob = record::seal(&keys, key, session)?;
        let index = keys.sealing().account_index(&session.account.tenant_id, &session.account.object_id);
        let record = Record { blob: blob.clone(), index, expires_at, written_at: now };
        let written = match how {
            Write::New => self.store.save(key, record).await.map(|()| true),
            Write::Replacing(old) => self.store.update(key, record, Some(old)).await,
        }?;
        Ok(written.then_some(blob))
    }
}
