//! The client a page holds: its settings, the state shared by its sign-in, token and Graph
//! parts (one `Rc`, never borrowed across an `await`), and the JavaScript methods over them.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;

use graphgate_core::{ErrorCode, percent_encode};
use js_sys::Promise;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::fail::Fail;
use crate::graph::Graph;
use crate::options::{Hooks, Settings};
use crate::tokens::Token;
use crate::{http, js, tabs};

/// A boxed future: the module's async steps are each compiled once, not into every caller.
pub(crate) type Task<T> = Pin<Box<dyn Future<Output = Result<T, Fail>>>>;

/// What the client's parts share, behind one `RefCell`.
#[derive(Default)]
pub(crate) struct State {
    /// Tokens by scope set (`""`: the proxy's default scopes).
    pub(crate) tokens: Vec<(String, Token)>,
    /// Token requests under way, by slot, shared by every caller asking meanwhile.
    pub(crate) inflight: Vec<(String, Promise)>,
    /// The sequence number of the newest answer kept per scope set.
    pub(crate) kept: Vec<(String, u64)>,
    pub(crate) seq: u64,
    /// Bumped by every sign-in and sign-out: answers to older requests are not kept.
    pub(crate) generation: u64,
    pub(crate) navigating: bool,
    /// `/api/explain` answers (or lookups under way), by code.
    pub(crate) explained: Vec<(String, Promise)>,
    pub(crate) account: Option<JsValue>,
    /// The redemption of this page's redirect, shared by concurrent `handleRedirect()` calls.
    pub(crate) handling: Option<Promise>,
    /// A claims challenge that needs the user: sent with the next interactive sign-in.
    pub(crate) claims: Option<String>,
}

/// The client's settings, injected functions and state.
pub(crate) struct Inner {
    pub(crate) s: Settings,
    pub(crate) hooks: Hooks,
    pub(crate) state: RefCell<State>,
    pub(crate) channel: RefCell<Option<tabs::Channel>>,
}

impl Inner {
    /// Milliseconds since the epoch, from the page's clock when it gave one.
    pub(crate) fn now(&self) -> f64 {
        self.hooks
            .now
            .as_ref()
            .and_then(|f| f.call0(&self.hooks.clock).ok())
            .and_then(|v| v.as_f64())
            .unwrap_or_else(js_sys::Date::now)
    }

    /// Waits `ms` milliseconds: the page's `clock.sleep` when it gave one, else a timer.
    pub(crate) async fn sleep(&self, ms: f64) {
        if let Some(f) = &self.hooks.sleep {
            if let Ok(p) = f.call1(&self.hooks.clock, &JsValue::from_f64(ms)) {
                let _ = JsFuture::from(Promise::resolve(&p)).await;
                return;
            }
        }
        let _ = js::timeout(ms).await;
    }

    /// Sends the page to `url` (Microsoft's sign-in or sign-out).
    pub(crate) async fn navigate(&self, url: &str) -> Result<(), Fail> {
        self.state.borrow_mut().navigating = true;
        let done = match &self.hooks.navigate {
            Some(f) => f.call1(&JsValue::UNDEFINED, &url.into()).map(|p| Promise::resolve(&p)),
            None => match js::window() {
                Some(w) => w.location().assign(url).map(|()| Promise::resolve(&JsValue::UNDEFINED)),
                None => Err(JsValue::from_str("there is no window to navigate")),
            },
        };
        match done {
            Ok(p) => {
                JsFuture::from(p).await.map(|_| ()).map_err(|e| Fail::from_js(e, ErrorCode::InternalError, "navigate"))
            }
            Err(e) => Err(Fail::from_js(e, ErrorCode::InternalError, "navigate")),
        }
    }

    /// A call to the proxy; its errors arrive explained already.
    pub(crate) fn proxy(&self, verb: &str, path: &str, body: Option<&JsValue>) -> Task<JsValue> {
        http::proxy(self.hooks.fetch.clone(), self.s.proxy_url.clone(), verb, path, body.cloned())
    }

    /// Fills in the catalogue's hint from the proxy's `/api/explain`, asked once per code; a
    /// failed lookup is not kept, and the error goes out as it is.
    pub(crate) async fn explain(&self, fail: Fail) -> Fail {
        if fail.is_explained() {
            return fail;
        }
        let code = fail.catalogue_code();
        let known = self.state.borrow().explained.iter().find(|(c, _)| *c == code).map(|(_, p)| p.clone());
        let lookup = known.unwrap_or_else(|| {
            let p = explain_lookup(self.hooks.fetch.clone(), self.s.proxy_url.clone(), &code);
            self.state.borrow_mut().explained.push((code.clone(), p.clone()));
            p
        });
        match JsFuture::from(lookup).await {
            Ok(x) => fail.explained_by(&x),
            Err(_) => {
                self.state.borrow_mut().explained.retain(|(c, _)| *c != code);
                fail
            }
        }
    }

