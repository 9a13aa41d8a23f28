//! The Graph client: the bearer token from the cache, a fresh `client-request-id` on every
//! request, resends decided by core's retry rule (a `Retry-After` when the page can read it,
//! backoff with full jitter when CORS hides it), a claims challenge answered through the proxy,
//! one forced refresh on a 401, paging, and `$batch` with its throttled requests resent alone.

use std::rc::Rc;

use graphgate_core::batch::{MAX_BATCH_REQUESTS, assign_ids, plan_chunks, to_resend};
use graphgate_core::{Attempt, ErrorCode, GraphError, GraphErrorBody, RetryDecision, RetryPolicy};
use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;

use crate::client::{Inner, Task, promise, settle};
use crate::fail::Fail;
use crate::tokens::ms;
use crate::{http, js, tokens};

/// The Graph client of a `Client` (`client.graph`).
#[wasm_bindgen(skip_typescript)]
pub struct Graph {
    pub(crate) inner: Rc<Inner>,
}

#[wasm_bindgen]
impl Graph {
    /// Any Graph request; resolves the parsed JSON answer, a `Blob`, or `null`.
    pub fn request(&self, method: String, path: String, body: JsValue, headers: JsValue) -> Promise {
        settle(self.inner.clone(), request(&self.inner, &method, &path, body, headers))
    }

    /// `GET path`.
    pub fn get(&self, path: String, headers: JsValue) -> Promise {
        self.request("GET".into(), path, JsValue::UNDEFINED, headers)
    }

    /// `POST path` with `body`.
    pub fn post(&self, path: String, body: JsValue, headers: JsValue) -> Promise {
        self.request("POST".into(), path, body, headers)
    }

    /// `PATCH path` with `body`.
    pub fn patch(&self, path: String, body: JsValue, headers: JsValue) -> Promise {
        self.request("PATCH".into(), path, body, headers)
    }

    /// `PUT path` with `body`.
    pub fn put(&self, path: String, body: JsValue, headers: JsValue) -> Promise {
        self.request("PUT".into(), path, body, headers)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: String, headers: JsValue) -> Promise {
        self.request("DELETE".into(), path, JsValue::UNDEFINED, headers)
    }

    /// One page: `{value, nextLink}` (the entry's `pages()` iterates over these).
    pub fn page(&self, path: String, headers: JsValue) -> Promise {
        settle(self.inner.clone(), page(&self.inner, &path, headers))
    }

    /// Every item of every page.
    pub fn all(&self, path: String, headers: JsValue) -> Promise {
        settle(self.inner.clone(), all(&self.inner, &path, headers))
    }

    /// Runs requests through `$batch`, answers in the order asked.
    pub fn batch(&self, requests: JsValue) -> Promise {
        promise(&self.inner, |inner| async move { batch(&inner, requests).await })
    }
}

/// The retry policy of this client's settings.
fn policy(inner: &Inner) -> RetryPolicy {
    RetryPolicy {
        max_retries: inner.s.max_retries,
        max_delay_secs: u64::from(inner.s.max_retry_delay_seconds),
        ..RetryPolicy::default()
    }
}

/// The full URL of `path`; the bearer token is only ever sent to the Graph base's origin.
fn url_of(inner: &Inner, path: &str) -> Result<String, Fail> {
    let base = &inner.s.graph_base_url; // with its version: https://graph.microsoft.com/v1.0
    let url = if path.starts_with("https://") || path.starts_with("http://") {
        path.to_owned()
    } else {
        let rel = if path.starts_with('/') { path.to_owned() } else { ["/", path].concat() };
        let versioned = ["/v1.0", "/beta"]
            .iter()
            .any(|v| rel == *v || rel.starts_with(&[v, "/"].concat()) || rel.starts_with(&[v, "?"].concat()));
        if versioned {
            let root = base.strip_suffix("/v1.0").or_else(|| base.strip_suffix("/beta")).unwrap_or(base);
            [root, &rel].concat()
        } else {
            [base.as_str(), &rel].concat()
        }
    };
    let origin = |u: &str| web_sys::Url::new(u).ok().map(|u| u.origin());
    let (Some(to), Some(graph)) = (origin(&url), origin(base)) else {
        return Err(Fail::of(ErrorCode::InvalidUrl, &["'", &url, "' is not a URL"].concat()));
    };
    if to != graph {
        return Err(Fail::of(
            ErrorCode::InvalidUrl,
            &["'", &to, "' is not Graph (", &graph, "): no token is sent there"].concat(),
        ));
    }
    Ok(url)
}

/// Sets `name` unless the caller gave it (headers compare without case).
fn set_default(h: &gloo_net::http::Headers, name: &str, value: &str) {
    if !h.has(name) {
        h.set(name, value);
    }
}

