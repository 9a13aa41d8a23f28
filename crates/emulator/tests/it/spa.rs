//! Single-page apps as Entra serves them: CORS on discovery, keys and the token endpoint; a code
//! of a `spa` redirect URI redeemed from the page (with `Origin`, no secret) and its refresh
//! tokens, which live a fixed 24 hours (AADSTS700084 after); token answers' `scope` in Entra's
//! short form; and error answers carrying one text, Entra's.

use serde_json::Value;

use crate::support::*;

const ORIGIN: &str = "http://localhost:40000";
const SPA: &str = "http://localhost:40000/spa";

/// Posts a form to the token endpoint, from the page (`Origin`) or not.
async fn post_token(
    emu: &Emu,
    origin: Option<&str>,
    pairs: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = emu
        .http
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(graphgate_core::form_encode(pairs.iter().copied()));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, res.json().await.unwrap())
}

/// The first line of an error answer's description: `AADSTSn: text`.
fn text(body: &Value) -> String {
    body["error_description"].as_str().unwrap_or_default().lines().next().unwrap_or_default().to_owned()
}

/// Signs Adele in through the `spa` redirect URI and redeems the code from the page.
async fn spa_sign_in(emu: &Emu, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let q = authorize_query(scope, &challenge, &[])
        .replace(&graphgate_core::percent_encode(REDIRECT), &graphgate_core::percent_encode(SPA));
    let code = redirect_params(&sign_in(emu, CONTOSO, &q, ADELE).await)["code"].clone();
    let (status, headers, body) = post_token(
        emu,
        Some(ORIGIN),
        &[
            ("client_id", APP),
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA),
            ("code_verifier", &verifier),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), "*");
    assert!(headers.get("access-control-allow-credentials").is_none());
    body
}

fn refresh_pairs(rt: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", APP.to_owned()),
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", rt.to_owned()),
        ("scope", "openid profile offline_access User.Read".to_owned()),
    ]
}

async fn refresh(emu: &Emu, origin: Option<&str>, rt: &str) -> (u16, Value) {
    let pairs = refresh_pairs(rt);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post_token(emu, origin, &borrowed).await;
    (status, body)
}

