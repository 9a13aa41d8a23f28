//! Sign-in: begun at the proxy (which makes and keeps the PKCE verifier, the state and the
//! nonce for this browser, and answers the challenge), the authorize URL, the pending request
//! kept in `sessionStorage` until the redirect comes back (its state and scopes: no verifier),
//! the redirect and the popup, and the code's redemption through the proxy — one redemption even
//! when two tabs hold the same redirect.
//!
//! Every step that knows how sign-in is begun and finished is here: [`begin`] makes what is
//! kept, [`redeem`] spends it.

use std::rc::Rc;

use graphgate_core::{
    AuthorizeRequest, BaseUrl, ClientId, Endpoints, ErrorCode, Nonce, PkceChallenge, Prompt, RedirectResponse,
    RedirectUri, Scopes, State, Tenant, parse_redirect, redirect_params,
};
use js_sys::Promise;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::client::{Inner, promise, to_js};
use crate::fail::Fail;
use crate::{js, tabs, tokens};

/// Where pending sign-ins are kept in `sessionStorage`, under their state.
const PENDING: &str = "graphgate.pending.";
/// The sign-in popup's window name (the entry's `inSignInPopup` looks for it too).
pub(crate) const POPUP_NAME: &str = "graphgate-signin";
use graphgate_core::invitation::INVITATION_RETURN_STATE as INVITE_STATE;
/// A pending sign-in older than this is dropped.
const PENDING_MAX_AGE_MS: f64 = 3_600_000.0;

/// `loginRedirect`'s and `loginPopup`'s request.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct LoginRequest {
    #[serde(deserialize_with = "crate::options::strings")]
    scopes: Option<Vec<String>>,
    prompt: Option<String>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
    state: Option<String>,
    claims: Option<String>,
    #[serde(skip)]
    fallback: bool,
}

/// What is kept until the redirect comes back (the proxy keeps the verifier and the nonce).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pending {
    state: String,
    scopes: Vec<String>,
    app_state: Option<String>,
    at: f64,
    /// A silent try that falls back to an interactive sign-in when the user is needed.
    #[serde(default)]
    fallback: bool,
}

fn storage(inner: &Inner) -> Result<&web_sys::Storage, Fail> {
    inner
        .hooks
        .storage
        .as_ref()
        .ok_or_else(|| Fail::of(ErrorCode::StorageUnavailable, "sessionStorage is not available"))
}

/// Begins a sign-in: the proxy's `state`, `nonce` and PKCE challenge (`/api/auth/begin`, one tab
/// at a time), the authorize URL, and the pending request kept under its state.
async fn begin(inner: &Inner, req: &LoginRequest) -> Result<String, Fail> {
    let scopes = req.scopes.clone().unwrap_or_else(|| inner.s.scopes.clone());
    let body = js::object(&[("redirectUri", inner.s.redirect_uri.as_str().into()), ("scopes", to_js(&scopes))]);
    let begun = tabs::one_begin_at_a_time(inner, inner.proxy("POST", "/api/auth/begin", Some(&body))).await?;
    let text = |name: &str| js::get(&begun, name).as_string().unwrap_or_default();
    let endpoints = Endpoints::default().with_login_base(BaseUrl::parse(&inner.s.login_base_url)?);
    let tenant = Tenant::parse(&inner.s.tenant)?;
    let client = ClientId::parse(&inner.s.client_id)?;
    let redirect = RedirectUri::parse(&inner.s.redirect_uri)?;
    let mut auth = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
        .scopes(Scopes::parse_all(scopes.iter().map(String::as_str))?);
    let challenge = PkceChallenge::parse(&text("codeChallenge"))?;
    if let Some(p) = req.prompt.as_deref().filter(|p| !p.is_empty()) {
        let p = Prompt::parse(p).ok_or_else(|| {
            Fail::of(
                ErrorCode::ConfigInvalid,
                &["prompt '", p, "' is not login, none, consent or select_account"].concat(),
            )
        })?;
        auth = auth.prompt(p);
    }
    if let Some(h) = req.login_hint.clone().filter(|h| !h.is_empty()) {
        auth = auth.login_hint(h);
    }
    if let Some(h) = req.domain_hint.clone().filter(|h| !h.is_empty()) {
        auth = auth.domain_hint(h);
    }
    // A claims challenge that needed the user goes with the next interactive sign-in.
    let claims = req.claims.clone().or_else(|| inner.state.borrow_mut().claims.take());
    if let Some(c) = claims {
        auth = auth.claims(c);
    }
    let (url, kept) = auth.build_begun(State::new(text("state")), Nonce::new(text("nonce")), challenge);
    let pending = Pending {
        state: kept.state.into_exposed_secret(),
        scopes,
        app_state: req.state.clone(),
        at: inner.now(),
        fallback: req.fallback,
    };
    let text = js::stringify(&to_js(&pending)).unwrap_or_default();
    storage(inner)?
        .set_item(&[PENDING, &pending.state].concat(), &text)
        .map_err(|e| Fail::from_js(e, ErrorCode::StorageUnavailable, "sessionStorage refused the pending sign-in"))?;
    Ok(url)
}

