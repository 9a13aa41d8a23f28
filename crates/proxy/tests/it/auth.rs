//! The proxy's sign-in endpoints against graphgate-emulator: exchange, token (cache, single-flight,
//! refresh, expired and revoked grants), session, logout, CSRF and CORS, restarts with SQLite,
//! the certificate credential, and secrets that never leak.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn the_graph_base_may_be_written_with_its_version() {
    let mut rig = rig("common", Cred::Secret(SECRET), "").await;
    let emu = rig.emu.base_url().to_owned();
    let configured = format!("graph_base = \"{emu}\"");
    assert!(rig.config_toml.contains(&configured));
    let template = rig.config_toml.clone();
    for (spelling, expected) in [
        (format!("{emu}/v1.0"), format!("{emu}/v1.0")),
        (format!("{emu}/v1.0/"), format!("{emu}/v1.0")),
        (format!("{emu}/"), format!("{emu}/v1.0")),
        (format!("{emu}/beta"), format!("{emu}/beta")),
    ] {
        rig.config_toml = template.replace(&configured, &format!("graph_base = \"{spelling}\""));
        rig.restart_proxy().await;
        let (status, config) = rig.get("/api/config", None).await;
        assert_eq!((status, config["graphBaseUrl"].as_str()), (200, Some(expected.as_str())), "{spelling}");
    }
}

#[tokio::test]
async fn config_health_and_metrics() {
    let mut rig = rig("common", Cred::Secret(SECRET), "").await;
    // Not ready while the authority's discovery document cannot be fetched (and the failure is
    // answered again for a while without another call).
    rig.emu.add_fault(graphgate_emulator::Fault {
        path: "/common/v2.0/.well-known".into(),
        method: None,
        count: 3,
        kind: graphgate_emulator::FaultKind::Status { status: 500 },
    });
    let (status, ready) = rig.get("/readyz", None).await;
    assert_eq!(status, 503, "{ready}");
    rig.restart_proxy().await;
    let (status, config) = rig.get("/api/config", None).await;
    assert_eq!(status, 200);
    assert_eq!(config["clientId"], APP);
    assert_eq!(config["tenant"], "common");
    assert_eq!(config["authority"], format!("{}/common", rig.emu.base_url()));
    assert_eq!(config["graphBaseUrl"], format!("{}/v1.0", rig.emu.base_url()));
    assert_eq!(config["defaultScopes"], json!(["openid", "offline_access", "User.Read", "Mail.Send"]));
    assert_eq!(config["redirectUris"], json!([REDIRECT]));
    assert_eq!(rig.get("/healthz", None).await.0, 200);
    let (status, ready) = rig.get("/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    let (status, metrics) = rig.get("/metrics", None).await;
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    assert!(text.contains("graphgate_requests_total{route=\"/api/config\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("graphgate_upstream_seconds_count{kind=\"discovery\"}"), "{text}");
    assert!(text.contains("graphgate_sessions 0"));
    let (status, body) = rig.get("/no/such/route", None).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn sign_in_exchange_session_and_cached_token() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, body) = rig.signed_in().await;
    assert!(cookie.starts_with("graphgate="), "{cookie}");
    assert!(body["accessToken"].is_string());
    assert_eq!(body["account"]["username"], "adele@contoso.onmicrosoft.com");
    assert_eq!(body["account"]["accountType"], "member");
    assert!(body.get("refreshToken").is_none() && body.get("refresh_token").is_none());
    let (status, session) = rig.get("/api/auth/session", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert_eq!(session["account"]["tenantId"], CONTOSO);
    // A fresh token is answered from the cache, without going upstream.
    let (status, token) = rig.token(&cookie).await;
    assert_eq!(status, 200);
    assert_eq!(token["accessToken"], body["accessToken"]);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 0);
    let expires_in = token["expiresIn"].as_u64().expect("expiresIn");
    assert!((3000..=3600).contains(&expires_in), "{token}");
    // forceRefresh (Graph refused the token) skips the cache and goes upstream once.
    let res =
        rig.post("/api/auth/token", Some(&cookie), serde_json::json!({"forceRefresh": true})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let forced: serde_json::Value = res.json().await.unwrap();
    assert_ne!(forced["accessToken"], body["accessToken"]);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
    // A session the proxy does not know: the page must sign in (interaction required, not signed in).
    let slots = rig.proxy.tokens.len();
    let (status, err) = rig.token("graphgate=forged").await;
    assert_eq!(
        (status, err["error"].as_str(), err["code"].as_str()),
        (401, Some("interaction_required"), Some("not_signed_in"))
    );
    // Made-up cookies leave nothing behind in the token cache.
    for n in 0..20 {
        assert_eq!(rig.token(&format!("graphgate=made-up-{n}")).await.0, 401);
    }
    assert_eq!(rig.proxy.tokens.len(), slots, "no slot per unknown cookie");
    let res = rig.post("/api/auth/token", None, serde_json::json!({})).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let err: serde_json::Value = res.json().await.unwrap();
    assert_eq!((err["error"].as_str(), err["code"].as_str()), (Some("interaction_required"), Some("not_signed_in")));
    assert_eq!(rig.get("/api/auth/session", None).await.0, 401);
}

#[tokio::test]
async fn fifty_parallel_token_requests_cause_one_refresh() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, first) = rig.signed_in().await;
    rig.advance(3600);
    let answers = join_all((0..50).map(|_| Box::pin(rig.token(&cookie))).collect()).await;
    let fresh = &answers[0].1["accessToken"];
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(&body["accessToken"], fresh, "everyone shares the one refresh");
    }
    assert_ne!(fresh, &first["accessToken"]);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1, "exactly one upstream refresh");
    // The rotated refresh token was stored: the next refresh uses it and works.
    rig.advance(3600);
    assert_eq!(rig.token(&cookie).await.0, 200);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 2);
}

