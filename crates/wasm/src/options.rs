//! The client's options: read from the page's object with serde-wasm-bindgen (the functions and
//! the storage a page may inject, `fetch`, `storage`, `clock`, `navigate` and `onSignedOut`, taken
//! as they are), checked once, and split into plain settings (which `client.options` shows) and
//! those hooks.

use core::fmt;

use graphgate_core::ErrorCode;
use js_sys::Function;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::fail::Fail;
use crate::js;

/// What `createClient` takes (and `createClientFromProxy` merges over the proxy's answer, which
/// is read as options too).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Options {
    pub(crate) proxy_url: Option<String>,
    pub(crate) client_id: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) login_base_url: Option<String>,
    pub(crate) graph_base_url: Option<String>,
    pub(crate) redirect_uri: Option<String>,
    #[serde(deserialize_with = "strings")]
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) refresh_margin_seconds: Option<f64>,
    pub(crate) max_retries: Option<f64>,
    pub(crate) max_retry_delay_seconds: Option<f64>,
    pub(crate) popup_timeout_seconds: Option<f64>,
    // The functions and the storage a page injects are not data: [`Options::read`] takes them
    // from the object as they are (serde-wasm-bindgen's `preserve` would cost the module about
    // 1.9 KB gzip -9 for the same).
    #[serde(skip)]
    pub(crate) fetch: JsValue,
    #[serde(skip)]
    pub(crate) storage: JsValue,
    #[serde(skip)]
    pub(crate) clock: JsValue,
    #[serde(skip)]
    pub(crate) navigate: JsValue,
    #[serde(skip)]
    pub(crate) on_signed_out: JsValue,
    /// The proxy's registered redirect URIs (only its `GET /api/config` answer has them).
    #[serde(deserialize_with = "strings")]
    pub(crate) redirect_uris: Option<Vec<String>>,
    /// The proxy's default scopes (only its `GET /api/config` answer has them).
    #[serde(deserialize_with = "strings")]
    pub(crate) default_scopes: Option<Vec<String>>,
}

impl Options {
    /// Reads the page's options object; `undefined` and `null` are no options.
    pub(crate) fn read(value: &JsValue) -> Result<Options, Fail> {
        let mut o: Options = crate::client::read_as(value.clone(), "the client's options", ErrorCode::ConfigInvalid)?;
        o.fetch = js::get(value, "fetch");
        o.storage = js::get(value, "storage");
        o.clock = js::get(value, "clock");
        o.navigate = js::get(value, "navigate");
        o.on_signed_out = js::get(value, "onSignedOut");
        Ok(o)
    }

    /// `self` with every option `over` gives taking precedence.
    pub(crate) fn overridden_by(self, over: Options) -> Options {
        fn pick(a: JsValue, b: JsValue) -> JsValue {
            if b.is_undefined() { a } else { b }
        }
        Options {
            proxy_url: over.proxy_url.or(self.proxy_url),
            client_id: over.client_id.or(self.client_id),
            tenant: over.tenant.or(self.tenant),
            login_base_url: over.login_base_url.or(self.login_base_url),
            graph_base_url: over.graph_base_url.or(self.graph_base_url),
            redirect_uri: over.redirect_uri.or(self.redirect_uri),
            scopes: over.scopes.or(self.scopes),
            refresh_margin_seconds: over.refresh_margin_seconds.or(self.refresh_margin_seconds),
            max_retries: over.max_retries.or(self.max_retries),
            max_retry_delay_seconds: over.max_retry_delay_seconds.or(self.max_retry_delay_seconds),
            popup_timeout_seconds: over.popup_timeout_seconds.or(self.popup_timeout_seconds),
            fetch: pick(self.fetch, over.fetch),
            storage: pick(self.storage, over.storage),
            clock: pick(self.clock, over.clock),
            navigate: pick(self.navigate, over.navigate),
            on_signed_out: pick(self.on_signed_out, over.on_signed_out),
            redirect_uris: over.redirect_uris.or(self.redirect_uris),
            default_scopes: over.default_scopes.or(self.default_scopes),
        }
    }
}

/// A list option (`scopes` wherever they are given, `listMessages`' `select`): a list of
/// strings, or one string as a list of one; `null` or absent is none given; anything else, a
/// non-string in the list included, is refused. serde-wasm-bindgen reads a list from anything
/// iterable, and a string is not an object it can ask, so the value is looked at before it is
/// read as a list.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Strings;
    impl<'de> Visitor<'de> for Strings {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or an array of strings")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(vec![s.to_owned()]))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut all = Vec::new();
            while let Some(s) = seq.next_element()? {
                all.push(s);
            }
            Ok(Some(all))
        }
    }
    d.deserialize_any(Strings)
}