/// Takes (reads and removes) the pending request for `state`, and drops stale ones.
fn take(inner: &Inner, state: &str) -> Result<Option<Pending>, Fail> {
    let store = storage(inner)?;
    let key = [PENDING, state].concat();
    let raw = store.get_item(&key).ok().flatten();
    let _ = store.remove_item(&key);
    let now = inner.now();
    let read = |text: &str| -> Option<Pending> { serde_wasm_bindgen::from_value(js::parse(text)?).ok() };
    let fresh = |p: &Pending| now - p.at <= PENDING_MAX_AGE_MS;
    if let Ok(n) = store.length() {
        for i in (0..n).rev() {
            let Some(k) = store.key(i).ok().flatten().filter(|k| k.starts_with(PENDING)) else { continue };
            let alive = store.get_item(&k).ok().flatten().and_then(|t| read(&t)).is_some_and(|p| fresh(&p));
            if !alive {
                let _ = store.remove_item(&k);
            }
        }
    }
    Ok(raw.and_then(|t| read(&t)).filter(fresh))
}

/// Starts sign-in by navigating this page to Microsoft's sign-in.
pub(crate) async fn login_redirect(inner: &Inner, req: LoginRequest) -> Result<(), Fail> {
    let url = begin(inner, &req).await?;
    inner.navigate(&url).await
}

/// Opens the sign-in popup; must run inside the user's click, before any `await`.
pub(crate) fn open_popup() -> Result<web_sys::Window, Fail> {
    js::window()
        .and_then(|w| {
            w.open_with_url_and_target_and_features("", POPUP_NAME, "popup,width=483,height=600").ok().flatten()
        })
        .ok_or_else(|| Fail::of(ErrorCode::PopupBlocked, "the browser blocked the sign-in popup"))
}

/// Signs in in `popup`; resolves like `handleRedirect` once it reaches the redirect URI.
pub(crate) async fn login_popup(inner: &Rc<Inner>, popup: web_sys::Window, req: LoginRequest) -> Result<JsValue, Fail> {
    let url = match begin(inner, &req).await {
        Ok(u) => u,
        Err(e) => {
            let _ = popup.close();
            return Err(e);
        }
    };
    let _ = popup.location().set_href(&url);
    let target = web_sys::Url::new(&inner.s.redirect_uri).ok();
    let deadline = inner.now() + f64::from(inner.s.popup_timeout_seconds) * 1000.0;
    let landed = loop {
        let _ = js::timeout(50.0).await;
        if popup.closed().unwrap_or(true) {
            break Err(Fail::of(ErrorCode::PopupClosed, "the sign-in popup was closed before sign-in finished"));
        }
        // Reading the popup's address throws while it shows another origin.
        let href = popup.location().href().unwrap_or_default();
        if let (Some(t), Ok(at)) = (&target, web_sys::Url::new(&href)) {
            if at.origin() == t.origin() && at.pathname() == t.pathname() && has_answer(&href) {
                let _ = popup.close();
                break Ok(href);
            }
        }
        if inner.now() > deadline {
            let _ = popup.close();
            break Err(Fail::of(ErrorCode::PopupClosed, "the sign-in popup did not finish in time"));
        }
    };
    match landed {
        Ok(href) => complete(inner.clone(), href, false).await,
        Err(e) => {
            // The pending request of a sign-in that will not come back.
            let state = url_state(&url);
            if !state.is_empty() {
                let _ = take(inner, &state);
            }
            Err(e)
        }
    }
}

