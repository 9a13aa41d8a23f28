//! The login transaction: a code is redeemed only with the verifier the proxy kept for the
//! browser that began the sign-in, once, within ten minutes; tabs of one browser each keep their
//! own sign-in.

use serde_json::json;

use crate::support::*;

/// Code redemptions the emulator has seen.
fn redemptions(rig: &Rig) -> u64 {
    rig.emu.call_count("token:authorization_code")
}

#[tokio::test]
async fn a_code_is_redeemed_only_by_the_browser_that_began_it_and_once() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
    let refused = |body: &serde_json::Value| body["error"].as_str() == Some("sign_in_unknown");

    // Without the sign-in cookie (a code taken out of the page, redeemed with curl).
    let res = rig.post("/api/auth/exchange", None, json!({"code": code, "state": state})).send().await.unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert!(refused(&body), "{body}");
    // With another browser's sign-in cookie.
    let (_, other_browser) = rig.begin(None).await;
    assert_ne!(other_browser, sign_in);
    let (status, cookie, body) = rig.exchange(&code, &state, &other_browser).await;
    assert!(status == 400 && refused(&body) && cookie.is_none(), "{status} {body}");
    // With a cookie the proxy never made.
    let forged = format!("graphgate-signin={}", "A".repeat(43));
    let (status, _, body) = rig.exchange(&code, &state, &forged).await;
    assert!(status == 400 && refused(&body), "{body}");
    // With the right cookie but another state.
    let (status, _, body) = rig.exchange(&code, &"s".repeat(43), &sign_in).await;
    assert!(status == 400 && refused(&body), "{body}");
    assert_eq!(redemptions(&rig), 0, "nothing refused went upstream");

    // The browser that began it redeems it, once.
    let (status, cookie, body) = rig.exchange(&code, &state, &sign_in).await;
    assert_eq!(status, 200, "{body}");
    assert!(cookie.is_some_and(|c| c.starts_with("graphgate=")));
    let (status, _, body) = rig.exchange(&code, &state, &sign_in).await;
    assert!(status == 400 && refused(&body), "a replay: {body}");
    assert_eq!(redemptions(&rig), 1);
    assert!(!body.to_string().contains(&code), "the code is not echoed");
}

#[tokio::test]
async fn tabs_of_one_browser_each_keep_their_own_sign_in() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    // Two tabs begin under the same sign-in cookie (the second sends the one the first got).
    let (first, cookie) = rig.begin(None).await;
    let (second, same) = rig.begin(Some(&cookie)).await;
    assert_eq!(same, cookie, "the browser keeps one sign-in cookie");
    assert_ne!(first["state"], second["state"]);
    assert_ne!(first["codeChallenge"], second["codeChallenge"]);
    let code_1 = rig.authorize(CONTOSO, ADELE, None, &first).await;
    let code_2 = rig.authorize(CONTOSO, ADELE, None, &second).await;
    // Redeemed in the other order, each with its own state.
    let (status, _, body) = rig.exchange(&code_2, second["state"].as_str().unwrap(), &cookie).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = rig.exchange(&code_1, first["state"].as_str().unwrap(), &cookie).await;
    assert_eq!(status, 200, "{body}");
    // A code belongs to its own sign-in: swapped states do not redeem (Entra sees no verifier
    // that matches, or the proxy no sign-in).
    let (third, _) = rig.begin(Some(&cookie)).await;
    let (fourth, _) = rig.begin(Some(&cookie)).await;
    let code_3 = rig.authorize(CONTOSO, ADELE, None, &third).await;
    let (status, _, body) = rig.exchange(&code_3, fourth["state"].as_str().unwrap(), &cookie).await;
    assert_ne!(status, 200, "{body}");
}

#[tokio::test]
async fn a_begun_sign_in_lasts_ten_minutes_and_its_cookie_is_http_only() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let body = json!({"redirectUri": REDIRECT});
    let res = rig.post("/api/auth/begin", None, body).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"));
    let set = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    for attribute in ["graphgate-signin=", "HttpOnly", "Path=/", "Max-Age=600"] {
        assert!(set.contains(attribute), "{attribute}: {set}");
    }
    let begun: serde_json::Value = res.json().await.unwrap();
    assert_eq!(begun["codeChallengeMethod"], "S256");
    assert_eq!(begun["expiresIn"], 600);
    assert!(begun.get("codeVerifier").is_none() && !begun.to_string().contains("verifier"), "{begun}");

    let (code, state, sign_in) = rig.sign_in(CONTOSO, ADELE).await;
    rig.proxy.clock.advance(601);
    let (status, _, body) = rig.exchange(&code, &state, &sign_in).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("sign_in_unknown")), "{body}");
}

#[tokio::test]
async fn beginning_is_csrf_checked_and_rate_limited_per_address() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "sign_ins_per_minute = 3\n").await;
    let url = format!("{}/api/auth/begin", rig.base);
    let no_header = rig.http.post(&url).header("origin", ORIGIN).json(&json!({"redirectUri": REDIRECT}));
    let body: serde_json::Value = no_header.send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "csrf_header_missing");
    let foreign = rig
        .http
        .post(&url)
        .header("origin", "https://evil.example")
        .header("x-graphgate", "1")
        .json(&json!({"redirectUri": REDIRECT}));
    let body: serde_json::Value = foreign.send().await.unwrap().json().await.unwrap();
    assert_eq!(body["error"], "origin_not_allowed");
    for _ in 0..3 {
        rig.begin(None).await;
    }
    let res = rig.post("/api/auth/begin", None, json!({"redirectUri": REDIRECT})).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
    rig.proxy.clock.advance(61);
    rig.begin(None).await;
}