#[tokio::test]
async fn revoked_and_lapsed_refresh_tokens_need_a_new_sign_in() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, _) = rig.signed_in().await;
    rig.emu.revoke("adele@contoso.onmicrosoft.com").unwrap();
    rig.advance(3600);
    let (status, err) = rig.token(&cookie).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(err["error"], "interaction_required");
    assert_eq!(err["code"], "AADSTS50173");
    assert!(!err["hint"].as_str().unwrap().is_empty() && !err["hintZh"].as_str().unwrap().is_empty());
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 401, "the dead session is gone");
}

#[tokio::test]
async fn an_inactive_refresh_token_lapses() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, _) = rig.signed_in().await;
    // Keep the session alive on the proxy's side, but let Entra's 90 days of inactivity pass.
    rig.emu.advance_clock(91 * 24 * 3600);
    rig.proxy.clock.advance(3600);
    let (status, err) = rig.token(&cookie).await;
    assert_eq!(
        (status, err["error"].as_str(), err["code"].as_str()),
        (401, Some("interaction_required"), Some("AADSTS700082"))
    );
}

#[tokio::test]
async fn wrong_and_expired_client_secrets_are_explained() {
    for (secret, code) in [("not-the-secret", "AADSTS7000215"), (EXPIRED_SECRET, "AADSTS7000222")] {
        let rig = rig(CONTOSO, Cred::Secret(secret), "").await;
        let (code_value, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
        let (status, cookie, err) = rig.exchange(&code_value, &state, &sign_in).await;
        assert_eq!(status, 502, "{err}");
        assert!(cookie.is_none());
        assert_eq!(err["code"], code);
        assert_eq!(err["error"], "invalid_client");
        let text = err.to_string();
        assert!(!text.contains(secret), "the secret must never be echoed");
    }
}

#[tokio::test]
async fn bad_exchange_requests_are_typed_errors() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    // A sign-in is begun only for one of the proxy's redirect URIs.
    let res = rig.post("/api/auth/begin", None, json!({"redirectUri": "http://evil.example/"})).send().await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_redirect_uri");
    // The old body (the page's own verifier and nonce) is refused: the proxy keeps them.
    let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
    let old = json!({"code": code, "codeVerifier": "v".repeat(43), "redirectUri": REDIRECT, "nonce": "n"});
    let res = rig.post("/api/auth/exchange", Some(&sign_in), old).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json_body");
    let res = rig.post("/api/auth/exchange", None, json!({"code": 1})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json_body");
    // The refused attempts did not spend the sign-in.
    let (status, _, body) = rig.exchange(&code, &state, &sign_in).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn csrf_and_cors_refusals() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let url = format!("{}/api/auth/token", rig.base);
    let no_header = rig.http.post(&url).header("origin", ORIGIN).json(&json!({})).send().await.unwrap();
    let body: serde_json::Value = no_header.json().await.unwrap();
    assert_eq!(body["error"], "csrf_header_missing");
    let wrong_origin = rig
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .header("x-graphgate", "1")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_origin.status(), 403);
    let body: serde_json::Value = wrong_origin.json().await.unwrap();
    assert_eq!(body["error"], "origin_not_allowed");
    let form = rig
        .http
        .post(&url)
        .header("origin", ORIGIN)
        .header("x-graphgate", "1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("a=b")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    // CORS: a preflight from an unlisted origin gets no permission; a listed one does, with credentials.
    let preflight = |origin: &'static str| {
        rig.http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,x-graphgate")
            .send()
    };
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    let allowed = preflight(ORIGIN).await.unwrap();
    assert_eq!(allowed.headers().get("access-control-allow-origin").unwrap(), ORIGIN);
    assert_eq!(allowed.headers().get("access-control-allow-credentials").unwrap(), "true");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, _) = rig.signed_in().await;
    let res = rig.post("/api/auth/logout", Some(&cookie), json!({})).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(
        body["logoutUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/{CONTOSO}/oauth2/v2.0/logout?post_logout_redirect_uri=", rig.emu.base_url()))
    );
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 401);
    assert_eq!(rig.token(&cookie).await.0, 401);
}

