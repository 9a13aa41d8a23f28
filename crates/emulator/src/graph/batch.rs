//! JSON batching (`POST /$batch`): up to 20 sub-requests run through the same router in memory,
//! in dependency order, with 424 for those whose dependency failed
//! (https://learn.microsoft.com/graph/json-batching). Each sub-request is counted like a direct
//! call (`"GET /v1.0/me"`) and meets the faults set for sub-requests (`in_batch`), so one can be
//! throttled inside an otherwise successful batch, as Graph throttles them one by one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::read_json;
use crate::Ctx;
use crate::errors::graph_error;
use crate::faults::FaultKind;
use crate::server::fault_response;

/// The most sub-requests in one batch.
const MAX_REQUESTS: usize = 20;
/// The largest sub-response body kept.
const MAX_SUB_BODY: usize = 16 * 1024 * 1024;

/// One sub-request, checked.
#[derive(Debug)]
struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    depends_on: Vec<usize>,
}

fn bad(message: &str) -> Response {
    graph_error(400, "BadRequest", Some(message))
}

/// Checks the batch body and resolves `dependsOn` to indices.
fn parse(value: &Value) -> Result<Vec<Item>, String> {
    let Some(requests) = value.get("requests").and_then(Value::as_array) else {
        return Err("The batch body must be a JSON object with a \"requests\" array.".into());
    };
    if requests.is_empty() {
        return Err("The batch contains no requests.".into());
    }
    if requests.len() > MAX_REQUESTS {
        return Err(format!("A batch may contain at most {MAX_REQUESTS} requests; this one has {}.", requests.len()));
    }
    let mut items = Vec::with_capacity(requests.len());
    let mut depends: Vec<Vec<String>> = Vec::with_capacity(requests.len());
    for (n, r) in requests.iter().enumerate() {
        let field = |name: &str| r.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        let Some(id) = field("id") else { return Err(format!("Request {} has no id (a string).", n + 1)) };
        let Some(method) = field("method") else { return Err(format!("Request '{id}' has no method.")) };
        let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
            return Err(format!("Request '{id}' has an invalid method."));
        };
        let Some(url) = field("url") else { return Err(format!("Request '{id}' has no url.")) };
        if url.contains("://") {
            return Err(format!("Request '{id}': url must be relative to the version root, such as /me."));
        }
        let url = if url.starts_with('/') { url.to_owned() } else { format!("/{url}") };
        let headers = match r.get("headers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(h)) => h
                .iter()
                .map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("Request '{id}': header values must be strings."))?,
            Some(_) => return Err(format!("Request '{id}': headers must be an object.")),
        };
        let deps = match r.get("dependsOn") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|d| d.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("Request '{id}': dependsOn must list request ids (strings)."))?,
            Some(_) => return Err(format!("Request '{id}': dependsOn must be an array.")),
        };
        if items.iter().any(|i: &Item| i.id.eq_ignore_ascii_case(id)) {
            return Err(format!("The batch contains the request id '{id}' more than once."));
        }
        let body = r.get("body").filter(|b| !b.is_null()).cloned();
        items.push(Item { id: id.to_owned(), method, url, headers, body, depends_on: Vec::new() });
        depends.push(deps);
    }
    for (i, deps) in depends.into_iter().enumerate() {
        for d in deps {
            let Some(j) = items.iter().position(|x| x.id.eq_ignore_ascii_case(d.trim())) else {
                return Err(format!("Request '{}' depends on '{d}', which is not in the batch.", items[i].id));
            };
            if j == i {
                return Err(format!("Request '{}' depends on itself.", items[i].id));
            }
            items[i].depends_on.push(j);
        }
    }
    Ok(items)
}

/// The order to run the requests in: each after its dependencies, otherwise as given.
fn order(items: &[Item]) -> Result<Vec<usize>, String> {
    let mut done = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    while out.len() < items.len() {
        let next = (0..items.len()).find(|&i| !done[i] && items[i].depends_on.iter().all(|&d| done[d]));
        let Some(i) = next else { return Err("The dependsOn references of the batch form a cycle.".into()) };
        done[i] = true;
        out.push(i);
    }
    Ok(out)
}