/// True when a `Content-Type` announces JSON (`application/json`, `…+json`).
fn is_json_type(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    t.match_indices("json").any(|(i, _)| {
        let before = t.as_bytes().get(i.wrapping_sub(1)).copied();
        let after = t.as_bytes().get(i + 4).copied();
        matches!(before, Some(b'/' | b'+')) && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
    })
}

/// Any Graph request.
pub(crate) fn request(inner: &Rc<Inner>, method: &str, path: &str, body: JsValue, headers: JsValue) -> Task<JsValue> {
    let (inner, method, path) = (inner.clone(), method.to_owned(), path.to_owned());
    Box::pin(async move { send(&inner, &method, &path, body, headers).await })
}

async fn send(inner: &Rc<Inner>, method: &str, path: &str, body: JsValue, headers: JsValue) -> Result<JsValue, Fail> {
    let verb = method.to_ascii_uppercase();
    let what = [verb.as_str(), " ", path].concat();
    let url = url_of(inner, path)?;
    let policy = policy(inner);
    let (mut refreshed, mut challenged, mut retries, mut waited) = (false, false, 0u32, 0u64);
    loop {
        let token = tokens::acquire(inner, None, false, None).await?;
        let h = gloo_net::http::Headers::new();
        if headers.is_object() {
            for entry in Object::entries(headers.unchecked_ref()).iter() {
                let pair = Array::from(&entry);
                if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                    h.set(&k, &v);
                }
            }
        }
        h.set("Authorization", &["Bearer ", &token.access_token].concat());
        let request_id = js::uuid();
        h.set("client-request-id", &request_id);
        let b = http::builder(http::method(&verb)?, &url);
        let req = if body.is_undefined() || body.is_null() {
            b.headers(h).build()
        } else {
            // Plain objects and arrays go as JSON; a string (JSON already) and anything else (a
            // Blob, bytes, a form) as it is.
            let send = if js::is_plain(&body) || body.as_f64().is_some() || body.as_bool().is_some() {
                set_default(&h, "Content-Type", "application/json");
                JsValue::from(js::stringify(&body).unwrap_or_default())
            } else {
                if body.is_string() {
                    set_default(&h, "Content-Type", "application/json");
                }
                body.clone()
            };
            b.headers(h).body(send)
        }
        .map_err(|e| Fail::of(ErrorCode::InvalidUrl, &e.to_string()))?;
        let res = http::send(inner.hooks.fetch.as_ref(), req).await.map_err(|e| {
            Fail::from_js(e, ErrorCode::NetworkError, "Graph could not be reached")
                .with("clientRequestId", request_id.as_str())
        })?;
        let status = res.status();
        if status == 401 {
            // A claims challenge (Continuous Access Evaluation, Conditional Access) is answered
            // with a token carrying those claims; any other 401 with one forced refresh.
            let claims =
                http::header(&res, "WWW-Authenticate").and_then(|w| graphgate_core::parse_claims_challenge(&w));
            if let Some(c) = claims.filter(|_| !challenged) {
                challenged = true;
                tokens::acquire(inner, None, true, Some(c)).await?;
                continue;
            }
            if !refreshed && !challenged {
                refreshed = true;
                tokens::acquire(inner, None, true, None).await?;
                continue;
            }
        }
        let retry_after = http::header(&res, "Retry-After");
        let attempt =
            Attempt { method: &verb, status, retry_after: retry_after.as_deref(), retries, waited_ms: waited };
        if let RetryDecision::RetryAfterMs(wait) = policy.decide(&attempt, ms(inner.now()), js::random_u32()) {
            retries += 1;
            waited = waited.saturating_add(wait);
            #[allow(clippy::cast_precision_loss, reason = "a wait of at most an hour")]
            inner.sleep(wait as f64).await;
            continue;
        }
        if !res.ok() {
            let ids = [
                ("request-id", http::header(&res, "request-id").unwrap_or_default()),
                ("client-request-id", request_id),
            ];
            let parsed = http::json(res).await.and_then(|v| serde_wasm_bindgen::from_value::<GraphErrorBody>(v).ok());
            let error = GraphError::from_body(status, parsed).with_response_headers(&ids);
            return Err(Fail::from_graph(&error));
        }
        return answer_of(res, &what).await;
    }
}

