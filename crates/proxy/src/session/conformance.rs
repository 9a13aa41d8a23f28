//! The conformance suite every [`SessionStore`] backend must pass: the byte-level contract, then
//! the [`SessionManager`] running on top of the backend.
//!
//! A backend's tests call [`run_conformance`] with a function that makes an empty store. Time is
//! passed in, so expiry is checked without sleeping.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use graphgate_core::{Account, AccountType, RefreshToken, SessionId, random_token};

use super::manager::{KeyCheck, Lookup, Version};
use super::{
    Cipher, Keyring, Record, Session, SessionKey, SessionManager, SessionStore, StoreError, StoreFuture, record,
};

/// A fixed "now" (Unix seconds) the scenarios count from.
const T0: u64 = 1_700_000_000;
const HOUR: u64 = 3600;
const IDLE: u64 = 7 * 24 * HOUR;
const ABSOLUTE: u64 = 30 * 24 * HOUR;

/// Runs every scenario, each against a fresh store from `make`.
pub(super) async fn run_conformance<S: SessionStore>(make: impl Fn() -> S) {
    saves_loads_replaces_and_deletes(make()).await;
    records_expire_by_the_time_passed_in(make()).await;
    counts_and_scans_only_live_records(make()).await;
    purges_only_expired_records(make()).await;
    pending_sign_ins_are_apart_and_taken_once(make()).await;
    keys_are_opaque_hex(make()).await;
    updates_only_existing_records(make()).await;
    finds_records_by_account_index_and_samples(make()).await;
    concurrent_saves_lose_nothing(make()).await;

    manager_creates_and_loads_sessions(make()).await;
    manager_ends_idle_sessions(make()).await;
    manager_ends_sessions_at_their_absolute_lifetime(make()).await;
    manager_replaces_refresh_tokens(make()).await;
    manager_keeps_unopenable_records(make()).await;
    manager_upgrades_format_1_records(make()).await;
    manager_rotates_keys(make()).await;
    manager_finds_an_accounts_sessions(make()).await;
    a_refresh_never_writes_back_a_deleted_session(make()).await;
    writes_never_undo_a_newer_refresh(make()).await;
    manager_scans_for_keep_alive(make()).await;
    manager_keeps_records_small(make()).await;
    manager_never_shows_secrets(make()).await;
}

/// A record without an account index.
fn rec(blob: Vec<u8>, expires_at: u64) -> Record {
    Record { blob, index: String::new(), expires_at, written_at: T0 }
}

fn key(n: u32) -> SessionKey {
    SessionKey::of(&SessionId::new(format!("session-{n}")))
}

async fn saves_loads_replaces_and_deletes<S: SessionStore>(store: S) {
    store.ping().await.expect("ping");
    let (a, b) = (key(1), key(2));
    assert_eq!(store.load(&a, T0).await.expect("load"), None);

    let every_byte: Vec<u8> = (0..=255).collect();
    store.save(&a, rec(every_byte.clone(), T0 + HOUR)).await.expect("save");
    store.save(&b, rec(Vec::new(), T0 + HOUR)).await.expect("save an empty blob");
    assert_eq!(store.load(&a, T0).await.expect("load"), Some(every_byte));
    assert_eq!(store.load(&b, T0).await.expect("load"), Some(Vec::new()));

    // Saving again replaces the blob and the expiry time.
    store.save(&a, rec(b"second".to_vec(), T0 + 2 * HOUR)).await.expect("replace");
    assert_eq!(store.load(&a, T0 + HOUR).await.expect("load"), Some(b"second".to_vec()));
    // An earlier expiry time replaces a later one too.
    store.save(&a, rec(b"third".to_vec(), T0 + 10)).await.expect("replace");
    assert_eq!(store.load(&a, T0 + 10).await.expect("load"), None);
    store.save(&a, rec(b"fourth".to_vec(), T0 + HOUR)).await.expect("replace");

    store.delete(&a).await.expect("delete");
    assert_eq!(store.load(&a, T0).await.expect("load"), None);
    assert_eq!(store.load(&b, T0).await.expect("load"), Some(Vec::new()), "other records are untouched");
    store.delete(&a).await.expect("deleting an absent record is not an error");
}

async fn records_expire_by_the_time_passed_in<S: SessionStore>(store: S) {
    let k = key(1);
    store.save(&k, rec(b"blob".to_vec(), T0 + 100)).await.expect("save");
    assert_eq!(store.load(&k, T0 + 99).await.expect("load"), Some(b"blob".to_vec()));
    assert_eq!(store.load(&k, T0 + 100).await.expect("load"), None, "dead at its expiry time");
    assert_eq!(store.load(&k, u64::MAX).await.expect("load"), None);
    // Expiry is decided by `now`, not by when the store was asked.
    assert_eq!(store.load(&k, T0).await.expect("load"), Some(b"blob".to_vec()));
    // Extreme expiry times are accepted.
    store.save(&k, rec(b"forever".to_vec(), u64::MAX)).await.expect("save");
    assert_eq!(store.load(&k, T0 + 100 * 365 * 24 * HOUR).await.expect("load"), Some(b"forever".to_vec()));
    store.save(&k, rec(b"dead".to_vec(), 0)).await.expect("save");
    assert_eq!(store.load(&k, T0).await.expect("load"), None);
}

