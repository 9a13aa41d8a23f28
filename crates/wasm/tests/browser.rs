//! The browser module in headless Chromium: the PKCE challenge from Web Crypto's digest, the
//! authorize URL, and redirects turned into `GraphgateError`s.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on the first unexpected error")]

use graphgate_wasm::{build_authorize_url, new_pkce_verifier, parse_redirect_url};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// SHA-256 with the browser's Web Crypto, as the npm package's JavaScript does it.
async fn digest(text: &str) -> Vec<u8> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).unwrap();
    let subtle = js_sys::Reflect::get(&crypto, &"subtle".into()).unwrap();
    let f: js_sys::Function = js_sys::Reflect::get(&subtle, &"digest".into()).unwrap().unchecked_into();
    let promise: js_sys::Promise =
        f.call2(&subtle, &"SHA-256".into(), &js_sys::Uint8Array::from(text.as_bytes())).unwrap().unchecked_into();
    js_sys::Uint8Array::new(&wasm_bindgen_futures::JsFuture::from(promise).await.unwrap()).to_vec()
}

#[wasm_bindgen_test]
async fn the_authorize_url_carries_the_web_crypto_challenge() {
    // RFC 7636 Appendix B, hashed by the browser.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let d = digest(verifier).await;
    let out = build_authorize_url(
        "https://login.microsoftonline.com",
        "common",
        "6731de76-14a6-49ae-97bc-6eba6914391e",
        "http://localhost:5173/",
        "Mail.Send\nUser.Read",
        verifier,
        &d,
        None,
        Some("ada@contoso.com".into()),
        Some("contoso.com".into()),
    )
    .unwrap();
    let url = out.get(0).as_string().unwrap();
    let state = out.get(1).as_string().unwrap();
    let nonce = out.get(2).as_string().unwrap();
    assert!(url.starts_with("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code"), "{url}");
    assert!(url.contains("&scope=openid%20offline_access%20Mail.Send%20User.Read&"), "{url}");
    assert!(
        url.contains("&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"),
        "{url}"
    );
    assert!(url.contains(&format!("&state={state}&nonce={nonce}&")), "{url}");
    assert!(url.contains("&login_hint=ada%40contoso.com&domain_hint=contoso.com"), "{url}");
    assert!(state.len() >= 43 && nonce.len() >= 43, "256-bit values from the browser's CSPRNG");
    let other = new_pkce_verifier().unwrap();
    assert_eq!(other.len(), 43);
    assert_ne!(other, new_pkce_verifier().unwrap());
}

#[wasm_bindgen_test]
fn bad_input_rejects_with_a_graphgate_error() {
    let err = build_authorize_url(
        "https://login.microsoftonline.com",
        "common",
        "not-a-guid",
        "http://localhost:5173/",
        "Mail.Send",
        "x",
        &[],
        None,
        None,
        None,
    )
    .expect_err("a bad verifier and client ID");
    let err: js_sys::Error = err.unchecked_into();
    assert_eq!(err.name(), "GraphgateError");
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap().as_string().unwrap();
    assert!(code == "pkce_invalid" || code == "invalid_client_id", "{code}");
    // A scope with a space is refused, not split in two.
    let err = build_authorize_url(
        "https://login.microsoftonline.com",
        "common",
        "6731de76-14a6-49ae-97bc-6eba6914391e",
        "http://localhost:5173/",
        "Mail.Send\nUser Read",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        &[0; 32],
        None,
        None,
        None,
    )
    .expect_err("a scope with a space");
    let code = js_sys::Reflect::get(&err, &"code".into()).unwrap().as_string().unwrap();
    assert_eq!(code, "invalid_scope");
}

#[wasm_bindgen_test]
fn redirects_give_the_code_or_the_explained_error() {
    assert_eq!(parse_redirect_url("http://localhost:5173/?code=abc&state=s1&session_state=x", "s1").unwrap(), "abc");
    let mismatch: js_sys::Error =
        parse_redirect_url("http://localhost:5173/?code=abc&state=evil", "s1").unwrap_err().unchecked_into();
    assert_eq!(js_sys::Reflect::get(&mismatch, &"code".into()).unwrap().as_string().unwrap(), "state_mismatch");
    let refused = "http://localhost:5173/?error=access_denied&error_description=AADSTS50020%3a+User+account+does+not+exist+in+tenant.%0d%0aTrace+ID%3a+t%0d%0aCorrelation+ID%3a+c-9%0d%0aTimestamp%3a+x&state=s1";
    let err: js_sys::Error = parse_redirect_url(refused, "s1").unwrap_err().unchecked_into();
    assert_eq!(err.name(), "GraphgateError");
    assert_eq!(js_sys::Reflect::get(&err, &"code".into()).unwrap().as_string().unwrap(), "AADSTS50020");
    assert_eq!(js_sys::Reflect::get(&err, &"aadsts".into()).unwrap().as_f64(), Some(50020.0));
    assert_eq!(js_sys::Reflect::get(&err, &"correlationId".into()).unwrap().as_string().unwrap(), "c-9");
}

#[wasm_bindgen_test]
fn redirect_state_tells_redirects_apart() {
    use graphgate_wasm::redirect_state;
    assert_eq!(redirect_state("http://localhost/?code=a&state=s1").unwrap().as_deref(), Some("s1"));
    assert_eq!(redirect_state("http://localhost/#error=access_denied").unwrap().as_deref(), Some(""));
    assert_eq!(redirect_state("http://localhost/inbox?page=2").unwrap(), None);
    assert!(redirect_state("http://localhost/?code=a&code=b&state=s").is_err(), "a repeated code is refused");
}
