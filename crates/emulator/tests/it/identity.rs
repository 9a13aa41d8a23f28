//! The emulator's Entra ID endpoints over HTTPS: discovery, sign-in pages, tenancy rules,
//! the three grants, client authentication, and every error the emulator promises.

use crate::support::*;
use graphgate_emulator::{Fault, FaultKind};
use serde_json::Value;

#[tokio::test]
async fn discovery_documents_and_keys() {
    let emu = start().await;
    for (tenant, issuer) in [
        (CONTOSO.to_owned(), format!("{}/{CONTOSO}/v2.0", emu.base())),
        ("contoso.onmicrosoft.com".to_owned(), format!("{}/{CONTOSO}/v2.0", emu.base())),
        ("common".to_owned(), format!("{}/{{tenantid}}/v2.0", emu.base())),
        ("consumers".to_owned(), format!("{}/{CONSUMERS}/v2.0", emu.base())),
    ] {
        let doc: Value = emu
            .http
            .get(format!("{}/{tenant}/v2.0/.well-known/openid-configuration", emu.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], issuer.as_str(), "{tenant}");
        assert_eq!(doc["token_endpoint"], format!("{}/{}/oauth2/v2.0/token", emu.base(), tenant.to_ascii_lowercase()));
        assert_eq!(
            doc["authorization_endpoint"],
            format!("{}/{}/oauth2/v2.0/authorize", emu.base(), tenant.to_ascii_lowercase())
        );
        assert!(doc["jwks_uri"].as_str().unwrap().ends_with("/discovery/v2.0/keys"));
    }
    let keys: Value =
        emu.http.get(format!("{}/common/discovery/v2.0/keys", emu.base())).send().await.unwrap().json().await.unwrap();
    assert_eq!(keys["keys"][0]["kty"], "RSA");
    assert_eq!(keys["keys"][0]["alg"], "RS256");
    let res = emu
        .http
        .get(format!("{}/nosuch.example.com/v2.0/.well-known/openid-configuration", emu.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 90002);
}

#[tokio::test]
async fn a_member_signs_in_consents_and_redeems_the_code() {
    let emu = start().await;
    let (verifier, challenge) = pkce();
    let scope = "openid offline_access profile email Mail.Send User.Read";
    let query = authorize_query(scope, &challenge, &[("login_hint", "adele@contoso.onmicrosoft.com")]);
    let (status, _, page) = open_authorize(&emu, CONTOSO, &query).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Pick an account")
            && page.contains("adele@contoso.onmicrosoft.com")
            && page.contains("suggested"),
        "{page}"
    );
    // First time: the consent screen lists the permissions.
    let (status, _, consent) = post_step(&emu, CONTOSO, &query, ADELE, "select").await;
    assert_eq!(status, 200);
    assert!(consent.contains("Mail.Send") && consent.contains("Permissions requested"), "{consent}");
    let (status, location, _) = post_step(&emu, CONTOSO, &query, ADELE, "accept").await;
    assert_eq!(status, 303);
    let location = location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let p = redirect_params(&location);
    assert_eq!(p["state"], "st-1");
    assert!(p.contains_key("session_state"));
    let code = p["code"].clone();

    let (status, body) = token(
        &emu,
        CONTOSO,
        &[
            ("client_id", APP),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_secret", SECRET),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body["refresh_token"].is_string());
    assert!(body["client_info"].is_string());
    // Graph's scopes short, the OIDC ones after them as Entra lists them, offline_access left out.
    assert_eq!(body["scope"], "Mail.Send User.Read profile openid email");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], APP);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["tid"], CONTOSO);
    assert_eq!(id["oid"], ADELE);
    assert_eq!(id["iss"], format!("{}/{CONTOSO}/v2.0", emu.base()));
    assert_eq!(id["preferred_username"], "adele@contoso.onmicrosoft.com");
    assert!(id.get("idp").is_none(), "members carry no idp");
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["scp"], "Mail.Send User.Read");
    assert_eq!(at["aud"], "https://graph.microsoft.com");

    // Codes are single use.
    let (status, again) = redeem_code(&emu, CONTOSO, &code, &verifier).await;
    assert_eq!((status, again["error_codes"][0].as_u64()), (400, Some(54005)));
    assert_eq!(again["error"], "invalid_grant");
    let description = again["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("AADSTS54005: ")
            && description.contains("\r\nTrace ID: ")
            && description.contains("\r\nCorrelation ID: ")
            && description.contains("\r\nTimestamp: "),
        "{description}"
    );
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(again[field].is_string(), "{field}");
    }

    // Second sign-in: consent is remembered, the code comes straight back.
    let (_, challenge2) = pkce();
    let query2 = authorize_query(scope, &challenge2, &[]);
    let (status, location, _) = post_step(&emu, CONTOSO, &query2, ADELE, "select").await;
    assert_eq!(status, 303);
    assert!(redirect_params(&location.unwrap()).contains_key("code"));
}