async fn counts_and_scans_only_live_records<S: SessionStore>(store: S) {
    assert_eq!(store.count(T0).await.expect("count"), 0);
    assert!(store.scan(T0).await.expect("scan").is_empty());
    for n in 0..5 {
        store
            .save(&key(n), rec(vec![u8::try_from(n).expect("small")], T0 + 10 * u64::from(n + 1)))
            .await
            .expect("save");
    }
    assert_eq!(store.count(T0).await.expect("count"), 5);
    assert_eq!(store.count(T0 + 10).await.expect("count"), 4);
    assert_eq!(store.count(T0 + 35).await.expect("count"), 2);
    assert_eq!(store.count(T0 + 50).await.expect("count"), 0);

    let mut scanned = store.scan(T0 + 25).await.expect("scan");
    scanned.sort();
    let mut expected = vec![(key(2), vec![2]), (key(3), vec![3]), (key(4), vec![4])];
    expected.sort();
    assert_eq!(scanned, expected);
}

async fn purges_only_expired_records<S: SessionStore>(store: S) {
    for n in 0..6 {
        store.save(&key(n), rec(b"blob".to_vec(), T0 + 10 * u64::from(n))).await.expect("save");
    }
    assert_eq!(store.purge_expired(T0 + 20).await.expect("purge"), 3, "expired at T0, T0+10 and T0+20");
    assert_eq!(store.purge_expired(T0 + 20).await.expect("purge"), 0, "purging again finds nothing");
    // Purged records are gone even for an earlier `now`; live ones stay.
    assert_eq!(store.load(&key(1), T0).await.expect("load"), None);
    assert_eq!(store.count(T0).await.expect("count"), 3);
    assert_eq!(store.load(&key(3), T0 + 20).await.expect("load"), Some(b"blob".to_vec()));
    assert_eq!(store.purge_expired(u64::MAX).await.expect("purge"), 3);
    assert_eq!(store.count(0).await.expect("count"), 0);
}

async fn pending_sign_ins_are_apart_and_taken_once<S: SessionStore>(store: S) {
    let store = Arc::new(store);
    store.put_pending(&key(1), b"pending".to_vec(), T0 + 600).await.expect("put");
    store.put_pending(&key(2), b"old".to_vec(), T0 + 10).await.expect("put");
    // Not a session: not loaded, counted or scanned as one.
    assert_eq!(store.load(&key(1), T0).await.expect("load"), None);
    assert_eq!(store.count(T0).await.expect("count"), 0);
    assert!(store.scan(T0).await.expect("scan").is_empty());
    // Taken at most once, even by racing takers.
    let takers: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.take_pending(&key(1), T0).await.expect("take") })
        })
        .collect();
    let mut got = Vec::new();
    for t in takers {
        got.extend(t.await.expect("task"));
    }
    assert_eq!(got, vec![b"pending".to_vec()], "exactly one taker gets it");
    assert_eq!(store.take_pending(&key(1), T0).await.expect("take"), None);
    // An expired one is not given, and purging removes expired ones.
    store.put_pending(&key(3), b"later".to_vec(), T0 + 600).await.expect("put");
    assert_eq!(store.purge_expired(T0 + 20).await.expect("purge"), 1, "the one expired at T0+10");
    assert_eq!(store.take_pending(&key(2), T0).await.expect("take"), None, "purged");
    assert_eq!(store.take_pending(&key(3), T0 + 600).await.expect("take"), None, "expired at T0+600");
    // A session and a pending sign-in under the same key are apart.
    store.save(&key(4), rec(b"session".to_vec(), T0 + HOUR)).await.expect("save");
    store.put_pending(&key(4), b"sign-in".to_vec(), T0 + 600).await.expect("put");
    assert_eq!(store.take_pending(&key(4), T0).await.expect("take"), Some(b"sign-in".to_vec()));
    assert_eq!(store.load(&key(4), T0).await.expect("load"), Some(b"session".to_vec()));
}

