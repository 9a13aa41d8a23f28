//! Over HTTPS: claims challenges for `cp1` clients (Continuous Access Evaluation), a throttled
//! sub-request inside `$batch`, Graph's CORS switch for `Retry-After`, and Graph's correlation
//! IDs on answers and error bodies.

use crate::support::*;
use graphgate_core::{CP1, merge_client_capabilities, parse_claims_challenge};
use reqwest::Method;
use serde_json::{Value, json};

const SCOPE: &str = "openid offline_access User.Read Mail.Send";
const ADELE_UPN: &str = "adele@contoso.onmicrosoft.com";

/// Redeems `rt` with an optional `claims` parameter.
async fn refresh(emu: &Emu, rt: &str, claims: Option<&str>) -> (u16, Value) {
    let mut pairs =
        vec![("client_id", APP), ("grant_type", "refresh_token"), ("refresh_token", rt), ("client_secret", SECRET)];
    if let Some(c) = claims {
        pairs.push(("claims", c));
    }
    token(emu, CONTOSO, &pairs).await
}

/// `GET /v1.0/me`: status, `WWW-Authenticate` and body.
async fn me(emu: &Emu, token: &str) -> (u16, Option<String>, Value) {
    let res = emu.http.get(format!("{}/v1.0/me", emu.base())).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    let header = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (status, header, res.json().await.unwrap())
}

fn access(answer: &Value) -> &str {
    answer["access_token"].as_str().unwrap()
}

fn cp1() -> String {
    merge_client_capabilities("", &[CP1]).unwrap()
}

#[tokio::test]
async fn graph_challenges_cp1_tokens_until_a_refresh_with_the_claims() {
    let emu = start().await;
    let first = sign_in_and_redeem(&emu, CONTOSO, SCOPE, ADELE).await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    assert!(claims(access(&first)).get("xms_cc").is_none(), "no capability declared");
    let (status, capable) = refresh(&emu, &rt, Some(&cp1())).await;
    assert_eq!(status, 200, "{capable}");
    assert_eq!(claims(access(&capable))["xms_cc"], json!(["cp1"]));
    assert_eq!(me(&emu, access(&capable)).await.0, 200, "no challenge yet");

    let set = emu.handle.claims_challenge(ADELE_UPN, None, false).unwrap();
    assert_eq!(set["account"], ADELE_UPN);
    let (status, header, body) = me(&emu, access(&capable)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let header = header.expect("a WWW-Authenticate header");
    assert!(header.starts_with("Bearer realm=\"\", authorization_uri=\""), "{header}");
    assert!(header.contains(&format!("{}/common/oauth2/authorize", emu.base())), "the emulator's own host: {header}");
    assert!(header.contains("error=\"insufficient_claims\""), "{header}");
    let challenge = parse_claims_challenge(&header).expect("an insufficient_claims challenge");
    assert_eq!(serde_json::from_str::<Value>(&challenge).unwrap(), set["claims"]);
    assert!(set["claims"]["access_token"]["nbf"]["essential"].as_bool().unwrap(), "CAE's nbf claim by default");
    // Graph challenges only clients that declared cp1.
    assert_eq!(me(&emu, access(&first)).await.0, 200);
    let (_, plain) = refresh(&emu, &rt, None).await;
    assert_eq!(me(&emu, access(&plain)).await.0, 200);
    // A cp1 refresh without the claims does not satisfy it.
    let (_, again) = refresh(&emu, &rt, Some(&cp1())).await;
    assert_eq!(me(&emu, access(&again)).await.0, 401);

    // The client answers: the challenge's claims merged with its capability.
    let answer = merge_client_capabilities(&challenge, &[CP1]).unwrap();
    let (status, satisfied) = refresh(&emu, &rt, Some(&answer)).await;
    assert_eq!(status, 200, "{satisfied}");
    assert_eq!(claims(access(&satisfied))["xms_cc"], json!(["cp1"]));
    assert_eq!(me(&emu, access(&satisfied)).await.0, 200);
    assert_eq!(me(&emu, access(&capable)).await.0, 401, "the old token is still challenged");
    // The grant keeps what it satisfied: its rotated refresh token mints satisfying tokens.
    let (_, next) = refresh(&emu, satisfied["refresh_token"].as_str().unwrap(), Some(&cp1())).await;
    assert_eq!(me(&emu, access(&next)).await.0, 200);

    // The claims must be a JSON object.
    let (status, body) = refresh(&emu, &rt, Some("[1]")).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(9002313)), "{body}");

    emu.handle.clear_claims_challenges();
    assert_eq!(me(&emu, access(&again)).await.0, 200);
}

