//! Every log line the proxy (and the libraries under it) writes over a whole run of sign-ins,
//! refreshes, failures, invitations and sign-outs, captured at TRACE level and scanned: no
//! client secret, API key, session key, session ID, code, verifier, access or refresh token; and
//! the invitations' audit lines (one per request, with its outcome).

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first unexpected error")]

#[path = "it/scratch.rs"]
mod scratch;
#[path = "it/support.rs"]
mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn no_secret_or_token_reaches_a_log_line() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let keys = std::env::temp_dir().join(format!("graphgate-keys-{}", graphgate_emulator::guid()));
    std::fs::write(&keys, "log-test-api-key-123").unwrap();
    let rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("[invitations]\napi_keys = {{ file = {keys:?} }}\n")).await;
    let mut secrets = vec![
        SECRET.to_owned(),
        "log-test-api-key-123".to_owned(),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
    ];

    let (code, verifier, nonce) = rig.sign_in(CONTOSO, ADELE).await;
    secrets.extend([code.clone(), verifier.clone(), nonce.clone()]);
    let (status, cookie, body) = rig.exchange(&code, &verifier, &nonce).await;
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
    secrets.push(cookie.split_once('=').unwrap().1.to_owned());
    secrets.push(body["accessToken"].as_str().unwrap().to_owned());
    rig.advance(3600);
    let (_, refreshed) = rig.token(&cookie).await;
    secrets.push(refreshed["accessToken"].as_str().unwrap().to_owned());
    let res = rig
        .post("/api/invitations", None, json!({"email": "bob@fabrikam.onmicrosoft.com"}))
        .bearer_auth("log-test-api-key-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let invite = |key: &'static str, email: &'static str| {
        rig.post("/api/invitations", None, json!({"email": email})).bearer_auth(key).send()
    };
    assert_eq!(invite("wrong-api-key-456", "x@example.org").await.unwrap().status(), 403);
    assert_eq!(invite("log-test-api-key-123", "megan@contoso.onmicrosoft.com").await.unwrap().status(), 200);
    assert_eq!(invite("log-test-api-key-123", "b!ob@fabrikam.com").await.unwrap().status(), 400);
    rig.emu.revoke("adele@contoso.onmicrosoft.com").unwrap();
    rig.advance(3600);
    assert_eq!(rig.token(&cookie).await.0, 401);
    let (code2, verifier2, nonce2) = rig.sign_in(CONTOSO, ADELE).await;
    secrets.extend([code2.clone(), verifier2.clone()]);
    let (_, cookie2, _) = rig.exchange(&code2, &verifier2, &nonce2).await;
    let cookie2 = cookie2.unwrap();
    secrets.push(cookie2.split_once('=').unwrap().1.to_owned());
    let res = rig.post("/api/auth/logout", Some(&cookie2), json!({})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    secrets.extend(rig.emu.issued_refresh_tokens());

    // The certificate credential: its key signs assertions and must never be logged either.
    let cert_rig = support::rig(CONTOSO, Cred::Certificate, "").await;
    let (cert_cookie, cert_body) = cert_rig.signed_in().await;
    secrets.push(cert_cookie.split_once('=').unwrap().1.to_owned());
    secrets.push(cert_body["accessToken"].as_str().unwrap().to_owned());
    cert_rig.advance(3600);
    assert_eq!(cert_rig.token(&cert_cookie).await.0, 200);
    secrets.extend(cert_rig.emu.issued_refresh_tokens());
    // Every line of the key's base64 body.
    secrets.extend(
        graphgate_emulator::SANDBOX_KEY_PEM
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
            .map(str::to_owned),
    );

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    // One audit line per invitation request: who (an API key by its label), whom, when, the outcome.
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("graphgate::audit")).collect();
    let expected = [
        ("who=api-key:sha256:", "whom=\"bob@fabrikam.onmicrosoft.com\"", "outcome=\"invited\""),
        ("who=client:", "whom=\"x@example.org\"", "outcome=\"refused\""),
        ("who=api-key:sha256:", "whom=\"megan@contoso.onmicrosoft.com\"", "outcome=\"member\""),
        ("who=client:", "whom=\"-\"", "outcome=\"invalid\""),
    ];
    assert_eq!(audit.len(), expected.len(), "{audit:#?}");
    for (line, (who, whom, outcome)) in audit.iter().zip(expected) {
        assert!(line.contains(who) && line.contains(whom) && line.contains(outcome) && line.contains(" at="), "{line}");
        assert!(!line.contains("wrong-api-key-456") && !line.contains("eyJ") && !line.contains("Bearer"), "{line}");
    }
    assert!(log.contains("request_id="), "requests are logged with their ID");
    assert!(log.lines().count() > 50, "the capture saw the libraries' trace output too");
    assert!(log.contains("route=/api/auth/token"), "{log}");
    for secret in &secrets {
        assert!(secret.len() >= 8, "a meaningful value to look for");
        assert!(!log.contains(secret.as_str()), "a secret or token reached the log: …{}", &secret[..8]);
    }
    let _ = std::fs::remove_file(keys);
}