    /// Drops every token and the account; requests under way are neither joined nor kept.
    pub(crate) fn forget(&self) {
        let mut st = self.state.borrow_mut();
        st.generation += 1;
        st.tokens.clear();
        st.inflight.clear();
        st.kept.clear();
        st.account = None;
    }
}

/// The proxy's `/api/explain` answer for `code`, as a Promise (shared by whoever asks).
fn explain_lookup(fetch: Option<js_sys::Function>, base: String, code: &str) -> Promise {
    let path = ["/api/explain?code=", &percent_encode(code)].concat();
    to_promise(http::proxy(fetch, base, "GET", &path, None))
}

/// `task` as a Promise: every Promise the module makes goes through here, so the future-to-Promise
/// machinery is compiled once.
pub(crate) fn to_promise(task: Task<JsValue>) -> Promise {
    future_to_promise(async move { task.await.map_err(JsValue::from) })
}

/// Explains `fail` through the proxy at `base`, for errors before a client exists.
pub(crate) async fn explain_once(fetch: Option<&js_sys::Function>, base: &str, fail: Fail) -> Fail {
    if fail.is_explained() {
        return fail;
    }
    match JsFuture::from(explain_lookup(fetch.cloned(), base.to_owned(), &fail.catalogue_code())).await {
        Ok(x) => fail.explained_by(&x),
        Err(_) => fail,
    }
}

/// Runs `f` on the client as a Promise, its error explained by the catalogue.
pub(crate) fn promise<F, Fut>(inner: &Rc<Inner>, f: F) -> Promise
where
    F: FnOnce(Rc<Inner>) -> Fut,
    Fut: Future<Output = Result<JsValue, Fail>> + 'static,
{
    settle(inner.clone(), Box::pin(f(inner.clone())))
}

/// `task` as a Promise whose rejection is explained by the catalogue.
pub(crate) fn settle(me: Rc<Inner>, fut: Task<JsValue>) -> Promise {
    to_promise(Box::pin(async move {
        match fut.await {
            Ok(v) => Ok(v),
            Err(e) => Err(me.explain(e).await),
        }
    }))
}

/// A graphgate client (`createClient`, `createClientFromProxy`).
#[wasm_bindgen(skip_typescript)]
pub struct Client {
    pub(crate) inner: Rc<Inner>,
    graph: JsValue,
}

impl Client {
    /// `getAccessToken` (the token) and `acquireToken` (`whole`: `{accessToken, expiresOn, scopes}`).
    fn token(&self, req: JsValue, what: &'static str, whole: bool) -> Promise {
        promise(&self.inner, |inner| async move {
            let req = crate::tokens::TokenRequest::read(&req, what)?;
            let t = crate::tokens::acquire(&inner, req.scopes, req.force_refresh, None).await?;
            Ok(if whole { t.value } else { t.access_token.into() })
        })
    }

    pub(crate) fn new(s: Settings, hooks: Hooks) -> Client {
        let inner = Rc::new(Inner { s, hooks, state: RefCell::default(), channel: RefCell::new(None) });
        *inner.channel.borrow_mut() = tabs::Channel::open(&inner);
        let graph = Graph { inner: inner.clone() }.into();
        Client { inner, graph }
    }
}

/// Reads optional `T` from `value` (`undefined` and `null` give the defaults).
pub(crate) fn read<T: for<'de> Deserialize<'de> + Default>(value: JsValue, what: &str) -> Result<T, Fail> {
    read_as(value, what, ErrorCode::InvalidJsonBody)
}

/// [`read`], refusing what does not deserialize with `code`.
pub(crate) fn read_as<T: for<'de> Deserialize<'de> + Default>(
    value: JsValue,
    what: &str,
    code: ErrorCode,
) -> Result<T, Fail> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    an_object(&value, what, code)?;
    serde_wasm_bindgen::from_value(value.clone()).map_err(|e| {
        let field = refused_field(&value, &|v| serde_wasm_bindgen::from_value::<T>(v).is_ok());
        refused(code, &field.map_or_else(|| what.to_owned(), |f| [what, ": ", &f].concat()), e)
    })
}