/// The `state` parameter of an authorize URL (to drop its pending request).
fn url_state(authorize_url: &str) -> String {
    web_sys::Url::new(authorize_url).ok().and_then(|u| u.search_params().get("state")).unwrap_or_default()
}

/// True when a URL carries a sign-in answer (`code` or `error`).
fn has_answer(href: &str) -> bool {
    ["?code=", "&code=", "#code=", "?error=", "&error=", "#error="].iter().any(|p| href.contains(p))
}

/// True when this page is graphgate's sign-in popup come back with the answer.
#[wasm_bindgen(js_name = inSignInPopup, skip_typescript)]
pub fn in_sign_in_popup() -> bool {
    let Some(w) = js::window() else { return false };
    let opener = w.opener().unwrap_or(JsValue::NULL);
    let is_self = opener == JsValue::from(w.clone());
    !opener.is_null()
        && !opener.is_undefined()
        && !is_self
        && w.name().ok().as_deref() == Some(POPUP_NAME)
        && has_answer(&w.location().href().unwrap_or_default())
}

/// The `state` a sign-in answer carries (`""` for an error redirect without one).
fn state_of(answer: &RedirectResponse) -> String {
    match answer {
        RedirectResponse::Success(s) => s.state.expose_secret().to_owned(),
        RedirectResponse::Error { state, .. } => {
            state.as_ref().map(|s| s.expose_secret().to_owned()).unwrap_or_default()
        }
    }
}

/// `handleRedirect(url?)`: completes a sign-in this tab started; concurrent calls on this
/// page's own address share one redemption.
pub(crate) fn handle_redirect(inner: &Rc<Inner>, url: Option<String>) -> Promise {
    // Inside the sign-in popup the opener reads the answer: leave it in the address bar.
    if url.is_none() && in_sign_in_popup() {
        return Promise::resolve(&JsValue::NULL);
    }
    if url.is_none() {
        if let Some(p) = inner.state.borrow().handling.clone() {
            return p;
        }
    }
    let here = js::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    let target = url.clone().unwrap_or_else(|| here.clone());
    let clean = target == here;
    let p = promise(inner, move |inner| complete(inner, target, clean));
    if url.is_none() {
        inner.state.borrow_mut().handling = Some(p.clone());
        let (me, done) = (inner.clone(), p.clone());
        wasm_bindgen_futures::spawn_local(async move {
            let _ = JsFuture::from(done).await;
            me.state.borrow_mut().handling = None;
        });
    }
    p
}