async fn keys_are_opaque_hex<S: SessionStore>(store: S) {
    let id = SessionId::new(random_token(32).expect("random"));
    let k = SessionKey::of(&id);
    assert_eq!(k.as_str().len(), SessionKey::LEN);
    assert!(k.as_str().bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{k}");
    assert!(!k.as_str().contains(id.expose_secret()));
    assert_eq!(k, SessionKey::of(&SessionId::new(id.expose_secret())), "the same ID gives the same key");
    assert_ne!(k, key(1));

    store.save(&k, rec(b"blob".to_vec(), T0 + HOUR)).await.expect("save");
    let scanned = store.scan(T0).await.expect("scan");
    assert_eq!(scanned, vec![(k.clone(), b"blob".to_vec())], "the store keeps the key as given");
}

async fn updates_only_existing_records<S: SessionStore>(store: S) {
    let (a, b) = (key(1), key(2));
    let indexed = |blob: &[u8], index: &str| Record {
        blob: blob.to_vec(),
        index: index.into(),
        expires_at: T0 + HOUR,
        written_at: T0,
    };
    assert!(!store.update(&a, indexed(b"x", "i"), None).await.expect("update"), "nothing to update");
    assert_eq!(store.load(&a, T0).await.expect("load"), None, "an update never creates a record");
    store.save(&a, indexed(b"one", "i")).await.expect("save");
    assert!(store.update(&a, indexed(b"two", "j"), None).await.expect("update"));
    assert_eq!(store.load(&a, T0).await.expect("load"), Some(b"two".to_vec()));
    assert_eq!(store.keys_with_index("j", T0).await.expect("index"), vec![a.clone()], "the index is updated too");
    assert!(
        !store.update(&a, indexed(b"three", "j"), Some(b"one".to_vec())).await.expect("update"),
        "not the blob read"
    );
    assert_eq!(store.load(&a, T0).await.expect("load"), Some(b"two".to_vec()));
    assert!(store.update(&a, indexed(b"three", "j"), Some(b"two".to_vec())).await.expect("update"));
    assert_eq!(store.load(&a, T0).await.expect("load"), Some(b"three".to_vec()));
    assert!(!store.update(&b, indexed(b"x", "j"), Some(b"three".to_vec())).await.expect("update"));
    assert_eq!(store.load(&b, T0).await.expect("load"), None);
    store.delete(&a).await.expect("delete");
    assert!(!store.update(&a, indexed(b"four", "j"), None).await.expect("update"), "deleted stays deleted");
    assert_eq!(store.count(0).await.expect("count"), 0);
}

async fn finds_records_by_account_index_and_samples<S: SessionStore>(store: S) {
    let at = |index: &str, expires_at: u64| Record {
        blob: b"blob".to_vec(),
        index: index.into(),
        expires_at,
        written_at: T0,
    };
    assert!(store.keys_with_index("i", T0).await.expect("index").is_empty());
    assert!(store.sample(T0, 20).await.expect("sample").is_empty());
    store.save(&key(1), at("i", T0 + HOUR)).await.expect("save");
    store.save(&key(2), at("i", T0 + 2 * HOUR)).await.expect("save");
    store.save(&key(3), at("j", T0 + HOUR)).await.expect("save");
    store.save(&key(4), at("", T0 + HOUR)).await.expect("save");
    let mut found = store.keys_with_index("i", T0).await.expect("index");
    found.sort();
    let mut expected = vec![key(1), key(2)];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(store.keys_with_index("i", T0 + HOUR).await.expect("index"), vec![key(2)], "live records only");
    assert_eq!(store.keys_with_index("k", T0).await.expect("index"), Vec::<SessionKey>::new());
    assert_eq!(store.sample(T0, 3).await.expect("sample").len(), 3, "at most the limit");
    assert_eq!(store.sample(T0, 20).await.expect("sample").len(), 4);
    assert_eq!(store.sample(T0 + HOUR, 20).await.expect("sample"), vec![(key(2), b"blob".to_vec())], "live only");
}

async fn concurrent_saves_lose_nothing<S: SessionStore>(store: S) {
    const TASKS: u32 = 64;
    let store = Arc::new(store);
    let shared = key(u32::MAX);
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        let (store, shared) = (Arc::clone(&store), shared.clone());
        tasks.push(tokio::spawn(async move {
            store.save(&key(n), rec(n.to_be_bytes().to_vec(), T0 + HOUR)).await?;
            store.save(&shared, rec(n.to_be_bytes().to_vec(), T0 + HOUR)).await?;
            store.load(&key(n), T0).await
        }));
    }
    for (n, task) in (0..TASKS).zip(tasks) {
        let own = task.await.expect("task").expect("save and load");
        assert_eq!(own, Some(n.to_be_bytes().to_vec()), "each task reads its own write");
    }
    assert_eq!(store.count(T0).await.expect("count"), u64::from(TASKS) + 1);
    for n in 0..TASKS {
        assert_eq!(store.load(&key(n), T0).await.expect("load"), Some(n.to_be_bytes().to_vec()));
    }
    let last = store.load(&shared, T0).await.expect("load").expect("the shared key holds one of the writes");
    let last: [u8; 4] = last.as_slice().try_into().expect("a whole write, never a mixture");
    assert!(u32::from_be_bytes(last) < TASKS);
}

// --- The manager on top of the backend. ---

fn manager<S: SessionStore>(store: S) -> (SessionManager, Arc<dyn SessionStore>) {
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let manager = SessionManager::new(
        Arc::clone(&store),
        Keyring::new(vec![("k".to_owned(), [0x5a; 32])]).expect("ring"),
        Duration::from_secs(ABSOLUTE),
        Duration::from_secs(IDLE),
    );
    (manager, store)
}

/// A refresh token of the length Entra ID issues (about 1,000 characters).
fn realistic_refresh_token() -> RefreshToken {
    let mut rt = String::from("1.AXoAmE3EgwlyUUCkYq8Vn4TV");
    while rt.len() < 1000 {
        rt.push_str(&random_token(48).expect("random"));
    }
    rt.truncate(1000);
    RefreshToken::new(rt)
}

