//! Crash safety with the SQLite store: the real binary, SIGKILLed while refresh tokens rotate
//! under load, loses no session. After the restart on the same database, every session signed
//! in before the kill answers, with the newest refresh token Entra handed out or the one before
//! it (which Entra, and the emulator, keep valid after a rotation).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::process;
use crate::support::*;

const SESSIONS: usize = 100;

/// Every refresh goes upstream, and no per-address limit holds back the test's one address.
const CRASH_TOML: &str = "force_refresh_interval_secs = 0\nsign_ins_per_minute = 10000\n\
    [limits]\nexchanges_per_minute = 10000\ntoken_refreshes_per_minute = 100000\n";

async fn rounds(rounds: usize) {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), CRASH_TOML).await;
    let toml = process::config_for_process(&rig.config_toml, "crash.db");
    let config = rig.scratch.0.join("crash.toml");
    std::fs::write(&config, &toml).unwrap();
    let mut proxy = process::start_with(&config);
    rig.base = proxy.base.clone();
    let mut cookies = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        cookies.push(rig.signed_in().await.0);
    }
    let cookies = Arc::new(cookies);
    for round in 0..rounds {
        // Load: forced refreshes on every session, so refresh tokens rotate and are written.
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let mut load = Vec::new();
        for worker in 0..8 {
            let (http, base, cookies, stop, answered) =
                (rig.http.clone(), rig.base.clone(), cookies.clone(), stop.clone(), answered.clone());
            load.push(tokio::spawn(async move {
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let res = http
                        .post(format!("{base}/api/auth/token"))
                        .header("x-graphgate", "1")
                        .header("origin", ORIGIN)
                        .header("cookie", &cookies[i % cookies.len()])
                        .json(&serde_json::json!({"forceRefresh": true}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status() == 200 => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        // The proxy is gone: the kill happened.
                        Err(_) => break,
                    }
                    i += 8;
                }
            }));
        }
        // Kill once refreshes are flowing (a counter, not a fixed wait).
        let deadline = Instant::now() + process::PATIENCE;
        while answered.load(Ordering::Relaxed) < 60 {
            assert!(Instant::now() < deadline, "round {round}: the load did not get going");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        proxy.kill();
        stop.store(true, Ordering::Relaxed);
        for task in load {
            task.await.unwrap();
        }
        proxy = process::start_with(&config);
        rig.base = proxy.base.clone();
        for (n, cookie) in cookies.iter().enumerate() {
            let (status, body) = rig.token(cookie).await;
            assert_eq!(status, 200, "round {round}: session {n} lost after the kill: {body}");
        }
    }
    proxy.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_proxy_loses_no_session() {
    rounds(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress"]
async fn a_proxy_killed_ten_times_loses_no_session() {
    rounds(10).await;
}
