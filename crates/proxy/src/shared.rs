//! What proxy instances sharing a Redis store share besides the sessions: a lease per session (so
//! one instance at a time refreshes it, whichever instance the requests reach), the access tokens
//! each instance fetched, and the app-only token — the last two sealed with the session keys, as
//! the records are, and bound to what they belong to.
//!
//! A lease is `SET … NX PX` under a random token, renewed every third of its length while the
//! holder works, and released only by its holder (compare and delete). Whoever waits for it polls
//! briefly and, once it holds the lease, reads what the holder stored before deciding anything
//! itself; a lease that lapsed mid-refresh (a stalled holder) costs nothing worse than a second
//! redemption, because every write of a session is compare-and-set on its version
//! (`SessionManager::record_refresh`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use graphgate_core::random_token;

use crate::session::{Keyring, RedisStore, SessionKey, StoreError};

/// The format byte of a sealed shared value.
const FORMAT: u8 = 1;

/// The first and the longest pause between two tries for a lease.
const FIRST_PAUSE: Duration = Duration::from_millis(2);
const LONGEST_PAUSE: Duration = Duration::from_millis(25);

/// The name of the app-only token's value and lease.
const APP: &str = "app";

/// Why no lease was taken.
#[derive(Debug)]
pub(crate) enum LeaseError {
    /// Another instance held it for longer than the configured wait.
    Busy,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for LeaseError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// The coordination of instances over one Redis store.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    store: Arc<RedisStore>,
    hold: Duration,
    wait: Duration,
}

/// A held lease: renewed until released (or dropped, which releases it too).
#[derive(Debug)]
pub(crate) struct Lease {
    store: Arc<RedisStore>,
    name: String,
    token: String,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

impl Lease {
    /// Gives the lease back now (only if it is still ours).
    pub(crate) async fn release(mut self) {
        self.renewal.abort();
        self.released = true;
        if let Err(e) = self.store.release_lease(&self.name, &self.token).await {
            tracing::warn!(error = %e, "a refresh lease could not be released; it lapses by itself");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        let (store, name, token) =
            (self.store.clone(), std::mem::take(&mut self.name), std::mem::take(&mut self.token));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = store.release_lease(&name, &token).await;
            });
        }
    }
}

impl Shared {
    /// Coordination over `store`: leases held for `hold` (renewed), waited for at most `wait`.
    pub(crate) fn new(store: Arc<RedisStore>, hold: Duration, wait: Duration) -> Self {
        Self { store, hold, wait }
    }

    /// Takes the refresh lease of the session under `key`.
    pub(crate) async fn lease_session(&self, key: &SessionKey) -> Result<Lease, LeaseError> {
        self.lease(&format!("{{{key}}}")).await
    }

    /// Takes the lease of the app-only token.
    pub(crate) async fn lease_app(&self) -> Result<Lease, LeaseError> {
        self.lease(APP).await
    }

    /// Takes the lease `name`, waiting (bounded) while another holds it.
    async fn lease(&self, name: &str) -> Result<Lease, LeaseError> {
        let token = random_token(16).map_err(|_| StoreError::Unavailable("the secure random source failed".into()))?;
        let deadline = Instant::now() + self.wait;
        let mut pause = FIRST_PAUSE;
        while !self.store.try_lease(name, &token, self.hold).await? {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LeaseError::Busy);
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        let renewal = tokio::spawn(renew(self.store.clone(), name.to_owned(), token.clone(), self.hold));
        Ok(Lease { store: self.store.clone(), name: name.to_owned(), token, renewal, released: false })
    }

    /// The version of the tokens kept with the session under `key` when it is live at `now`
    /// (`None`: it is not).
    pub(crate) async fn token_version(&self, key: &SessionKey, now: u64) -> Result<Option<u64>, StoreError> {
        self.store.token_version(key, now).await
    }

    /// The tokens kept with the session under `key` (their plain text, opened), with their
    /// version; `None` when none are kept or no configured key opens them.
    pub(crate) async fn tokens(&self, ring: &Keyring, key: &SessionKey) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some((version, sealed)) = self.store.tokens(key).await? else {
            return Ok(None);
        };
        Ok(open(ring, &aad("tokens", key.as_str()), &sealed).map(|plain| (version, plain)))
    }

    /// Keeps `plain` (the encoded tokens) with the session under `key`, sealed; their new version,
    /// or `None` when the session is gone.
    pub(crate) async fn put_tokens(
        &self,
        ring: &Keyring,
        key: &SessionKey,
        plain: &[u8],
    ) -> Result<Option<u64>, StoreError> {
        let sealed = seal(ring, &aad("tokens", key.as_str()), plain)?;
        self.store.put_tokens(key, &sealed).await
    }

    /// The shared app-only token's plain text, if one is kept and opens.
    pub(crate) async fn app_token(&self, ring: &Keyring) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(sealed) = self.store.value(APP).await? else {
            return Ok(None);
        };
        Ok(open(ring, &aad(APP, ""), &sealed))
    }

    /// Keeps the app-only token's plain text for `ttl`, sealed.
    pub(crate) async fn put_app_token(&self, ring: &Keyring, plain: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let sealed = seal(ring, &aad(APP, ""), plain)?;
        self.store.put_value(APP, &sealed, ttl).await
    }
}

