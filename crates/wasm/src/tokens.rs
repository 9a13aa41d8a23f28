//! The in-memory token cache: tokens per scope set, answered from memory while fresh (core's
//! freshness rule), else asked of the proxy once for every caller asking meanwhile.

use std::rc::Rc;

use js_sys::{Date, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::client::{Inner, Task};
use crate::fail::Fail;
use crate::js;

/// `getAccessToken`'s and `acquireToken`'s request (`{scopes, forceRefresh}`).
pub(crate) struct TokenRequest {
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) force_refresh: bool,
}

impl TokenRequest {
    /// `req` as `what` (`getAccessToken`, `acquireToken`) was given it; scopes that are not
    /// strings are refused, as everywhere scopes are given.
    pub(crate) fn read(req: &JsValue, what: &str) -> Result<TokenRequest, Fail> {
        Ok(TokenRequest {
            scopes: crate::options::strings_of(req, "scopes", what)?,
            force_refresh: js::get_bool(req, "forceRefresh") == Some(true),
        })
    }
}

/// A token kept in memory: `value` is what `acquireToken` resolves (`{accessToken, expiresOn, scopes}`).
#[derive(Clone)]
pub(crate) struct Token {
    pub(crate) value: JsValue,
    pub(crate) access_token: String,
    pub(crate) expires_on_ms: f64,
}

impl Token {
    fn from_js(value: JsValue) -> Token {
        let expires_on_ms = js::get(&value, "expiresOn").dyn_ref::<Date>().map_or(0.0, Date::get_time);
        Token { access_token: js::get_str(&value, "accessToken").unwrap_or_default(), expires_on_ms, value }
    }
}

/// Milliseconds as core counts them (non-negative, whole).
pub(crate) fn ms(v: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped, whole milliseconds")]
    let out = v.max(0.0) as u64;
    out
}

/// The cache key of a scope set: sorted, space-separated; `""` for the proxy's defaults.
pub(crate) fn scope_key(scopes: Option<&[String]>) -> String {
    let mut s: Vec<&str> = scopes.unwrap_or_default().iter().map(String::as_str).collect();
    js::sort_small(&mut s);
    s.join(" ")
}

/// A proxy token answer (`{accessToken, expiresIn, scopes, account}`) as the cache keeps it.
pub(crate) fn entry(inner: &Inner, answer: &JsValue) -> Token {
    let expires_in = js::get(answer, "expiresIn").as_f64().unwrap_or(0.0);
    let expires_on = Date::new(&JsValue::from_f64(inner.now() + expires_in * 1000.0));
    let value = js::object(&[
        ("accessToken", js::get(answer, "accessToken")),
        ("expiresOn", expires_on.into()),
        ("scopes", js::get(answer, "scopes")),
    ]);
    Token::from_js(value)
}

/// Keeps a proxy token answer for `scopes` (and for the defaults when they are the same), and
/// the account it names.
pub(crate) fn keep(inner: &Inner, scopes: Option<&[String]>, answer: &JsValue) -> Token {
    let token = entry(inner, answer);
    let key = scope_key(scopes);
    let default = key == scope_key(Some(&inner.s.scopes));
    let account = js::get(answer, "account");
    let mut st = inner.state.borrow_mut();
    for k in [Some(key), default.then(String::new)].into_iter().flatten() {
        st.tokens.retain(|(have, _)| *have != k);
        st.tokens.push((k, token.clone()));
    }
    if account.is_object() {
        st.account = Some(account);
    }
    token
}

/// A valid access token for `scopes`: from memory while fresh, else one proxy request per slot
/// (a forced refresh and a claims challenge each fly alone, never joining an ordinary request).
pub(crate) fn acquire(
    inner: &Rc<Inner>,
    scopes: Option<Vec<String>>,
    force: bool,
    claims: Option<String>,
) -> Task<Token> {
    let inner = inner.clone();
    Box::pin(async move { acquire_now(&inner, scopes, force, claims).await })
}

async fn acquire_now(
    inner: &Rc<Inner>,
    scopes: Option<Vec<String>>,
    force: bool,
    claims: Option<String>,
) -> Result<Token, Fail> {
    let key = scope_key(scopes.as_deref());
    let margin = u64::from(inner.s.refresh_margin_seconds);
    if !force && claims.is_none() {
        let held = inner.state.borrow().tokens.iter().find(|(k, _)| *k == key).map(|(_, t)| t.clone());
        if let Some(t) = held.filter(|t| graphgate_core::is_fresh(ms(t.expires_on_ms), ms(inner.now()), margin)) {
            return Ok(t);
        }
    }
    let slot = [key.as_str(), if force { "\u{0}force" } else { "" }, if claims.is_some() { "\u{0}claims" } else { "" }]
        .concat();
    let flight = inner.state.borrow().inflight.iter().find(|(s, _)| *s == slot).map(|(_, p)| p.clone());
    let flight = match flight {
        Some(p) => p,
        None => {
            let p = fly(inner.clone(), scopes, force, claims);
            inner.state.borrow_mut().inflight.push((slot.clone(), p.clone()));
            let (me, done) = (inner.clone(), p.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let _ = JsFuture::from(done.clone()).await;
                let done: &JsValue = &done;
                me.state.borrow_mut().inflight.retain(|(s, p)| !(*s == slot && <&JsValue>::from(p) == done));
            });
            p
        }
    };
    match JsFuture::from(flight).await {
        Ok(v) => Ok(Token::from_js(v)),
        Err(e) => Err(Fail(e)),
    }
}

/// The proxy request behind one slot, as a Promise every waiter shares.
fn fly(inner: Rc<Inner>, scopes: Option<Vec<String>>, force: bool, claims: Option<String>) -> Promise {
    crate::client::to_promise(Box::pin(async move {
        let body = js::object(&[]);
        if let Some(s) = scopes.as_ref().filter(|s| !s.is_empty()) {
            js::set(&body, "scopes", &crate::client::to_js(s));
        }
        if force {
            js::set(&body, "forceRefresh", &JsValue::TRUE);
        }
        if let Some(c) = &claims {
            js::set(&body, "claims", &c.as_str().into());
        }
        let (generation, seq) = {
            let mut st = inner.state.borrow_mut();
            st.seq += 1;
            (st.generation, st.seq)
        };
        let key = scope_key(scopes.as_deref());
        match inner.proxy("POST", "/api/auth/token", Some(&body)).await {
            Ok(answer) => {
                let keep_it = {
                    let mut st = inner.state.borrow_mut();
                    // An answer that outlived a sign-out, or is older than one kept already, is not kept.
                    let newest = seq > st.kept.iter().find(|(k, _)| *k == key).map_or(0, |(_, s)| *s);
                    let keep_it = generation == st.generation && newest;
                    if keep_it {
                        st.kept.retain(|(k, _)| *k != key);
                        st.kept.push((key, seq));
                    }
                    keep_it
                };
                let token = if keep_it { keep(&inner, scopes.as_deref(), &answer) } else { entry(&inner, &answer) };
                Ok(token.value)
            }
            Err(e) => {
                if e.interaction_required() && generation == inner.state.borrow().generation {
                    match e.field("claims").or_else(|| claims.clone()) {
                        // A claims challenge needs the user: the session stays, and the next
                        // interactive sign-in sends the claims.
                        Some(c) => inner.state.borrow_mut().claims = Some(c),
                        None => inner.forget(),
                    }
                }
                Err(inner.explain(e).await)
            }
        }
    }))
}
