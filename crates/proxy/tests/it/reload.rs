//! Rotating secrets without downtime, on the real binary: SIGHUP reads the client secret and the
//! session keys again; a bad new one is refused with a log line and the old one keeps working; a
//! good one is used by the next upstream call.

use base64::Engine as _;

use crate::process;
use crate::support::*;

const ROTATED: &str = "sandbox-rotated-secret~8Hn.Rt4Wq7Zp2Lc6";
const SECRET_ID: &str = "3f1e0c9a-1111-4222-8333-944455556666";
const ROTATED_ID: &str = "5b2d0c9a-1111-4222-8333-944455557777";

async fn forced_token(rig: &Rig, cookie: &str) -> (u16, serde_json::Value) {
    let res =
        rig.post("/api/auth/token", Some(cookie), serde_json::json!({"forceRefresh": true})).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn sighup_rotates_the_secret_and_the_session_keys_refusing_bad_ones() {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "force_refresh_interval_secs = 0\n").await;
    let toml = process::config_for_process(&rig.config_toml, "binary.db");
    let mut proxy = process::start(&rig.scratch.0, "proxy.toml", &toml);
    rig.base = proxy.base.clone();
    let (cookie, _) = rig.signed_in().await;
    assert_eq!(forced_token(&rig, &cookie).await.0, 200);
    let secret_file = rig.scratch.0.join("secret");

    // Bad values: an empty file, then a secret Entra refuses (expired). Each is refused; the old
    // secret keeps working.
    for (n, bad) in [("", "empty"), (EXPIRED_SECRET, "AADSTS7000222"), ("sandbox-wrong-secret", "AADSTS7000215")]
        .into_iter()
        .enumerate()
    {
        std::fs::write(&secret_file, bad.0).unwrap();
        proxy.signal("HUP");
        let line = proxy.wait_for_nth_line("the new client credential is refused", n + 1).await;
        assert!(line.contains(bad.1), "{line}");
        assert!(!line.contains(EXPIRED_SECRET), "no secret in the log: {line}");
        rig.emu.reset_calls();
        let (status, body) = forced_token(&rig, &cookie).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(rig.emu.call_count(&format!("secret:{SECRET_ID}")), 1, "{:?}", rig.emu.calls());
    }

    // A bad session key (not 32 bytes), then a key that opens none of the stored sessions: refused.
    let key_file = rig.scratch.0.join("session.key");
    let good_key = std::fs::read_to_string(&key_file).unwrap();
    for (n, bad) in ["not a key", &base64::engine::general_purpose::STANDARD.encode([9u8; 32])].into_iter().enumerate()
    {
        std::fs::write(&key_file, bad).unwrap();
        proxy.signal("HUP");
        proxy.wait_for_nth_line("the new session keys are refused", n + 1).await;
        assert_eq!(rig.token(&cookie).await.0, 200, "the session still opens");
    }
    std::fs::write(&key_file, &good_key).unwrap();

    // The rotated secret: taken, and the next upstream call uses it.
    std::fs::write(&secret_file, ROTATED).unwrap();
    proxy.signal("HUP");
    proxy.wait_for_line("the client credential was read again and is in use").await;
    rig.emu.reset_calls();
    let (status, body) = forced_token(&rig, &cookie).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.emu.call_count(&format!("secret:{ROTATED_ID}")), 1, "{:?}", rig.emu.calls());
    assert_eq!(rig.emu.call_count(&format!("secret:{SECRET_ID}")), 0, "{:?}", rig.emu.calls());
    let log = proxy.lines().join("\n");
    assert!(!log.contains(ROTATED) && !log.contains(SECRET), "no secret in the log");
    proxy.kill();
}

/// A SIGHUP that comes while the proxy starts (here: while it waits to read its secret from a
/// pipe) does not stop it, as the signal's default action would, and is answered once it runs.
#[tokio::test]
async fn a_sighup_during_start_up_neither_stops_the_proxy_nor_is_lost() {
    use std::io::Write as _;
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let config = rig.scratch.file("early.toml", &process::config_for_process(&rig.config_toml, "early.db"));
    let secret_file = rig.scratch.0.join("secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    std::fs::remove_file(&secret_file).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&secret_file).status().unwrap().success());
    let mut proxy = process::spawn_with(&config);
    // Opening the pipe to write waits until the proxy opens it to read: it is starting up.
    let path = secret_file.clone();
    let mut writer =
        tokio::task::spawn_blocking(move || std::fs::OpenOptions::new().write(true).open(path)).await.unwrap().unwrap();
    proxy.signal("HUP");
    // What the reload reads later is a file (the proxy keeps the pipe it opened).
    std::fs::remove_file(&secret_file).unwrap();
    std::fs::write(&secret_file, &secret).unwrap();
    writer.write_all(secret.as_bytes()).unwrap();
    drop(writer);
    proxy.wait_until_listening();
    proxy.wait_for_line("SIGHUP: reading the client credential").await;
    proxy.wait_for_line("the client credential was read again and is in use").await;
    assert!(proxy.child.try_wait().unwrap().is_none(), "still running");
    proxy.kill();
}
