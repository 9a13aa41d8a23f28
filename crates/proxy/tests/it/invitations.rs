//! Inviting external users through the proxy with the app-only token: the status check first,
//! one-step onboarding, one client-credentials fetch for many invitations, missing admin consent,
//! the three invitation policies (signed-in: members of the app's tenant or listed object IDs),
//! the configured message, one mail a day for a pending guest, the status word for non-admins,
//! and the rate limits. (The audit line is checked with the log capture, `tests/logs.rs`.)

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
    let accepted = status_of(&rig, KEY, "bob@fabrikam.onmicrosoft.com").await;
    assert_eq!(accepted["status"], "guest-accepted");
    assert!(accepted["userId"].is_string(), "an admin sees the user's ID: {accepted}");
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

const BOB: &str = "bob@fabrikam.onmicrosoft.com";
const BOB_ID: &str = "c3f7e5a4-2d6f-4e8a-8b3c-4d5e6f708192";
const KIM_ID: &str = "d4a8f6b5-3e7a-4f9b-9c4d-5e6f708192a3";

/// Signs `account` in through `authority` and exchanges; the session cookie.
async fn session_of(rig: &Rig, authority: &str, account: &str) -> String {
    let (code, verifier, nonce) = rig.sign_in(authority, account).await;
    let (status, cookie, body) = rig.exchange(&code, &verifier, &nonce).await;
    assert_eq!(status, 200, "{body}");
    cookie.unwrap()
}

async fn invite_as(rig: &Rig, cookie: &str, body: Value) -> (u16, Value) {
    let res = rig.post("/api/invitations", Some(cookie), body).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// The field names of a JSON object.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default()
}

#[tokio::test]
async fn signed_in_means_a_member_of_the_app_tenant_not_a_guest() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[invitations]\npolicy = \"signed-in\"\n").await;
    let (status, err) = invite(&rig, None, json!({"email": BOB})).await;
    assert_eq!((status, err["error"].as_str()), (401, Some("not_signed_in")));
    // Adele is a member of Contoso (the app's tenant): she may invite.
    let adele = session_of(&rig, CONTOSO, ADELE).await;
    let (status, body) = invite_as(&rig, &adele, json!({"email": BOB})).await;
    assert_eq!((status, body), (200, json!({"status": "invited"})));
    // A page's invitation may lead only to this app, not to a site of the inviter's choosing.
    let elsewhere = json!({"email": BOB, "redirectUrl": "https://evil.example/welcome"});
    let (status, err) = invite_as(&rig, &adele, elsewhere).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_invitation")));
    let home = json!({"email": "kim@outlook.example", "redirectUrl": format!("{REDIRECT}welcome")});
    assert_eq!(invite_as(&rig, &adele, home).await.0, 200);
    // Bob redeems and signs in to Contoso as its guest: his tid is Contoso's, but he may not invite.
    let redeem = rig.emu.invitations()[0]["inviteRedeemUrl"].as_str().unwrap().to_owned();
    let rd = redeem.split("rd=").nth(1).unwrap();
    rig.emu_http.post(format!("{}/redeem", rig.emu.base_url())).form(&[("rd", rd)]).send().await.unwrap();
    let bob = session_of(&rig, CONTOSO, BOB_ID).await;
    let (_, session) = rig.get("/api/auth/session", Some(&bob)).await;
    let text = session.to_string();
    assert!(text.contains(&format!("\"tenantId\":\"{CONTOSO}\"")) && text.contains("\"guest\""), "{session}");
    let (status, err) = invite_as(&rig, &bob, json!({"email": "someone@example.org"})).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("invite_forbidden")), "{err}");
    assert!(err["hint"].as_str().unwrap().contains("allowed_object_ids"), "{err}");
}

#[tokio::test]
async fn signed_in_refuses_other_tenants_and_admits_listed_object_ids() {
    let rig = rig(
        "common",
        Cred::Secret(SECRET),
        &format!("[invitations]\npolicy = \"signed-in\"\nallowed_object_ids = [\"{KIM_ID}\"]\n"),
    )
    .await;
    // Bob is a member of Fabrikam, not of the app's tenant, and not listed.
    let bob = session_of(&rig, "common", BOB_ID).await;
    let (status, err) = invite_as(&rig, &bob, json!({"email": "someone@example.org"})).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("invite_forbidden")), "{err}");
    // A member of Contoso signing in through /common/ still may.
    let adele = session_of(&rig, "common", ADELE).await;
    assert_eq!(invite_as(&rig, &adele, json!({"email": "someone@example.org"})).await.0, 200);
    // Kim (a personal account) is listed by object ID.
    let kim = session_of(&rig, "common", KIM_ID).await;
    let (status, body) = invite_as(&rig, &kim, json!({"email": "other@example.org"})).await;
    assert_eq!(status, 200, "{body}");
}

