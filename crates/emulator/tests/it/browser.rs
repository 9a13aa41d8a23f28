//! What a page on another origin meets when it calls the emulator straight from the browser, over
//! plain HTTP as the browser module's tests run it: Graph's CORS (fault responses included), the
//! control API's credentialed CORS, and single sign-on through a session the control API opens.

use crate::support::*;
use graphgate_emulator::{Fault, FaultKind};
use reqwest::Method;
use serde_json::{Value, json};

/// The page's origin.
const ORIGIN: &str = "http://127.0.0.1:4173";
const ADELE_UPN: &str = "adele@contoso.onmicrosoft.com";

fn header<'r>(res: &'r reqwest::Response, name: &str) -> &'r str {
    res.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
}

/// Opens the authorize page with a cookie (when given), as the browser navigates there.
async fn navigate(emu: &Emu, query: &str, cookie: Option<&str>) -> (u16, Option<String>, String) {
    let mut req = emu.http.get(format!("{}/{CONTOSO}/oauth2/v2.0/authorize?{query}", emu.base()));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    (status, location, res.text().await.unwrap())
}

/// `POST /_emulator/sessions` from the page.
async fn open_session(emu: &Emu, body: &str) -> reqwest::Response {
    emu.http
        .post(format!("{}/_emulator/sessions", emu.base()))
        .header("origin", ORIGIN)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn graph_answers_cross_origin_calls_as_microsoft_graph_does() {
    let emu = start_plain().await;
    let me = format!("{}/v1.0/me", emu.base());
    let res = emu
        .http
        .request(Method::OPTIONS, &me)
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization, client-request-id")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert!(header(&res, "access-control-allow-methods").contains("PATCH"));
    assert!(header(&res, "access-control-allow-headers").contains("client-request-id"));
    assert!(res.headers().get("access-control-allow-credentials").is_none());

    let tokens = sign_in_and_redeem(&emu, CONTOSO, "openid User.Read", ADELE).await;
    let token = tokens["access_token"].as_str().unwrap();
    let res = emu.http.get(&me).header("origin", ORIGIN).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    let res = emu.http.get(&me).header("origin", ORIGIN).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(header(&res, "access-control-allow-origin"), "*");

    // An injected 429: the page can read it, and its Retry-After.
    emu.handle.add_fault(Fault {
        path: "/v1.0/me".into(),
        method: Some("GET".into()),
        count: 1,
        kind: FaultKind::Throttle { retry_after: 7 },
    });
    let res = emu.http.get(&me).header("origin", ORIGIN).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "retry-after"), "7");
    assert_eq!(header(&res, "access-control-allow-origin"), "*");
    assert!(header(&res, "access-control-expose-headers").to_ascii_lowercase().contains("retry-after"));
    assert_eq!(emu.handle.call_count("GET /v1.0/me"), 3);
    assert_eq!(emu.handle.call_count("OPTIONS /v1.0/me"), 0, "a preflight is not a call");
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn the_control_api_signs_an_account_in_for_single_sign_on() {
    let emu = start_plain().await;
    let res = emu
        .http
        .request(Method::OPTIONS, format!("{}/_emulator/sessions", emu.base()))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), ORIGIN);
    assert_eq!(header(&res, "access-control-allow-credentials"), "true");

    let res = open_session(&emu, r#"{"account": "ADELE@contoso.onmicrosoft.com"}"#).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), ORIGIN);
    assert_eq!(header(&res, "access-control-allow-credentials"), "true");
    let set_cookie = header(&res, "set-cookie").to_owned();
    assert!(
        set_cookie.starts_with("emu_session=ems.") && set_cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"account": ADELE_UPN, "id": ADELE}));

    // The hinted account is signed in: no picker. No consent yet, so the consent page comes.
    let scope = "openid User.Read";
    let (verifier, challenge) = pkce();
    let hinted = authorize_query(scope, &challenge, &[("login_hint", ADELE_UPN)]);
    let (status, _, page) = navigate(&emu, &hinted, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Permissions requested") && !page.contains("Pick an account"), "{page}");
    let (status, location, _) = post_step(&emu, CONTOSO, &hinted, ADELE, "accept").await;
    assert_eq!(status, 303);
    assert!(redirect_params(&location.unwrap()).contains_key("code"));

    // Consent given: straight back to the app with a code, which redeems for Adele.
    let (status, location, _) = navigate(&emu, &hinted, Some(&cookie)).await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let p = redirect_params(&location);
    assert_eq!(p["state"], "st-1");
    let (status, tokens) = token(
        &emu,
        CONTOSO,
        &[
            ("client_id", APP),
            ("grant_type", "authorization_code"),
            ("code", &p["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(claims(tokens["id_token"].as_str().unwrap())["oid"], ADELE);

    // The picker stays when there is no session, no hint, another account hinted, or the app
    // asks for it.
    let picker = [
        (hinted.clone(), None),
        (authorize_query(scope, &challenge, &[]), Some(cookie.as_str())),
        (authorize_query(scope, &challenge, &[("login_hint", "megan@contoso.onmicrosoft.com")]), Some(&cookie)),
        (authorize_query(scope, &challenge, &[("login_hint", ADELE_UPN), ("prompt", "select_account")]), Some(&cookie)),
        (authorize_query(scope, &challenge, &[("login_hint", ADELE_UPN), ("prompt", "login")]), Some(&cookie)),
        (hinted.clone(), Some("emu_session=ems.unknown")),
    ];
    for (query, cookie) in picker {
        let (status, _, page) = navigate(&emu, &query, cookie).await;
        assert_eq!(status, 200, "{query}");
        assert!(page.contains("Pick an account"), "{query}: {page}");
    }
    // prompt=consent skips the picker but still asks for consent.
    let q = authorize_query(scope, &challenge, &[("login_hint", ADELE_UPN), ("prompt", "consent")]);
    let (status, _, page) = navigate(&emu, &q, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Permissions requested"), "{page}");

    // In-process, the handle opens the same session.
    let cookie = emu.handle.session_cookie(ADELE_UPN).unwrap();
    let (status, location, _) = navigate(&emu, &hinted, Some(&cookie)).await;
    assert_eq!(status, 303);
    assert!(redirect_params(&location.unwrap()).contains_key("code"));

    let res = open_session(&emu, r#"{"account": "nobody@nowhere.example"}"#).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    assert_eq!(open_session(&emu, r#"{"acount": "x"}"#).await.status(), 400);
    assert!(emu.handle.session_cookie("nobody@nowhere.example").is_err());
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn choosing_an_account_signs_it_in_before_consent() {
    let emu = start_plain().await;
    let (_, challenge) = pkce();
    let query = authorize_query("openid Mail.Send", &challenge, &[]);
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/authorize", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(graphgate_core::form_encode([("q", query.as_str()), ("account", MEGAN), ("step", "select")]))
        .send()
        .await
        .unwrap();
    let cookie = header(&res, "set-cookie").split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("emu_session="), "{cookie}");
    assert!(res.text().await.unwrap().contains("Permissions requested"));
    // Signed in, not yet consented: a silent request says so.
    let silent = authorize_query("openid Mail.Send", &challenge, &[("prompt", "none")]);
    let (status, location, _) = navigate(&emu, &silent, Some(&cookie)).await;
    assert_eq!(status, 303);
    assert_eq!(redirect_params(&location.unwrap())["error"], "consent_required");
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn the_control_api_records_consent() {
    let emu = start_plain().await;
    let post = |body: Value| {
        emu.http.post(format!("{}/_emulator/consents", emu.base())).header("origin", ORIGIN).json(&body).send()
    };
    let res = post(json!({"clientId": APP, "account": "megan@contoso.onmicrosoft.com", "scopes": ["User.Read"]}))
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(header(&res, "access-control-allow-origin"), ORIGIN);
    let res = open_session(&emu, r#"{"account": "megan@contoso.onmicrosoft.com"}"#).await;
    let cookie = header(&res, "set-cookie").split(';').next().unwrap().to_owned();
    // Consent recorded and a session: straight back with a code, no page at all.
    let (_, challenge) = pkce();
    let hinted = authorize_query(
        "openid offline_access User.Read",
        &challenge,
        &[("login_hint", "megan@contoso.onmicrosoft.com")],
    );
    let (status, location, _) = navigate(&emu, &hinted, Some(&cookie)).await;
    assert_eq!(status, 303);
    assert!(redirect_params(&location.unwrap()).contains_key("code"));
    // A scope not consented to still asks.
    let wider = authorize_query("openid Mail.Send", &challenge, &[("login_hint", "megan@contoso.onmicrosoft.com")]);
    let (status, _, page) = navigate(&emu, &wider, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Permissions requested"), "{page}");
    // Unknown app or account: 404; a bad body: 400.
    let res =
        post(json!({"clientId": "nope", "account": "megan@contoso.onmicrosoft.com", "scopes": []})).await.unwrap();
    assert_eq!(res.status(), 404);
    let res = post(json!({"clientId": APP, "account": "nobody@contoso.onmicrosoft.com", "scopes": []})).await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(post(json!({"account": "x"})).await.unwrap().status(), 400);
    // Ending every session: the same cookie no longer skips the picker.
    let res = emu.http.delete(format!("{}/_emulator/sessions", emu.base())).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let (status, _, page) = navigate(&emu, &hinted, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(page.contains("Pick an account"), "{page}");
}