/// Renews the lease every third of `hold` while it is still ours.
async fn renew(store: Arc<RedisStore>, name: String, token: String, hold: Duration) {
    loop {
        tokio::time::sleep(hold / 3).await;
        match store.renew_lease(&name, &token, hold).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    "a refresh lease lapsed while its holder worked; the refresh's write is compared anyway"
                );
                return;
            }
            Err(e) => tracing::warn!(error = %e, "a refresh lease could not be renewed"),
        }
    }
}

/// What a sealed value is bound to: its purpose and its owner.
fn aad(purpose: &str, owner: &str) -> Vec<u8> {
    ["graphgate shared ", purpose, "\0", owner].concat().into_bytes()
}

/// `FORMAT ‖ n ‖ key ID ‖ AES-256-GCM(plain)` under the ring's sealing key.
fn seal(ring: &Keyring, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
    let key = ring.sealing();
    let id = key.id().as_bytes();
    let mut head = vec![FORMAT, u8::try_from(id.len()).unwrap_or(u8::MAX)];
    head.extend_from_slice(id);
    let sealed = key
        .cipher()
        .seal(plain, &[aad, &head].concat())
        .map_err(|_| StoreError::Unavailable("could not encrypt a shared value".into()))?;
    Ok([head, sealed].concat())
}

/// Opens what [`seal`] made with any key of the ring.
fn open(ring: &Keyring, aad: &[u8], blob: &[u8]) -> Option<Vec<u8>> {
    if blob.first() != Some(&FORMAT) {
        return None;
    }
    let len = usize::from(*blob.get(1)?);
    let (head, sealed) = blob.split_at_checked(2 + len)?;
    let aad = [aad, head].concat();
    ring.all().find_map(|k| k.cipher().open(sealed, &aad).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::redis_harness::{Options, RedisServer};
    use crate::session::{RedisOptions, RedisTarget};

    fn shared(server: &RedisServer, hold: Duration, wait: Duration) -> Shared {
        let options = RedisOptions {
            target: RedisTarget::Url(server.url()),
            prefix: "lease-test:".into(),
            timeout: Duration::from_secs(1),
        };
        Shared::new(Arc::new(RedisStore::open(&options, None).expect("store")), hold, wait)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_lease_is_renewed_past_its_length_and_waiters_get_it_once_released() {
        let server = RedisServer::start(Options::default());
        let hold = Duration::from_millis(150);
        let a = shared(&server, hold, Duration::from_millis(100));
        let held = a.lease_app().await.expect("taken");
        // Four times its length later it is still held: renewed, so a waiter runs out of time.
        let until = Instant::now() + 4 * hold;
        while Instant::now() < until {
            assert!(matches!(a.lease_app().await, Err(LeaseError::Busy)), "taken from its holder");
        }
        // A waiter with a longer wait gets it as soon as the holder releases it.
        let b = shared(&server, hold, Duration::from_secs(5));
        let waiter = tokio::spawn(async move { b.lease_app().await.map(|l| l.token.clone()) });
        held.release().await;
        let token = waiter.await.expect("task").expect("taken once released");
        assert!(!token.is_empty());
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_owner_and_under_a_configured_key() {
        let ring = Keyring::new(vec![("a".to_owned(), [1; 32])]).expect("ring");
        let sealed = seal(&ring, &aad("tokens", "k1"), b"plain").expect("sealed");
        assert_eq!(open(&ring, &aad("tokens", "k1"), &sealed).as_deref(), Some(&b"plain"[..]));
        assert_eq!(open(&ring, &aad("tokens", "k2"), &sealed), None, "another session's");
        assert_eq!(open(&ring, &aad(APP, ""), &sealed), None, "another purpose");
        let rotated = Keyring::new(vec![("b".to_owned(), [2; 32]), ("a".to_owned(), [1; 32])]).expect("ring");
        assert_eq!(open(&rotated, &aad("tokens", "k1"), &sealed).as_deref(), Some(&b"plain"[..]), "an older key");
        let other = Keyring::new(vec![("b".to_owned(), [2; 32])]).expect("ring");
        assert_eq!(open(&other, &aad("tokens", "k1"), &sealed), None, "no configured key");
        assert!(!String::from_utf8_lossy(&sealed).contains("plain"));
        let mut altered = sealed.clone();
        *altered.last_mut().expect("bytes") ^= 1;
        assert_eq!(open(&ring, &aad("tokens", "k1"), &altered), None);
        assert_eq!(open(&ring, &aad("tokens", "k1"), b""), None);
    }
}