#[tokio::test]
async fn a_single_page_app_refreshes_from_the_page_for_24_hours() {
    let emu = start().await;
    let first = spa_sign_in(&emu, "openid profile offline_access User.Read").await;
    assert_eq!(first["scope"], "User.Read profile openid email");
    let rt1 = first["refresh_token"].as_str().expect("a refresh token for offline_access").to_owned();

    // Redeemed as the code was: from the page, without a secret.
    let (status, second) = refresh(&emu, Some(ORIGIN), &rt1).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["scope"], "User.Read profile openid email");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    // Without Origin, a single-page app's refresh token is refused as its code would be.
    let (status, body) = refresh(&emu, None, &rt2).await;
    assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(9002327)), "{body}");
    assert_eq!(
        text(&body),
        "AADSTS9002327: Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests."
    );

    // Used an hour before the end, the newest token still works; its successor keeps the end.
    emu.handle.advance_clock(23 * 3600);
    let (status, third) = refresh(&emu, Some(ORIGIN), &rt2).await;
    assert_eq!(status, 200, "{third}");
    let rt3 = third["refresh_token"].as_str().unwrap().to_owned();
    emu.handle.advance_clock(3600);
    for rt in [&rt1, &rt2, &rt3] {
        let (status, body) = refresh(&emu, Some(ORIGIN), rt).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        assert_eq!(body["error_codes"][0], 700084);
        let t = text(&body);
        assert!(
            t.starts_with(
                "AADSTS700084: The refresh token was issued to a single page app (SPA), and therefore has a fixed, \
                 limited lifetime of 1.00:00:00, which cannot be extended. It is now expired and a new sign in \
                 request must be sent by the SPA to the sign in page. The token was issued on "
            ) && t.ends_with(".0000000Z."),
            "{t}"
        );
    }
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn a_web_grant_stays_on_the_server() {
    let emu = start().await;
    let body =
        sign_in_and_redeem(&emu, CONTOSO, "openid offline_access https://graph.microsoft.com/User.Read", ADELE).await;
    assert_eq!(body["scope"], "User.Read openid email", "the prefixed scope is written short");
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    // A Web app's refresh token is not redeemed from a page, nor without its secret.
    let (status, refused) = refresh(&emu, Some(ORIGIN), &rt).await;
    assert_eq!((status, refused["error_codes"][0].as_u64()), (400, Some(9002326)), "{refused}");
    assert_eq!(
        text(&refused),
        format!(
            "AADSTS9002326: Cross-origin token redemption is permitted only for the 'Single-Page Application' \
             client-type. Request origin: '{ORIGIN}'."
        )
    );
    let (status, refused) = refresh(&emu, None, &rt).await;
    assert_eq!((status, refused["error_codes"][0].as_u64()), (401, Some(7000218)), "{refused}");
    // With it, `.default` is answered with every Graph permission granted, short.
    let mut pairs = refresh_pairs(&rt);
    pairs[3].1 = "https://graph.microsoft.com/.default offline_access".to_owned();
    pairs.push(("client_secret", SECRET.to_owned()));
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = post_token(&emu, None, &borrowed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "User.Read");
    // Ninety days unused, a Web refresh token lapses, in Entra's words.
    emu.handle.advance_clock(91 * 24 * 3600);
    let new_rt = body["refresh_token"].as_str().unwrap();
    let mut pairs = refresh_pairs(new_rt);
    pairs.push(("client_secret", SECRET.to_owned()));
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, _, body) = post_token(&emu, None, &borrowed).await;
    let t = text(&body);
    assert!(
        t.starts_with("AADSTS700082: The refresh token has expired due to inactivity. The token was issued on ")
            && t.ends_with(" and was inactive for 91.00:00:00."),
        "{t}"
    );
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn token_errors_carry_one_text_with_the_detail_inside() {
    let emu = start().await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("client_id", APP)], "AADSTS900144: The request body must contain the following parameter: 'grant_type'."),
        (
            &[("client_id", APP), ("grant_type", "password")],
            "AADSTS70003: The app requested an unsupported grant type 'password'.",
        ),
        (
            &[("client_id", APP), ("grant_type", "authorization_code"), ("client_secret", SECRET)],
            "AADSTS900144: The request body must contain the following parameter: 'code'.",
        ),
        (
            &[
                ("client_id", APP),
                ("grant_type", "refresh_token"),
                ("refresh_token", "nope"),
                ("client_secret", SECRET),
            ],
            "AADSTS70000: The provided value for the 'refresh_token' parameter is not valid.",
        ),
        (
            &[
                ("client_id", APP),
                ("grant_type", "client_credentials"),
                ("scope", "Mail.Send"),
                ("client_secret", SECRET),
            ],
            "AADSTS70011: The provided value for the input parameter 'scope' is not valid. The scope Mail.Send is not valid.",
        ),
    ];
    for (pairs, expected) in cases {
        let (status, _, body) = post_token(&emu, None, pairs).await;
        assert!(status >= 400, "{body}");
        assert_eq!(text(&body), expected);
    }
    let (_, _, body) = post_token(&emu, None, &[("client_id", "nope"), ("grant_type", "client_credentials")]).await;
    assert!(
        text(&body).starts_with(&format!(
            "AADSTS700016: Application with identifier 'nope' was not found in the directory '{CONTOSO}'. This can happen"
        )),
        "{body}"
    );
    emu.handle.shutdown().await;
}

#[tokio::test]
async fn discovery_and_keys_answer_any_origin() {
    let emu = start().await;
    for path in ["common/v2.0/.well-known/openid-configuration", "common/discovery/v2.0/keys"] {
        let res = emu.http.get(format!("{}/{path}", emu.base())).header("origin", ORIGIN).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers().get("access-control-allow-origin").unwrap(), "*", "{path}");
        assert!(res.headers().get("access-control-allow-credentials").is_none(), "{path}");
    }
    let res = emu
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/{CONTOSO}/oauth2/v2.0/token", emu.base()))
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers().get("access-control-allow-origin").unwrap(), "*");
    emu.handle.shutdown().await;
}