/// A Graph answer: parsed JSON, `null` when empty, a `Blob` for anything else (a photo, `$value`).
async fn answer_of(res: gloo_net::http::Response, what: &str) -> Result<JsValue, Fail> {
    let status = res.status();
    if status == 204 {
        return Ok(JsValue::NULL);
    }
    let content_type = http::header(&res, "Content-Type").unwrap_or_default();
    if !is_json_type(&content_type) {
        let blob = http::blob(res).await.unwrap_or(JsValue::NULL);
        let size = js::get(&blob, "size").as_f64().unwrap_or(0.0);
        return Ok(if size > 0.0 || !content_type.is_empty() { blob } else { JsValue::NULL });
    }
    let text = http::text(res).await.unwrap_or_default();
    if text.is_empty() {
        return Ok(JsValue::NULL);
    }
    js::parse(&text).ok_or_else(|| {
        Fail::of(ErrorCode::MalformedResponse, &[what, ": Graph's answer is not the JSON it announced"].concat())
            .with("status", status)
    })
}

/// One page: `{value, nextLink}`.
pub(crate) fn page(inner: &Rc<Inner>, path: &str, headers: JsValue) -> Task<JsValue> {
    let answer = request(inner, "GET", path, JsValue::UNDEFINED, headers);
    Box::pin(async move { Ok(page_of(&answer.await?)) })
}

/// A page's answer as `{value, nextLink}`.
fn page_of(answer: &JsValue) -> JsValue {
    let value = js::get(answer, "value");
    let next = js::get(answer, "@odata.nextLink");
    js::object(&[
        ("value", if Array::is_array(&value) { value } else { Array::new().into() }),
        ("nextLink", if next.is_string() { next } else { JsValue::NULL }),
    ])
}

/// Every item of every page, following `@odata.nextLink`.
pub(crate) fn all(inner: &Rc<Inner>, path: &str, headers: JsValue) -> Task<JsValue> {
    let (inner, path) = (inner.clone(), path.to_owned());
    Box::pin(async move { all_pages(&inner, &path, headers).await })
}

async fn all_pages(inner: &Rc<Inner>, path: &str, headers: JsValue) -> Result<JsValue, Fail> {
    let items = Array::new();
    let mut next = Some(path.to_owned());
    while let Some(p) = next {
        let one = page(inner, &p, headers.clone()).await?;
        for v in Array::from(&js::get(&one, "value")).iter() {
            items.push(&v);
        }
        next = js::get_str(&one, "nextLink");
    }
    Ok(items.into())
}

/// A string or a number as the id text Graph compares.
fn id_text(v: &JsValue) -> Option<String> {
    v.as_string().or_else(|| v.as_f64().map(js::num))
}

/// A `$batch` item as Graph takes it, and what the planning needs of it.
struct Item {
    id: String,
    depends_on: Vec<String>,
    json: JsValue,
}

/// `graph.batch(requests)`: 20 per `$batch` (requests joined by `dependsOn` together); a
/// sub-request answered 429 or 503 is resent, with the requests that depend on it, after its own
/// `Retry-After` (which sits in the JSON body, so the page can always read it).
async fn batch(inner: &Rc<Inner>, requests: JsValue) -> Result<JsValue, Fail> {
    if !Array::is_array(&requests) {
        return Err(Fail::of(ErrorCode::InvalidJsonBody, "batch takes an array of requests"));
    }
    let requests: Vec<JsValue> = Array::from(&requests).iter().collect();
    let given: Vec<Option<String>> = requests.iter().map(|r| id_text(&js::get(r, "id"))).collect();
    let ids = assign_ids(&given);
    let mut items = Vec::with_capacity(requests.len());
    for (r, id) in requests.iter().zip(ids) {
        let url = js::get_str(r, "url")
            .ok_or_else(|| Fail::of(ErrorCode::InvalidJsonBody, "each batch request needs a url"))?;
        let deps = js::get(r, "dependsOn");
        let depends_on: Vec<String> = if Array::is_array(&deps) {
            Array::from(&deps).iter().filter_map(|v| id_text(&v)).collect()
        } else {
            id_text(&deps).into_iter().collect()
        };
        let method = js::get_str(r, "method").unwrap_or_else(|| "GET".to_owned());
        let json = js::object(&[
            ("id", id.as_str().into()),
            ("method", method.to_ascii_uppercase().into()),
            ("url", url.into()),
        ]);
        let (headers, body) = (js::get(r, "headers"), js::get(r, "body"));
        {
            if headers.is_object() || !body.is_undefined() {
                let h = js::object(&[]);
                if headers.is_object() {
                    let _ = Object::assign(h.unchecked_ref::<Object>(), headers.unchecked_ref::<Object>());
                }
                if !body.is_undefined() {
                    js::set(&json, "body", &body);
                    let named = Object::keys(h.unchecked_ref::<Object>())
                        .iter()
                        .any(|k| k.as_string().is_some_and(|k| k.eq_ignore_ascii_case("content-type")));
                    if !named {
                        js::set(&h, "Content-Type", &"application/json".into());
                    }
                }
                js::set(&json, "headers", &h);
            }
        }
        items.push(Item { id, depends_on, json });
    }
    let plan: Vec<(&str, &[String])> = items.iter().map(|i| (i.id.as_str(), i.depends_on.as_slice())).collect();
    let chunks = plan_chunks(&plan)?;
    let answers: Vec<(String, JsValue)> = {
        let mut all = Vec::new();
        for chunk in chunks {
            let members: Vec<&Item> = chunk.iter().filter_map(|&i| items.get(i)).collect();
            all.extend(run_chunk(inner, &members).await?);
        }
        all
    };
    let out = Array::new();
    for item in &items {
        let answer = answers.iter().rev().find(|(id, _)| *id == item.id).map(|(_, a)| a.clone());
        out.push(&answer.unwrap_or_else(|| {
            js::object(&[
                ("id", item.id.as_str().into()),
                ("status", 0.into()),
                ("headers", js::object(&[])),
                ("body", JsValue::NULL),
            ])
        }));
    }
    Ok(out.into())
}

