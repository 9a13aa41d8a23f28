//! graphgate-wasm: the browser module's facade over graphgate-core. It exports the protocol
//! steps (the PKCE verifier, the authorize URL with state and nonce, the redirect's parsing and
//! its state check) as synchronous functions; `js/client.js` builds the Promise-based API (client,
//! token cache, Graph client) over them, so the module carries no async runtime.

#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

use alloc::string::String;

/// The allocator of the `no_std` build.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// A panic cannot happen on any input (core's parsers return errors), but if one did, the
/// module traps: JavaScript sees a `RuntimeError` instead of a formatted message.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

use graphgate_core::{
    AuthorizeRequest, BaseUrl, ClientId, Endpoints, PkceChallenge, PkceVerifier, Prompt, RedirectResponse, RedirectUri,
    Scopes, State, Tenant, parse_redirect, redirect_params,
};
use wasm_bindgen::prelude::*;

/// A graphgate error as JavaScript sees it: an `Error` whose `name` is `GraphgateError`, with
/// `code` (graphgate's code or the AADSTS/Graph code), and for Entra errors `error` (the OAuth
/// error, e.g. `login_required`), `aadsts` and `correlationId`.
fn js_error(e: &graphgate_core::Error) -> JsValue {
    let err = js_sys::Error::new(e.detail());
    err.set_name("GraphgateError");
    let obj: &JsValue = err.as_ref();
    // The AADSTS number is written by JavaScript's string concatenation: Rust's number formatting
    // would cost the module the formatting code.
    let code: JsValue = match e {
        graphgate_core::Error::Entra(x) => match x.aadsts {
            Some(n) => js_sys::JsString::from("AADSTS").concat(&n.into()).into(),
            None => x.error.as_str().into(),
        },
        graphgate_core::Error::Graph(x) => x.code.as_str().into(),
        other => other.code().as_str().into(),
    };
    let _ = js_sys::Reflect::set(obj, &"code".into(), &code);
    if let graphgate_core::Error::Entra(x) = e {
        let _ = js_sys::Reflect::set(obj, &"error".into(), &x.error.as_str().into());
        let _ = js_sys::Reflect::set(obj, &"aadsts".into(), &x.aadsts.map(JsValue::from).unwrap_or(JsValue::NULL));
        let _ = js_sys::Reflect::set(
            obj,
            &"correlationId".into(),
            &x.correlation_id.clone().map(JsValue::from).unwrap_or(JsValue::NULL),
        );
    }
    err.into()
}

/// A fresh PKCE code verifier (256 random bits, base64url). The page hashes it with Web Crypto
/// (`crypto.subtle.digest('SHA-256', …)`) and passes the digest to [`build_authorize_url`]: the
/// module carries no hash code and no async machinery.
#[wasm_bindgen(js_name = newPkceVerifier)]
pub fn new_pkce_verifier() -> Result<String, JsValue> {
    PkceVerifier::random().map(PkceVerifier::into_exposed_secret).map_err(|e| js_error(&e))
}

/// Builds an authorize URL with PKCE S256 (`verifier` and the SHA-256 `digest` of it), a random
/// state and nonce. `scopes` are separated by newlines (which no scope contains: a scope with a
/// space is refused, not split), one string being cheaper to pass than an array. Returns
/// `[url, state, nonce]`; the caller keeps them and the verifier (in `sessionStorage`) until the
/// redirect comes back.
#[wasm_bindgen(js_name = buildAuthorizeUrl)]
#[allow(clippy::too_many_arguments, reason = "an internal, flat signature: js/client.js passes its options through")]
pub fn build_authorize_url(
    login_base: &str,
    tenant: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &str,
    verifier: &str,
    digest: &[u8],
    prompt: Option<String>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
) -> Result<js_sys::Array, JsValue> {
    let run = || -> Result<js_sys::Array, graphgate_core::Error> {
        let verifier = PkceVerifier::parse(verifier)?;
        let challenge = PkceChallenge::from_sha256_digest(digest);
        let endpoints = Endpoints::default().with_login_base(BaseUrl::parse(login_base)?);
        let tenant = Tenant::parse(tenant)?;
        let client = ClientId::parse(client_id)?;
        let redirect = RedirectUri::parse(redirect_uri)?;
        let mut req = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
            .scopes(if scopes.is_empty() { Scopes::new() } else { Scopes::parse_all(scopes.split('\n'))? })
            .with_pkce(verifier, challenge);
        if let Some(p) = prompt.as_deref().filter(|p| !p.is_empty()) {
            let p = Prompt::parse(p).ok_or_else(|| {
                graphgate_core::Error::new(
                    graphgate_core::ErrorCode::ConfigInvalid,
                    ["prompt '", p, "' is not login, none, consent or select_account"].concat(),
                )
            })?;
            req = req.prompt(p);
        }
        if let Some(h) = login_hint.filter(|h| !h.is_empty()) {
            req = req.login_hint(h);
        }
        if let Some(h) = domain_hint.filter(|h| !h.is_empty()) {
            req = req.domain_hint(h);
        }
        let (url, pending) = req.build()?;
        let out = js_sys::Array::new();
        out.push(&url.into());
        out.push(&pending.state.into_exposed_secret().into());
        out.push(&pending.nonce.into_exposed_secret().into());
        Ok(out)
    };
    run().map_err(|e| js_error(&e))
}

/// Parses the page's URL after a redirect and checks its state: the code, or a
/// `GraphgateError` (an Entra error redirect keeps its AADSTS code).
#[wasm_bindgen(js_name = parseRedirect)]
pub fn parse_redirect_url(url: &str, expected_state: &str) -> Result<String, JsValue> {
    parse_redirect(redirect_params(url, None))
        .and_then(|r| r.verify(&State::new(expected_state)))
        .map(|s| s.code.into_exposed_secret())
        .map_err(|e| js_error(&e))
}

/// The `state` of a redirect URL: `undefined` when the URL is no sign-in redirect (carries
/// neither `code` nor `error`), `""` for an error redirect without one.
#[wasm_bindgen(js_name = redirectState)]
pub fn redirect_state(url: &str) -> Result<Option<String>, JsValue> {
    match parse_redirect(redirect_params(url, None)) {
        Ok(RedirectResponse::Success(s)) => Ok(Some(s.state.into_exposed_secret())),
        Ok(RedirectResponse::Error { state, .. }) => {
            Ok(Some(state.map(State::into_exposed_secret).unwrap_or_default()))
        }
        Err(e) if e.code() == graphgate_core::ErrorCode::NotARedirect => Ok(None),
        Err(e) => Err(js_error(&e)),
    }
}