/// Refuses options that are not an object: serde would read a struct from an array by position,
/// and refuse a string naming a Rust type.
fn an_object(value: &JsValue, what: &str, code: ErrorCode) -> Result<(), Fail> {
    if value.is_object() && !js_sys::Array::is_array(value) {
        return Ok(());
    }
    let given = if value.is_object() { "array".into() } else { value.js_typeof().as_string().unwrap_or_default() };
    Err(Fail::of(code, &[what, ": expected an object (given: ", &given, ")"].concat()))
}

/// The one field of `value` that was refused: the field without which the rest `reads`. serde's
/// message says what was expected but not where; `None` when no one field is to blame (two are
/// wrong, or a required one is).
fn refused_field(value: &JsValue, reads: &dyn Fn(JsValue) -> bool) -> Option<String> {
    js_sys::Object::keys(value.unchecked_ref::<js_sys::Object>()).iter().filter_map(|k| k.as_string()).find(|k| {
        let without = js_sys::Object::assign(&js_sys::Object::new(), value.unchecked_ref::<js_sys::Object>());
        let _ = js_sys::Reflect::delete_property(&without, &k.as_str().into());
        reads(without.into())
    })
}

/// What serde-wasm-bindgen refused in `what`, as `what: sentence`: its error is a JavaScript
/// `Error`, whose message is taken without the `Error: ` of its `toString`. The shipped module is
/// built without `Debug` formatting, so the sentence never quotes the value refused (`invalid
/// type: string, expected u32`), which may be a secret put in the wrong place.
pub(crate) fn refused(code: ErrorCode, what: &str, e: serde_wasm_bindgen::Error) -> Fail {
    let sentence = js::get_str(&e.into(), "message").unwrap_or_default().replace(" ,", ",");
    Fail::of(code, &[what, ": ", &sentence].concat())
}

/// The serializer for what the module hands to JavaScript: plain objects, `null` for `None`.
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> JsValue {
    value.serialize(&serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true)).unwrap_or(JsValue::NULL)
}

#[wasm_bindgen]
impl Client {
    /// The options in effect.
    #[wasm_bindgen(getter)]
    pub fn options(&self) -> JsValue {
        to_js(&self.inner.s)
    }

    /// True once this client has sent the page to Microsoft (sign-in or sign-out).
    #[wasm_bindgen(getter)]
    pub fn navigating(&self) -> bool {
        self.inner.state.borrow().navigating
    }

    /// The Graph client.
    #[wasm_bindgen(getter)]
    pub fn graph(&self) -> JsValue {
        self.graph.clone()
    }

    /// Starts sign-in by navigating this page to Microsoft's sign-in.
    #[wasm_bindgen(js_name = loginRedirect)]
    pub fn login_redirect(&self, req: JsValue) -> Promise {
        promise(&self.inner, |inner| async move {
            let req = read(req, "loginRedirect")?;
            crate::signin::login_redirect(&inner, req).await.map(|()| JsValue::UNDEFINED)
        })
    }

    /// Signs in in a popup (opened now, inside the caller's click).
    #[wasm_bindgen(js_name = loginPopup)]
    pub fn login_popup(&self, req: JsValue) -> Promise {
        let popup = crate::signin::open_popup();
        promise(&self.inner, |inner| async move {
            let req = read(req, "loginPopup")?;
            crate::signin::login_popup(&inner, popup?, req).await
        })
    }

    /// On the redirect page: completes a sign-in this tab started, or resolves `null`.
    #[wasm_bindgen(js_name = handleRedirect)]
    pub fn handle_redirect(&self, url: Option<String>) -> Promise {
        crate::signin::handle_redirect(&self.inner, url)
    }

    /// A valid access token.
    #[wasm_bindgen(js_name = getAccessToken)]
    pub fn get_access_token(&self, req: JsValue) -> Promise {
        self.token(req, "getAccessToken", false)
    }

    /// A valid access token with its expiry and scopes.
    #[wasm_bindgen(js_name = acquireToken)]
    pub fn acquire_token(&self, req: JsValue) -> Promise {
        self.token(req, "acquireToken", true)
    }

    /// The signed-in account (asked of the proxy after a reload), or `null`.
    pub fn account(&self) -> Promise {
        promise(&self.inner, |inner| async move {
            if let Some(a) = inner.state.borrow().account.clone() {
                return Ok(a);
            }
            let generation = inner.state.borrow().generation;
            match inner.proxy("GET", "/api/auth/session", None).await {
                Ok(answer) => {
                    let account = js::get(&answer, "account");
                    let mut st = inner.state.borrow_mut();
                    // An answer that outlived a sign-out or a new sign-in is not kept.
                    if st.generation != generation {
                        return Ok(st.account.clone().unwrap_or(JsValue::NULL));
                    }
                    st.account = Some(account.clone());
                    Ok(account)
                }
                Err(e) if e.interaction_required() => Ok(JsValue::NULL),
                Err(e) => Err(e),
            }
        })
    }

