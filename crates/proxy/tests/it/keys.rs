//! Session keys and what the store holds: records of the earlier format opened and sealed again,
//! a new key put first keeping every session, a wrong key refused at start-up with the rows kept,
//! a tampered record kept and counted, sign-out everywhere, and the administration API with its
//! audit line.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use graphgate_proxy::config::Config;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::*;

const MEGAN: &str = "b2e6d4f3-1c5e-4d7f-9a2b-3c4d5e6f7081";
const API_KEY: &str = "admin-test-api-key-0123456789";

/// The rig's SQLite file.
fn db(rig: &Rig) -> rusqlite::Connection {
    rusqlite::Connection::open(rig.scratch.0.join("sessions.db")).unwrap()
}

/// Every row: (key, blob, account index).
fn rows(rig: &Rig) -> Vec<(String, Vec<u8>, Option<String>)> {
    let conn = db(rig);
    let mut stmt = conn.prepare("SELECT key, blob, account FROM sessions ORDER BY key").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// The store key of a session cookie (`name=ID`): the hex SHA-256 of the ID.
fn store_key(cookie: &str) -> String {
    Sha256::digest(cookie.split_once('=').unwrap().1.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn blob_of(rig: &Rig, cookie: &str) -> Vec<u8> {
    let key = store_key(cookie);
    rows(rig).into_iter().find(|(k, _, _)| *k == key).expect("the session's row").1
}

/// The key ID in a format-2 record's header.
fn key_id(blob: &[u8]) -> &str {
    assert_eq!(blob[0], 2, "format 2");
    std::str::from_utf8(&blob[2..2 + usize::from(blob[1])]).unwrap()
}

/// A session record exactly as the earlier release wrote it (format 1): JSON with the refresh
/// token alone sealed, under `key` with the store key as associated data.
fn format_1_record(key: [u8; 32], store_key: &str, account: &Value, refresh_token: &str, now: u64) -> Vec<u8> {
    let aead = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key));
    let nonce = [9u8; 12];
    let sealed = aead
        .encrypt(&Nonce::from(nonce), Payload { msg: refresh_token.as_bytes(), aad: store_key.as_bytes() })
        .unwrap();
    let rt = STANDARD_NO_PAD.encode([&nonce[..], &sealed].concat());
    let record = json!({
        "v": 1, "a": account, "rt": rt, "s": "openid profile offline_access User.Read Mail.Send", "t": CONTOSO,
        "c": now, "l": now, "r": now,
    });
    serde_json::to_vec(&record).unwrap()
}

async fn signed_in_as(rig: &Rig, account: &str) -> String {
    let (code, verifier, nonce) = rig.sign_in(CONTOSO, account).await;
    let (status, cookie, body) = rig.exchange(&code, &verifier, &nonce).await;
    assert_eq!(status, 200, "{body}");
    cookie.unwrap()
}

#[tokio::test]
async fn a_store_of_the_earlier_format_opens_after_the_upgrade_and_is_sealed_again() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, body) = rig.signed_in().await;
    // A record as the earlier release wrote it, for a session ID of its own, carrying a
    // refresh token the emulator issued (the one of the sign-in above).
    let refresh_token = rig.emu.issued_refresh_tokens().pop().unwrap();
    let id = "an-earlier-session-id-0123456789abcdefghijklmno";
    let old_cookie = format!("{}={id}", cookie.split_once('=').unwrap().0);
    let key = store_key(&old_cookie);
    let now = rig.proxy.clock.now();
    let blob = format_1_record([7; 32], &key, &body["account"], &refresh_token, now);
    db(&rig)
        .execute(
            "INSERT INTO sessions (key, blob, expires_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![key, blob, i64::try_from(now + 3600).unwrap()],
        )
        .unwrap();

    let (status, session) = rig.get("/api/auth/session", Some(&old_cookie)).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["account"]["objectId"], ADELE);
    let (_, upgraded, index) = rows(&rig).into_iter().find(|(k, _, _)| *k == key).unwrap();
    assert_eq!(key_id(&upgraded), "0", "sealed again in format 2 under the one configured key");
    assert!(index.is_some(), "with its account index");
    assert!(!String::from_utf8_lossy(&upgraded).contains(ADELE), "the account is sealed too");
    // The upgraded session works all the way: its refresh token is redeemed.
    rig.advance(3600);
    let (status, token) = rig.token(&old_cookie).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200, "the other session too");
}