#[tokio::test]
async fn sessions_survive_a_restart_with_sqlite() {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, _) = rig.signed_in().await;
    rig.restart_proxy().await;
    let (status, session) = rig.get("/api/auth/session", Some(&cookie)).await;
    assert_eq!(status, 200, "{session}");
    // The new process has no cached access token: it refreshes from the stored refresh token.
    let (status, token) = rig.token(&cookie).await;
    assert_eq!(status, 200, "{token}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
}

#[tokio::test]
async fn the_certificate_credential_works_end_to_end() {
    let rig = rig(CONTOSO, Cred::Certificate, "").await;
    let (cookie, _) = rig.signed_in().await;
    rig.advance(3600);
    assert_eq!(rig.token(&cookie).await.0, 200);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
}

#[tokio::test]
async fn secrets_and_refresh_tokens_never_reach_a_response() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let mut seen = String::new();
    let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
    let res = rig.exchange_response(&code, &state, &sign_in).await;
    seen.push_str(&format!("{:?}", res.headers()));
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    seen.push_str(&res.text().await.unwrap());
    rig.advance(3600);
    for path in ["/api/auth/token", "/api/auth/logout"] {
        let res = rig.post(path, Some(&cookie), json!({})).send().await.unwrap();
        seen.push_str(&format!("{:?}", res.headers()));
        seen.push_str(&res.text().await.unwrap());
    }
    for path in ["/api/config", "/metrics", "/readyz", "/api/auth/session"] {
        let (_, body) = rig.get(path, Some(&cookie)).await;
        seen.push_str(&body.to_string());
    }
    assert!(!seen.contains(SECRET));
    assert!(!seen.contains("PRIVATE KEY"));
    let rts = rig.emu.issued_refresh_tokens();
    assert!(rts.len() >= 2, "a code redemption and a refresh issued refresh tokens");
    for rt in rts {
        assert!(!seen.contains(&rt), "a refresh token reached a response");
    }
}

