//! Shared helpers of the emulator's HTTPS tests: a running emulator, a client that trusts its
//! CA, and the sign-in page driven the way a person clicks through it.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use graphgate_core::{PkceVerifier, form_encode};
use graphgate_emulator::{Config, Handle, spawn};
use serde_json::Value;

pub const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
pub const FABRIKAM: &str = "4c1b5f0e-9a7d-4e2b-8c3f-6d5a4b3c2d1e";
pub const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
pub const APP: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const SECRET: &str = "sandbox-secret~5yN.Xq2Vt8Lw3Kd9Rb7Mh4Fz";
pub const EXPIRED_SECRET: &str = "sandbox-expired-secret~Q1w2E3r4T5y6";
pub const SECRET_ID: &str = "3f1e0c9a-1111-4222-8333-944455556666";
pub const REDIRECT: &str = "http://localhost:5173/";
pub const ADELE: &str = "a1f5c3e2-0b4d-4c6e-8f1a-2b3c4d5e6f70";
pub const MEGAN: &str = "b2e6d4f3-1c5e-4d7f-9a2b-3c4d5e6f7081";
pub const BOB: &str = "c3f7e5a4-2d6f-4e8a-8b3c-4d5e6f708192";
pub const KIM: &str = "d4a8f6b5-3e7a-4f9b-9c4d-5e6f708192a3";

pub struct Emu {
    pub handle: Handle,
    pub http: reqwest::Client,
}

impl Emu {
    pub fn base(&self) -> &str {
        self.handle.base_url()
    }
}

/// Starts an emulator over HTTPS with the sandbox seed.
pub async fn start() -> Emu {
    start_with(Config::default()).await
}

pub async fn start_with(config: Config) -> Emu {
    let handle = spawn(config).await.expect("emulator starts");
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_certs(handle.ca_pem().expect("https")) {
        roots.add(cert).expect("CA");
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Emu { handle, http }
}

/// Starts an emulator over plain HTTP with the sandbox seed, as a browser page's tests run it.
pub async fn start_plain() -> Emu {
    let handle = spawn(Config { https: false, ..Config::default() }).await.expect("emulator starts");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    Emu { handle, http }
}

fn rustls_pki_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).map(|c| c.expect("PEM")).collect()
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let v = PkceVerifier::random().unwrap();
    let c = v.challenge().as_str().to_owned();
    (v.into_exposed_secret(), c)
}

/// An authorize query for the sandbox app.
pub fn authorize_query(scope: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", APP),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("response_mode", "query"),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    form_encode(pairs)
}

/// Opens the authorize page; returns status, Location (if any) and the body.
pub async fn open_authorize(emu: &Emu, tenant: &str, query: &str) -> (u16, Option<String>, String) {
    let res = emu.http.get(format!("{}/{tenant}/oauth2/v2.0/authorize?{query}", emu.base())).send().await.unwrap();
    finish(res).await
}

async fn finish(res: reqwest::Response) -> (u16, Option<String>, String) {
    let status = res.status().as_u16();
    let location = res.headers().get("location").map(|v| v.to_str().unwrap().to_owned());
    (status, location, res.text().await.unwrap())
}

/// Picks `account` on the sign-in page and accepts consent if asked; returns the final
/// redirect's Location.
pub async fn sign_in(emu: &Emu, tenant: &str, query: &str, account: &str) -> String {
    let (status, _, page) = open_authorize(emu, tenant, query).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Pick an account"), "{page}");
    let (status, location, body) = post_step(emu, tenant, query, account, "select").await;
    if status == 200 && body.contains("Permissions requested") {
        let (status, location, body) = post_step(emu, tenant, query, account_on_consent(&body), "accept").await;
        assert_eq!(status, 303, "{body}");
        return location.unwrap();
    }
    assert_eq!(status, 303, "{body}");
    location.unwrap()
}

/// Signs `account` in through `tenant` (accepting consent if asked) and returns the emulator's
/// session cookie (`name=value`), as a browser would keep it.
pub async fn session_cookie(emu: &Emu, tenant: &str, query: &str, account: &str) -> String {
    let (_, _, page) = post_step(emu, tenant, query, account, "select").await;
    let step = if page.contains("Permissions requested") { "accept" } else { "select" };
    let res = send_step(emu, tenant, query, account, step).await;
    let cookie = res.headers().get("set-cookie").expect("a session cookie").to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// The account (user object) the consent page posts back.
fn account_on_consent(page: &str) -> &str {
    let start = page.find("name=\"account\" value=\"").unwrap() + "name=\"account\" value=\"".len();
    &page[start..start + page[start..].find('"').unwrap()]
}

pub async fn post_step(
    emu: &Emu,
    tenant: &str,
    query: &str,
    account: &str,
    step: &str,
) -> (u16, Option<String>, String) {
    finish(send_step(emu, tenant, query, account, step).await).await
}

/// Posts one step of the sign-in page (`select`, `accept`, `cancel`) as the browser's form does.
async fn send_step(emu: &Emu, tenant: &str, query: &str, account: &str, step: &str) -> reqwest::Response {
    let body = form_encode([("q", query), ("account", account), ("step", step)]);
    emu.http
        .post(format!("{}/{tenant}/oauth2/v2.0/authorize", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The query parameters of a redirect Location.
pub fn redirect_params(location: &str) -> std::collections::HashMap<String, String> {
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (graphgate_core::percent_decode_param(k).unwrap(), graphgate_core::percent_decode_param(v).unwrap())
        })
        .collect()
}

/// Posts a form to the token endpoint of `tenant`.
pub async fn token(emu: &Emu, tenant: &str, pairs: &[(&str, &str)]) -> (u16, Value) {
    let res = emu
        .http
        .post(format!("{}/{tenant}/oauth2/v2.0/token", emu.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(pairs.iter().copied()))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Redeems `code` (with its PKCE `verifier`) for the sandbox web app, with its secret.
pub async fn redeem_code(emu: &Emu, tenant: &str, code: &str, verifier: &str) -> (u16, Value) {
    redeem_code_with(emu, tenant, code, verifier, &[]).await
}

/// [`redeem_code`] with `extra` form fields (such as `scope`).
pub async fn redeem_code_with(
    emu: &Emu,
    tenant: &str,
    code: &str,
    verifier: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut pairs = vec![
        ("client_id", APP),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_secret", SECRET),
    ];
    pairs.extend_from_slice(extra);
    token(emu, tenant, &pairs).await
}

/// Signs in `account` through `tenant` and redeems the code; returns the token answer.
pub async fn sign_in_and_redeem(emu: &Emu, tenant: &str, scope: &str, account: &str) -> Value {
    let (verifier, challenge) = pkce();
    let query = authorize_query(scope, &challenge, &[]);
    let location = sign_in(emu, tenant, &query, account).await;
    let p = redirect_params(&location);
    let code = p.get("code").unwrap_or_else(|| panic!("no code in {location}"));
    let (status, body) = redeem_code_with(emu, tenant, code, &verifier, &[("scope", scope)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The claims of a JWT (not verified).
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// An app-only token for the sandbox app in Contoso.
pub async fn app_token(emu: &Emu) -> String {
    let scope = format!("{}/.default", emu.base());
    let (status, body) = token(
        emu,
        CONTOSO,
        &[("client_id", APP), ("grant_type", "client_credentials"), ("scope", &scope), ("client_secret", SECRET)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Calls Graph with a bearer token.
pub async fn graph(emu: &Emu, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = emu.http.request(method, format!("{}/v1.0{path}", emu.base())).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}
