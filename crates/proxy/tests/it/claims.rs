//! Claims challenges end to end against graphgate-emulator: `entra.client_capabilities = ["cp1"]`
//! declares the capability on every delegated token request, Graph then challenges the user's
//! tokens, `/api/auth/token {claims}` answers the challenge, and a challenge that needs the user
//! comes back as a typed error with the claims for the next sign-in, leaving the session usable.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::support::*;

const ADELE_UPN: &str = "adele@contoso.onmicrosoft.com";

/// A rig whose proxy declares `cp1` (and keeps sessions alive after a day, when asked).
async fn cp1_rig() -> Rig {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\n").await;
    rig.config_toml = rig.config_toml.replace("scopes = [", "client_capabilities = [\"cp1\"]\nscopes = [");
    assert!(rig.config_toml.contains("client_capabilities"));
    rig.restart_proxy().await;
    rig
}

/// The claims of a JWT (not verified).
fn jwt_claims(jwt: &Value) -> Value {
    let payload = jwt.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// `GET /v1.0/me` on the emulator: status and `WWW-Authenticate`.
async fn me(rig: &Rig, token: &Value) -> (u16, Option<String>) {
    let res = rig
        .emu_http
        .get(format!("{}/v1.0/me", rig.emu.base_url()))
        .bearer_auth(token.as_str().unwrap())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()))
}

/// `POST /api/auth/token` with `body`: status, the session cookie if one was set, and the JSON.
async fn token_with(rig: &Rig, cookie: &str, body: Value) -> (u16, Option<String>, Value) {
    let res = rig.post("/api/auth/token", Some(cookie), body).send().await.unwrap();
    let status = res.status().as_u16();
    let set_cookie = res.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    (status, set_cookie, res.json().await.unwrap())
}

#[tokio::test]
async fn declared_cp1_is_challenged_and_the_challenge_answered_through_the_proxy() {
    let rig = cp1_rig().await;
    let (cookie, signed_in) = rig.signed_in().await;
    assert_eq!(jwt_claims(&signed_in["accessToken"])["xms_cc"], json!(["cp1"]), "declared on the code redemption");
    let (_, _, forced) = token_with(&rig, &cookie, json!({"forceRefresh": true})).await;
    assert_eq!(jwt_claims(&forced["accessToken"])["xms_cc"], json!(["cp1"]), "and on every refresh");
    assert_eq!(me(&rig, &forced["accessToken"]).await.0, 200);

    rig.emu.claims_challenge(ADELE_UPN, None, false).unwrap();
    let (status, header) = me(&rig, &forced["accessToken"]).await;
    assert_eq!(status, 401);
    let challenge = graphgate_core::parse_claims_challenge(&header.unwrap()).expect("insufficient_claims");
    let refreshes = rig.emu.call_count("token:refresh_token");
    let (status, _, answered) = token_with(&rig, &cookie, json!({"claims": challenge})).await;
    assert_eq!(status, 200, "{answered}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), refreshes + 1, "past the cached token, upstream at once");
    assert_ne!(answered["accessToken"], forced["accessToken"]);
    assert_eq!(jwt_claims(&answered["accessToken"])["xms_cc"], json!(["cp1"]));
    assert_eq!(me(&rig, &answered["accessToken"]).await.0, 200, "Graph accepts the new token");
    // The new token replaced the cached one.
    let (status, cached) = rig.token(&cookie).await;
    assert_eq!(status, 200);
    assert_eq!(cached["accessToken"], answered["accessToken"]);
    assert_eq!(rig.emu.call_count("token:refresh_token"), refreshes + 1);
    // The rotated refresh token was stored and carries what it satisfied.
    let (_, _, again) = token_with(&rig, &cookie, json!({"forceRefresh": true})).await;
    assert_eq!(me(&rig, &again["accessToken"]).await.0, 200);
    assert!(!rig.emu.issued_refresh_tokens().iter().any(|rt| again.to_string().contains(rt.as_str())));
}

#[tokio::test]
async fn the_keep_alive_refresh_declares_cp1_too() {
    let rig = cp1_rig().await;
    let (cookie, _) = rig.signed_in().await;
    rig.advance(25 * 3600);
    let report = graphgate_proxy::keepalive::run_once(&rig.proxy).await;
    assert_eq!(report.refreshed, 1, "{report:?}");
    let refreshes = rig.emu.call_count("token:refresh_token");
    let (status, kept) = rig.token(&cookie).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), refreshes, "the keep-alive's token, from the cache");
    assert_eq!(jwt_claims(&kept["accessToken"])["xms_cc"], json!(["cp1"]));
}

