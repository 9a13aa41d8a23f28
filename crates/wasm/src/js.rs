//! Small helpers over `js_sys`: reading and writing object fields, the global object, timers,
//! randomness and the browser's own JSON, which costs the module no parser of its own.

use js_sys::{Function, JSON, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// `obj[key]`, or `undefined` when `obj` is not an object or reading throws.
pub(crate) fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` as a string, when it is one.
pub(crate) fn get_str(obj: &JsValue, key: &str) -> Option<String> {
    get(obj, key).as_string()
}

/// `obj[key] = value`; a frozen object is left as it is.
pub(crate) fn set(obj: &JsValue, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// A new plain object with the given fields.
pub(crate) fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in fields {
        set(&o, k, v);
    }
    o
}

/// An optional string as JavaScript sees it: the string, or `null`.
pub(crate) fn str_or_null(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

/// `globalThis`.
pub(crate) fn global() -> JsValue {
    js_sys::global().into()
}

/// `globalThis.window`, when this is a page (not a worker or a server).
pub(crate) fn window() -> Option<web_sys::Window> {
    let w = get(&global(), "window");
    (!w.is_undefined() && !w.is_null()).then(|| w.unchecked_into())
}

/// Calls `obj[name](...args)`.
pub(crate) fn call(obj: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(obj, name).dyn_into().map_err(|_| JsValue::from_str(name))?;
    Reflect::apply(&f, obj, &args.iter().collect())
}

/// A Promise that resolves after `ms` milliseconds (`setTimeout`, in pages and workers alike).
pub(crate) fn timeout(ms: f64) -> JsFuture {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = call(&global(), "setTimeout", &[resolve.into(), JsValue::from_f64(ms)]);
    });
    JsFuture::from(promise)
}

/// `JSON.stringify(value)`.
pub(crate) fn stringify(value: &JsValue) -> Option<String> {
    JSON::stringify(value).ok().and_then(|s| s.as_string())
}

/// `JSON.parse(text)`.
pub(crate) fn parse(text: &str) -> Option<JsValue> {
    JSON::parse(text).ok()
}

/// A random 32-bit number for jitter (not a secret: `Math.random`).
pub(crate) fn random_u32() -> u32 {
    // The product is below 2^32; the cast keeps its integer part.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "0 <= x < 2^32")]
    let n = (js_sys::Math::random() * 4_294_967_296.0) as u32;
    n
}

/// A fresh GUID (`crypto.randomUUID()`), for Graph's `client-request-id`.
pub(crate) fn uuid() -> String {
    let crypto = get(&global(), "crypto");
    call(&crypto, "randomUUID", &[]).ok().and_then(|v| v.as_string()).unwrap_or_default()
}

/// True when `value` is a plain object or an array (what graphgate sends as JSON).
pub(crate) fn is_plain(value: &JsValue) -> bool {
    if js_sys::Array::is_array(value) {
        return true;
    }
    if !value.is_object() {
        return false;
    }
    let proto = Object::get_prototype_of(value);
    proto.is_null() || proto == Object::get_prototype_of(&Object::new())
}

/// SHA-256 of `text` by the browser's Web Crypto (the module carries no hash code).
pub(crate) async fn sha256(text: &str) -> Result<Vec<u8>, crate::fail::Fail> {
    use graphgate_core::ErrorCode;

    use crate::fail::Fail;
    let subtle = get(&get(&global(), "crypto"), "subtle");
    let data = js_sys::Uint8Array::from(text.as_bytes());
    let p = call(&subtle, "digest", &["SHA-256".into(), data.into()])
        .map_err(|e| Fail::from_js(e, ErrorCode::InternalError, "Web Crypto"))?;
    let digest = JsFuture::from(Promise::resolve(&p))
        .await
        .map_err(|e| Fail::from_js(e, ErrorCode::InternalError, "Web Crypto"))?;
    Ok(js_sys::Uint8Array::new(&digest).to_vec())
}

/// A number as JavaScript writes it (`String(n)`): the module carries no float formatting.
pub(crate) fn num(n: f64) -> String {
    js_sys::Number::from(n).to_string_with_radix(10).map(String::from).unwrap_or_default()
}

/// `obj[key]` as a bool, when it is one.
pub(crate) fn get_bool(obj: &JsValue, key: &str) -> Option<bool> {
    get(obj, key).as_bool()
}

/// Sorts a short list in place (insertion sort: the module carries no general sort).
pub(crate) fn sort_small<T: PartialOrd>(items: &mut [T]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && items[j - 1] > items[j] {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}
