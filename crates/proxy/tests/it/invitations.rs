//! Inviting external users through the proxy with the app-only token: the status check first,
//! one-step onboarding, one client-credentials fetch for many invitations, missing admin consent,
//! and the three invitation policies.

use serde_json::{Value, json};

use crate::support::*;

const KEY: &str = "site-backend-key-1";

fn keys_file() -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("graphgate-keys-{}", graphgate_emulator::guid()));
    std::fs::write(&p, format!("{KEY}, other-key")).unwrap();
    p
}

async fn invite(rig: &Rig, key: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = rig.post("/api/invitations", None, body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn status_of(rig: &Rig, key: &str, email: &str) -> Value {
    let res = rig
        .http
        .get(format!("{}/api/invitations/status?email={email}", rig.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn admins_invite_with_the_status_check_first_and_one_step_onboarding() {
    let keys = keys_file();
    let rig = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        &format!("[invitations]\npolicy = \"admin\"\napi_keys = {{ file = {keys:?} }}\n"),
    )
    .await;
    let bob = json!({"email": "bob@fabrikam.onmicrosoft.com", "displayName": "Bob"});
    let (status, err) = invite(&rig, None, bob.clone()).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("invite_forbidden")));
    let (status, _) = invite(&rig, Some("wrong"), bob.clone()).await;
    assert_eq!(status, 403);

    assert_eq!(status_of(&rig, KEY, "bob@fabrikam.onmicrosoft.com").await["status"], "not-invited");
    let (status, body) = invite(&rig, Some(KEY), bob.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "invited");
    let redeem = body["redeemUrl"].as_str().unwrap().to_owned();
    assert!(body["userId"].is_string());
    let sent = rig.emu.invitations();
    let redirect = sent[0]["inviteRedirectUrl"].as_str().unwrap();
    assert!(
        redirect.starts_with(&format!("{}/{CONTOSO}/oauth2/v2.0/authorize?client_id={APP}", rig.emu.base_url())),
        "{redirect}"
    );
    assert!(
        redirect.contains("login_hint=bob%40fabrikam.onmicrosoft.com") && redirect.contains("state=graphgate-invite"),
        "{redirect}"
    );

    // Asked again before redemption: a pending guest, with a fresh link.
    let (_, again) = invite(&rig, Some(KEY), bob.clone()).await;
    assert_eq!(again["status"], "guest-pending");
    assert!(again["redeemUrl"].is_string());
    // Redeemed: accepted, and redemption leads straight to the app's sign-in.
    let rd = redeem.split("rd=").nth(1).unwrap();
    let res = rig.emu_http.post(format!("{}/redeem", rig.emu.base_url())).form(&[("rd", rd)]).send().await.unwrap();
    assert_eq!(res.headers().get("location").unwrap().to_str().unwrap(), redirect);
    assert_eq!(status_of(&rig, KEY, "bob@fabrikam.onmicrosoft.com").await["status"], "guest-accepted");
    // A member of the tenant is never invited.
    let before = rig.emu.invitations().len();
    let (_, member) = invite(&rig, Some(KEY), json!({"email": "megan@contoso.onmicrosoft.com"})).await;
    assert_eq!(member["status"], "member");
    assert_eq!(rig.emu.invitations().len(), before);
    let (status, bad) = invite(&rig, Some("other-key"), json!({"email": "b!ob@fabrikam.com"})).await;
    assert_eq!((status, bad["error"].as_str()), (400, Some("invalid_email")));
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn fifty_parallel_invitations_share_one_app_only_token() {
    let keys = keys_file();
    let rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("[invitations]\napi_keys = {{ file = {keys:?} }}\n")).await;
    let answers = join_all(
        (0..50).map(|i| Box::pin(invite(&rig, Some(KEY), json!({"email": format!("guest{i}@example.org")})))).collect(),
    )
    .await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["status"], "invited");
    }
    assert_eq!(rig.emu.call_count("token:client_credentials"), 1, "one client-credentials fetch for all of them");
    assert_eq!(rig.emu.invitations().len(), 50);
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn missing_admin_consent_is_explained() {
    let keys = keys_file();
    let rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("[invitations]\napi_keys = {{ file = {keys:?} }}\n")).await;
    let mut seed = graphgate_emulator::Seed::sandbox();
    seed.apps[0].application_permissions = vec!["User.Read.All".into()];
    rig.emu.reseed(&seed).unwrap();
    let (status, err) = invite(&rig, Some(KEY), json!({"email": "bob@fabrikam.onmicrosoft.com"})).await;
    assert_eq!(status, 502, "{err}");
    assert_eq!(err["error"], "admin_consent_missing");
    assert!(err["hint"].as_str().unwrap().contains("admin consent"), "{err}");
    assert!(!err["hintZh"].as_str().unwrap().is_empty());
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn self_service_invitations_are_limited_to_domains_and_rate() {
    let rig = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "[invitations]\npolicy = \"self-service\"\nallowed_domains = [\"example.org\"]\nrate_limit_per_minute = 2\n",
    )
    .await;
    let (status, err) = invite(&rig, None, json!({"email": "x@elsewhere.com"})).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("email_domain_not_allowed")));
    assert_eq!(invite(&rig, None, json!({"email": "a@example.org"})).await.0, 200);
    assert_eq!(invite(&rig, None, json!({"email": "b@example.org"})).await.0, 200);
    let (status, err) = invite(&rig, None, json!({"email": "c@example.org"})).await;
    assert_eq!((status, err["error"].as_str()), (429, Some("rate_limited")));
    rig.proxy.clock.advance(61);
    assert_eq!(invite(&rig, None, json!({"email": "c@example.org"})).await.0, 200, "the window moves on");
}

#[tokio::test]
async fn signed_in_invitations_need_a_session_on_the_allow_list() {
    let rig = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "[invitations]\npolicy = \"signed-in\"\nallowed_accounts = [\"adele@contoso.onmicrosoft.com\"]\n",
    )
    .await;
    let (status, err) = invite(&rig, None, json!({"email": "bob@fabrikam.onmicrosoft.com"})).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("not_signed_in")));
    let (cookie, _) = rig.signed_in().await;
    let res = rig
        .post("/api/invitations", Some(&cookie), json!({"email": "bob@fabrikam.onmicrosoft.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A page's invitation may lead only to this app, not to a site of the inviter's choosing.
    let elsewhere = json!({"email": "bob@fabrikam.onmicrosoft.com", "redirectUrl": "https://evil.example/welcome"});
    let res = rig.post("/api/invitations", Some(&cookie), elsewhere).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_invitation");
    let home = json!({"email": "bob@fabrikam.onmicrosoft.com", "redirectUrl": format!("{REDIRECT}welcome")});
    assert_eq!(rig.post("/api/invitations", Some(&cookie), home).send().await.unwrap().status(), 200);
    let (code, verifier, nonce) = rig.sign_in(CONTOSO, "b2e6d4f3-1c5e-4d7f-9a2b-3c4d5e6f7081").await;
    let (_, megan, _) = rig.exchange(&code, &verifier, &nonce).await;
    let res = rig
        .post("/api/invitations", Some(&megan.unwrap()), json!({"email": "kim@outlook.example"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invite_forbidden");
}
