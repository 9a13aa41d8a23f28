//! The control API's input checks: absurd clock moves and fault rules are refused with a 400 JSON
//! error and change nothing, so the emulator keeps answering; and the `reset` and `tls` faults.

use serde_json::{Value, json};

use crate::support::*;

async fn post(emu: &Emu, path: &str, body: &str) -> (u16, Value) {
    let res = emu
        .http
        .post(format!("{}/_emulator{path}", emu.base()))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn discovery(emu: &Emu) -> Result<u16, reqwest::Error> {
    let url = format!("{}/{CONTOSO}/v2.0/.well-known/openid-configuration", emu.base());
    emu.http.get(url).send().await.map(|r| r.status().as_u16())
}

#[tokio::test]
async fn absurd_clock_moves_are_refused_and_the_emulator_keeps_answering() {
    let emu = start().await;
    let before = emu.handle.now();
    let max = u64::MAX.to_string();
    for body in [
        format!("{{\"seconds\": {max}}}"),
        "{\"seconds\": 18446744073709551616}".to_owned(),
        "{\"seconds\": -1}".to_owned(),
        "{\"seconds\": 1.5}".to_owned(),
        "{\"seconds\": \"60\"}".to_owned(),
        "{}".to_owned(),
        "not json".to_owned(),
        format!("{{\"seconds\": {}}}", graphgate_emulator::MAX_CLOCK_OFFSET_SECS + 1),
    ] {
        let (status, answer) = post(&emu, "/clock", &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"], "bad_request", "{body}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}: {answer}");
    }
    assert!(emu.handle.now() < before + 5, "the clock did not move");
    assert_eq!(discovery(&emu).await.unwrap(), 200, "still answering");
    // Two moves that each fit but together pass the bound: the second is refused.
    let half = graphgate_emulator::MAX_CLOCK_OFFSET_SECS / 2 + 1;
    let (status, answer) = post(&emu, "/clock", &format!("{{\"seconds\": {half}}}")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["now"].as_u64().unwrap() >= before + half);
    let (status, answer) = post(&emu, "/clock", &format!("{{\"seconds\": {half}}}")).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("bad_request")), "{answer}");
    // Time still works everywhere: a client-credentials token is minted with the moved clock.
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn fault_rules_out_of_bounds_are_refused() {
    let emu = start().await;
    for body in [
        json!({"path": "/", "kind": "delay", "ms": u64::MAX}),
        json!({"path": "/", "kind": "delay", "ms": 600_001}),
        json!({"path": "/", "kind": "throttle", "retry_after": u64::MAX}),
        json!({"path": "/", "kind": "status", "status": 0}),
        json!({"path": "/", "kind": "status", "status": 200}),
        json!({"path": "/", "kind": "status", "status": 999}),
        json!({"path": "/", "kind": "status", "status": 70000}),
        json!({"path": "/", "kind": "drop", "count": 0}),
        json!({"path": "/", "kind": "drop", "count": u64::MAX}),
        json!({"path": "/", "kind": "warp"}),
        json!({"path": "/v1.0/me", "kind": "reset", "in_batch": true}),
        json!({"path": "/v1.0/me", "kind": "tls", "in_batch": true}),
    ] {
        let (status, answer) = post(&emu, "/faults", &body.to_string()).await;
        assert_eq!((status, answer["error"].as_str()), (400, Some("bad_request")), "{body}: {answer}");
    }
    assert_eq!(discovery(&emu).await.unwrap(), 200, "no rule was added");
    let (status, _) = post(&emu, "/faults", &json!({"path": "/", "kind": "status", "status": 503}).to_string()).await;
    assert_eq!(status, 204);
    assert_eq!(discovery(&emu).await.unwrap(), 503);
}

#[tokio::test]
async fn a_reset_breaks_the_answer_off_once() {
    let emu = start().await;
    let path = format!("/{CONTOSO}/v2.0/.well-known/openid-configuration");
    let (status, _) = post(&emu, "/faults", &json!({"path": path, "kind": "reset"}).to_string()).await;
    assert_eq!(status, 204);
    let url = format!("{}{path}", emu.base());
    // The connection breaks before the answer is complete: before or after its headers arrive.
    match emu.http.get(&url).send().await {
        Ok(res) => assert!(res.text().await.is_err(), "the body breaks off"),
        Err(e) => assert!(e.is_request(), "{e:?}"),
    }
    assert_eq!(discovery(&emu).await.unwrap(), 200, "the next call succeeds");
}

#[tokio::test]
async fn a_tls_fault_fails_the_next_handshakes_even_for_a_client_with_an_open_connection() {
    let emu = start().await;
    // A connection is open and idle in the client's pool.
    assert_eq!(discovery(&emu).await.unwrap(), 200);
    let (status, _) = post(&emu, "/faults", &json!({"path": "/", "kind": "tls", "count": 2}).to_string()).await;
    assert_eq!(status, 204);
    // The control call's own connection closes after its answer, and so does the idle one: every
    // request needs a fresh connection, whose handshake fails twice.
    let mut failed = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while failed < 2 {
        assert!(std::time::Instant::now() < deadline, "two handshakes should have failed");
        // An answer here is a request that raced the close of a pooled connection.
        if let Err(e) = discovery(&emu).await {
            assert!(e.is_connect() || e.is_request(), "{e:?}");
            failed += 1;
        }
    }
    assert_eq!(discovery(&emu).await.unwrap(), 200, "the fault is used up");
}
