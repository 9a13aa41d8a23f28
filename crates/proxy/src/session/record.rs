//! The stored form of a session record, sealed whole: format 2, and the reading of format 1
//! (the earlier layout, where only the refresh token was sealed) so an upgrade loses no session.
//!
//! Format 2, byte by byte:
//!
//! ```text
//! 0x02 | n (1..=32) | key ID (n ASCII bytes) | nonce (12) | ciphertext | tag (16)
//! ```
//!
//! The ciphertext is AES-256-GCM ([`Cipher::seal`]) of the compact JSON of the whole session
//! (`a` account, `rt` refresh token, `s` scopes, `t` tenant, `c`/`l`/`r` times) under the key
//! named by the ID; the associated data is the header (`0x02`, `n`, the ID) followed by the store
//! key, so neither the header nor the record's place in the store can be changed unnoticed. The
//! ID says which key to try first; the other keys are tried after it, so a key that was given
//! another ID (a lone `session.key`, ID `0`, moved into `session.keys`) still opens its records.
//!
//! Format 1 is JSON text (so it starts with `{`): `{"v":1,"a":…,"rt":…,"s":…,"t":…,"c":…,"l":…,"r":…}`
//! with `rt` the base64 (no padding) of the refresh token sealed with the store key as
//! associated data. It is opened with each configured key in turn.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use graphgate_core::{Account, RefreshToken};
use serde::{Deserialize, Serialize};

use super::keyring::{Keyring, RingKey};
use super::{Session, SessionKey, StoreError};

/// The first byte of a format-2 record.
const FORMAT_2: u8 = 2;

/// The version field of a format-1 record.
const FORMAT_1: u8 = 1;

/// A session's fields as sealed (format 2).
#[derive(Serialize)]
struct PlainRef<'a> {
    a: &'a Account,
    rt: &'a str,
    s: &'a str,
    t: &'a str,
    c: u64,
    l: u64,
    r: u64,
}

/// A session's fields as opened (format 2).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain {
    a: Account,
    rt: String,
    s: String,
    t: String,
    c: u64,
    l: u64,
    r: u64,
}

impl Plain {
    fn into_session(self) -> Session {
        Session {
            account: self.a,
            refresh_token: RefreshToken::new(self.rt),
            scopes: self.s,
            tenant: self.t,
            created_at: self.c,
            last_seen: self.l,
            refreshed_at: self.r,
        }
    }
}

/// A format-1 record, as read back.
#[derive(Deserialize)]
struct Legacy {
    v: u8,
    a: Account,
    rt: String,
    s: String,
    t: String,
    c: u64,
    l: u64,
    r: u64,
}

/// A record opened.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) session: Session,
    /// Whether it should be sealed again: it is in format 1, or sealed under a key other than
    /// the sealing one.
    pub(crate) stale: bool,
}

/// The header of a format-2 record sealed under `key`.
fn header(key: &RingKey) -> Vec<u8> {
    let id = key.id().as_bytes();
    let mut out = Vec::with_capacity(2 + id.len());
    out.push(FORMAT_2);
    // Key IDs are at most 32 bytes (checked when the keyring is built).
    out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(id);
    out
}

/// The associated data of a format-2 record: its header, then its store key.
fn associated_data(header: &[u8], store_key: &SessionKey) -> Vec<u8> {
    [header, store_key.as_bytes()].concat()
}

/// Seals `session`, stored under `store_key`, in format 2 under the ring's sealing key.
pub(crate) fn seal(ring: &Keyring, store_key: &SessionKey, session: &Session) -> Result<Vec<u8>, StoreError> {
    let key = ring.sealing();
    let plain = PlainRef {
        a: &session.account,
        rt: session.refresh_token.expose_secret(),
        s: &session.scopes,
        t: &session.tenant,
        c: session.created_at,
        l: session.last_seen,
        r: session.refreshed_at,
    };
    let json = serde_json::to_vec(&plain).map_err(|_| StoreError::Corrupt("could not serialise a session".into()))?;
    let head = header(key);
    let sealed = key
        .cipher()
        .seal(&json, &associated_data(&head, store_key))
        .map_err(|_| StoreError::Unavailable("could not encrypt a session".into()))?;
    Ok([head, sealed].concat())
}

/// Opens a record stored under `store_key` with the ring's keys; `None` when no key opens it, it
/// was altered, or it is in no known format.
pub(crate) fn open(ring: &Keyring, store_key: &SessionKey, blob: &[u8]) -> Option<Opened> {
    match blob.first() {
        Some(&FORMAT_2) => open_v2(ring, store_key, blob),
        Some(b'{') => open_v1(ring, store_key, blob),
        _ => None,
    }
}

fn open_v2(ring: &Keyring, store_key: &SessionKey, blob: &[u8]) -> Option<Opened> {
    let len = usize::from(*blob.get(1)?);
    let (head, sealed) = blob.split_at_checked(2 + len)?;
    let id = head.get(2..)?;
    let aad = associated_data(head, store_key);
    // The key the ID names first; then the others, so a key given a new ID still opens its records.
    let mut order = ring.by_id(id).into_iter().chain(ring.all().filter(|k| k.id().as_bytes() != id));
    let (key, json) = order.find_map(|k| k.cipher().open(sealed, &aad).ok().map(|json| (k, json)))?;
    let plain: Plain = serde_json::from_slice(&json).ok()?;
    Some(Opened { session: plain.into_session(), stale: key.id() != ring.sealing().id() })
}

