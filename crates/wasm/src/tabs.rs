//! What the app's tabs tell each other: a sign-out in one tab signs the others out
//! (`BroadcastChannel`), and a redirect that two tabs hold (a duplicated tab carries the same
//! pending sign-in) is redeemed by one of them (a Web Lock named after a hash of the state).

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::client::Inner;
use crate::fail::Fail;
use crate::js;

/// The Web Lock a tab holds while it redeems a redirect (followed by the client ID and the
/// state's hash).
const REDEEMING: &str = "graphgate.redeem:";
/// The Web Lock under which this app's tabs begin sign-ins one at a time (with the client ID).
const BEGINNING: &str = "graphgate.begin:";
/// What the first lock request answers when another tab holds the lock.
const HELD: &str = "\u{0}held";
/// The message a signing-out tab sends.
const SIGNED_OUT: &str = "signed-out";

/// The app's channel between tabs, listened to for the others' sign-outs.
pub(crate) struct Channel {
    channel: web_sys::BroadcastChannel,
    _listener: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Channel {
    /// Opens the channel of this app (its client ID), or `None` where there is no
    /// `BroadcastChannel`.
    pub(crate) fn open(inner: &Rc<Inner>) -> Option<Channel> {
        if js::get(&js::global(), "BroadcastChannel").is_undefined() {
            return None;
        }
        let channel = web_sys::BroadcastChannel::new(&["graphgate:", &inner.s.client_id].concat()).ok()?;
        let weak = Rc::downgrade(inner);
        let listener = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            if js::get_str(&ev.data(), "type").as_deref() == Some(SIGNED_OUT) {
                if let Some(inner) = weak.upgrade() {
                    inner.forget();
                    notify(&inner);
                }
            }
        });
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Some(Channel { channel, _listener: listener })
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// Calls the page's `onSignedOut`.
fn notify(inner: &Inner) {
    if let Some(f) = &inner.hooks.on_signed_out {
        let _ = f.call0(&JsValue::UNDEFINED);
    }
}

/// Tells the app's other tabs (and this page's `onSignedOut`) that the user signed out.
pub(crate) fn announce_sign_out(inner: &Inner) {
    if let Some(c) = inner.channel.borrow().as_ref() {
        let _ = c.channel.post_message(&js::object(&[("type", SIGNED_OUT.into())]));
    }
    notify(inner);
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Runs `begin` (the proxy's `/api/auth/begin`) under a Web Lock all of this app's tabs share,
/// so they begin sign-ins one at a time: the sign-in cookie the first answer sets is in place
/// before another tab's request leaves, and every sign-in of the browser is kept under that one
/// cookie. Without Web Locks, `begin` runs at once.
pub(crate) async fn one_begin_at_a_time(inner: &Inner, begin: crate::client::Task<JsValue>) -> Result<JsValue, Fail> {
    let locks = js::get(&js::get(&js::global(), "navigator"), "locks");
    if !js::get(&locks, "request").is_function() {
        return begin.await;
    }
    let name = [BEGINNING, &inner.s.client_id].concat();
    let run = Closure::once_into_js(move |_lock: JsValue| -> Promise { crate::signin::boxed(begin) });
    let p = js::call(&locks, "request", &[name.into(), run])
        .map_err(|e| Fail::from_js(e, graphgate_core::ErrorCode::InternalError, "navigator.locks"))?;
    JsFuture::from(Promise::resolve(&p)).await.map_err(Fail)
}

/// Runs `redeem(first)` for the redirect of `state` under a Web Lock named after a hash of the
/// state (never the state itself): the tab that takes it first redeems (`first` is true); a tab
/// that finds it held waits until that redemption is over and then uses the session it made
/// (`first` is false). Nothing is written to any storage. Without Web Locks, `redeem(true)`.
pub(crate) async fn once_per_redirect<F, Fut>(inner: &Rc<Inner>, state: &str, redeem: F) -> Result<JsValue, Fail>
where
    F: FnOnce(bool) -> Fut + 'static,
    Fut: Future<Output = Result<JsValue, Fail>> + 'static,
{
    let locks = js::get(&js::get(&js::global(), "navigator"), "locks");
    if !js::get(&locks, "request").is_function() {
        return redeem(true).await;
    }
    let name = [REDEEMING, &inner.s.client_id, ":", &hex(&js::sha256(state).await?)].concat();
    let lock_error = |e| Fail::from_js(e, graphgate_core::ErrorCode::InternalError, "navigator.locks");
    let redeem = Rc::new(std::cell::Cell::new(Some(redeem)));
    let again = redeem.clone();
    // First try: take the lock only if no other tab holds it.
    let first = Closure::once_into_js(move |lock: JsValue| -> Promise {
        // Taken only with the lock: a tab that finds it held keeps `redeem` for the second request.
        let f = if lock.is_null() { None } else { redeem.take() };
        match f {
            Some(f) => crate::signin::boxed(f(true)),
            None => Promise::resolve(&JsValue::from_str(HELD)),
        }
    });
    let options = js::object(&[("ifAvailable", JsValue::TRUE)]);
    let p = js::call(&locks, "request", &[name.as_str().into(), options, first]).map_err(lock_error)?;
    let out = JsFuture::from(Promise::resolve(&p)).await.map_err(Fail)?;
    if out.as_string().as_deref() != Some(HELD) {
        return Ok(out);
    }
    // Another tab is redeeming this redirect: wait for it to finish, then use its session.
    let after = Closure::once_into_js(move |_lock: JsValue| -> Promise {
        match again.take() {
            Some(f) => crate::signin::boxed(f(false)),
            None => Promise::resolve(&JsValue::NULL),
        }
    });
    let p = js::call(&locks, "request", &[name.into(), after]).map_err(lock_error)?;
    JsFuture::from(Promise::resolve(&p)).await.map_err(Fail)
}
