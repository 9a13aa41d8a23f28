//! Upstream faults, call by call: each upstream call the proxy makes (code redemption, refresh,
//! client credentials, discovery, keys, the Graph user lookup and invitation) meets each fault
//! (500, 503, a timeout, a connection broken mid-answer, malformed JSON, 429 with `Retry-After`,
//! a failed TLS handshake). Each answers a typed catalogue error within the retry budget; a code
//! is never sent twice; once the fault clears the next call succeeds, and a failed refresh leaves
//! the session usable.

use std::time::{Duration, Instant};

use graphgate_emulator::{Fault, FaultKind};
use serde_json::{Value, json};

use crate::support::*;

const KEY: &str = "fault-test-key";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Code,
    Refresh,
    ClientCredentials,
    Discovery,
    Keys,
    UserLookup,
    Invitation,
}

fn faults() -> Vec<(&'static str, FaultKind)> {
    vec![
        ("500", FaultKind::Status { status: 500 }),
        ("503", FaultKind::Status { status: 503 }),
        // Longer than the rig's one-second upstream timeout.
        ("timeout", FaultKind::Delay { ms: 1_500 }),
        ("reset", FaultKind::Reset),
        ("malformed JSON", FaultKind::MalformedJson),
        ("429", FaultKind::Throttle { retry_after: 1 }),
        ("tls", FaultKind::Tls),
    ]
}

fn path_of(call: Call) -> String {
    match call {
        Call::Code | Call::Refresh | Call::ClientCredentials => format!("/{CONTOSO}/oauth2/v2.0/token"),
        Call::Discovery => format!("/{CONTOSO}/v2.0/.well-known/openid-configuration"),
        Call::Keys => format!("/{CONTOSO}/discovery/v2.0/keys"),
        Call::UserLookup => "/v1.0/users".to_owned(),
        Call::Invitation => "/v1.0/invitations".to_owned(),
    }
}

async fn invitation_status(rig: &Rig, email: &str) -> (u16, Value) {
    let url = format!("{}/api/invitations/status?email={email}", rig.base);
    let res = rig.http.get(url).bearer_auth(KEY).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn invite(rig: &Rig, email: &str) -> (u16, Value) {
    let res = rig.post("/api/invitations", None, json!({"email": email})).bearer_auth(KEY).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn forced(rig: &Rig, cookie: &str) -> (u16, Value) {
    let res = rig.post("/api/auth/token", Some(cookie), json!({"forceRefresh": true})).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Makes the state `call` needs before its fault, then returns what makes the call.
async fn prepare(rig: &mut Rig, call: Call, cookie: &str) -> Option<(String, String, String)> {
    match call {
        // A fresh proxy: no issuer, keys or app-only token cached.
        Call::Discovery | Call::Keys | Call::ClientCredentials => rig.restart_proxy().await,
        // The app-only token cached, so the fault meets the Graph call.
        Call::UserLookup | Call::Invitation => {
            assert_eq!(invitation_status(rig, "warm@fabrikam.onmicrosoft.com").await.0, 200)
        }
        Call::Code | Call::Refresh => {}
    }
    match call {
        Call::Code | Call::Discovery | Call::Keys => Some(rig.sign_in(CONTOSO, ADELE).await),
        _ => {
            let _ = cookie;
            None
        }
    }
}

async fn act(rig: &Rig, call: Call, cookie: &str, signed: Option<&(String, String, String)>, n: usize) -> (u16, Value) {
    match call {
        Call::Code | Call::Discovery | Call::Keys => {
            let (code, state, sign_in) = signed.unwrap();
            let (status, _, body) = rig.exchange(code, state, sign_in).await;
            (status, body)
        }
        Call::Refresh => forced(rig, cookie).await,
        Call::ClientCredentials | Call::UserLookup => invitation_status(rig, "bob@fabrikam.onmicrosoft.com").await,
        Call::Invitation => invite(rig, &format!("guest{n}@fabrikam.onmicrosoft.com")).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_call_meets_every_fault_with_a_typed_error_and_recovers() {
    let keys = std::env::temp_dir().join(format!("graphgate-fault-keys-{}", graphgate_emulator::guid()));
    std::fs::write(&keys, KEY).unwrap();
    let mut rig = rig_with_entra(
        CONTOSO,
        Cred::Secret(SECRET),
        "upstream_timeout_secs = 1\nconnect_timeout_secs = 1",
        &format!(
            "force_refresh_interval_secs = 0\nsign_ins_per_minute = 10000\n[invitations]\npolicy = \"admin\"\napi_keys = {{ file = {keys:?} }}\n"
        ),
    )
    .await;
    let (cookie, _) = rig.signed_in().await;
    let mut n = 0;
    for call in [
        Call::Code,
        Call::Refresh,
        Call::ClientCredentials,
        Call::Discovery,
        Call::Keys,
        Call::UserLookup,
        Call::Invitation,
    ] {
        for (name, kind) in faults() {
            n += 1;
            let signed = prepare(&mut rig, call, &cookie).await;
            let tls = kind == FaultKind::Tls;
            rig.emu.reset_calls();
            // Three uses: enough for every attempt of a call that is retried.
            rig.emu.add_fault(Fault { path: path_of(call), method: None, count: 3, kind });
            let started = Instant::now();
            let (status, body) = act(&rig, call, &cookie, signed.as_ref(), n).await;
            let took = started.elapsed();
            let case = format!("{call:?} × {name}");
            assert!(status >= 400, "{case}: {status} {body}");
            assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{case}: {body}");
            assert!(body["slug"].is_string() && body["hint"].is_string(), "{case}: not a catalogue answer: {body}");
            // Three attempts of one second, the waits between them, and some slack.
            assert!(took < Duration::from_secs(8), "{case}: took {took:?}");
            if call == Call::Code && !tls {
                let sent = rig.emu.call_count(&format!("POST {}", path_of(call)));
                assert_eq!(sent, 1, "{case}: a code is sent once");
            }
            rig.emu.clear_faults();
            // The fault cleared: the next call succeeds.
            let signed = match call {
                Call::Code | Call::Discovery | Call::Keys => Some(rig.sign_in(CONTOSO, ADELE).await),
                _ => None,
            };
            let (status, body) = act(&rig, call, &cookie, signed.as_ref(), n + 1000).await;
            assert_eq!(status, 200, "{case}, after: {body}");
            if call == Call::Refresh {
                assert_eq!(rig.token(&cookie).await.0, 200, "{case}: the session is usable");
            }
        }
    }
}