/// `POST /$batch`.
pub(crate) async fn run(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Body) -> Response {
    let value = match read_json(body, "BadRequest").await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let items = match parse(&value).and_then(|items| order(&items).map(|o| (items, o))) {
        Ok(x) => x,
        Err(why) => return bad(&why),
    };
    let (items, order) = items;
    let auth = headers.get(AUTHORIZATION).cloned();
    let mut results: Vec<Option<(u16, Value)>> = vec![None; items.len()];
    for i in order {
        let item = &items[i];
        let failed = item.depends_on.iter().any(|&d| results[d].as_ref().is_none_or(|(status, _)| *status >= 400));
        let response = if failed {
            graph_error(424, "FailedDependency", Some("A request this one depends on failed."))
        } else {
            execute(&ctx, auth.as_ref(), item).await
        };
        let (status, answer) = collect(&item.id, response).await;
        results[i] = Some((status, answer));
    }
    let responses: Vec<Value> = results.into_iter().flatten().map(|(_, answer)| answer).collect();
    Json(json!({"responses": responses})).into_response()
}

/// Percent-encodes what may not appear in a request target (spaces, quotes, `#`, non-ASCII).
fn escape_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_graphic() && !matches!(c, '"' | '#' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Runs one sub-request through the emulator's router.
async fn execute(ctx: &Arc<Ctx>, auth: Option<&HeaderValue>, item: &Item) -> Response {
    let path = item.url.split('?').next().unwrap_or("");
    if path.trim_end_matches('/').eq_ignore_ascii_case("/$batch") {
        return bad("A batch cannot contain another batch.");
    }
    let target = format!("/v1.0{}", escape_url(&item.url));
    let path = target.split('?').next().unwrap_or("");
    ctx.faults.count(format!("{} {path}", item.method));
    match ctx.faults.take_in_batch(item.method.as_str(), path) {
        Some(FaultKind::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Some(FaultKind::Status { status }) => return fault_response(path, status, None),
        Some(FaultKind::Throttle { retry_after }) => return fault_response(path, 429, Some(retry_after)),
        // Refused for sub-requests when the rule is added (`FaultRule::check`).
        Some(FaultKind::Drop | FaultKind::MalformedJson | FaultKind::Reset | FaultKind::Tls) | None => {}
    }
    let mut builder = Request::builder().method(item.method.clone()).uri(target.as_str());
    if let Some(auth) = auth {
        builder = builder.header(AUTHORIZATION, auth.clone());
    }
    let mut has_type = false;
    for (name, value) in &item.headers {
        if name.eq_ignore_ascii_case("authorization") {
            continue;
        }
        has_type |= name.eq_ignore_ascii_case("content-type");
        builder = builder.header(name.as_str(), value.as_str());
    }
    let body = match &item.body {
        None => Body::empty(),
        Some(Value::String(s)) => Body::from(s.clone()),
        Some(v) => Body::from(v.to_string()),
    };
    if item.body.is_some() && !has_type {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let Ok(request) = builder.body(body) else {
        return bad("The request's url or one of its headers is not valid.");
    };
    let answer: Result<Response, Infallible> = crate::server::router(ctx.clone()).oneshot(request).await;
    answer.unwrap_or_else(|never| match never {})
}

/// A sub-response header's name as Microsoft's batching examples spell it (`Content-Type`,
/// `Retry-After`); others as they are. Clients compare header names without regard to case.
fn header_name(name: &str) -> String {
    const SPELLED: [&str; 5] = ["Content-Type", "Retry-After", "Location", "WWW-Authenticate", "Cache-Control"];
    SPELLED.iter().find(|s| s.eq_ignore_ascii_case(name)).map_or_else(|| name.to_owned(), |s| (*s).to_owned())
}

/// A sub-response: `{id, status, headers, body}`; returns the status too.
async fn collect(id: &str, response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        if let Ok(v) = value.to_str() {
            headers.insert(header_name(name.as_str()), Value::String(v.to_owned()));
        }
    }
    let bytes = to_bytes(response.into_body(), MAX_SUB_BODY).await.unwrap_or_default();
    let mut answer = json!({"id": id, "status": status, "headers": headers});
    if !bytes.is_empty() {
        answer["body"] = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    }
    (status, answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ctx, graph, send, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";

    fn by_id<'a>(body: &'a Value, id: &str) -> &'a Value {
        body["responses"].as_array().expect("responses").iter().find(|r| r["id"] == id).expect("response")
    }

    fn token(ctx: &Arc<Ctx>, scopes: &str) -> String {
        user_token(ctx, &user_id(ctx, "adele@contoso.onmicrosoft.com"), CONTOSO, scopes)
    }

    #[tokio::test]
    async fn runs_a_mixed_batch() {
        let ctx = ctx();
        let token = token(&ctx, "User.Read Mail.Read Mail.Send");
        let batch = json!({"requests": [
            {"id": "me", "method": "GET", "url": "/me?$select=displayName"},
            {"id": "mail", "method": "GET", "url": "me/messages?$top=1"},
            {"id": "send", "method": "POST", "url": "/me/sendMail", "headers": {"Content-Type": "application/json"},
             "body": {"message": {"subject": "From a batch", "toRecipients": [{"emailAddress": {"address": "megan@contoso.onmicrosoft.com"}}]}}},
            {"id": "users", "method": "GET", "url": "/users?$filter=mail eq 'megan@contoso.onmicrosoft.com'"},
            {"id": "nested", "method": "POST", "url": "/$batch", "body": {"requests": []}},
        ]});
        let (status, _, body) = graph(&ctx, "POST", "/v1.0/$batch", &token, Some(batch)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["responses"].as_array().expect("responses").len(), 5);
        let me = by_id(&body, "me");
        assert_eq!(me["status"], 200);
        assert_eq!(me["body"]["displayName"], "Adele Vance");
        assert_eq!(me["headers"]["Content-Type"], "application/json");
        let mail = by_id(&body, "mail");
        assert_eq!(mail["body"]["value"].as_array().expect("value").len(), 1);
        assert_eq!(mail["body"]["@odata.nextLink"], "https://emulator.test/v1.0/me/messages?$top=1&$skip=1");
        let sent = by_id(&body, "send");
        assert_eq!(sent["status"], 202);
        assert!(sent.get("body").is_none());
        let users = by_id(&body, "users");
        assert_eq!(
            (users["status"].as_u64(), users["body"]["error"]["code"].as_str()),
            (Some(403), Some("Authorization_RequestDenied"))
        );
        assert_eq!(by_id(&body, "nested")["status"], 400);
        let megan = user_id(&ctx, "megan@contoso.onmicrosoft.com");
        assert_eq!(ctx.world().mailboxes[&megan].folder("inbox").expect("inbox").messages.len(), 1);
    }

    #[tokio::test]
    async fn failed_dependencies_give_424() {
        let ctx = ctx();
        let token = token(&ctx, "User.Read");
        let batch = json!({"requests": [
            {"id": "3", "method": "GET", "url": "/me", "dependsOn": ["2"]},
            {"id": "1", "method": "GET", "url": "/me/messages"},
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
            {"id": "4", "method": "GET", "url": "/me"},
        ]});
        let (status, _, body) = graph(&ctx, "POST", "/v1.0/$batch", &token, Some(batch)).await;
        assert_eq!(status, 200);
        assert_eq!(by_id(&body, "1")["status"], 403);
        assert_eq!(by_id(&body, "2")["status"], 424);
        assert_eq!(by_id(&body, "2")["body"]["error"]["code"], "FailedDependency");
        assert_eq!(by_id(&body, "3")["status"], 424, "a failed dependency fails its dependants");
        assert_eq!(by_id(&body, "4")["status"], 200);
        let ids: Vec<&str> =
            body["responses"].as_array().expect("responses").iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids, ["3", "1", "2", "4"], "answered in the order asked");
    }

    #[tokio::test]
    async fn a_throttled_sub_request_fails_its_dependants_inside_a_200_batch() {
        let ctx = ctx();
        let token = token(&ctx, "User.Read");
        let rule: crate::faults::FaultRule = serde_json::from_str(
            r#"{"kind":"throttle","path":"/v1.0/me","method":"GET","count":1,"retry_after":1,"in_batch":true}"#,
        )
        .expect("rule");
        ctx.faults.add_rule(rule);
        // The rule does not touch the direct call.
        assert_eq!(graph(&ctx, "GET", "/v1.0/me", &token, None).await.0, 200);
        let batch = json!({"requests": [
            {"id": "1", "method": "GET", "url": "/me"},
            {"id": "2", "method": "GET", "url": "/me?$select=id", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": "/me/todo/lists"},
        ]});
        let (status, _, body) = graph(&ctx, "POST", "/v1.0/$batch", &token, Some(batch.clone())).await;
        assert_eq!(status, 200, "{body}");
        let throttled = by_id(&body, "1");
        assert_eq!(throttled["status"], 429);
        assert_eq!(throttled["headers"]["Retry-After"], "1");
        assert_eq!(throttled["body"]["error"]["code"], "TooManyRequests");
        assert_eq!(by_id(&body, "2")["status"], 424);
        assert_eq!(by_id(&body, "2")["body"]["error"]["code"], "FailedDependency");
        assert_eq!(by_id(&body, "3")["status"], 403, "the others run as usual");
        // Sub-requests count like direct calls; the dependant that never ran does not count.
        let calls = ctx.faults.calls();
        assert_eq!(calls.get("GET /v1.0/me"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("GET /v1.0/me/todo/lists"), Some(&1), "{calls:?}");
        // In the emulator's unit tests the router is called directly: the outer service that
        // counts direct calls is not in the way, so `POST /v1.0/$batch` is not counted here.
        assert_eq!(calls.get("POST /v1.0/$batch"), None);
        // Used up: the same batch now succeeds.
        let (_, _, body) = graph(&ctx, "POST", "/v1.0/$batch", &token, Some(batch)).await;
        assert_eq!(
            (by_id(&body, "1")["status"].as_u64(), by_id(&body, "2")["status"].as_u64()),
            (Some(200), Some(200))
        );
        assert_eq!(ctx.faults.calls().get("GET /v1.0/me"), Some(&3));
    }

    #[test]
    fn orders_by_dependencies() {
        let items = parse(&json!({"requests": [
            {"id": "a", "method": "GET", "url": "/me", "dependsOn": ["c"]},
            {"id": "b", "method": "GET", "url": "/me"},
            {"id": "c", "method": "GET", "url": "/me", "dependsOn": ["B"]},
        ]}))
        .expect("valid");
        assert_eq!(order(&items).expect("acyclic"), [1, 2, 0]);
        let cyclic = parse(&json!({"requests": [
            {"id": "a", "method": "GET", "url": "/me", "dependsOn": ["b"]},
            {"id": "b", "method": "GET", "url": "/me", "dependsOn": ["a"]},
        ]}))
        .expect("valid");
        assert!(order(&cyclic).is_err());
        assert_eq!(escape_url("/users?$filter=mail eq 'a#b@c.com'"), "/users?$filter=mail%20eq%20'a%23b@c.com'");
    }

    #[tokio::test]
    async fn refuses_malformed_batches() {
        let ctx = ctx();
        let token = token(&ctx, "User.Read");
        let many: Vec<Value> = (0..21).map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/me"})).collect();
        let twenty: Vec<Value> = many[..20].to_vec();
        let cases = [
            json!({"requests": many}),
            json!({"requests": [{"id": "1", "method": "GET", "url": "/me"}, {"id": "1", "method": "GET", "url": "/me"}]}),
            json!({"requests": [{"method": "GET", "url": "/me"}]}),
            json!({"requests": [{"id": "1", "url": "/me"}]}),
            json!({"requests": [{"id": "1", "method": "GET"}]}),
            json!({"requests": [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]}]}),
            json!({"requests": [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["1"]}]}),
            json!({"requests": [{"id": "1", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me"}]}),
            json!({"requests": []}),
            json!({"nothing": true}),
        ];
        for batch in cases {
            let (status, _, body) = graph(&ctx, "POST", "/v1.0/$batch", &token, Some(batch.clone())).await;
            assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BadRequest")), "{batch}");
        }
        let (status, _, body) = send(&ctx, "POST", "/v1.0/$batch", &[], "not json").await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BadRequest")));
        let (status, _, body) = graph(&ctx, "POST", "/v1.0/$batch", &token, Some(json!({"requests": twenty}))).await;
        assert_eq!(status, 200);
        assert_eq!(body["responses"].as_array().expect("responses").len(), 20);
    }

    #[tokio::test]
    async fn sub_requests_carry_the_outer_token() {
        let ctx = ctx();
        let batch = json!({"requests": [{"id": "1", "method": "GET", "url": "/me"}]});
        let (status, _, body) =
            send(&ctx, "POST", "/v1.0/$batch", &[("content-type", "application/json")], &batch.to_string()).await;
        assert_eq!(status, 200);
        assert_eq!(by_id(&body, "1")["status"], 401);
    }
}