fn realistic_session(now: u64) -> Session {
    let tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let object_id = "5e9c2d4a-3b1f-4c8e-9a7d-0f6b8e2c1d34";
    let account = Account {
        home_account_id: format!("{object_id}.{tenant_id}"),
        tenant_id: tenant_id.into(),
        object_id: object_id.into(),
        username: "adele.vance@contoso.onmicrosoft.com".into(),
        name: Some("Adele Vance".into()),
        email: Some("adele.vance@contoso.onmicrosoft.com".into()),
        account_type: AccountType::Member,
        idp: None,
    };
    Session {
        account,
        refresh_token: realistic_refresh_token(),
        scopes: "openid profile email offline_access https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read".into(),
        tenant: tenant_id.into(),
        created_at: now,
        last_seen: now,
        refreshed_at: now,
    }
}

async fn manager_creates_and_loads_sessions<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    manager.ping().await.expect("ping");
    let session = realistic_session(T0 - 5);
    let id = manager.create(session.clone(), T0).await.expect("create");
    assert_eq!(id.expose_secret().len(), 43, "256 random bits, base64url");
    let expected = Session { created_at: T0, last_seen: T0, ..session.clone() };
    assert_eq!(manager.load(&SessionKey::of(&id), T0 + 1).await.expect("load"), Some(expected.clone()));
    assert_eq!(manager.expires_at(&expected), T0 + IDLE);

    // Every sign-in gets a new ID, even for the same account.
    let again = manager.create(session.clone(), T0).await.expect("create");
    assert_ne!(again, id);
    assert_eq!(manager.live_sessions(T0).await.expect("count"), 2);

    // Stored under the hash of the ID; neither the ID nor the token is in the store.
    let keys: BTreeSet<SessionKey> = store.scan(T0).await.expect("scan").into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, BTreeSet::from([SessionKey::of(&id), SessionKey::of(&again)]));
    let blob = store.load(&SessionKey::of(&id), T0).await.expect("load").expect("stored");
    let text = String::from_utf8_lossy(&blob);
    assert!(!text.contains(session.refresh_token.expose_secret()), "the refresh token is sealed");
    assert!(!text.contains(&session.refresh_token.expose_secret()[..40]), "the refresh token is sealed");
    assert!(!text.contains(id.expose_secret()), "the session ID is not stored");

    // Unknown IDs are absent; delete signs out.
    assert_eq!(manager.load(&SessionKey::of(&SessionId::new("no-such-session")), T0).await.expect("load"), None);
    manager.delete(&SessionKey::of(&id)).await.expect("delete");
    assert_eq!(manager.load(&SessionKey::of(&id), T0 + 1).await.expect("load"), None);
    assert_eq!(manager.load(&SessionKey::of(&again), T0 + 1).await.expect("load").map(|s| s.created_at), Some(T0));
    manager.delete(&SessionKey::of(&id)).await.expect("deleting twice is fine");
}

async fn manager_ends_idle_sessions<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    assert!(manager.load(&SessionKey::of(&id), T0 + IDLE - 1).await.expect("load").is_some());
    // Loading is not use: the session still ends IDLE after sign-in.
    assert_eq!(manager.load(&SessionKey::of(&id), T0 + IDLE).await.expect("load"), None);

    // Use extends it.
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    let touched = manager
        .record_refresh(&SessionKey::of(&id), None, None, T0 + IDLE - 10, true)
        .await
        .expect("refresh")
        .expect("live");
    assert_eq!(touched.last_seen, T0 + IDLE - 10);
    assert_eq!(
        manager.load(&SessionKey::of(&id), T0 + IDLE + 10).await.expect("load").map(|s| s.last_seen),
        Some(T0 + IDLE - 10)
    );
    manager.load(&SessionKey::of(&id), T0 + 2 * IDLE - 11).await.expect("load").expect("live");
    assert!(
        manager
            .record_refresh(&SessionKey::of(&id), None, None, T0 + 2 * IDLE - 11, true)
            .await
            .expect("refresh")
            .is_some()
    );
    assert!(manager.load(&SessionKey::of(&id), T0 + 3 * IDLE - 12).await.expect("load").is_some());
    assert_eq!(manager.load(&SessionKey::of(&id), T0 + 3 * IDLE - 11).await.expect("load"), None);
    assert_eq!(
        manager.record_refresh(&SessionKey::of(&id), None, None, T0 + 3 * IDLE, true).await.expect("refresh"),
        None
    );

    // A record the policy rejects is deleted even when the store would still serve it: a
    // manager with a shorter idle timeout over the same store.
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    let strict = SessionManager::new(
        Arc::clone(&store),
        Keyring::new(vec![("k".to_owned(), [0x5a; 32])]).expect("ring"),
        Duration::from_secs(ABSOLUTE),
        Duration::from_secs(HOUR),
    );
    assert_eq!(strict.load(&SessionKey::of(&id), T0 + HOUR).await.expect("load"), None);
    assert_eq!(store.load(&SessionKey::of(&id), T0).await.expect("load"), None, "the ended record was deleted");
    assert_eq!(manager.load(&SessionKey::of(&id), T0 + HOUR).await.expect("load"), None);
}

