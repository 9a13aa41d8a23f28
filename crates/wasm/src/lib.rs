//! graphgate-wasm: the browser module (npm package `graphgate`). It signs the page's user in
//! with Microsoft (PKCE, state and nonce, by redirect or popup), keeps access tokens in memory,
//! and calls Microsoft Graph with them; graphgate-proxy redeems codes and holds refresh tokens.
//!
//! The protocol's rules and decisions come from graphgate-core; this crate does the browser's
//! part: `web-sys` for the page (location, history, storage, popup, `BroadcastChannel`, Web
//! Crypto), `gloo-net` for every request, serde + serde-wasm-bindgen for what crosses to
//! JavaScript. The package's hand-written entry only loads the module, defines the
//! `GraphgateError` class and the `graph.pages` iterator, and re-exports.

mod client;
mod fail;
mod graph;
mod http;
mod js;
mod options;
mod signin;
mod tabs;
mod tokens;

pub use client::Client;
pub use fail::use_error_class;
pub use graph::Graph;
pub use signin::in_sign_in_popup;

use graphgate_core::ErrorCode;
use wasm_bindgen::prelude::*;

use crate::fail::Fail;
use crate::options::{Options, settle};

/// The allocator (see Cargo.toml): smaller than the standard library's, and enough for a heap of
/// a few short-lived strings; the page's thread is the only one.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// The package's TypeScript declarations.
#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("graphgate.d.ts");

/// A client from explicit options.
///
/// Returned as a Promise made by [`client::to_promise`], as every other Promise of the module
/// is, rather than as an `async fn` export (each of which would compile the future-to-Promise
/// machinery once more).
#[wasm_bindgen(js_name = createClient, skip_typescript)]
pub fn create_client(options: JsValue) -> js_sys::Promise {
    client::to_promise(Box::pin(async move {
        let o = Options::read(&options)?;
        let (fetch, proxy) = (o.fetch.clone(), o.proxy_url.clone());
        match settle(o) {
            Ok((s, hooks)) => Ok(Client::new(s, hooks).into()),
            // With a proxy, the catalogue's hint comes from it.
            Err(e) => Err(match proxy {
                Some(base) => client::explain_once(fetch.dyn_ref(), &options::trim_slash(&base), e).await,
                None => e,
            }),
        }
    }))
}

/// The proxy's configuration, which `createClientFromProxy` reads.
const CONFIG: &str = "GET /api/config";

/// A client configured by the proxy's `GET /api/config`; `overrides` win over what it says.
#[wasm_bindgen(js_name = createClientFromProxy, skip_typescript)]
pub fn create_client_from_proxy(proxy_url: Option<String>, overrides: JsValue) -> js_sys::Promise {
    client::to_promise(Box::pin(from_proxy(proxy_url, overrides)))
}

/// [`create_client_from_proxy`]'s steps: the proxy's configuration, checked, under `overrides`.
async fn from_proxy(proxy_url: Option<String>, overrides: JsValue) -> Result<JsValue, Fail> {
    let over = Options::read(&overrides)?;
    let base = options::trim_slash(proxy_url.as_deref().unwrap_or(""));
    let fetch = over.fetch.dyn_ref::<js_sys::Function>().cloned();
    let made = async {
        let answer = http::proxy(fetch.clone(), base.clone(), "GET", "/api/config", None).await?;
        // The answer (`{clientId, tenant, loginBaseUrl, graphBaseUrl, redirectUris,
        // defaultScopes}`) is read as options are: the same names, the same reader.
        let config = client::read_as::<Options>(answer, CONFIG, ErrorCode::MalformedResponse)?;
        let required = [
            ("clientId", &config.client_id),
            ("tenant", &config.tenant),
            ("loginBaseUrl", &config.login_base_url),
            ("graphBaseUrl", &config.graph_base_url),
        ];
        if let Some((name, _)) = required.iter().find(|(_, v)| v.is_none()) {
            return Err(Fail::of(ErrorCode::MalformedResponse, &[CONFIG, ": the answer has no ", name].concat()));
        }
        let redirect_uris = config.redirect_uris.unwrap_or_default();
        let here = options::this_page();
        let origin = js::window().and_then(|w| w.location().origin().ok());
        let same_origin = |u: &&String| web_sys::Url::new(u).ok().map(|u| u.origin()) == origin;
        let redirect = over.redirect_uri.clone().or_else(|| {
            redirect_uris
                .iter()
                .find(|u| Some(u.as_str()) == here.as_deref())
                .or_else(
                    || if origin.is_some() { redirect_uris.iter().find(same_origin) } else { redirect_uris.first() },
                )
                .cloned()
        });
        let Some(redirect) = redirect else {
            // Signing in would come back to another origin, whose sessionStorage holds nothing of this one.
            return Err(Fail::of(
                ErrorCode::ConfigInvalid,
                &[
                    "none of the proxy's redirect URIs (",
                    &redirect_uris.join(", "),
                    ") is on this page's origin ",
                    origin.as_deref().unwrap_or(""),
                ]
                .concat(),
            ));
        };
        let from_proxy = Options {
            proxy_url: Some(base.clone()),
            client_id: config.client_id,
            tenant: config.tenant,
            login_base_url: config.login_base_url,
            graph_base_url: config.graph_base_url,
            redirect_uri: Some(redirect),
            scopes: config.default_scopes,
            ..Options::default()
        };
        let (s, hooks) = settle(from_proxy.overridden_by(over))?;
        Ok(Client::new(s, hooks))
    };
    match made.await {
        Ok(c) => Ok(c.into()),
        Err(e) => Err(client::explain_once(fetch.as_ref(), &base, e).await),
    }
}
