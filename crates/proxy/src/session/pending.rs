//! Pending sign-ins (login transactions): what the proxy keeps between beginning a sign-in and
//! redeeming its code — the PKCE verifier, the nonce, the redirect URI and the scopes — sealed,
//! for ten minutes and one use, under a key bound to the browser that began it.
//!
//! The key is the SHA-256 of the browser's binding secret (an HttpOnly cookie) and the sign-in's
//! `state`, so one browser keeps any number of sign-ins (tabs, the popup), each under its state,
//! and a `state` presented without that browser's cookie finds nothing.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use graphgate_core::{Nonce, PkceVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{HEX_DIGITS, SessionKey, SessionManager, StoreError};

/// How long a begun sign-in can be redeemed.
pub(crate) const PENDING_LIFETIME: Duration = Duration::from_secs(600);

/// The version of the sealed layout.
const FORMAT: u8 = 1;

/// One begun sign-in, as the proxy keeps it. `Debug` shows neither the verifier nor the nonce.
pub(crate) struct PendingSignIn {
    /// The PKCE verifier, which never leaves the proxy.
    pub(crate) verifier: PkceVerifier,
    /// The nonce the ID token must carry.
    pub(crate) nonce: Nonce,
    /// The redirect URI the authorize request named (the redemption repeats it).
    pub(crate) redirect_uri: String,
    /// The scopes asked for, space-separated.
    pub(crate) scopes: String,
}

impl fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    v: u8,
    cv: String,
    n: String,
    r: String,
    s: String,
}

/// The store key of the sign-in `state` begun by the browser holding `binding`.
fn key_of(binding: &str, state: &str) -> SessionKey {
    let mut digest = Sha256::new();
    for part in ["graphgate pending sign-in", binding, state] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let digest = digest.finalize();
    let mut hex = String::with_capacity(SessionKey::LEN);
    for byte in digest.iter() {
        hex.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    SessionKey(hex)
}

impl SessionManager {
    /// Keeps `pending` (begun at `now`) for the browser holding `binding`, under its `state`.
    pub(crate) async fn keep_pending(
        &self,
        binding: &str,
        state: &str,
        pending: &PendingSignIn,
        now: u64,
    ) -> Result<(), StoreError> {
        let key = key_of(binding, state);
        let stored = Stored {
            v: FORMAT,
            cv: pending.verifier.expose_secret().to_owned(),
            n: pending.nonce.expose_secret().to_owned(),
            r: pending.redirect_uri.clone(),
            s: pending.scopes.clone(),
        };
        let json =
            serde_json::to_vec(&stored).map_err(|_| StoreError::Corrupt("could not serialise a sign-in".into()))?;
        let sealed = self
            .keys()
            .sealing()
            .cipher()
            .seal(&json, key.as_bytes())
            .map_err(|_| StoreError::Unavailable("could not encrypt a pending sign-in".into()))?;
        let expires_at = now.saturating_add(PENDING_LIFETIME.as_secs());
        self.store().put_pending(&key, STANDARD_NO_PAD.encode(sealed).into_bytes(), expires_at).await
    }

    /// Takes the sign-in `state` begun by the browser holding `binding`, if it is still live at
    /// `now`: once taken it is gone, whether or not the redemption succeeds. A record that does
    /// not open counts as absent.
    pub(crate) async fn take_pending(
        &self,
        binding: &str,
        state: &str,
        now: u64,
    ) -> Result<Option<PendingSignIn>, StoreError> {
        let key = key_of(binding, state);
        let Some(blob) = self.store().take_pending(&key, now).await? else {
            return Ok(None);
        };
        let open = || -> Option<PendingSignIn> {
            let sealed = STANDARD_NO_PAD.decode(&blob).ok()?;
            // Sealed by the first key when it was begun; opened by any (the keys may have turned).
            let json = self.keys().all().find_map(|k| k.cipher().open(&sealed, key.as_bytes()).ok())?;
            let stored: Stored = serde_json::from_slice(&json).ok()?;
            (stored.v == FORMAT).then_some(())?;
            Some(PendingSignIn {
                verifier: PkceVerifier::parse(&stored.cv).ok()?,
                nonce: Nonce::new(stored.n),
                redirect_uri: stored.r,
                scopes: stored.s,
            })
        };
        Ok(open())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::session::{Keyring, MemoryStore, SessionStore};

    const T0: u64 = 1_700_000_000;

    fn manager(store: Arc<MemoryStore>, key: u8) -> SessionManager {
        let day = Duration::from_secs(86_400);
        SessionManager::new(store, Keyring::single([key; 32]), day, day)
    }

    fn pending() -> PendingSignIn {
        PendingSignIn {
            verifier: PkceVerifier::parse(&"v".repeat(43)).expect("verifier"),
            nonce: Nonce::new("the-nonce"),
            redirect_uri: "http://localhost:8080/".into(),
            scopes: "openid offline_access User.Read".into(),
        }
    }

    #[tokio::test]
    async fn a_sign_in_is_taken_once_by_its_own_browser_within_ten_minutes() {
        let store = Arc::new(MemoryStore::new());
        let m = manager(Arc::clone(&store), 1);
        m.keep_pending("browser-a", "state-1", &pending(), T0).await.expect("keep");
        m.keep_pending("browser-a", "state-2", &pending(), T0).await.expect("keep");
        assert!(m.take_pending("browser-b", "state-1", T0).await.expect("take").is_none(), "another browser");
        let got = m.take_pending("browser-a", "state-1", T0 + 1).await.expect("take").expect("its own");
        assert_eq!(got.verifier.expose_secret(), "v".repeat(43));
        assert_eq!((got.nonce.expose_secret(), got.scopes.as_str()), ("the-nonce", "openid offline_access User.Read"));
        assert!(m.take_pending("browser-a", "state-1", T0 + 1).await.expect("take").is_none(), "once");
        assert!(m.take_pending("browser-a", "state-2", T0 + 600).await.expect("take").is_none(), "ten minutes");
    }

    #[tokio::test]
    async fn the_verifier_is_sealed_and_bound_to_its_key() {
        let store = Arc::new(MemoryStore::new());
        let m = manager(Arc::clone(&store), 1);
        m.keep_pending("browser-a", "state-1", &pending(), T0).await.expect("keep");
        let key = key_of("browser-a", "state-1");
        let blob = store.take_pending(&key, T0).await.expect("take").expect("kept");
        let text = String::from_utf8_lossy(&blob);
        assert!(!text.contains(&"v".repeat(43)) && !text.contains("the-nonce"), "sealed: {text}");
        // Under another key of the store, or opened with another cipher, it does not open.
        store.put_pending(&key_of("browser-b", "state-1"), blob.clone(), T0 + 600).await.expect("put");
        assert!(m.take_pending("browser-b", "state-1", T0).await.expect("take").is_none());
        store.put_pending(&key, blob, T0 + 600).await.expect("put");
        assert!(manager(store, 2).take_pending("browser-a", "state-1", T0).await.expect("take").is_none());
        assert!(!format!("{:?}", pending()).contains("the-nonce"));
    }
}