    /// Signs out: the proxy ends the session, memory is cleared here and in the app's other
    /// tabs; with `{redirect: true}` the page then goes to Microsoft's sign-out.
    pub fn logout(&self, options: JsValue) -> Promise {
        promise(&self.inner, |inner| async move {
            let redirect = js::get_bool(&options, "redirect") == Some(true);
            // Answers arriving while the proxy ends the session are not kept.
            inner.state.borrow_mut().generation += 1;
            // When the proxy cannot end the session, memory keeps the account: try again.
            let answer = inner.proxy("POST", "/api/auth/logout", None).await?;
            let url = js::get_str(&answer, "logoutUrl").unwrap_or_default();
            inner.forget();
            tabs::announce_sign_out(&inner);
            if redirect {
                inner.navigate(&url).await?;
            }
            Ok(url.into())
        })
    }

    /// Invites a guest through the proxy (`POST /api/invitations`).
    pub fn invite(&self, email: String, options: JsValue) -> Promise {
        let body = js::object(&[]);
        if options.is_object() {
            let _ = js_sys::Object::assign(
                body.unchecked_ref::<js_sys::Object>(),
                options.unchecked_ref::<js_sys::Object>(),
            );
        }
        js::set(&body, "email", &email.into());
        settle(self.inner.clone(), self.inner.proxy("POST", "/api/invitations", Some(&body)))
    }

    /// Whether `email` is a member, an invited guest who has not redeemed yet, a guest, or unknown.
    #[wasm_bindgen(js_name = inviteStatus)]
    pub fn invite_status(&self, email: String) -> Promise {
        let path = ["/api/invitations/status?email=", &percent_encode(&email)].concat();
        settle(self.inner.clone(), self.inner.proxy("GET", &path, None))
    }

    /// The signed-in user's profile (`GET /me`).
    pub fn me(&self) -> Promise {
        settle(
            self.inner.clone(),
            crate::graph::request(&self.inner, "GET", "/me", JsValue::UNDEFINED, JsValue::UNDEFINED),
        )
    }

    /// Sends mail as the signed-in user: Graph's message shape, or `{to, cc, bcc, subject, text | html}`.
    #[wasm_bindgen(js_name = sendMail)]
    pub fn send_mail(&self, message: JsValue, options: JsValue) -> Promise {
        promise(&self.inner, |inner| async move {
            let save = js::get_bool(&options, "saveToSentItems") != Some(false);
            let message = if js::get(&message, "toRecipients").is_undefined() {
                let simple: graphgate_core::mail::MailInput = read(message, "sendMail")?;
                to_js(&simple.into_message()?)
            } else {
                message
            };
            let body = js::object(&[("message", message), ("saveToSentItems", save.into())]);
            crate::graph::request(&inner, "POST", "/me/sendMail", body, JsValue::UNDEFINED).await
        })
    }

    /// One page of messages: `{value, nextLink}`.
    #[wasm_bindgen(js_name = listMessages)]
    pub fn list_messages(&self, options: JsValue) -> Promise {
        promise(&self.inner, |inner| async move {
            let folder = js::get_str(&options, "folder");
            let top = js::get(&options, "top").as_f64().unwrap_or(25.0);
            let mut path = match &folder {
                Some(f) => ["/me/mailFolders/", &percent_encode(f), "/messages"].concat(),
                None => "/me/messages".to_owned(),
            };
            path.push_str("?%24top=");
            path.push_str(&js::num(top));
            let select = crate::options::strings_of(&options, "select", "listMessages")?.unwrap_or_default();
            if !select.is_empty() {
                path.push_str("&%24select=");
                path.push_str(&percent_encode(&select.join(",")));
            }
            crate::graph::page(&inner, &path, JsValue::UNDEFINED).await
        })
    }

    /// Every To Do list of the signed-in user.
    #[wasm_bindgen(js_name = todoLists)]
    pub fn todo_lists(&self) -> Promise {
        settle(self.inner.clone(), crate::graph::all(&self.inner, "/me/todo/lists", JsValue::UNDEFINED))
    }

    /// Every task of one To Do list.
    #[wasm_bindgen(js_name = todoTasks)]
    pub fn todo_tasks(&self, list_id: String) -> Promise {
        let path = ["/me/todo/lists/", &percent_encode(&list_id), "/tasks"].concat();
        settle(self.inner.clone(), crate::graph::all(&self.inner, &path, JsValue::UNDEFINED))
    }
}
