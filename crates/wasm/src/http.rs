//! Every request the module makes, built with gloo-net and sent through the page's injected
//! `fetch` or the browser's own; answers are read with the browser's JSON parser.

use gloo_net::http::{Method, Request, RequestBuilder, Response};
use graphgate_core::ErrorCode;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::client::Task;
use crate::fail::Fail;
use crate::js;

/// Sends `req` through `fetch` (the page's, else the browser's `globalThis.fetch`, in pages and
/// workers alike). A rejection (the network, CORS) comes back as what was thrown.
pub(crate) async fn send(fetch: Option<&Function>, req: Request) -> Result<Response, JsValue> {
    let raw: web_sys::Request = req.into();
    let answer = match fetch {
        Some(f) => f.call1(&JsValue::UNDEFINED, &raw)?,
        None => js::call(&js::global(), "fetch", &[raw.into()])?,
    };
    let res = JsFuture::from(Promise::resolve(&answer)).await?;
    Ok(Response::from(res.unchecked_into::<web_sys::Response>()))
}

/// The method named `name` (any letter case): one of those Graph and the proxy answer to (a
/// browser's `fetch` refuses `TRACE` and `CONNECT` anyway).
pub(crate) fn method(name: &str) -> Result<Method, Fail> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        "OPTIONS" => Method::OPTIONS,
        _ => return Err(Fail::of(ErrorCode::InvalidUrl, &["'", name, "' is not an HTTP method"].concat())),
    })
}

/// A request builder for `url` with `method`.
pub(crate) fn builder(method: Method, url: &str) -> RequestBuilder {
    RequestBuilder::new(url).method(method)
}

/// The body of `res` parsed as JSON by the browser; `None` when it is not JSON.
pub(crate) async fn json(res: Response) -> Option<JsValue> {
    let raw: web_sys::Response = res.into();
    JsFuture::from(raw.json().ok()?).await.ok()
}

/// The body of `res` as text.
pub(crate) async fn text(res: Response) -> Option<String> {
    let raw: web_sys::Response = res.into();
    JsFuture::from(raw.text().ok()?).await.ok()?.as_string()
}

/// The body of `res` as a `Blob`.
pub(crate) async fn blob(res: Response) -> Option<JsValue> {
    let raw: web_sys::Response = res.into();
    JsFuture::from(raw.blob().ok()?).await.ok()
}

/// A response header, `None` when absent or not readable by page code (CORS hides it).
pub(crate) fn header(res: &Response, name: &str) -> Option<String> {
    res.headers().get(name)
}

/// A call to graphgate-proxy at `base` + `path` with its cookie; a JSON body for anything but
/// GET, with the header the proxy's CSRF check wants. Errors arrive from the proxy explained.
pub(crate) fn proxy(
    fetch: Option<Function>,
    base: String,
    verb: &str,
    path: &str,
    body: Option<JsValue>,
) -> Task<JsValue> {
    let (verb, path) = (verb.to_owned(), path.to_owned());
    Box::pin(async move { proxy_call(fetch.as_ref(), &base, &verb, &path, body.as_ref()).await })
}

async fn proxy_call(
    fetch: Option<&Function>,
    base: &str,
    verb: &str,
    path: &str,
    body: Option<&JsValue>,
) -> Result<JsValue, Fail> {
    let url = [base, path].concat();
    let what = [verb, " ", path].concat();
    let b = builder(method(verb)?, &url).credentials(web_sys::RequestCredentials::Include);
    let req = if verb == "GET" {
        b.build()
    } else {
        let text = body.and_then(js::stringify).unwrap_or_else(|| "{}".to_owned());
        b.header("X-Graphgate", "1").header("Content-Type", "application/json").body(text)
    }
    .map_err(|e| Fail::of(ErrorCode::InvalidUrl, &e.to_string()))?;
    let res = send(fetch, req)
        .await
        .map_err(|e| Fail::from_js(e, ErrorCode::NetworkError, "the proxy could not be reached"))?;
    let status = res.status();
    let ok = res.ok();
    let answer = json(res).await;
    match (ok, answer) {
        (true, Some(v)) => Ok(v),
        (true, None) => Err(Fail::of(
            ErrorCode::MalformedResponse,
            &[&what, " did not answer JSON (HTTP ", &js::num(f64::from(status)), ")"].concat(),
        )
        .with("status", status)),
        (false, v) => Err(Fail::from_proxy(status, &v.unwrap_or(JsValue::NULL))),
    }
}