#[tokio::test]
async fn a_restart_with_a_new_key_first_keeps_every_session() {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let first = signed_in_as(&rig, ADELE).await;
    let second = signed_in_as(&rig, MEGAN).await;
    assert_eq!(key_id(&blob_of(&rig, &first)), "0");

    let old_key = rig.scratch.0.join("session.key");
    let new_key = rig.scratch.file("new.key", &STANDARD.encode([8u8; 32]));
    let line = rig.config_toml.lines().find(|l| l.starts_with("key = ")).unwrap().to_owned();
    rig.config_toml = rig.config_toml.replace(
        &line,
        &format!("keys = [ {{ id = \"2026-12\", file = {new_key:?} }}, {{ id = \"2026-06\", file = {old_key:?} }} ]"),
    );
    rig.restart_proxy().await;

    assert_eq!(rig.get("/api/auth/session", Some(&first)).await.0, 200, "opened with the second key");
    assert_eq!(key_id(&blob_of(&rig, &first)), "2026-12", "and sealed again under the first on use");
    assert_eq!(key_id(&blob_of(&rig, &second)), "0", "an unused one is left as it was");
    rig.advance(3600);
    assert_eq!(rig.token(&second).await.0, 200, "its refresh token is redeemed after the restart");
    assert_eq!(key_id(&blob_of(&rig, &second)), "2026-12");
    let third = signed_in_as(&rig, ADELE).await;
    assert_eq!(key_id(&blob_of(&rig, &third)), "2026-12", "new sessions under the first key");
    assert_eq!(rows(&rig).len(), 3, "no session was lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_only_a_wrong_key_start_up_refuses_and_the_rows_stay() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let cookie = signed_in_as(&rig, ADELE).await;
    let before = rows(&rig);
    let wrong = rig.scratch.file("wrong.key", &STANDARD.encode([9u8; 32]));
    let line = rig.config_toml.lines().find(|l| l.starts_with("key = ")).unwrap().to_owned();
    let toml = rig.config_toml.replace(&line, &format!("keys = [ {{ id = \"wrong\", file = {wrong:?} }} ]"));

    let settings = Config::from_toml_and_env(&toml, []).unwrap().validate().unwrap();
    let err = graphgate_proxy::server::build_state(settings).await.expect_err("a wrong key is refused");
    for said in ["session.keys", "key is wrong", "Nothing in the store was changed"] {
        assert!(err.contains(said), "{said:?} not in {err}");
    }
    assert_eq!(rows(&rig), before, "every row is still there, unchanged");

    // `check` says the same, in both languages, and changes nothing either.
    let config = rig.scratch.file("wrong.toml", &toml);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_graphgate-proxy"))
            .arg("check")
            .arg("--config")
            .arg(config)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("session.keys: the session key is wrong") && text.contains("会话密钥不正确"), "{text}");
    assert_eq!(rows(&rig), before);

    // The right key still opens them.
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200);
}

#[tokio::test]
async fn a_tampered_record_answers_401_and_is_kept_and_counted() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let cookie = signed_in_as(&rig, ADELE).await;
    let other = signed_in_as(&rig, MEGAN).await;
    let key = store_key(&cookie);
    let mut blob = blob_of(&rig, &cookie);
    // A byte of the sealed JSON (the account comes first in it).
    let at = 2 + usize::from(blob[1]) + 12 + 10;
    blob[at] ^= 0x01;
    db(&rig).execute("UPDATE sessions SET blob = ?1 WHERE key = ?2", rusqlite::params![blob, key]).unwrap();

    let (status, body) = rig.get("/api/auth/session", Some(&cookie)).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_signed_in")), "{body}");
    let (status, body) = rig.token(&cookie).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("not_signed_in")), "{body}");
    assert!(graphgate_core::needs_interaction(body["error"].as_str().unwrap()), "{body}");
    assert_eq!(blob_of(&rig, &cookie), blob, "the record is kept as it was");

    // The keep-alive's pass skips it and leaves it.
    rig.advance(60);
    graphgate_proxy::keepalive::run_once(&rig.proxy).await;
    assert_eq!(blob_of(&rig, &cookie), blob);
    assert_eq!(rows(&rig).len(), 2);

    let (_, metrics) = rig.get("/metrics", None).await;
    let metrics = metrics.as_str().unwrap().to_owned();
    assert!(metrics.contains("graphgate_sessions_unopenable_total 2"), "{metrics}");
    let _ = other;
}