async fn manager_ends_sessions_at_their_absolute_lifetime<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    // Used every day, it still ends ABSOLUTE after sign-in.
    let mut now = T0;
    while now + 24 * HOUR < T0 + ABSOLUTE {
        now += 24 * HOUR;
        let used = manager.record_refresh(&SessionKey::of(&id), None, None, now, true).await.expect("refresh");
        assert!(used.is_some(), "live at {}", now - T0);
    }
    let session = manager.load(&SessionKey::of(&id), now).await.expect("load").expect("live");
    assert_eq!(manager.expires_at(&session), T0 + ABSOLUTE, "the absolute lifetime caps the idle extension");
    assert!(manager.load(&SessionKey::of(&id), T0 + ABSOLUTE - 1).await.expect("load").is_some());
    assert_eq!(manager.load(&SessionKey::of(&id), T0 + ABSOLUTE).await.expect("load"), None);

    // Past its absolute lifetime a session cannot be refreshed: the store's own expiry time is its end.
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    let session = manager.load(&SessionKey::of(&id), T0).await.expect("load").expect("live");
    assert_eq!(
        manager.record_refresh(&SessionKey::of(&id), None, None, T0 + ABSOLUTE, true).await.expect("refresh"),
        None
    );
    assert_eq!(store.load(&SessionKey::of(&id), T0 + ABSOLUTE).await.expect("load"), None, "ended in the store too");
    assert!(manager.is_expired(&session, T0 + ABSOLUTE));
    assert!(!manager.is_expired(&session, T0));
}

async fn manager_replaces_refresh_tokens<S: SessionStore>(store: S) {
    let (manager, _store) = manager(store);
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    let new_rt = realistic_refresh_token();
    let updated = manager
        .record_refresh(&SessionKey::of(&id), None, Some(new_rt.clone()), T0 + 60, true)
        .await
        .expect("refresh")
        .expect("the session exists");
    assert_eq!(updated.refresh_token, new_rt);
    assert_eq!((updated.refreshed_at, updated.last_seen, updated.created_at), (T0 + 60, T0 + 60, T0));
    let loaded = manager.load(&SessionKey::of(&id), T0 + 61).await.expect("load").expect("live");
    assert_eq!(loaded, updated);

    let gone = SessionId::new("no-such-session");
    let gone_key = SessionKey::of(&gone);
    assert_eq!(manager.record_refresh(&gone_key, None, Some(new_rt.clone()), T0, true).await.expect("refresh"), None);
    assert_eq!(manager.load(&SessionKey::of(&gone), T0).await.expect("load"), None, "replacing does not create");
    // Without a rotated token the old one stays.
    let kept = manager.record_refresh(&SessionKey::of(&id), None, None, T0 + 70, true).await.expect("refresh");
    assert_eq!(kept.map(|s| s.refresh_token), Some(new_rt.clone()));
    assert_eq!(
        manager.record_refresh(&SessionKey::of(&id), None, Some(new_rt), T0 + IDLE + 70, true).await.expect("refresh"),
        None
    );
}

async fn manager_keeps_unopenable_records<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let far = T0 + ABSOLUTE;

    // Garbage, JSON of the wrong shape, format-1 shapes without a sealed token, another format.
    let mut bad = Vec::new();
    for blob in [&b"\xff\x00garbage"[..], b"", b"{}", b"null", br#"{"v":1}"#, b"\x03\x010abc"] {
        let id = SessionId::new(random_token(32).expect("random"));
        store.save(&SessionKey::of(&id), rec(blob.to_vec(), far)).await.expect("save");
        bad.push(id);
    }
    // A tampered sealed record: one flipped byte in the ciphertext.
    let id = manager.create(realistic_session(T0), T0).await.expect("create");
    let mut blob = store.load(&SessionKey::of(&id), T0).await.expect("load").expect("stored");
    blob[40] ^= 0x01;
    store.save(&SessionKey::of(&id), rec(blob, far)).await.expect("save");
    bad.push(id);
    // A whole record copied under another session's key: it is bound to its key.
    let victim = manager.create(realistic_session(T0), T0).await.expect("create");
    let attacker = manager.create(realistic_session(T0), T0).await.expect("create");
    let victims = store.load(&SessionKey::of(&victim), T0).await.expect("load").expect("stored");
    store.save(&SessionKey::of(&attacker), rec(victims, far)).await.expect("save");
    bad.push(attacker);

    let before = manager.unopenable_total();
    for id in &bad {
        let key = SessionKey::of(id);
        let kept = store.load(&key, T0).await.expect("load");
        assert_eq!(manager.lookup(&key, T0).await.expect("not an error"), Lookup::Unopenable);
        assert_eq!(manager.load(&key, T0).await.expect("an unopenable record is not an error"), None);
        assert_eq!(store.load(&key, T0).await.expect("load"), kept, "and it is kept as it was");
        assert_eq!(manager.record_refresh(&key, None, None, T0, true).await.expect("refresh"), None);
        let rotated = Some(realistic_refresh_token());
        assert_eq!(manager.record_refresh(&key, None, rotated, T0, true).await.expect("refresh"), None);
        assert_eq!(store.load(&key, T0).await.expect("load"), kept, "a refresh does not overwrite it");
    }
    assert_eq!(
        manager.unopenable_total(),
        before + 4 * u64::try_from(bad.len()).expect("small"),
        "each look-up counted"
    );
    assert!(manager.load(&SessionKey::of(&victim), T0).await.expect("load").is_some(), "the original is untouched");

    // A manager with another key cannot read the sessions, and keeps them.
    let other = SessionManager::new(
        Arc::clone(&store),
        Keyring::single([0xa5; 32]),
        Duration::from_secs(ABSOLUTE),
        Duration::from_secs(IDLE),
    );
    assert_eq!(other.lookup(&SessionKey::of(&victim), T0).await.expect("load"), Lookup::Unopenable);
    assert!(manager.load(&SessionKey::of(&victim), T0).await.expect("load").is_some(), "kept by the other manager");
    assert_eq!(other.check_keys(T0).await.expect("check"), KeyCheck { sampled: 9, opened: 0 });
    assert!(other.check_keys(T0).await.expect("check").none_open());
    let check = manager.check_keys(T0).await.expect("check");
    assert_eq!((check.sampled, check.opened), (9, 1), "the victim opens");
    assert!(!check.none_open());

    // A scan skips unopenable records and keeps them; their expiry still purges them.
    let scanned = manager.scan(T0).await.expect("scan");
    assert_eq!(scanned.into_iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![SessionKey::of(&victim)]);
    assert!(other.scan(T0).await.expect("scan").is_empty());
    assert_eq!(store.count(T0).await.expect("count"), 9);
    assert_eq!(store.purge_expired(far).await.expect("purge"), 9);
}

