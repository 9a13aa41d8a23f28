//! The scopes `/api/auth/token` hands tokens out for: only those of `entra.allowed_scopes`
//! (default `entra.scopes`), one cached token per session and resource, and a refresh refused
//! for scopes beyond the session's own that leaves the session alone.

use serde_json::{Value, json};

use crate::support::*;

async fn token_for(rig: &Rig, cookie: &str, scopes: &[&str]) -> (u16, Value) {
    let res = rig.post("/api/auth/token", Some(cookie), json!({"scopes": scopes})).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_scope_outside_the_allowed_ones_is_refused_and_the_session_stays() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, _) = rig.signed_in().await;
    let (status, body) = token_for(&rig, &cookie, &["Calendars.Read"]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "scope_not_allowed", "{body}");
    assert!(body["message"].as_str().unwrap().contains("Calendars.Read"), "{body}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 0, "nothing went upstream");
    // The configured scopes are allowed by default, in any spelling of Graph's resource.
    assert_eq!(token_for(&rig, &cookie, &["user.read", "https://graph.microsoft.com/Mail.Send"]).await.0, 200);
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200);
}

#[tokio::test]
async fn a_refused_extra_scope_answers_consent_required_and_leaves_the_session() {
    let rig = rig_with_entra(
        CONTOSO,
        Cred::Secret(SECRET),
        r#"allowed_scopes = ["User.Read", "Mail.Send", "Mail.Read"]"#,
        "",
    )
    .await;
    let (cookie, _) = rig.signed_in().await;
    // Adele consented to User.Read and Mail.Send only: Entra refuses Mail.Read (AADSTS65001).
    let (status, body) = token_for(&rig, &cookie, &["Mail.Read"]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "consent_required", "{body}");
    assert_eq!(body["code"], "AADSTS65001", "{body}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
    // The session still works for its own scopes.
    let res = rig.post("/api/auth/token", Some(&cookie), json!({"forceRefresh": true})).send().await.unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 2, "a real refresh with the session's grant");
    assert_eq!(rig.token(&cookie).await.0, 200);
    let (status, session) = rig.get("/api/auth/session", Some(&cookie)).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["account"]["objectId"], ADELE, "{session}");
}

#[tokio::test]
async fn a_token_for_one_resource_is_never_returned_for_another() {
    // The emulator's own base URL in front of a permission is another resource to the proxy
    // (and Graph to the emulator, so it issues a token for it).
    let other = "{emu}/User.Read";
    let allowed = format!(r#"allowed_scopes = ["User.Read", "Mail.Send", "{other}"]"#);
    let rig = rig_with_entra(CONTOSO, Cred::Secret(SECRET), &allowed, "").await;
    let other = other.replace("{emu}", rig.emu.base_url());
    let (cookie, _) = rig.signed_in().await;
    let (status, graph) = token_for(&rig, &cookie, &["User.Read"]).await;
    assert_eq!(status, 200, "{graph}");
    let (status, theirs) = token_for(&rig, &cookie, &[&other]).await;
    assert_eq!(status, 200, "{theirs}");
    assert_ne!(theirs["accessToken"], graph["accessToken"], "a token of its own for the other resource");
    let (status, again) = token_for(&rig, &cookie, &["User.Read"]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["accessToken"], graph["accessToken"], "Graph's token, not the other resource's");
    assert_eq!(rig.token(&cookie).await.1["accessToken"], graph["accessToken"], "the default scopes are Graph's");
    let (_, theirs_again) = token_for(&rig, &cookie, &[&other]).await;
    assert_eq!(theirs_again["accessToken"], theirs["accessToken"], "each resource's token is cached");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
}