fn validate(invitations: &str, tenant: &str) -> Result<(), Vec<String>> {
    let toml = format!(
        r#"
        [entra]
        tenant = "{tenant}"
        app_tenant = "{CONTOSO}"
        client_id = "{APP}"
        redirect_uris = ["{REDIRECT}"]
        credential = {{ secret = {{ env = "X" }} }}
        [session]
        store = "memory"
        key = {{ env = "Y" }}
        [invitations]
        {invitations}
        "#
    );
    graphgate_proxy::config::Config::from_toml_and_env(&toml, []).unwrap().validate().map(|_| ())
}

#[test]
fn validate_refuses_signed_in_with_a_multi_tenant_authority_and_usernames() {
    for tenant in ["common", "organizations", "consumers"] {
        let problems = validate("policy = \"signed-in\"", tenant).expect_err(tenant);
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&format!("entra.tenant = \"{tenant}\"")) && p.contains("allowed_object_ids")),
            "{problems:?}"
        );
        validate(&format!("policy = \"signed-in\"\nallowed_object_ids = [\"{ADELE}\"]"), tenant).expect("listed");
    }
    validate("policy = \"signed-in\"", CONTOSO).expect("a single tenant");
    // Usernames do not authorize: the old list is refused, and so is a username among object IDs.
    let problems = validate("policy = \"signed-in\"\nallowed_accounts = [\"adele@contoso.onmicrosoft.com\"]", CONTOSO)
        .expect_err("allowed_accounts");
    assert!(problems.iter().any(|p| p.starts_with("invitations.allowed_accounts") && p.contains("allowed_object_ids")));
    let problems =
        validate("policy = \"signed-in\"\nallowed_object_ids = [\"adele@contoso.onmicrosoft.com\"]", "common")
            .expect_err("a username");
    assert!(problems.iter().any(|p| p.starts_with("invitations.allowed_object_ids")), "{problems:?}");
    let problems = validate("admin_rate_limit_per_minute = 0", CONTOSO).expect_err("zero");
    assert!(problems.iter().any(|p| p.starts_with("invitations.admin_rate_limit_per_minute")), "{problems:?}");
}

#[tokio::test]
async fn self_service_takes_the_message_from_the_configuration() {
    let rig = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "[invitations]\npolicy = \"self-service\"\nallowed_domains = [\"fabrikam.onmicrosoft.com\"]\n\
         message = \"Welcome to the Contoso portal\"\n",
    )
    .await;
    for field in [
        json!({"message": "Click https://evil.example"}),
        json!({"displayName": "CEO"}),
        json!({"sendInvitationMessage": false}),
    ] {
        let mut body = json!({"email": BOB});
        body.as_object_mut().unwrap().extend(field.as_object().unwrap().clone());
        let (status, err) = invite(&rig, None, body).await;
        assert_eq!((status, err["error"].as_str()), (403, Some("invitation_field_not_allowed")), "{err}");
        assert!(!err["hint"].as_str().unwrap().is_empty());
    }
    assert!(rig.emu.invitations().is_empty(), "nothing was sent");
    let (status, body) = invite(&rig, None, json!({"email": BOB})).await;
    assert_eq!((status, body), (200, json!({"status": "invited"})));
    let mails = rig.emu.mailbox(BOB).unwrap();
    let invitation: Vec<&Value> =
        mails.iter().filter(|m| m["subject"].as_str().is_some_and(|s| s.contains("invited"))).collect();
    assert_eq!(invitation.len(), 1, "Microsoft mailed the invitation: {mails:?}");
    let content = invitation[0]["body"]["content"].as_str().unwrap();
    assert!(content.starts_with("Welcome to the Contoso portal"), "{content}");
}