async fn manager_upgrades_format_1_records<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let session = realistic_session(T0);
    let id = SessionId::new(random_token(32).expect("random"));
    let key = SessionKey::of(&id);
    // Written exactly as the earlier release wrote it, under the same key.
    let v1 = record::seal_v1(&Cipher::new([0x5a; 32]), &key, &session);
    store.save(&key, rec(v1.clone(), T0 + IDLE)).await.expect("save");
    assert!(
        manager.keys_of(&session.account.tenant_id, &session.account.object_id, T0).await.expect("keys").is_empty()
    );
    assert_eq!(manager.load(&key, T0 + 1).await.expect("load"), Some(session.clone()), "it opens");
    let blob = store.load(&key, T0).await.expect("load").expect("kept");
    assert_eq!(blob.first(), Some(&2), "sealed again in format 2");
    assert_eq!(&blob[1..3], b"\x01k", "under the sealing key");
    let account = &session.account;
    assert_eq!(manager.keys_of(&account.tenant_id, &account.object_id, T0).await.expect("keys"), vec![key.clone()]);
    assert_eq!(manager.load(&key, T0 + 2).await.expect("load"), Some(session.clone()));
    assert_eq!(store.load(&key, T0).await.expect("load"), Some(blob), "a current record is not written again");

    // A format-1 record sealed under a key no longer configured stays as it was.
    let other = SessionKey::of(&SessionId::new("other"));
    let foreign = record::seal_v1(&Cipher::new([0x11; 32]), &other, &session);
    store.save(&other, rec(foreign.clone(), T0 + IDLE)).await.expect("save");
    assert_eq!(manager.lookup(&other, T0).await.expect("load"), Lookup::Unopenable);
    assert_eq!(store.load(&other, T0).await.expect("load"), Some(foreign));
}

async fn manager_rotates_keys<S: SessionStore>(store: S) {
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let with = |keys: &[(&str, u8)]| {
        let ring = Keyring::new(keys.iter().map(|(id, k)| ((*id).to_owned(), [*k; 32])).collect()).expect("ring");
        SessionManager::new(Arc::clone(&store), ring, Duration::from_secs(ABSOLUTE), Duration::from_secs(IDLE))
    };
    let old = with(&[("old", 1)]);
    let session = realistic_session(T0);
    let (tenant, object) = (session.account.tenant_id.clone(), session.account.object_id.clone());
    let a = SessionKey::of(&old.create(session.clone(), T0).await.expect("create"));
    let b = SessionKey::of(&old.create(session.clone(), T0).await.expect("create"));

    // The new key first: old records open with the second key and are found by account.
    let rotated = with(&[("new", 2), ("old", 1)]);
    assert_eq!(rotated.keys_of(&tenant, &object, T0).await.expect("keys").len(), 2);
    let c = SessionKey::of(&rotated.create(session.clone(), T0).await.expect("create"));
    assert_eq!(rotated.keys_of(&tenant, &object, T0).await.expect("keys").len(), 3, "under either key");
    assert!(rotated.load(&a, T0 + 1).await.expect("load").is_some());
    let blob = store.load(&a, T0).await.expect("load").expect("kept");
    assert_eq!(&blob[..5], b"\x02\x03new", "sealed again under the first key on use");
    assert_eq!(store.load(&b, T0).await.expect("load").expect("kept")[2..5], *b"old", "untouched until used");
    assert_eq!(rotated.scan(T0).await.expect("scan").len(), 3);

    // Without the old key, what was re-sealed (or new) still opens; the rest is kept, unopened.
    let new_only = with(&[("new", 2)]);
    assert!(new_only.load(&a, T0 + 2).await.expect("load").is_some());
    assert!(new_only.load(&c, T0 + 2).await.expect("load").is_some());
    assert_eq!(new_only.lookup(&b, T0 + 2).await.expect("load"), Lookup::Unopenable);
    assert_eq!(new_only.keys_of(&tenant, &object, T0).await.expect("keys"), {
        let mut both = vec![a.clone(), c.clone()];
        both.sort();
        both
    });
}