/// `obj[key]` read by [`strings`] outside an options struct; `what` names the call refused.
pub(crate) fn strings_of(obj: &JsValue, key: &str, what: &str) -> Result<Option<Vec<String>>, Fail> {
    strings(serde_wasm_bindgen::Deserializer::from(js::get(obj, key)))
        .map_err(|e| crate::client::refused(ErrorCode::InvalidJsonBody, what, e))
}

/// The settings in effect, as `client.options` shows them (no secrets are ever among them).
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Settings {
    pub(crate) proxy_url: String,
    pub(crate) client_id: String,
    pub(crate) tenant: String,
    pub(crate) login_base_url: String,
    pub(crate) graph_base_url: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) refresh_margin_seconds: u32,
    pub(crate) max_retries: u32,
    pub(crate) max_retry_delay_seconds: u32,
    pub(crate) popup_timeout_seconds: u32,
}

/// The functions a page may inject; `None` means the browser's own.
pub(crate) struct Hooks {
    pub(crate) fetch: Option<Function>,
    pub(crate) storage: Option<web_sys::Storage>,
    pub(crate) now: Option<Function>,
    pub(crate) sleep: Option<Function>,
    pub(crate) clock: JsValue,
    pub(crate) navigate: Option<Function>,
    pub(crate) on_signed_out: Option<Function>,
}

/// `s` without its trailing slashes.
pub(crate) fn trim_slash(s: &str) -> String {
    s.trim_end_matches('/').to_owned()
}

/// A whole number of seconds in `0..=max`, or `default` when not given.
fn seconds(name: &str, value: Option<f64>, default: u32, max: u32) -> Result<u32, Fail> {
    let Some(v) = value else { return Ok(default) };
    if !(v >= 0.0 && v <= f64::from(max) && v.fract() == 0.0) {
        return Err(Fail::of(
            ErrorCode::ConfigInvalid,
            &[name, " must be a whole number from 0 to ", &js::num(f64::from(max))].concat(),
        ));
    }
    // Checked above: a whole number within 0..=max.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "checked range")]
    Ok(v as u32)
}

/// The page's own origin and path, the default redirect URI.
pub(crate) fn this_page() -> Option<String> {
    let location = js::window()?.location();
    Some([location.origin().ok()?, location.pathname().ok()?].concat())
}

/// Checks the options and splits them into settings and hooks.
pub(crate) fn settle(o: Options) -> Result<(Settings, Hooks), Fail> {
    let required = |name: &str, v: Option<String>| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| Fail::of(ErrorCode::ConfigInvalid, &["createClient needs the option '", name, "'"].concat()))
    };
    let margin = match o.refresh_margin_seconds {
        Some(m) => graphgate_core::refresh_margin(m).map_err(Fail::from)?,
        None => graphgate_core::REFRESH_MARGIN_SECS,
    };
    let settings = Settings {
        proxy_url: trim_slash(o.proxy_url.as_deref().unwrap_or("")),
        client_id: required("clientId", o.client_id)?,
        tenant: required("tenant", o.tenant)?,
        login_base_url: trim_slash(&required("loginBaseUrl", o.login_base_url)?),
        graph_base_url: trim_slash(&required("graphBaseUrl", o.graph_base_url)?),
        redirect_uri: o.redirect_uri.or_else(this_page).unwrap_or_default(),
        scopes: o.scopes.unwrap_or_else(|| graphgate_core::DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
        refresh_margin_seconds: u32::try_from(margin).unwrap_or(u32::MAX),
        max_retries: seconds("maxRetries", o.max_retries, 3, 10)?,
        max_retry_delay_seconds: seconds("maxRetryDelaySeconds", o.max_retry_delay_seconds, 60, 3600)?,
        popup_timeout_seconds: seconds("popupTimeoutSeconds", o.popup_timeout_seconds, 300, 3600)?,
    };
    let func = |v: &JsValue| v.dyn_ref::<Function>().cloned();
    // `clock` is `() => ms`, or `{now, sleep}` whose `sleep(ms)` stands in for the timer too.
    let (now, sleep) = match func(&o.clock) {
        Some(f) => (Some(f), None),
        None => (func(&js::get(&o.clock, "now")), func(&js::get(&o.clock, "sleep"))),
    };
    let storage = if o.storage.is_object() {
        Some(o.storage.unchecked_into())
    } else {
        js::window().and_then(|w| w.session_storage().ok().flatten())
    };
    let hooks = Hooks {
        fetch: func(&o.fetch),
        storage,
        now,
        sleep,
        clock: o.clock,
        navigate: func(&o.navigate),
        on_signed_out: func(&o.on_signed_out),
    };
    Ok((settings, hooks))
}