#[tokio::test]
async fn without_capabilities_graph_does_not_challenge() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (cookie, signed_in) = rig.signed_in().await;
    assert!(jwt_claims(&signed_in["accessToken"]).get("xms_cc").is_none());
    rig.emu.claims_challenge(ADELE_UPN, None, false).unwrap();
    assert_eq!(me(&rig, &signed_in["accessToken"]).await, (200, None));
    // A claims request is still answered (a challenge may come from elsewhere, such as an Entra error).
    let claims = json!({"access_token": {"nbf": {"essential": true, "value": "1"}}}).to_string();
    let (status, _, body) = token_with(&rig, &cookie, json!({"claims": claims})).await;
    assert_eq!(status, 200, "{body}");
    assert!(jwt_claims(&body["accessToken"]).get("xms_cc").is_none());
}

#[tokio::test]
async fn a_challenge_needing_the_user_answers_its_claims_and_keeps_the_session() {
    let rig = cp1_rig().await;
    let (cookie, signed_in) = rig.signed_in().await;
    let mfa = json!({"access_token": {"acrs": {"essential": true, "value": "c1"}}});
    rig.emu.claims_challenge(ADELE_UPN, Some(mfa.clone()), true).unwrap();
    let (status, header) = me(&rig, &signed_in["accessToken"]).await;
    assert_eq!(status, 401);
    let challenge = graphgate_core::parse_claims_challenge(&header.unwrap()).unwrap();

    let (status, set_cookie, err) = token_with(&rig, &cookie, json!({"claims": challenge})).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!((err["error"].as_str(), err["code"].as_str()), (Some("interaction_required"), Some("AADSTS50076")));
    assert!(!err["hint"].as_str().unwrap().is_empty());
    let claims: Value = serde_json::from_str(err["claims"].as_str().expect("a claims field")).unwrap();
    assert_eq!(claims, mfa, "the claims the next authorize must send");
    assert!(set_cookie.is_none(), "the session cookie is not cleared");
    // The session is still there and its grant still works for a plain token call.
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 200);
    let (status, _, plain) = token_with(&rig, &cookie, json!({"forceRefresh": true})).await;
    assert_eq!(status, 200, "{plain}");

    // The page's next sign-in carries the claims: its tokens satisfy the challenge.
    let (code, state, sign_in) = sign_in_with_claims(&rig, err["claims"].as_str().unwrap()).await;
    let (status, _, exchanged) = rig.exchange(&code, &state, &sign_in).await;
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(jwt_claims(&exchanged["accessToken"])["xms_cc"], json!(["cp1"]));
    assert_eq!(me(&rig, &exchanged["accessToken"]).await.0, 200);
}

#[tokio::test]
async fn claims_that_are_not_a_json_object_are_a_typed_400() {
    let rig = cp1_rig().await;
    let (cookie, _) = rig.signed_in().await;
    let refreshes = rig.emu.call_count("token:refresh_token");
    for claims in ["[1]", "", "not json", "eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="] {
        let (status, _, err) = token_with(&rig, &cookie, json!({"claims": claims})).await;
        assert_eq!((status, err["error"].as_str()), (400, Some("invalid_claims")), "{claims}: {err}");
        assert!(!err["message"].as_str().unwrap().contains(claims) || claims.is_empty(), "{err}");
    }
    let long = ["{\"x\":\"", &"a".repeat(9000), "\"}"].concat();
    let (status, _, err) = token_with(&rig, &cookie, json!({"claims": long})).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_claims")));
    let (status, _, err) = token_with(&rig, &cookie, json!({"claims": {"access_token": {}}})).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_json_body")), "a string, not an object");
    assert_eq!(rig.emu.call_count("token:refresh_token"), refreshes, "nothing went upstream");
}

/// Signs Adele in with `claims` on the authorize request (on the emulator's pages, with her
/// consent already given); returns (code, state, sign-in cookie).
async fn sign_in_with_claims(rig: &Rig, claims: &str) -> (String, String, String) {
    rig.sign_in_with(CONTOSO, ADELE, Some(claims)).await
}
