//! The card floor: one page step that uses each browser crate the graphgate module is built on
//! once, in the role it has there, and does nothing else. `cargo xtask wasm` builds it exactly
//! as it builds the module and prints its size beside the module's: what the crates cost before
//! any of graphgate's own code, and so how much room msal-browser's size leaves for that code.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The module's allocator, as in crates/wasm.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: lol_alloc::LockedAllocator<lol_alloc::FreeListAllocator> =
    lol_alloc::LockedAllocator::new(lol_alloc::FreeListAllocator::new());

/// Options read with serde-wasm-bindgen, and an answer written with it.
#[derive(Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct Options {
    proxy_url: Option<String>,
    scopes: Option<Vec<String>>,
    max_retries: Option<f64>,
}

/// Reads `options` (serde-wasm-bindgen), touches the page (web-sys: location, history,
/// sessionStorage, `BroadcastChannel`, Web Crypto), makes one request and reads its JSON answer
/// (gloo-net), and resolves that answer read and written back through serde-wasm-bindgen: one
/// Promise made from a Rust future (wasm-bindgen-futures).
#[wasm_bindgen]
pub fn floor(options: JsValue) -> js_sys::Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let o: Options = serde_wasm_bindgen::from_value(options)?;
        let w = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let href = w.location().href()?;
        w.history()?.replace_state_with_url(&JsValue::NULL, "", Some(&href))?;
        if let Some(s) = w.session_storage()? {
            s.set_item("floor", &href)?;
        }
        web_sys::BroadcastChannel::new("floor")?.post_message(&JsValue::TRUE)?;
        let digest = w.crypto()?.subtle().digest_with_str_and_u8_array("SHA-256", href.as_bytes())?;
        JsFuture::from(digest).await?;
        let url = o.proxy_url.unwrap_or_default();
        let res = gloo_net::http::Request::get(&url)
            .header("X-Graphgate", "1")
            .send()
            .await
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let raw: web_sys::Response = res.into();
        let answer: Options = serde_wasm_bindgen::from_value(JsFuture::from(raw.json()?).await?)?;
        Ok(serde_wasm_bindgen::to_value(&answer)?)
    })
}
