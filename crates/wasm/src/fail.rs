//! `GraphgateError`s as JavaScript sees them: built from core's errors, the proxy's error JSON
//! and Graph's answers, with the catalogue's hint filled in from the proxy's `/api/explain`.
//!
//! The class itself is the package entry's (so `instanceof` works); the entry hands it over with
//! `useErrorClass` once the module is loaded. Until then errors are plain `Error`s with the same
//! fields.

use std::cell::RefCell;

use graphgate_core::{ErrorCode, GraphError};
use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;

use crate::js;

thread_local! {
    static CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Makes every error of the module an instance of `class` (the entry's `GraphgateError`).
#[wasm_bindgen(js_name = useErrorClass, skip_typescript)]
pub fn use_error_class(class: Function) {
    CLASS.with(|c| *c.borrow_mut() = Some(class));
}

/// A `GraphgateError`, kept as the JavaScript object it will be thrown as.
#[derive(Clone)]
pub(crate) struct Fail(pub(crate) JsValue);

/// The fields every `GraphgateError` has, `null` until known.
const FIELDS: [&str; 14] = [
    "aadsts",
    "hint",
    "hintZh",
    "explanation",
    "explanationZh",
    "correlationId",
    "requestId",
    "clientRequestId",
    "status",
    "slug",
    "error",
    "lookupUrl",
    "claims",
    "suberror",
];

impl Fail {
    /// A new error with graphgate's or an upstream `code`.
    pub(crate) fn new(code: &str, message: &str) -> Fail {
        let extra = js::object(&[]);
        for f in FIELDS {
            js::set(&extra, f, &JsValue::NULL);
        }
        js::set(&extra, "retryable", &JsValue::FALSE);
        let args = Array::of3(&code.into(), &message.into(), &extra);
        let made = CLASS.with(|c| c.borrow().as_ref().and_then(|class| Reflect::construct(class, &args).ok()));
        let obj = made.unwrap_or_else(|| {
            let e: JsValue = js_sys::Error::new(message).into();
            js::set(&e, "name", &"GraphgateError".into());
            js::set(&e, "code", &code.into());
            let _ =
                js_sys::Object::assign(e.unchecked_ref::<js_sys::Object>(), extra.unchecked_ref::<js_sys::Object>());
            e
        });
        let fail = Fail(obj);
        fail.classify();
        fail
    }

    /// One of graphgate's own errors.
    pub(crate) fn of(code: ErrorCode, message: &str) -> Fail {
        Fail::new(code.as_str(), message)
    }

    /// Sets a field.
    pub(crate) fn with(self, key: &str, value: impl Into<JsValue>) -> Fail {
        js::set(&self.0, key, &value.into());
        if key == "code" || key == "error" {
            self.classify();
        }
        self
    }

    /// Sets a string field when there is a value.
    pub(crate) fn with_opt(self, key: &str, value: Option<&str>) -> Fail {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// A field as a string.
    pub(crate) fn field(&self, key: &str) -> Option<String> {
        js::get_str(&self.0, key)
    }

    /// The error's `code`.
    pub(crate) fn code(&self) -> String {
        self.field("code").unwrap_or_default()
    }

    /// True when the page must sign the user in again.
    pub(crate) fn interaction_required(&self) -> bool {
        js::get(&self.0, "interactionRequired").as_bool() == Some(true)
    }

    /// Recomputes `interactionRequired` and `aadsts` from `code` and `error`, by core's rule.
    fn classify(&self) {
        let code = self.code();
        let error = self.field("error");
        let needs =
            graphgate_core::needs_interaction(&code) || error.as_deref().is_some_and(graphgate_core::needs_interaction);
        js::set(&self.0, "interactionRequired", &JsValue::from_bool(needs));
        if let Some(n) = graphgate_core::aadsts_in(&code) {
            js::set(&self.0, "aadsts", &JsValue::from(n));
        }
    }

    /// Core's error as a `GraphgateError`: an Entra error keeps its AADSTS code, OAuth error,
    /// correlation ID and claims; a Graph error its code, status and request IDs.
    pub(crate) fn from_core(e: &graphgate_core::Error) -> Fail {
        match e {
            graphgate_core::Error::Entra(x) => {
                let code = match x.aadsts {
                    Some(n) => ["AADSTS", &js::num(f64::from(n))].concat(),
                    None => x.error.clone(),
                };
                Fail::new(&code, e.detail())
                    .with("error", x.error.as_str())
                    .with_opt("correlationId", x.correlation_id.as_deref())
                    .with_opt("suberror", x.suberror.as_deref())
                    .with_opt("claims", x.claims.as_deref())
            }
            graphgate_core::Error::Graph(g) => Fail::from_graph(g),
            other => Fail::new(other.code().as_str(), other.detail()),
        }
    }

    /// A Graph error answer.
    pub(crate) fn from_graph(g: &GraphError) -> Fail {
        let message = if g.message.is_empty() { "Microsoft Graph refused the request" } else { &g.message };
        Fail::new(&g.code, message)
            .with("status", g.status)
            .with("retryable", graphgate_core::is_resendable(g.status, "GET"))
            .with_opt("requestId", g.request_id.as_deref())
            .with_opt("clientRequestId", g.client_request_id.as_deref())
            .with_opt("correlationId", g.client_request_id.as_deref().or(g.request_id.as_deref()))
    }

    /// Something JavaScript threw (or a Promise rejected with) while the module awaited it: a
    /// `GraphgateError` stays as it is, anything else becomes `code` with its message.
    pub(crate) fn from_js(e: JsValue, code: ErrorCode, what: &str) -> Fail {
        if js::get_str(&e, "name").as_deref() == Some("GraphgateError") {
            return Fail(e);
        }
        let message = js::get_str(&e, "message").or_else(|| e.as_string()).unwrap_or_default();
        Fail::of(code, &[what, ": ", &message].concat())
    }

    /// The proxy's error JSON (`{code, error, message, hint, hintZh, cause, causeZh, …}`).
    pub(crate) fn from_proxy(status: u16, body: &JsValue) -> Fail {
        let code =
            js::get_str(body, "code").or_else(|| js::get_str(body, "error")).unwrap_or_else(|| "unknown_error".into());
        let message = js::get_str(body, "message").unwrap_or_else(|| ["HTTP ", &js::num(f64::from(status))].concat());
        let fail = Fail::new(&code, &message).with("status", status);
        let fail = match js::get(body, "retryable").as_bool() {
            Some(r) => fail.with("retryable", r),
            None => fail,
        };
        let pairs = [
            ("hint", "hint"),
            ("hintZh", "hintZh"),
            ("cause", "explanation"),
            ("causeZh", "explanationZh"),
            ("correlationId", "correlationId"),
            ("slug", "slug"),
            ("error", "error"),
            ("claims", "claims"),
            ("lookupUrl", "lookupUrl"),
        ];
        pairs.iter().fold(fail, |f, (from, to)| f.with_opt(to, js::get_str(body, from).as_deref()))
    }

    /// The code the catalogue knows this error by.
    pub(crate) fn catalogue_code(&self) -> String {
        match js::get(&self.0, "aadsts").as_f64() {
            Some(n) => ["AADSTS", &js::num(n)].concat(),
            None => self.code(),
        }
    }

    /// Copies the catalogue's explanation (the proxy's `/api/explain` answer) into the error.
    pub(crate) fn explained_by(self, x: &JsValue) -> Fail {
        let retryable =
            js::get(&self.0, "retryable").as_bool() == Some(true) || js::get(x, "retryable").as_bool() == Some(true);
        self.with_opt("hint", js::get_str(x, "hint").as_deref())
            .with_opt("hintZh", js::get_str(x, "hintZh").as_deref())
            .with_opt("explanation", js::get_str(x, "cause").as_deref())
            .with_opt("explanationZh", js::get_str(x, "causeZh").as_deref())
            .with_opt("slug", js::get_str(x, "slug").as_deref())
            .with_opt("lookupUrl", js::get_str(x, "lookupUrl").as_deref())
            .with("retryable", retryable)
    }

    /// True when the catalogue's hint is in already.
    pub(crate) fn is_explained(&self) -> bool {
        self.field("hint").is_some()
    }
}

impl From<Fail> for JsValue {
    fn from(f: Fail) -> JsValue {
        f.0
    }
}

impl From<graphgate_core::Error> for Fail {
    fn from(e: graphgate_core::Error) -> Fail {
        Fail::from_core(&e)
    }
}