#[tokio::test]
async fn a_pending_guest_is_mailed_again_at_most_once_a_day() {
    let keys = keys_file();
    let rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("[invitations]\napi_keys = {{ file = {keys:?} }}\n")).await;
    let mailed = json!({"email": BOB, "sendInvitationMessage": true});
    let inbox = || rig.emu.mailbox(BOB).unwrap().len();
    let before = inbox();
    let (_, first) = invite(&rig, Some(KEY), mailed.clone()).await;
    assert_eq!(first["status"], "invited");
    assert_eq!((rig.emu.invitations().len(), inbox()), (1, before + 1));
    // Within the day: the status, without asking Graph (so without another mail).
    let (status, again) = invite(&rig, Some(KEY), mailed.clone()).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("guest-pending")), "{again}");
    assert!(again.get("redeemUrl").is_none(), "no new invitation: {again}");
    rig.advance(23 * 3600);
    invite(&rig, Some(KEY), mailed.clone()).await;
    assert_eq!((rig.emu.invitations().len(), inbox()), (1, before + 1));
    // A day after the first mail: one more, then quiet again.
    rig.advance(3600);
    let (_, later) = invite(&rig, Some(KEY), mailed.clone()).await;
    assert_eq!(later["status"], "guest-pending");
    assert!(later["redeemUrl"].is_string(), "{later}");
    invite(&rig, Some(KEY), mailed.clone()).await;
    assert_eq!((rig.emu.invitations().len(), inbox()), (2, before + 2));
    // An admin asking for a fresh link without a mail still gets one.
    let (_, link) = invite(&rig, Some(KEY), json!({"email": BOB})).await;
    assert!(link["redeemUrl"].is_string(), "{link}");
    assert_eq!((rig.emu.invitations().len(), inbox()), (3, before + 2));
    let _ = std::fs::remove_file(keys);
}

#[tokio::test]
async fn anonymous_callers_get_only_the_status_word() {
    let rig = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "[invitations]\npolicy = \"self-service\"\nallowed_domains = [\"fabrikam.onmicrosoft.com\", \"contoso.onmicrosoft.com\"]\n",
    )
    .await;
    let (status, body) = invite(&rig, None, json!({"email": BOB})).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&body), ["status"], "{body}");
    for (email, word) in [(BOB, "guest-pending"), ("megan@contoso.onmicrosoft.com", "member")] {
        let (status, body) = rig.get(&format!("/api/invitations/status?email={email}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"status": word}));
    }
    let (_, again) = invite(&rig, None, json!({"email": BOB})).await;
    assert_eq!(again, json!({"status": "guest-pending"}));
}

#[tokio::test]
async fn every_policy_is_rate_limited() {
    let keys = keys_file();
    let admin = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        &format!(
            "[invitations]\napi_keys = {{ file = {keys:?} }}\nadmin_rate_limit_per_minute = 2\nstatus_rate_limit_per_minute = 1\n"
        ),
    )
    .await;
    let limited = |(status, err): (u16, Value)| {
        assert_eq!((status, err["error"].as_str()), (429, Some("rate_limited")), "{err}");
        assert!(err["hint"].as_str().is_some_and(|h| !h.is_empty()), "{err}");
    };
    assert_eq!(invite(&admin, Some(KEY), json!({"email": "a@example.org"})).await.0, 200);
    assert_eq!(invite(&admin, Some(KEY), json!({"email": "b@example.org"})).await.0, 200);
    limited(invite(&admin, Some(KEY), json!({"email": "c@example.org"})).await);
    assert_eq!(invite(&admin, Some("other-key"), json!({"email": "c@example.org"})).await.0, 200, "per key");
    status_of(&admin, KEY, "a@example.org").await;
    let res = admin.http.get(format!("{}/api/invitations/status?email=a@example.org", admin.base)).bearer_auth(KEY);
    let res = res.send().await.unwrap();
    limited((res.status().as_u16(), res.json().await.unwrap()));
    admin.proxy.clock.advance(61);
    assert_eq!(invite(&admin, Some(KEY), json!({"email": "c@example.org"})).await.0, 200, "the minute moves on");

    let signed_in = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "[invitations]\npolicy = \"signed-in\"\nsigned_in_rate_limit_per_minute = 1\n",
    )
    .await;
    let adele = session_of(&signed_in, CONTOSO, ADELE).await;
    assert_eq!(invite_as(&signed_in, &adele, json!({"email": "a@example.org"})).await.0, 200);
    let other_session = session_of(&signed_in, CONTOSO, ADELE).await;
    limited(invite_as(&signed_in, &other_session, json!({"email": "b@example.org"})).await);

    let anonymous = rig(
        CONTOSO,
        Cred::Secret(SECRET),
        "[invitations]\npolicy = \"self-service\"\nallowed_domains = [\"example.org\"]\nstatus_rate_limit_per_minute = 2\n",
    )
    .await;
    for _ in 0..2 {
        assert_eq!(anonymous.get("/api/invitations/status?email=a@example.org", None).await.0, 200);
    }
    let (status, err) = anonymous.get("/api/invitations/status?email=b@example.org", None).await;
    limited((status, err));
    let _ = std::fs::remove_file(keys);
}