#[tokio::test]
async fn logout_everywhere_ends_every_session_of_the_account_and_no_other() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let here = signed_in_as(&rig, ADELE).await;
    let there = signed_in_as(&rig, ADELE).await;
    let megan = signed_in_as(&rig, MEGAN).await;
    let megan_too = signed_in_as(&rig, MEGAN).await;
    // Their tokens are cached, and answered from memory.
    assert_eq!(rig.token(&there).await.0, 200);
    assert_eq!(rig.token(&megan).await.0, 200);

    let res = rig.post("/api/auth/logout", Some(&here), json!({"everywhere": true})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ended"], 2, "{body}");
    assert!(body["logoutUrl"].as_str().unwrap().contains("/oauth2/v2.0/logout"));
    assert_eq!(rig.get("/api/auth/session", Some(&here)).await.0, 401);
    assert_eq!(rig.get("/api/auth/session", Some(&there)).await.0, 401, "the other session of the account ended");
    assert_eq!(rig.get("/api/auth/session", Some(&megan)).await.0, 200, "another account's session stays");
    assert_eq!(rig.token(&there).await.0, 401, "no token from memory for an ended session");
    assert_eq!(rig.token(&megan).await.0, 200);
    assert_eq!(rows(&rig).len(), 2);

    // An empty body is a plain sign-out of this session only.
    let res = rig
        .http
        .post(format!("{}/api/auth/logout", rig.base))
        .header("x-graphgate", "1")
        .header("content-type", "application/json")
        .header("cookie", &megan)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(rig.get("/api/auth/session", Some(&megan)).await.0, 401);
    assert_eq!(rig.get("/api/auth/session", Some(&megan_too)).await.0, 200);
    let res = rig.post("/api/auth/logout", Some(&megan_too), json!({"everywhere": "yes"})).send().await.unwrap();
    assert_eq!(res.status(), 400, "a body of the wrong shape is refused");
    assert_eq!(rig.get("/api/auth/session", Some(&megan_too)).await.0, 200);
}