#[tokio::test]
async fn a_challenge_that_needs_the_user_is_met_by_signing_in_with_the_claims() {
    let emu = start().await;
    let first = sign_in_and_redeem(&emu, CONTOSO, SCOPE, ADELE).await;
    let rt = first["refresh_token"].as_str().unwrap().to_owned();
    let mfa = json!({"access_token": {"acrs": {"essential": true, "value": "c1"}}});
    let set = emu.handle.claims_challenge(ADELE_UPN, Some(mfa.clone()), true).unwrap();
    assert_eq!((set["claims"].clone(), set["interaction"].as_bool()), (mfa.clone(), Some(true)));
    let (_, capable) = refresh(&emu, &rt, Some(&cp1())).await;
    let (status, header, _) = me(&emu, access(&capable)).await;
    assert_eq!(status, 401);
    let challenge = parse_claims_challenge(&header.unwrap()).unwrap();
    let answer = merge_client_capabilities(&challenge, &[CP1]).unwrap();

    // Entra needs the user: interaction_required, with the claims the next authorize must send.
    let (status, body) = refresh(&emu, &rt, Some(&answer)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "interaction_required");
    assert_eq!(body["error_codes"][0], 50076);
    assert_eq!(body["suberror"], "basic_action");
    assert_eq!(serde_json::from_str::<Value>(body["claims"].as_str().unwrap()).unwrap(), mfa);
    // The grant itself still works for a plain refresh.
    assert_eq!(refresh(&emu, &rt, Some(&cp1())).await.0, 200);

    // Silently, the user cannot be asked.
    let cookie = session_cookie(&emu, CONTOSO, &authorize_query(SCOPE, &pkce().1, &[]), ADELE).await;
    let silent = authorize_query(SCOPE, &pkce().1, &[("prompt", "none"), ("claims", &answer)]);
    let res = emu
        .http
        .get(format!("{}/{CONTOSO}/oauth2/v2.0/authorize?{silent}", emu.base()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let p = redirect_params(res.headers()["location"].to_str().unwrap());
    assert_eq!(p["error"], "interaction_required");
    assert!(p["error_description"].starts_with("AADSTS50076:"), "{}", p["error_description"]);

    // Interactively, with the claims: the code's tokens satisfy the challenge, and so do those
    // its refresh token mints.
    let (verifier, pkce_challenge) = pkce();
    let query = authorize_query(SCOPE, &pkce_challenge, &[("claims", &answer)]);
    let location = sign_in(&emu, CONTOSO, &query, ADELE).await;
    let code = redirect_params(&location)["code"].clone();
    let (status, signed_in) = redeem_code(&emu, CONTOSO, &code, &verifier).await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(claims(access(&signed_in))["xms_cc"], json!(["cp1"]), "declared on the authorize request");
    assert_eq!(me(&emu, access(&signed_in)).await.0, 200);
    let (status, next) = refresh(&emu, signed_in["refresh_token"].as_str().unwrap(), Some(&answer)).await;
    assert_eq!(status, 200, "the grant has met the challenge: {next}");
    assert_eq!(me(&emu, access(&next)).await.0, 200);
}

#[tokio::test]
async fn the_control_api_sets_lists_and_clears_challenges_and_cors_switches() {
    let emu = start().await;
    let base = emu.base().to_owned();
    let post = |path: &str, body: Value| emu.http.post(format!("{base}/_emulator{path}")).json(&body).send();
    let res = post("/claims-challenges", json!({"account": ADELE_UPN, "interaction": true})).await.unwrap();
    assert_eq!(res.status(), 200);
    let set: Value = res.json().await.unwrap();
    assert_eq!((set["account"].as_str(), set["interaction"].as_bool()), (Some(ADELE_UPN), Some(true)));
    assert_eq!(set["userId"], ADELE);
    let listed: Value =
        emu.http.get(format!("{base}/_emulator/claims-challenges")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed["value"][0]["id"], set["id"]);
    for bad in [json!({"account": ADELE_UPN, "claims": []}), json!({"account": ADELE_UPN, "claims": {}}), json!({})] {
        assert_eq!(post("/claims-challenges", bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    assert_eq!(post("/claims-challenges", json!({"account": "nobody@nowhere.example"})).await.unwrap().status(), 404);
    let res = emu.http.delete(format!("{base}/_emulator/claims-challenges")).send().await.unwrap();
    assert_eq!(res.status(), 204);
    let listed: Value =
        emu.http.get(format!("{base}/_emulator/claims-challenges")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["value"], json!([]));

    let cors: Value = emu.http.get(format!("{base}/_emulator/cors")).send().await.unwrap().json().await.unwrap();
    assert_eq!(cors, json!({"exposeRetryAfter": true}));
    let res = post("/cors", json!({"exposeRetryAfter": false})).await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"exposeRetryAfter": false}));
    assert_eq!(post("/cors", json!({"expose": false})).await.unwrap().status(), 400);
    // A sub-request has no connection to drop.
    let drop = json!({"path": "/v1.0/me", "kind": "drop", "in_batch": true});
    assert_eq!(post("/faults", drop).await.unwrap().status(), 400);
}

/// The comma-separated items of a header, lower-cased.
fn items(res: &reqwest::Response, name: &str) -> Vec<String> {
    let text = res.headers().get(name).map(|v| v.to_str().unwrap()).unwrap_or("");
    text.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
}

#[tokio::test]
async fn graph_exposes_retry_after_to_pages_unless_switched_off() {
    let emu = start().await;
    let url = format!("{}/v1.0/me", emu.base());
    let get = || emu.http.get(&url).header("origin", "http://127.0.0.1:4173").send();
    let res = get().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        items(&res, "access-control-expose-headers"),
        ["retry-after", "www-authenticate", "request-id", "client-request-id", "location"]
    );
    emu.handle.set_expose_retry_after(false);
    let res = get().await.unwrap();
    assert_eq!(
        items(&res, "access-control-expose-headers"),
        ["www-authenticate", "request-id", "client-request-id", "location"]
    );
    emu.handle.set_expose_retry_after(true);
    assert!(items(&get().await.unwrap(), "access-control-expose-headers").contains(&"retry-after".to_owned()));
}

#[tokio::test]
async fn graph_answers_carry_a_request_id_and_echo_the_client_request_id() {
    let emu = start().await;
    let first = sign_in_and_redeem(&emu, CONTOSO, SCOPE, ADELE).await;
    let url = format!("{}/v1.0/me", emu.base());
    let client_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let res =
        emu.http.get(&url).bearer_auth(access(&first)).header("client-request-id", client_id).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["request-id"].to_str().unwrap().to_owned();
    assert_eq!(request_id.len(), 36);
    assert_eq!(res.headers()["client-request-id"], client_id);
    let res = emu.http.get(&url).header("client-request-id", client_id).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let request_id = res.headers()["request-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    let inner = &body["error"]["innerError"];
    assert_eq!(inner["request-id"], request_id.as_str(), "the body repeats the header");
    assert_eq!(inner["client-request-id"], client_id);
    assert_eq!(inner["date"].as_str().unwrap().len(), "2025-02-13T10:17:05".len());
    // Without a client-request-id, the request ID stands in for it; every answer has a new one.
    let res = emu.http.get(&url).send().await.unwrap();
    let (a, b) = (res.headers()["request-id"].to_str().unwrap(), res.headers()["client-request-id"].to_str().unwrap());
    assert_eq!(a, b);
    assert_ne!(a, request_id);
}

#[tokio::test]
async fn a_throttled_sub_request_is_counted_like_a_direct_call() {
    let emu = start().await;
    let first = sign_in_and_redeem(&emu, CONTOSO, SCOPE, ADELE).await;
    let base = emu.base().to_owned();
    let rule = json!({"kind": "throttle", "path": "/v1.0/me", "method": "GET", "count": 1, "retry_after": 1, "in_batch": true});
    let res = emu.http.post(format!("{base}/_emulator/faults")).json(&rule).send().await.unwrap();
    assert_eq!(res.status(), 204);
    emu.handle.reset_calls();
    let batch = json!({"requests": [
        {"id": "a", "method": "GET", "url": "/me"},
        {"id": "b", "method": "GET", "url": "/me", "dependsOn": ["a"]},
    ]});
    let (status, body) = graph(&emu, Method::POST, "/$batch", access(&first), Some(batch)).await;
    assert_eq!(status, 200, "{body}");
    let by_id = |id: &str| body["responses"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    let a = by_id("a");
    assert_eq!((a["status"].as_u64(), a["headers"]["Retry-After"].as_str()), (Some(429), Some("1")));
    assert_eq!(a["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(by_id("b")["status"], 424);
    assert_eq!(emu.handle.call_count("POST /v1.0/$batch"), 1);
    assert_eq!(emu.handle.call_count("GET /v1.0/me"), 1, "the sub-request counts; its dependant never ran");
}