/// One `$batch` call of at most 20 items, and the resends of its throttled items.
async fn run_chunk(inner: &Rc<Inner>, members: &[&Item]) -> Result<Vec<(String, JsValue)>, Fail> {
    debug_assert!(members.len() <= MAX_BATCH_REQUESTS);
    let policy = policy(inner);
    let mut answers = Vec::new();
    let mut round: Vec<&Item> = members.to_vec();
    let (mut retries, mut waited) = (0u32, 0u64);
    loop {
        let ids: Vec<&str> = round.iter().map(|i| i.id.as_str()).collect();
        let list = Array::new();
        for item in &round {
            let json = Object::assign(&Object::new(), item.json.unchecked_ref());
            // A resent request may depend only on requests resent with it.
            let deps: Vec<&String> = item.depends_on.iter().filter(|d| ids.contains(&d.as_str())).collect();
            if !deps.is_empty() {
                js::set(&json, "dependsOn", &deps.iter().map(|d| JsValue::from_str(d)).collect::<Array>());
            }
            list.push(&json);
        }
        let body = js::object(&[("requests", list.into())]);
        let answer = request(inner, "POST", "/$batch", body, JsValue::UNDEFINED).await?;
        let responses = js::get(&answer, "responses");
        let mut statuses: Vec<(String, u16)> = Vec::new();
        let mut asked: Vec<String> = Vec::new();
        for r in Array::from(&responses).iter() {
            let Some(id) = id_text(&js::get(&r, "id")) else { continue };
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "an HTTP status")]
            let status = js::get(&r, "status").as_f64().unwrap_or(0.0) as u16;
            if status == 429 || status == 503 {
                let headers = js::get(&r, "headers");
                let entries = if headers.is_object() { Object::entries(headers.unchecked_ref()) } else { Array::new() };
                let pairs = entries.iter().filter_map(|e| {
                    let p = Array::from(&e);
                    Some((p.get(0).as_string()?, p.get(1)))
                });
                if let Some(v) = graphgate_core::retry_after_header(pairs).and_then(|v| id_text(&v)) {
                    asked.push(v);
                }
            }
            statuses.push((id.clone(), status));
            answers.push((id, r));
        }
        let plan: Vec<(&str, &[String])> = round.iter().map(|i| (i.id.as_str(), i.depends_on.as_slice())).collect();
        let again = to_resend(&plan, &statuses);
        if again.is_empty() {
            return Ok(answers);
        }
        // The longest wait any throttled request asks for.
        let now = ms(inner.now());
        let retry_after = graphgate_core::longest_retry_after(asked.iter().map(String::as_str), now);
        let attempt = Attempt { method: "POST", status: 429, retry_after, retries, waited_ms: waited };
        let RetryDecision::RetryAfterMs(wait) = policy.decide(&attempt, now, js::random_u32()) else {
            return Ok(answers);
        };
        retries += 1;
        waited = waited.saturating_add(wait);
        #[allow(clippy::cast_precision_loss, reason = "a wait of at most an hour")]
        inner.sleep(wait as f64).await;
        round = again.iter().filter_map(|&i| round.get(i).copied()).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::is_json_type;

    #[test]
    fn json_content_types() {
        assert!(is_json_type("application/json"));
        assert!(is_json_type("application/json; charset=utf-8; odata.metadata=minimal"));
        assert!(is_json_type("application/problem+json"));
        assert!(!is_json_type("image/jpeg"));
        assert!(!is_json_type("text/jsonish"));
        assert!(!is_json_type(""));
    }
}