fn open_v1(ring: &Keyring, store_key: &SessionKey, blob: &[u8]) -> Option<Opened> {
    let stored: Legacy = serde_json::from_slice(blob).ok()?;
    if stored.v != FORMAT_1 {
        return None;
    }
    let sealed = STANDARD_NO_PAD.decode(stored.rt.as_bytes()).ok()?;
    let token = ring.all().find_map(|k| k.cipher().open(&sealed, store_key.as_bytes()).ok())?;
    let token = String::from_utf8(token).ok()?;
    let session = Plain { a: stored.a, rt: token, s: stored.s, t: stored.t, c: stored.c, l: stored.l, r: stored.r };
    Some(Opened { session: session.into_session(), stale: true })
}

/// A format-1 record, written exactly as the earlier release wrote it (for the upgrade tests).
#[cfg(test)]
pub(crate) fn seal_v1(cipher: &super::Cipher, store_key: &SessionKey, session: &Session) -> Vec<u8> {
    #[derive(Serialize)]
    struct StoredRef<'a> {
        v: u8,
        a: &'a Account,
        rt: String,
        s: &'a str,
        t: &'a str,
        c: u64,
        l: u64,
        r: u64,
    }
    let sealed = cipher.seal(session.refresh_token.expose_secret().as_bytes(), store_key.as_bytes()).expect("seal");
    let stored = StoredRef {
        v: FORMAT_1,
        a: &session.account,
        rt: STANDARD_NO_PAD.encode(sealed),
        s: &session.scopes,
        t: &session.tenant,
        c: session.created_at,
        l: session.last_seen,
        r: session.refreshed_at,
    };
    serde_json::to_vec(&stored).expect("JSON")
}

#[cfg(test)]
mod tests {
    use graphgate_core::{AccountType, SessionId};

    use super::*;
    use crate::session::Cipher;

    fn session() -> Session {
        Session {
            account: Account {
                home_account_id: "oid-1.tid-1".into(),
                tenant_id: "tid-1".into(),
                object_id: "oid-1".into(),
                username: "ada@contoso.com".into(),
                name: Some("Ada Lovelace".into()),
                email: None,
                account_type: AccountType::Member,
                idp: None,
            },
            refresh_token: RefreshToken::new("rt-secret-value-123"),
            scopes: "openid User.Read".into(),
            tenant: "organizations".into(),
            created_at: 10,
            last_seen: 20,
            refreshed_at: 30,
        }
    }

    #[test]
    fn a_sealed_record_shows_nothing_but_its_key_id() {
        let ring = Keyring::new(vec![("2026-12".into(), [1; 32])]).expect("ring");
        let key = SessionKey::of(&SessionId::new("s-1"));
        let blob = seal(&ring, &key, &session()).expect("seal");
        assert_eq!(&blob[..9], b"\x02\x072026-12");
        let text = String::from_utf8_lossy(&blob);
        for hidden in ["ada", "Ada", "tid-1", "oid-1", "rt-secret", "organizations", "User.Read"] {
            assert!(!text.contains(hidden), "{hidden} readable in {text}");
        }
        let opened = open(&ring, &key, &blob).expect("opens");
        assert_eq!(opened.session, session());
        assert!(!opened.stale);
    }

    #[test]
    fn any_change_to_a_sealed_record_fails_to_open() {
        let ring = Keyring::new(vec![("a".into(), [1; 32]), ("b".into(), [2; 32])]).expect("ring");
        let key = SessionKey::of(&SessionId::new("s-1"));
        let blob = seal(&ring, &key, &session()).expect("seal");
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            assert!(open(&ring, &key, &bad).is_none(), "byte {i}");
        }
        // The ID switched to the other key's (its length the same).
        let mut other = blob.clone();
        other[2] = b'b';
        assert!(open(&ring, &key, &other).is_none());
        assert!(open(&ring, &SessionKey::of(&SessionId::new("s-2")), &blob).is_none(), "bound to its store key");
        for len in 0..blob.len() {
            assert!(open(&ring, &key, &blob[..len]).is_none(), "length {len}");
        }
    }

    #[test]
    fn older_keys_and_format_1_open_and_are_stale() {
        let old = Keyring::new(vec![("old".into(), [2; 32])]).expect("ring");
        let ring = Keyring::new(vec![("new".into(), [1; 32]), ("old".into(), [2; 32])]).expect("ring");
        let key = SessionKey::of(&SessionId::new("s-1"));
        let blob = seal(&old, &key, &session()).expect("seal");
        let opened = open(&ring, &key, &blob).expect("the second key opens it");
        assert_eq!(opened.session, session());
        assert!(opened.stale);
        assert!(open(&Keyring::new(vec![("old".into(), [3; 32])]).expect("ring"), &key, &blob).is_none());
        // Sealed under a lone key (ID "0"), opened by the same key under another ID.
        let lone = seal(&Keyring::single([2; 32]), &key, &session()).expect("seal");
        assert_eq!(&lone[..3], b"\x02\x010");
        let opened = open(&ring, &key, &lone).expect("the same key under a new ID opens it");
        assert!(opened.stale);

        let v1 = seal_v1(&Cipher::new([2; 32]), &key, &session());
        assert_eq!(v1.first(), Some(&b'{'));
        let opened = open(&ring, &key, &v1).expect("format 1 opens with the second key");
        assert_eq!(opened.session, session());
        assert!(opened.stale);
        assert!(open(&Keyring::single([9; 32]), &key, &v1).is_none());
        let mut json: serde_json::Value = serde_json::from_slice(&v1).expect("JSON");
        json["v"] = serde_json::json!(3);
        assert!(open(&ring, &key, &serde_json::to_vec(&json).expect("JSON")).is_none());
        for junk in [&b""[..], b"\x00", b"\x03abc", b"garbage", b"{}", b"null"] {
            assert!(open(&ring, &key, junk).is_none(), "{junk:?}");
        }
    }
}