async fn manager_finds_an_accounts_sessions<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let session = realistic_session(T0);
    let mut someone_else = realistic_session(T0);
    someone_else.account.object_id = "0b7f2d1c-9e8a-4b6c-8d5e-3f2a1c0b9e8d".into();
    // Same object ID in another tenant: another account.
    let mut elsewhere = realistic_session(T0);
    elsewhere.account.tenant_id = "b1c2d3e4-0000-4000-8000-000000000001".into();
    let x = SessionKey::of(&manager.create(session.clone(), T0).await.expect("create"));
    let y = SessionKey::of(&manager.create(session.clone(), T0 + 10).await.expect("create"));
    manager.create(someone_else, T0).await.expect("create");
    manager.create(elsewhere, T0).await.expect("create");
    let (tenant, object) = (&session.account.tenant_id, &session.account.object_id);
    let mut both = vec![x.clone(), y.clone()];
    both.sort();
    assert_eq!(manager.keys_of(tenant, object, T0).await.expect("keys"), both);
    // The index is the only trace of the account, and it does not show it.
    for (_, blob) in store.scan(T0).await.expect("scan") {
        let text = String::from_utf8_lossy(&blob);
        assert!(!text.contains(object.as_str()) && !text.contains("adele"), "{text}");
    }
    manager.delete(&x).await.expect("delete");
    assert_eq!(manager.keys_of(tenant, object, T0).await.expect("keys"), vec![y.clone()]);
    // Ended sessions are not found.
    assert!(manager.keys_of(tenant, object, T0 + 10 + IDLE).await.expect("keys").is_empty());
}

/// A store that deletes each record right after handing it out: the shape of a sign-out that
/// lands between a refresh's read and its write.
struct DeletedAfterLoad<S>(S);

impl<S: SessionStore> SessionStore for DeletedAfterLoad<S> {
    fn load(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = key.clone();
        Box::pin(async move {
            let blob = self.0.load(&key, now).await?;
            self.0.delete(&key).await?;
            Ok(blob)
        })
    }
    fn save(&self, key: &SessionKey, record: Record) -> StoreFuture<'_, ()> {
        self.0.save(key, record)
    }
    fn update(&self, key: &SessionKey, record: Record, only_if: Option<Vec<u8>>) -> StoreFuture<'_, bool> {
        self.0.update(key, record, only_if)
    }
    fn delete(&self, key: &SessionKey) -> StoreFuture<'_, ()> {
        self.0.delete(key)
    }
    fn ping(&self) -> StoreFuture<'_, ()> {
        self.0.ping()
    }
    fn count(&self, now: u64) -> StoreFuture<'_, u64> {
        self.0.count(now)
    }
    fn scan(&self, now: u64) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        self.0.scan(now)
    }
    fn sample(&self, now: u64, limit: usize) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        self.0.sample(now, limit)
    }
    fn keys_with_index(&self, index: &str, now: u64) -> StoreFuture<'_, Vec<SessionKey>> {
        self.0.keys_with_index(index, now)
    }
    fn purge_expired(&self, now: u64) -> StoreFuture<'_, u64> {
        self.0.purge_expired(now)
    }
    fn put_pending(&self, key: &SessionKey, blob: Vec<u8>, expires_at: u64) -> StoreFuture<'_, ()> {
        self.0.put_pending(key, blob, expires_at)
    }
    fn take_pending(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.0.take_pending(key, now)
    }
}

async fn a_refresh_never_writes_back_a_deleted_session<S: SessionStore>(store: S) {
    let (manager, store) = manager(DeletedAfterLoad(store));
    let key = SessionKey::of(&manager.create(realistic_session(T0), T0).await.expect("create"));
    let refreshed = manager.record_refresh(&key, None, Some(realistic_refresh_token()), T0 + 60, true).await;
    assert_eq!(refreshed.expect("refresh"), None, "gone while the refresh was under way");
    assert_eq!(store.count(T0).await.expect("count"), 0, "and not written back");
    let session = realistic_session(T0);
    let key = SessionKey::of(&manager.create(session.clone(), T0).await.expect("create"));
    // Read (which this store answers by deleting) and put back: the version a touch compares with.
    let blob = store.load(&key, T0).await.expect("load").expect("stored");
    store.save(&key, rec(blob.clone(), T0 + IDLE)).await.expect("put back");
    let version = Version::of_blob(blob);
    manager.touch(&key, &session, &version, T0 + IDLE / 2, Duration::ZERO).await.expect("touch");
    assert_eq!(store.count(T0).await.expect("count"), 1, "a touch of a live record writes it");
    store.delete(&key).await.expect("delete");
    manager.touch(&key, &session, &version, T0 + IDLE / 2, Duration::ZERO).await.expect("touch");
    assert_eq!(store.count(T0).await.expect("count"), 0, "a touch of a deleted one does not");
}