#[tokio::test]
async fn code_redemption_errors() {
    let emu = start().await;
    let scope = "openid offline_access Mail.Send";
    let new_code = |verifier_challenge: (String, String)| {
        let emu = &emu;
        async move {
            let query = authorize_query(scope, &verifier_challenge.1, &[]);
            let location = sign_in(emu, CONTOSO, &query, ADELE).await;
            (redirect_params(&location)["code"].clone(), verifier_challenge.0)
        }
    };
    let redeem = |code: String, verifier: String, redirect: &'static str, extra: Vec<(&'static str, String)>| {
        let emu = &emu;
        async move {
            let mut pairs: Vec<(&str, String)> = vec![
                ("client_id", APP.into()),
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("redirect_uri", redirect.into()),
                ("code_verifier", verifier),
            ];
            pairs.extend(extra);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(emu, CONTOSO, &pairs).await
        }
    };
    let secret = || vec![("client_secret", SECRET.to_owned())];

    let (code, verifier) = new_code(pkce()).await;
    let (status, body) = redeem(code, "x".repeat(43), REDIRECT, secret()).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(501481)), "wrong verifier");
    let _ = verifier;

    let (code, verifier) = new_code(pkce()).await;
    let (_, body) = redeem(code, verifier, "http://localhost:5173/other", secret()).await;
    assert_eq!(body["error_codes"][0], 50011, "redirect_uri differs");

    let (code, verifier) = new_code(pkce()).await;
    emu.handle.advance_clock(601);
    let (_, body) = redeem(code, verifier, REDIRECT, secret()).await;
    assert_eq!(body["error_codes"][0], 70008, "expired code");

    let (code, verifier) = new_code(pkce()).await;
    let (status, body) = redeem(code, verifier, REDIRECT, vec![]).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(7000218)), "no credential");

    let (code, verifier) = new_code(pkce()).await;
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://localhost:5173")
        .body(graphgate_core::form_encode([
            ("client_id", APP),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
            ("client_secret", SECRET),
        ]))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 9002326, "a Web redirect URI redeemed with Origin");

    let (status, body) = token(&emu, CONTOSO, &[("client_id", APP), ("code", "x")]).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(900144)), "no grant_type");
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 900144, "a JSON body is not read");
    let (_, body) = token(
        &emu,
        CONTOSO,
        &[("client_id", "00000000-0000-0000-0000-000000000001"), ("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(body["error_codes"][0], 700016);
    let (_, body) =
        token(&emu, "nosuch.example.com", &[("client_id", APP), ("grant_type", "client_credentials")]).await;
    assert_eq!(body["error_codes"][0], 90002);
}

#[tokio::test]
async fn authorize_request_errors() {
    let emu = start().await;
    let (_, challenge) = pkce();
    let page_error =
        |page: &str, code: u32| assert!(page.contains(&format!("AADSTS{code}")), "expected AADSTS{code} in {page}");

    let q = authorize_query("openid Mail.Send", &challenge, &[]).replace(APP, "00000000-0000-0000-0000-000000000001");
    let (status, _, page) = open_authorize(&emu, CONTOSO, &q).await;
    assert_eq!(status, 400);
    page_error(&page, 700016);

    let q = authorize_query("openid Mail.Send", &challenge, &[]).replace("5173", "5173%2Fevil");
    let (_, location, page) = open_authorize(&emu, CONTOSO, &q).await;
    assert!(location.is_none(), "never redirect to an unregistered URI");
    page_error(&page, 50011);

    let (_, _, page) = open_authorize(&emu, "nosuch.example.com", &authorize_query("openid", &challenge, &[])).await;
    page_error(&page, 90002);

    let q = authorize_query("openid Mail.Send", &challenge, &[]).replace("response_type=code", "response_type=token");
    let (status, location, _) = open_authorize(&emu, CONTOSO, &q).await;
    assert_eq!(status, 303);
    let p = redirect_params(&location.unwrap());
    assert_eq!(p["error"], "unsupported_response_type");
    assert_eq!(p["state"], "st-1");

    let (_, location, _) = open_authorize(&emu, CONTOSO, &authorize_query("openid Mail.Fly", &challenge, &[])).await;
    let p = redirect_params(&location.unwrap());
    assert_eq!(p["error"], "invalid_scope");
    assert!(p["error_description"].starts_with("AADSTS70011:"));

    let q = authorize_query("openid Mail.Send", "short", &[]);
    let (_, location, _) = open_authorize(&emu, CONTOSO, &q).await;
    assert_eq!(redirect_params(&location.unwrap())["error"], "invalid_request", "a malformed PKCE challenge");

    // A single-tenant app on /common/: AADSTS50194.
    let mut seed = graphgate_emulator::Seed::sandbox();
    seed.apps[0].audience = graphgate_emulator::Audience::SingleTenant;
    emu.handle.reseed(&seed).unwrap();
    let (_, _, page) = open_authorize(&emu, "common", &authorize_query("openid", &challenge, &[])).await;
    page_error(&page, 50194);
}

#[tokio::test]
async fn prompt_none_answers_without_a_page() {
    let emu = start().await;
    let (_, challenge) = pkce();
    let q = authorize_query("openid Mail.Send", &challenge, &[("prompt", "none")]);
    let (status, location, _) = open_authorize(&emu, CONTOSO, &q).await;
    assert_eq!(status, 303);
    let p = redirect_params(&location.unwrap());
    assert_eq!((p["error"].as_str(), p["error_description"].starts_with("AADSTS50058")), ("login_required", true));

    // Sign in once (this sets the emulator's session cookie), then ask silently.
    let (_, challenge1) = pkce();
    let first = authorize_query("openid Mail.Send", &challenge1, &[]);
    let cookie = session_cookie(&emu, CONTOSO, &first, ADELE).await;
    let silent = |q: String| {
        let (emu, cookie) = (&emu, cookie.clone());
        async move {
            let res = emu
                .http
                .get(format!("{}/{CONTOSO}/oauth2/v2.0/authorize?{q}", emu.base()))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            redirect_params(res.headers().get("location").unwrap().to_str().unwrap())
        }
    };
    let p = silent(authorize_query("openid Mail.Send", &challenge, &[("prompt", "none")])).await;
    assert!(p.contains_key("code"), "{p:?}");
    let p = silent(authorize_query("openid Tasks.Read", &challenge, &[("prompt", "none")])).await;
    assert_eq!(p["error"], "consent_required");
    assert!(p["error_description"].starts_with("AADSTS65001"));
}

#[tokio::test]
async fn tenancy_rules_for_external_guest_and_personal_accounts() {
    let emu = start().await;
    let (_, challenge) = pkce();
    let q = authorize_query("openid offline_access Mail.Send", &challenge, &[]);
    // Bob of Fabrikam through the Contoso authority: AADSTS50020 on the error redirect.
    let (_, location, _) = post_step(&emu, CONTOSO, &q, BOB, "select").await;
    let p = redirect_params(&location.unwrap());
    assert_eq!(p["error"], "access_denied");
    assert!(p["error_description"].starts_with("AADSTS50020:"), "{}", p["error_description"]);
    assert!(p["error_description"].contains("bob@fabrikam.onmicrosoft.com"));
    assert_eq!(p["error_uri"], "https://login.microsoftonline.com/error?code=50020");
    // Kim's personal account through Contoso: refused too.
    let (_, location, _) = post_step(&emu, CONTOSO, &q, KIM, "select").await;
    assert!(redirect_params(&location.unwrap())["error_description"].starts_with("AADSTS50020:"));
    // Through /common/ both sign in to their home: Fabrikam, and the consumer tenant.
    let bob = sign_in_and_redeem(&emu, "common", "openid offline_access Mail.Send", BOB).await;
    assert_eq!(claims(bob["id_token"].as_str().unwrap())["tid"], FABRIKAM);
    let kim = sign_in_and_redeem(&emu, "common", "openid offline_access Mail.Send", KIM).await;
    assert_eq!(claims(kim["id_token"].as_str().unwrap())["tid"], CONSUMERS);
    // /organizations/ refuses personal accounts; /consumers/ refuses work accounts.
    let (_, location, _) = post_step(&emu, "organizations", &q, KIM, "select").await;
    assert!(redirect_params(&location.unwrap())["error_description"].starts_with("AADSTS50020:"));
    let (_, location, _) = post_step(&emu, "consumers", &q, BOB, "select").await;
    assert!(redirect_params(&location.unwrap())["error_description"].starts_with("AADSTS50020:"));

    // Invited but not redeemed: still refused. Redeemed: a guest of Contoso.
    let app = app_token(&emu).await;
    let (status, inv) = graph(
        &emu,
        reqwest::Method::POST,
        "/invitations",
        &app,
        Some(serde_json::json!({
            "invitedUserEmailAddress": "bob@fabrikam.onmicrosoft.com", "inviteRedirectUrl": "http://localhost:5173/"
        })),
    )
    .await;
    assert_eq!(status, 201, "{inv}");
    let (_, location, _) = post_step(&emu, CONTOSO, &q, BOB, "select").await;
    // Invited but not yet redeemed: still no guest who can sign in, in Entra's words.
    let refused = redirect_params(&location.unwrap())["error_description"].clone();
    assert!(
        refused.starts_with("AADSTS50020: User account 'bob@fabrikam.onmicrosoft.com' from identity provider ")
            && refused.contains("does not exist in tenant 'Contoso (sandbox)'"),
        "{refused}"
    );
    let redeem_url = inv["inviteRedeemUrl"].as_str().unwrap();
    let page = emu.http.get(redeem_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Contoso") && page.contains("bob@fabrikam.onmicrosoft.com"), "{page}");
    let rd = redeem_url.split("rd=").nth(1).unwrap();
    let res = emu.http.post(format!("{}/redeem", emu.base())).form(&[("rd", rd)]).send().await.unwrap();
    assert_eq!(res.headers().get("location").unwrap(), "http://localhost:5173/");
    // Redeeming signed Bob in at home: a session cookie comes with the redirect.
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.starts_with("emu_session=ems.") && cookie.contains("HttpOnly"), "{cookie}");
    let guest = sign_in_and_redeem(&emu, CONTOSO, "openid offline_access Mail.Send", BOB).await;
    let id = claims(guest["id_token"].as_str().unwrap());
    assert_eq!(id["tid"], CONTOSO);
    assert_eq!(id["idp"], format!("https://sts.windows.net/{FABRIKAM}/"));
    assert_ne!(id["oid"], BOB, "a guest has its own object in the resource tenant");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_can_be_revoked_or_lapse() {
    let emu = start().await;
    let first = sign_in_and_redeem(&emu, CONTOSO, "openid offline_access Mail.Send", ADELE).await;
    let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String, extra: Vec<(&'static str, &'static str)>| {
        let emu = &emu;
        async move {
            let mut pairs = vec![
                ("client_id", APP),
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str()),
                ("client_secret", SECRET),
            ];
            pairs.extend(extra);
            token(emu, CONTOSO, &pairs).await
        }
    };
    let (status, second) = refresh(rt1.clone(), vec![("scope", "openid offline_access Mail.Send")]).await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "every refresh answers a new refresh token");
    assert!(second["id_token"].is_string());
    let (status, _) = refresh(rt1.clone(), vec![]).await;
    assert_eq!(status, 200, "the old refresh token stays usable, as in Entra");
    let (status, body) = refresh(rt2.clone(), vec![("scope", "Tasks.ReadWrite")]).await;
    assert_eq!(
        (status, body["error_codes"][0].as_u64(), body["suberror"].as_str()),
        (400, Some(65001), Some("consent_required"))
    );

    emu.handle.revoke("adele@contoso.onmicrosoft.com").unwrap();
    let (status, body) = refresh(rt2.clone(), vec![]).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_codes"][0].as_u64()),
        (400, Some("invalid_grant"), Some(50173))
    );
    // A fresh sign-in after revocation works at once.
    let fresh = sign_in_and_redeem(&emu, CONTOSO, "openid offline_access Mail.Send", ADELE).await;
    let rt3 = fresh["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(rt3.clone(), vec![]).await.0, 200);
    emu.handle.advance_clock(91 * 24 * 3600);
    let (_, body) = refresh(rt3, vec![]).await;
    assert_eq!(body["error_codes"][0], 700082);
}

#[tokio::test]
async fn no_offline_access_means_no_refresh_token_and_no_openid_no_id_token() {
    let emu = start().await;
    let body = sign_in_and_redeem(&emu, CONTOSO, "openid Mail.Send", MEGAN).await;
    assert!(body.get("refresh_token").is_none());
    assert!(body["id_token"].is_string());
    let body = sign_in_and_redeem(&emu, CONTOSO, "offline_access Mail.Send", MEGAN).await;
    assert!(body.get("id_token").is_none());
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn client_credentials_and_client_secrets() {
    let emu = start().await;
    let scope = format!("{}/.default", emu.base());
    let cc = |extra: Vec<(&'static str, String)>, tenant: &'static str| {
        let emu = &emu;
        async move {
            let mut pairs: Vec<(&str, String)> =
                vec![("client_id", APP.into()), ("grant_type", "client_credentials".into())];
            pairs.extend(extra);
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(emu, tenant, &pairs).await
        }
    };
    let (status, body) = cc(vec![("scope", scope.clone()), ("client_secret", SECRET.into())], CONTOSO).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["roles"], serde_json::json!(["User.Invite.All", "User.Read.All"]));
    assert_eq!(at["idtyp"], "app");
    let (status, _) = cc(
        vec![("scope", "https://graph.microsoft.com/.default".into()), ("client_secret", SECRET.into())],
        "contoso.onmicrosoft.com",
    )
    .await;
    assert_eq!(status, 200, "the real Graph resource and a tenant domain work too");

    let (_, body) = cc(vec![("scope", "Mail.Send".into()), ("client_secret", SECRET.into())], CONTOSO).await;
    assert_eq!(body["error_codes"][0], 70011);
    let (_, body) = cc(vec![("scope", scope.clone()), ("client_secret", SECRET.into())], "common").await;
    assert_eq!(body["error_codes"][0], 9001023);
    let (status, body) = cc(vec![("scope", scope.clone()), ("client_secret", "wrong".into())], CONTOSO).await;
    assert_eq!(
        (status, body["error"].as_str(), body["error_codes"][0].as_u64()),
        (401, Some("invalid_client"), Some(7000215))
    );
    let (_, body) = cc(vec![("scope", scope.clone()), ("client_secret", SECRET_ID.into())], CONTOSO).await;
    // Entra's one text names the usual mistake, the secret's ID sent for its value.
    let text = body["error_description"].as_str().unwrap().lines().next().unwrap();
    assert_eq!(
        text,
        format!(
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID, for a secret added to app '{APP}'."
        )
    );
    let (status, body) = cc(vec![("scope", scope.clone()), ("client_secret", EXPIRED_SECRET.into())], CONTOSO).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(7000222)));
    let (status, body) = cc(vec![("scope", scope.clone())], CONTOSO).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (401, Some(7000218)));

    // Basic authentication with URL-encoded ID and secret.
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{APP}:{}", graphgate_core::percent_encode(SECRET)),
    );
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(graphgate_core::form_encode([("grant_type", "client_credentials"), ("scope", scope.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Without admin consent (no application permissions) the token carries no roles.
    let mut seed = graphgate_emulator::Seed::sandbox();
    seed.apps[0].application_permissions.clear();
    emu.handle.reseed(&seed).unwrap();
    let (_, body) = cc(vec![("scope", scope), ("client_secret", SECRET.into())], CONTOSO).await;
    assert!(claims(body["access_token"].as_str().unwrap()).get("roles").is_none());
}

#[tokio::test]
async fn faults_and_call_counters() {
    let emu = start().await;
    let path = format!("/{CONTOSO}/oauth2/v2.0/token");
    let scope = format!("{}/.default", emu.base());
    let cc = [
        ("client_id", APP),
        ("grant_type", "client_credentials"),
        ("scope", scope.as_str()),
        ("client_secret", SECRET),
    ];
    emu.handle.add_fault(Fault { path: path.clone(), method: None, count: 1, kind: FaultKind::Status { status: 503 } });
    let (status, body) = token(&emu, CONTOSO, &cc).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("temporarily_unavailable")));
    emu.handle.add_fault(Fault { path: path.clone(), method: None, count: 1, kind: FaultKind::Drop });
    let res = emu
        .http
        .post(format!("{}{path}", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(graphgate_core::form_encode(cc))
        .send()
        .await;
    assert!(res.is_err(), "a dropped connection is a transport error");
    emu.handle.add_fault(Fault {
        path: "/v1.0/me".into(),
        method: Some("GET".into()),
        count: 1,
        kind: FaultKind::Throttle { retry_after: 7 },
    });
    let res = emu.http.get(format!("{}/v1.0/me", emu.base())).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers().get("retry-after").unwrap(), "7");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    emu.handle.add_fault(Fault { path: "/v1.0/me".into(), method: None, count: 1, kind: FaultKind::MalformedJson });
    let text = emu.http.get(format!("{}/v1.0/me", emu.base())).send().await.unwrap().text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
    emu.handle.add_fault(Fault { path: path.clone(), method: None, count: 1, kind: FaultKind::Delay { ms: 150 } });
    let started = std::time::Instant::now();
    let (status, _) = token(&emu, CONTOSO, &cc).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(emu.handle.call_count(&format!("POST {path}")), 3);
    assert_eq!(emu.handle.call_count("token:client_credentials"), 1, "faulted calls never reached the grant");
    // The same controls over HTTP.
    let res = emu
        .http
        .post(format!("{}/_emulator/faults", emu.base()))
        .body(r#"{"path":"/v1.0/me","kind":"status","status":500}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(emu.http.get(format!("{}/v1.0/me", emu.base())).send().await.unwrap().status(), 500);
    let calls: Value =
        emu.http.get(format!("{}/_emulator/calls", emu.base())).send().await.unwrap().json().await.unwrap();
    assert_eq!(calls["GET /v1.0/me"], 3);
    let clock: Value = emu
        .http
        .post(format!("{}/_emulator/clock", emu.base()))
        .json(&serde_json::json!({"seconds": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(clock["now"].as_u64().unwrap() >= emu.handle.now() - 1);
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn response_modes_spa_redemption_and_logout() {
    let emu = start().await;
    let (verifier, challenge) = pkce();
    // Fragment and form_post deliver the same answer elsewhere.
    let q =
        authorize_query("openid Mail.Send", &challenge, &[]).replace("response_mode=query", "response_mode=fragment");
    let location = sign_in(&emu, CONTOSO, &q, ADELE).await;
    assert!(location.starts_with("http://localhost:5173/#code="), "{location}");
    let q =
        authorize_query("openid Mail.Send", &challenge, &[]).replace("response_mode=query", "response_mode=form_post");
    let (status, _, page) = post_step(&emu, CONTOSO, &q, ADELE, "select").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("method=\"post\" action=\"http://localhost:5173/\"") && page.contains("name=\"code\""),
        "{page}"
    );

    // A single-page-app redirect URI (any loopback port) is redeemed from the browser, with Origin
    // and without a secret; without Origin it is refused with AADSTS9002327.
    let spa = "http://localhost:40000/spa";
    let q = authorize_query("openid Mail.Send", &challenge, &[])
        .replace(&graphgate_core::percent_encode(REDIRECT), &graphgate_core::percent_encode(spa));
    let c1 = redirect_params(&sign_in(&emu, CONTOSO, &q, ADELE).await)["code"].clone();
    let form = |c: &str| {
        graphgate_core::form_encode([
            ("client_id", APP),
            ("grant_type", "authorization_code"),
            ("code", c),
            ("redirect_uri", spa),
            ("code_verifier", &verifier),
        ])
    };
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&c1))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 9002327);
    let c2 = redirect_params(&sign_in(&emu, CONTOSO, &q, ADELE).await)["code"].clone();
    let res = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", "http://localhost:40000")
        .body(form(&c2))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Sign-out ends the emulator's session and returns to a registered URI.
    let res = emu
        .http
        .get(format!(
            "{}/common/oauth2/v2.0/logout?post_logout_redirect_uri={}",
            emu.base(),
            graphgate_core::percent_encode(REDIRECT)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers().get("location").unwrap(), REDIRECT);
    assert!(res.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let res = emu
        .http
        .get(format!("{}/common/oauth2/v2.0/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", emu.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "an unregistered URI is not followed");
}

#[tokio::test]
async fn prompt_none_with_an_account_that_cannot_sign_in_here_needs_interaction() {
    let emu = start().await;
    let (_, challenge) = pkce();
    let q = authorize_query("openid Mail.Send", &challenge, &[]);
    // Bob signs in through /common/ (session cookie), then silently through Contoso.
    let cookie = session_cookie(&emu, "common", &q, BOB).await;
    let silent = authorize_query("openid Mail.Send", &challenge, &[("prompt", "none")]);
    let res = emu
        .http
        .get(format!("{}/{CONTOSO}/oauth2/v2.0/authorize?{silent}", emu.base()))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let p = redirect_params(res.headers().get("location").unwrap().to_str().unwrap());
    assert_eq!(p["error"], "interaction_required");
    assert!(p["error_description"].starts_with("AADSTS16000:"));
}

#[tokio::test]
async fn the_control_api_over_http() {
    let emu = start().await;
    let base = emu.base().to_owned();
    let inbox: Value = emu
        .http
        .get(format!("{base}/_emulator/mailboxes/adele@contoso.onmicrosoft.com"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        emu.http.get(format!("{base}/_emulator/mailboxes/nobody@nowhere.example")).send().await.unwrap().status(),
        404
    );
    let first = sign_in_and_redeem(&emu, CONTOSO, "openid offline_access Mail.Send", MEGAN).await;
    let res =
        emu.http.post(format!("{base}/_emulator/users/megan@contoso.onmicrosoft.com/revoke")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let (_, body) = token(
        &emu,
        CONTOSO,
        &[
            ("client_id", APP),
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(body["error_codes"][0], 50173);
    let seed = "[[tenants]]\nid = \"11111111-2222-3333-4444-555555555555\"\nname = \"Tiny\"\ndomains = [\"tiny.onmicrosoft.com\"]\n";
    assert_eq!(emu.http.post(format!("{base}/_emulator/seed")).body(seed).send().await.unwrap().status(), 204);
    let res = emu.http.get(format!("{base}/{CONTOSO}/v2.0/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(res.status(), 400, "the new seed replaced the sandbox");
    assert_eq!(emu.http.post(format!("{base}/_emulator/seed")).body("not toml [").send().await.unwrap().status(), 400);
    let invitations: Value =
        emu.http.get(format!("{base}/_emulator/invitations")).send().await.unwrap().json().await.unwrap();
    assert_eq!(invitations["value"], serde_json::json!([]));
}

#[tokio::test]
async fn the_control_api_is_off_unless_enabled() {
    let emu =
        start_with(graphgate_emulator::Config { control_api: false, ..graphgate_emulator::Config::default() }).await;
    let res = emu.http.get(format!("{}/_emulator/calls", emu.base())).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn plain_http_is_available_for_quick_manual_use() {
    let handle =
        graphgate_emulator::spawn(graphgate_emulator::Config { https: false, ..graphgate_emulator::Config::default() })
            .await
            .unwrap();
    assert!(handle.base_url().starts_with("http://127.0.0.1:"));
    assert!(handle.ca_pem().is_none() && handle.ca_file().is_none());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let doc: Value = reqwest::get(format!("{}/common/v2.0/.well-known/openid-configuration", handle.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], format!("{}/common/oauth2/v2.0/token", handle.base_url()));
    handle.shutdown().await;
}