#[tokio::test]
async fn the_admin_api_lists_and_revokes_with_a_valid_key_only_and_audits_each_revocation() {
    // This test's runtime runs on this thread (the proxy's tasks too): the log is captured here.
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _log = tracing::subscriber::set_default(subscriber);

    let keys = std::env::temp_dir().join(format!("graphgate-admin-keys-{}", graphgate_emulator::guid()));
    std::fs::write(&keys, format!("other-key-abcdefghijkl,{API_KEY}")).unwrap();
    let rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("[invitations]\napi_keys = {{ file = {keys:?} }}\n")).await;
    let _ = std::fs::remove_file(&keys);
    let first = signed_in_as(&rig, ADELE).await;
    rig.advance(5);
    let second = signed_in_as(&rig, ADELE).await;
    let megan = signed_in_as(&rig, MEGAN).await;
    let path = format!("/api/admin/sessions?tenantId={CONTOSO}&objectId={ADELE}");
    let call = |method: reqwest::Method, path: &str, key: Option<&str>| {
        let mut req = rig.http.request(method, format!("{}{path}", rig.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        async move {
            let res = req.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        }
    };
    let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();

    for key in [None, Some("not-a-key"), Some("")] {
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let (status, text) = call(method.clone(), &path, key).await;
            assert_eq!(
                (status, json(&text)["code"].as_str()),
                (401, Some("admin_key_required")),
                "{method} {key:?}: {text}"
            );
        }
    }
    assert_eq!(rows(&rig).len(), 3, "nothing was revoked without a key");

    let (status, text) = call(reqwest::Method::GET, &path, Some(API_KEY)).await;
    assert_eq!(status, 200, "{text}");
    let listed = json(&text);
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    for s in sessions {
        let handle = s["handle"].as_str().unwrap();
        assert_eq!(handle.len(), 16);
        assert!(
            s["createdAt"].as_u64().unwrap() > 0
                && s["lastSeen"].as_u64().is_some()
                && s["expiresAt"].as_u64().is_some()
        );
        assert!(s["scopes"].as_array().unwrap().iter().any(|x| x == "User.Read"), "{s}");
    }
    assert!(sessions[0]["createdAt"].as_u64() < sessions[1]["createdAt"].as_u64(), "oldest first");
    assert_eq!(sessions[0]["handle"], store_key(&first)[..16]);
    for cookie in [&first, &second, &megan] {
        assert!(!text.contains(cookie.split_once('=').unwrap().1), "no session ID in {text}");
        assert!(!text.contains(&store_key(cookie)), "no whole store key in {text}");
    }
    for rt in rig.emu.issued_refresh_tokens() {
        assert!(!text.contains(&rt), "no refresh token in {text}");
    }

    let (status, text) =
        call(reqwest::Method::GET, &format!("/api/admin/sessions?tenantId={CONTOSO}"), Some(API_KEY)).await;
    assert_eq!((status, json(&text)["code"].as_str()), (400, Some("invalid_query")), "{text}");
    let (status, text) = call(reqwest::Method::DELETE, &format!("{path}&handle=XYZ"), Some(API_KEY)).await;
    assert_eq!((status, json(&text)["code"].as_str()), (400, Some("invalid_query")), "{text}");

    // One session by its handle, then the rest.
    let handle = &store_key(&first)[..16];
    let (status, text) = call(reqwest::Method::DELETE, &format!("{path}&handle={handle}"), Some(API_KEY)).await;
    assert_eq!((status, json(&text)["revoked"].as_u64()), (200, Some(1)), "{text}");
    assert_eq!(rig.get("/api/auth/session", Some(&first)).await.0, 401);
    assert_eq!(rig.get("/api/auth/session", Some(&second)).await.0, 200);
    let (status, text) = call(reqwest::Method::DELETE, &path, Some(API_KEY)).await;
    assert_eq!((status, json(&text)["revoked"].as_u64()), (200, Some(1)), "{text}");
    assert_eq!(rig.get("/api/auth/session", Some(&second)).await.0, 401);
    assert_eq!(rig.token(&second).await.0, 401, "its cached tokens went with it");
    assert_eq!(rig.get("/api/auth/session", Some(&megan)).await.0, 200, "another account's session stays");
    let (_, text) = call(reqwest::Method::GET, &path, Some(API_KEY)).await;
    assert_eq!(json(&text)["sessions"], json!([]));

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("graphgate::audit")).collect();
    assert_eq!(audit.len(), 2 + 3, "two revocations and three refused attempts:\n{log}");
    let revoked: Vec<&&str> = audit.iter().filter(|l| l.contains("outcome=\"revoked\"")).collect();
    assert_eq!(revoked.len(), 2, "{audit:#?}");
    for line in &revoked {
        for said in ["revoke_sessions", "api_key=sha256:", CONTOSO, ADELE, "at="] {
            assert!(line.contains(said), "{said} not in {line}");
        }
    }
    assert!(revoked[0].contains(handle) && revoked[1].contains("handle=\"*\""), "{revoked:#?}");
    let mut secrets = vec![API_KEY.to_owned(), "other-key-abcdefghijkl".to_owned()];
    secrets.extend(rig.emu.issued_refresh_tokens());
    for cookie in [&first, &second, &megan] {
        secrets.push(cookie.split_once('=').unwrap().1.to_owned());
        secrets.push(store_key(cookie));
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret reached the log: …{}", &secret[..8]);
    }
}