/// Two writers that read the same record (two instances, or a touch beside a refresh): the
/// second's write is compared with what it read, so it never puts back an older refresh token.
async fn writes_never_undo_a_newer_refresh<S: SessionStore>(store: S) {
    let (manager, _) = manager(store);
    let key = SessionKey::of(&manager.create(realistic_session(T0), T0).await.expect("create"));
    let (read, version) = manager.load_versioned(&key, T0).await.expect("load").expect("live");
    let newer = RefreshToken::new("rotated-by-the-first-writer");
    let first = manager.record_refresh(&key, Some(&read.refresh_token), Some(newer.clone()), T0 + 1, true).await;
    assert_eq!(first.expect("refresh").expect("live").refresh_token, newer);
    // A touch based on the record as it was before: not written.
    manager.touch(&key, &read, &version, T0 + IDLE / 2, Duration::ZERO).await.expect("touch");
    let now = manager.load(&key, T0 + 2).await.expect("load").expect("live");
    assert_eq!(now.refresh_token, newer, "the touch did not put the older token back");
    // A second refresh that redeemed the older token too: the newer one stays.
    let late = RefreshToken::new("rotated-by-the-second-writer");
    let second = manager.record_refresh(&key, Some(&read.refresh_token), Some(late), T0 + 3, true).await;
    assert_eq!(second.expect("refresh").expect("live").refresh_token, newer, "answered with the stored one");
    assert_eq!(manager.load(&key, T0 + 4).await.expect("load").expect("live").refresh_token, newer);
    // A refresh of the stored token replaces it.
    let next = RefreshToken::new("rotated-again");
    let third = manager.record_refresh(&key, Some(&newer), Some(next.clone()), T0 + 5, true).await;
    assert_eq!(third.expect("refresh").expect("live").refresh_token, next);
}

async fn manager_scans_for_keep_alive<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let a = manager.create(realistic_session(T0), T0).await.expect("create");
    let b = manager.create(realistic_session(T0), T0 + 3 * 24 * HOUR).await.expect("create");
    let now = T0 + IDLE - 1;
    let mut scanned = manager.scan(now).await.expect("scan");
    scanned.sort_by(|x, y| x.0.cmp(&y.0));
    let mut expected = vec![SessionKey::of(&a), SessionKey::of(&b)];
    expected.sort();
    assert_eq!(scanned.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), expected);
    let (key, session) = scanned.into_iter().find(|(k, _)| *k == SessionKey::of(&a)).expect("a is live");
    assert_eq!(session.last_seen, T0);

    // The keep-alive task refreshes it by key, without extending idleness.
    let new_rt = realistic_refresh_token();
    assert!(manager.record_refresh(&key, None, Some(new_rt.clone()), now, false).await.expect("refresh").is_some());
    let loaded = manager.load(&SessionKey::of(&a), now).await.expect("load").expect("live");
    assert_eq!((loaded.refresh_token, loaded.refreshed_at, loaded.last_seen), (new_rt.clone(), now, T0));
    assert_eq!(manager.load(&SessionKey::of(&a), T0 + IDLE).await.expect("load"), None, "still idle");
    let late = manager.record_refresh(&key, None, Some(new_rt), T0 + IDLE, false).await.expect("refresh");
    assert_eq!(late, None, "too late to refresh");

    assert_eq!(manager.live_sessions(T0 + IDLE).await.expect("count"), 1);
    let scanned = manager.scan(T0 + IDLE).await.expect("scan");
    assert_eq!(scanned.into_iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![SessionKey::of(&b)]);
    let purged = store.purge_expired(T0 + 3 * 24 * HOUR + IDLE).await.expect("purge");
    assert_eq!(purged, 2, "a (idle since T0, past its expiry time in the store) and b");
    assert_eq!(manager.live_sessions(0).await.expect("count"), 0);
}

async fn manager_keeps_records_small<S: SessionStore>(store: S) {
    let (manager, store) = manager(store);
    let session = realistic_session(T0);
    assert_eq!(session.refresh_token.expose_secret().len(), 1000);
    let id = manager.create(session, T0).await.expect("create");
    let blob = store.load(&SessionKey::of(&id), T0).await.expect("load").expect("stored");
    println!("stored size of a realistic session: {} bytes", blob.len());
    assert!(blob.len() <= 2048, "a realistic session takes {} bytes", blob.len());
}

async fn manager_never_shows_secrets<S: SessionStore>(store: S) {
    let (manager, _store) = manager(store);
    let session = realistic_session(T0);
    let rt = session.refresh_token.expose_secret().to_owned();
    let id = manager.create(session.clone(), T0).await.expect("create");
    let loaded = manager.load(&SessionKey::of(&id), T0).await.expect("load").expect("live");
    let printed = [
        format!("{session:?}"),
        format!("{loaded:#?}"),
        format!("{id:?}"),
        format!("{manager:?}"),
        format!("{:?}", manager.scan(T0).await.expect("scan")),
    ];
    for text in &printed {
        assert!(!text.contains(&rt), "{text}");
        assert!(!text.contains(&rt[..32]), "{text}");
        assert!(!text.contains(id.expose_secret()), "{text}");
        assert!(!text.contains("5a5a5a5a"), "{text}");
    }
    assert!(printed[0].contains("RefreshToken(<redacted>)"), "{}", printed[0]);

    // Error messages carry no key preimages or secrets either.
    let errors = [
        StoreError::Unavailable("could not read a session".into()),
        StoreError::Corrupt("could not serialise a session".into()),
    ];
    for e in errors {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(id.expose_secret()) && !text.contains(&rt), "{text}");
    }
}
