//! The session keys (`session.keys`): each has an ID; the first seals new records, every one
//! opens. Each key also keys an account index: an HMAC-SHA256 of the account under a key derived
//! from the session key, so the store can find an account's sessions without reading who they
//! belong to.

use std::fmt;

use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;

use super::Cipher;
use super::hex;

/// The ID a lone `session.key` gets.
pub(crate) const LEGACY_KEY_ID: &str = "0";

/// The longest key ID.
pub(crate) const MAX_KEY_ID_LEN: usize = 32;

/// The label the index key is derived with (HMAC-SHA256 of it under the session key), so the
/// index never uses the encryption key itself.
const INDEX_LABEL: &[u8] = b"graphgate account index v1";

/// Whether `id` can name a key: 1 to 32 characters of `A-Z a-z 0-9 . _ -`.
pub(crate) fn is_valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// One session key: its ID, its cipher and its index key. `Debug` shows the ID only.
#[derive(Clone)]
pub(crate) struct RingKey {
    id: String,
    cipher: Cipher,
    index_key: [u8; 32],
}

impl RingKey {
    fn new(id: String, key: [u8; 32]) -> Self {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&key).unwrap_or_else(|_| unreachable_key());
        mac.update(INDEX_LABEL);
        let index_key: [u8; 32] = mac.finalize().into_bytes().into();
        Self { id, cipher: Cipher::new(key), index_key }
    }

    /// The key's ID, as configured.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The cipher sealing and opening records under this key.
    pub(crate) fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// The account index of (`tenant_id`, `object_id`) under this key: 64 lowercase hex digits
    /// of HMAC-SHA256 over the tenant ID's length (4 bytes, big-endian), the tenant ID and the
    /// object ID.
    pub(crate) fn account_index(&self, tenant_id: &str, object_id: &str) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.index_key).unwrap_or_else(|_| unreachable_key());
        let len = u32::try_from(tenant_id.len()).unwrap_or(u32::MAX);
        mac.update(&len.to_be_bytes());
        mac.update(tenant_id.as_bytes());
        mac.update(object_id.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// HMAC takes keys of any length, so building one never fails.
fn unreachable_key() -> Hmac<Sha256> {
    <Hmac<Sha256>>::new(&Default::default())
}

impl fmt::Debug for RingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RingKey({} <redacted>)", self.id)
    }
}

/// The configured session keys, never empty: the first seals, all open.
#[derive(Debug, Clone)]
pub(crate) struct Keyring {
    sealing: RingKey,
    others: Vec<RingKey>,
}

impl Keyring {
    /// The keys in their configured order. Errors (no key, a bad or repeated ID) name IDs, never
    /// key material.
    pub(crate) fn new(keys: Vec<(String, [u8; 32])>) -> Result<Self, String> {
        let mut seen: Vec<&str> = Vec::new();
        for (id, _) in &keys {
            if !is_valid_key_id(id) {
                return Err(format!("the key ID {id:?} is not 1 to 32 characters of A-Z a-z 0-9 . _ -"));
            }
            if seen.contains(&id.as_str()) {
                return Err(format!("the key ID {id:?} is given twice"));
            }
            seen.push(id);
        }
        let mut keys = keys.into_iter().map(|(id, key)| RingKey::new(id, key));
        let sealing = keys.next().ok_or_else(|| "give at least one key".to_owned())?;
        Ok(Self { sealing, others: keys.collect() })
    }

    /// One key with the ID [`LEGACY_KEY_ID`] (what a lone `session.key` is).
    #[cfg(test)]
    pub(crate) fn single(key: [u8; 32]) -> Self {
        Self { sealing: RingKey::new(LEGACY_KEY_ID.to_owned(), key), others: Vec::new() }
    }

    /// The key new records are sealed under: the first.
    pub(crate) fn sealing(&self) -> &RingKey {
        &self.sealing
    }

    /// Every key, the sealing one first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &RingKey> {
        std::iter::once(&self.sealing).chain(&self.others)
    }

    /// The key with this ID.
    pub(crate) fn by_id(&self, id: &[u8]) -> Option<&RingKey> {
        self.all().find(|k| k.id.as_bytes() == id)
    }

    /// The account's index under every key, the sealing key's first (a record carries the index
    /// under the key that sealed it).
    pub(crate) fn account_indexes(&self, tenant_id: &str, object_id: &str) -> Vec<String> {
        self.all().map(|k| k.account_index(tenant_id, object_id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_are_short_and_plain() {
        for good in ["0", "2026-12", "a.b_c-D", &"x".repeat(32)] {
            assert!(is_valid_key_id(good), "{good}");
        }
        for bad in ["", " ", "a b", "é", "a/b", &"x".repeat(33)] {
            assert!(!is_valid_key_id(bad), "{bad}");
        }
        assert!(Keyring::new(vec![]).is_err());
        let err = Keyring::new(vec![("a".into(), [1; 32]), ("a".into(), [2; 32])]).expect_err("twice");
        assert!(err.contains("twice"), "{err}");
        assert!(Keyring::new(vec![("a b".into(), [1; 32])]).is_err());
    }

    #[test]
    fn the_first_key_seals_and_each_key_indexes_on_its_own() {
        let ring = Keyring::new(vec![("new".into(), [1; 32]), ("old".into(), [2; 32])]).expect("valid");
        assert_eq!(ring.sealing().id(), "new");
        assert_eq!(ring.all().map(RingKey::id).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(ring.by_id(b"old").map(RingKey::id), Some("old"));
        assert!(ring.by_id(b"none").is_none());
        let indexes = ring.account_indexes("t", "o");
        assert_eq!(indexes.len(), 2);
        assert_ne!(indexes[0], indexes[1], "each key gives its own index");
        assert_eq!(indexes[0].len(), 64);
        assert_eq!(
            indexes[1],
            Keyring::single([2; 32]).sealing().account_index("t", "o"),
            "the same key, the same index"
        );
        // The tenant's length is part of the input: moving a character across the border differs.
        let key = ring.sealing();
        assert_ne!(key.account_index("ab", "c"), key.account_index("a", "bc"));
        assert_ne!(key.account_index("t", "o"), key.account_index("t", "p"));
        let shown = format!("{ring:?}");
        assert!(shown.contains("new") && !shown.contains("[1, 1"), "{shown}");
    }
}