/// Completes the sign-in whose answer is `url`; `clean` removes it from the address bar.
async fn complete(inner: Rc<Inner>, url: String, clean: bool) -> Result<JsValue, Fail> {
    // Only the redirect URI's own path, with a state this library sent, is a sign-in answer: an
    // app route such as `/?error=404` or a crafted link is left alone.
    let base = js::window().and_then(|w| w.location().href().ok()).unwrap_or_default();
    let Ok(at) = web_sys::Url::new_with_base(&url, &base) else { return Ok(JsValue::NULL) };
    let Ok(answer) = parse_redirect(redirect_params(&url, None)) else { return Ok(JsValue::NULL) };
    let state = state_of(&answer);
    let redirect_path = web_sys::Url::new(&inner.s.redirect_uri).map(|u| u.pathname()).unwrap_or_default();
    if at.pathname() != redirect_path {
        return Ok(JsValue::NULL);
    }
    if clean {
        if let Some(history) = js::window().and_then(|w| w.history().ok()) {
            at.set_search("");
            at.set_hash("");
            let _ = history.replace_state_with_url(&history.state().unwrap_or(JsValue::NULL), "", Some(&at.href()));
        }
    }
    if state == INVITE_STATE {
        // A redeemed invitation lands here. Redeeming signed the person in at Microsoft, so the
        // app's own sign-in is tried silently first, and asks the user only if it must.
        let req = LoginRequest { prompt: Some("none".into()), fallback: true, ..LoginRequest::default() };
        login_redirect(&inner, req).await?;
        return Ok(JsValue::NULL);
    }
    // Another tab's answer, one used already, or a link someone made: nothing to redeem, and its
    // text (which anyone can write) is not shown.
    let pending = take(&inner, &state)?
        .ok_or_else(|| Fail::of(ErrorCode::NoPendingRequest, "this tab has no sign-in waiting for this redirect"))?;
    let code = match answer.verify(&State::new(pending.state.as_str())) {
        Ok(s) => s.code.into_exposed_secret(),
        Err(e) => {
            let fail = Fail::from(e);
            if pending.fallback && fail.interaction_required() {
                let req =
                    LoginRequest { scopes: Some(pending.scopes), state: pending.app_state, ..LoginRequest::default() };
                login_redirect(&inner, req).await?;
                return Ok(JsValue::NULL);
            }
            return Err(fail);
        }
    };
    let state = pending.state.clone();
    tabs::once_per_redirect(&inner, &state, {
        let inner = inner.clone();
        move |first| redeem(inner, pending, code, first)
    })
    .await
}

/// Spends the pending request: the proxy redeems the code. When another tab redeemed this same
/// redirect already (`first` is false), the session it made is used instead.
async fn redeem(inner: Rc<Inner>, pending: Pending, code: String, first: bool) -> Result<JsValue, Fail> {
    let result = |account: JsValue, token: &tokens::Token, scopes: JsValue| {
        js::object(&[
            ("account", account),
            ("accessToken", token.access_token.as_str().into()),
            ("expiresOn", js::get(&token.value, "expiresOn")),
            ("scopes", scopes),
            ("state", js::str_or_null(pending.app_state.as_deref())),
        ])
    };
    if !first {
        inner.forget();
        let token = tokens::acquire(&inner, Some(pending.scopes.clone()), false, None).await?;
        let account = inner.state.borrow().account.clone();
        let account = match account {
            Some(a) => a,
            None => js::get(&inner.proxy("GET", "/api/auth/session", None).await?, "account"),
        };
        let scopes = js::get(&token.value, "scopes");
        return Ok(result(account, &token, scopes));
    }
    let body = js::object(&[("code", code.into()), ("state", pending.state.as_str().into())]);
    let answer = inner.proxy("POST", "/api/auth/exchange", Some(&body)).await?;
    // A new sign-in (perhaps of another account) replaces everything kept for the previous one,
    // and answers to requests from before it are not kept.
    inner.forget();
    let token = tokens::keep(&inner, Some(&pending.scopes), &answer);
    Ok(result(js::get(&answer, "account"), &token, js::get(&answer, "scopes")))
}

/// Runs `f` as a Promise (for the cross-tab lock's callback).
pub(crate) fn boxed<Fut>(fut: Fut) -> Promise
where
    Fut: Future<Output = Result<JsValue, Fail>> + 'static,
{
    crate::client::to_promise(Box::pin(fut))
}

#[cfg(test)]
mod tests {
    use super::POPUP_NAME;

    /// The package entry answers `inSignInPopup` before the module loads, so it names the popup
    /// window itself: the two names must be the same.
    #[test]
    fn the_entry_looks_for_the_popup_this_module_opens() {
        let entry = include_str!("../js/graphgate.js");
        assert!(
            entry.contains(&["w.name === '", POPUP_NAME, "'"].concat()),
            "js/graphgate.js must look for '{POPUP_NAME}'"
        );
    }
}