#[tokio::test]
async fn retries_only_where_safe_and_static_files() {
    let keys = std::env::temp_dir().join(format!("graphgate-keys-{}", graphgate_emulator::guid()));
    std::fs::write(&keys, "k-123").unwrap();
    let www = std::env::temp_dir().join(format!("graphgate-www-{}", graphgate_emulator::guid()));
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("index.html"), "<h1>demo</h1>").unwrap();
    let rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("[invitations]\napi_keys = {{ file = {keys:?} }}\n")).await;
    // A code redemption that meets a 503 is answered with the error, never replayed.
    let token_path = format!("/{CONTOSO}/oauth2/v2.0/token");
    let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
    rig.emu.reset_calls();
    rig.emu.add_fault(graphgate_emulator::Fault {
        path: token_path.clone(),
        method: None,
        count: 1,
        kind: graphgate_emulator::FaultKind::Status { status: 503 },
    });
    let (status, _, err) = rig.exchange(&code, &state, &sign_in).await;
    assert!(matches!(status, 429 | 503), "{err}");
    assert_eq!(err["error"], "temporarily_unavailable");
    assert!(err["retryable"].as_bool().unwrap());
    assert_eq!(rig.emu.call_count(&format!("POST {token_path}")), 1);
    // Client credentials are retried after a 503 (and a 429 with Retry-After).
    rig.emu.reset_calls();
    rig.emu.add_fault(graphgate_emulator::Fault {
        path: token_path.clone(),
        method: None,
        count: 1,
        kind: graphgate_emulator::FaultKind::Status { status: 503 },
    });
    rig.emu.add_fault(graphgate_emulator::Fault {
        path: token_path.clone(),
        method: None,
        count: 1,
        kind: graphgate_emulator::FaultKind::Throttle { retry_after: 1 },
    });
    let res = rig
        .post("/api/invitations", None, json!({"email": "bob@fabrikam.onmicrosoft.com"}))
        .bearer_auth("k-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(rig.emu.call_count(&format!("POST {token_path}")), 3);
    assert_eq!(rig.emu.call_count("token:client_credentials"), 1);
    let _ = std::fs::remove_file(keys);
    drop(rig);

    // A static directory is served on the same origin.
    let rig = rig_with_static(&www).await;
    let (status, body) = rig.get("/index.html", None).await;
    assert_eq!((status, body.as_str()), (200, Some("<h1>demo</h1>")));
    let _ = std::fs::remove_dir_all(www);
}

async fn rig_with_static(dir: &std::path::Path) -> Rig {
    // `static_dir` belongs to [server]; the rig appends its extra lines after [session].
    let mut r = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    r.config_toml = r.config_toml.replace("[server]\n", &format!("[server]\nstatic_dir = {dir:?}\n"));
    r.restart_proxy().await;
    r
}

#[tokio::test]
async fn the_session_cookie_is_host_only_secure_and_http_only_on_https() {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    rig.config_toml = rig.config_toml.replace(
        &format!("public_origin = \"{ORIGIN}\""),
        &format!("public_origin = \"https://app.example.com\"\nallowed_origins = [\"{ORIGIN}\"]"),
    );
    rig.restart_proxy().await;
    let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
    let res = rig.exchange_response(&code, &state, &sign_in).await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-graphgate="), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "Path=/", "SameSite=None", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    assert!(!cookie.contains("Domain="), "a __Host- cookie has no Domain");
    let id = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(id.len() >= 43, "a 256-bit session ID");
}

#[tokio::test]
async fn errors_are_explained_on_request() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    for code in ["AADSTS50020", "50020"] {
        let (status, x) = rig.get(&format!("/api/explain?code={code}"), None).await;
        assert_eq!(status, 200);
        assert_eq!((x["known"].as_bool(), x["code"].as_str()), (Some(true), Some("AADSTS50020")));
        assert!(x["hint"].as_str().unwrap().contains("/common/"));
        assert!(!x["hintZh"].as_str().unwrap().is_empty());
        assert_eq!(x["lookupUrl"], "https://login.microsoftonline.com/error?code=50020");
    }
    let (_, x) = rig.get("/api/explain?code=MailboxNotEnabledForRESTAPI", None).await;
    assert_eq!(x["status"], 404);
    let (_, x) = rig.get("/api/explain?code=state_mismatch", None).await;
    assert_eq!(x["slug"], "state-mismatch");
    let (_, x) = rig.get("/api/explain?code=AADSTS99999999", None).await;
    assert_eq!(
        (x["known"].as_bool(), x["lookupUrl"].as_str()),
        (Some(false), Some("https://login.microsoftonline.com/error?code=99999999"))
    );
    assert_eq!(rig.get("/api/explain", None).await.0, 400);
}
