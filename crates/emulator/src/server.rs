//! The accept loop: TLS (or plain TCP), HTTP/1.1 through hyper, and the outer service that
//! answers CORS, counts calls and applies injected faults before the router sees a request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::{Layer, ServiceExt};

use crate::faults::FaultKind;
use crate::{Ctx, control, correlation, cors, errors, graph, identity};

/// Every route: identity at the root, Graph under `/v1.0`, the control API under `/_emulator`.
pub(crate) fn router(ctx: Arc<Ctx>) -> Router {
    let mut r = Router::new().merge(identity::router()).nest("/v1.0", graph::router());
    if ctx.control_api {
        r = r.nest("/_emulator", control::router());
    }
    r.fallback(|| async {
        errors::graph_error(404, "UnknownRoute", Some("No route matches this path in graphgate-emulator."))
    })
    .with_state(ctx)
}

/// What the outer service needs: the context, the router and the CORS policies.
#[derive(Clone)]
pub(crate) struct App {
    ctx: Arc<Ctx>,
    router: Router,
    cors: Arc<cors::Policies>,
}

impl App {
    /// The whole application over `ctx`.
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { router: router(ctx.clone()), ctx, cors: Arc::new(cors::Policies::new()) }
    }
}

/// Serves connections until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
) {
    let app = App::new(ctx.clone());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let faulted = ctx.faults.take_connection();
        let (app, acceptor, stop) = (app.clone(), acceptor.clone(), stop.clone());
        tokio::spawn(async move {
            if faulted {
                fail_handshake(stream).await;
                return;
            }
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        connection(TokioIo::new(tls), app, stop).await;
                    }
                }
                None => connection(TokioIo::new(stream), app, stop).await,
            }
        });
    }
}

/// An injected `tls` fault: the client's hello is read, then answered with bytes that are no TLS
/// record, and the connection is closed, so the client's handshake fails.
async fn fail_handshake(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut hello = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut hello)).await;
    let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n").await;
    let _ = stream.shutdown().await;
}

async fn connection<I>(io: I, app: App, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut recycle = app.ctx.recycle.subscribe();
    let service =
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| handle(app.clone(), req.map(Body::new)));
    let mut builder = Builder::new(TokioExecutor::new());
    builder = builder.http1_only();
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    // Stopping the server, or a connection-level fault added, closes the connection once its
    // request in flight (if any) is answered.
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        _ = recycle.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Answers a CORS preflight, or passes the request on to [`counted`] and adds the CORS headers
/// of its path to whatever comes back (fault responses included). A preflight is neither counted
/// nor faulted. A Graph request is handled with its correlation IDs set (see `correlation.rs`),
/// and its answer carries them.
pub(crate) async fn handle(app: App, req: Request<Body>) -> Result<Response, std::io::Error> {
    let App { ctx, router, cors } = app;
    let path = req.uri().path();
    let graph = cors::is_graph(path);
    let Some(policy) = cors.for_path(path, ctx.control_api, &ctx.cors) else {
        return counted(ctx, router, req).await;
    };
    let preflight = cors::is_preflight(req.method());
    let ids = (graph && !preflight).then(|| correlation::Ids::for_request(req.headers()));
    let inner = tower::service_fn(move |req: Request<Body>| counted(ctx.clone(), router.clone(), req));
    let answer = policy.clone().layer(inner).oneshot(req);
    let mut response = match &ids {
        Some(ids) => correlation::scope(ids.clone(), answer).await?,
        None => answer.await?,
    };
    if let Some(ids) = ids {
        ids.apply(response.headers_mut());
    }
    if preflight {
        // The layer answers 200; a preflight has no content, and Graph answers it so.
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    Ok(response)
}

/// Counts the call, applies a matching fault, then routes.
async fn counted(ctx: Arc<Ctx>, app: Router, req: Request<Body>) -> Result<Response, std::io::Error> {
    let path = req.uri().path().to_owned();
    let method = req.method().as_str().to_owned();
    if !path.starts_with("/_emulator") {
        ctx.faults.count(format!("{method} {path}"));
        match ctx.faults.take(&method, &path) {
            Some(FaultKind::Drop) => return Err(std::io::Error::other("injected fault: connection dropped")),
            Some(FaultKind::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Some(FaultKind::Status { status }) => return Ok(fault_response(&path, status, None)),
            Some(FaultKind::Throttle { retry_after }) => return Ok(fault_response(&path, 429, Some(retry_after))),
            Some(FaultKind::Reset) => return Ok(broken_response()),
            // Connection-level faults are taken at accept, never here.
            Some(FaultKind::Tls) => {}
            Some(FaultKind::MalformedJson) => {
                return Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], "{\"error\": {\"code\": ")
                    .into_response());
            }
            None => {}
        }
    }
    let response: Result<Response, Infallible> = app.oneshot(req).await;
    Ok(response.unwrap_or_else(|never| match never {}))
}

/// The answer an injected `reset` fault gives: a 200 whose headers promise a JSON body, of which
/// a part is sent before the body fails, so the server aborts the connection mid-response.
fn broken_response() -> Response {
    let mut response = Response::new(Body::new(BrokenBody { sent: false }));
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    headers.insert(axum::http::header::CONTENT_LENGTH, axum::http::HeaderValue::from_static("4096"));
    response
}

/// A body that yields its first bytes, then fails.
struct BrokenBody {
    sent: bool,
}

impl hyper::body::Body for BrokenBody {
    type Data = axum::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if self.sent {
            return std::task::Poll::Ready(Some(Err(std::io::Error::other("injected fault: connection reset"))));
        }
        self.sent = true;
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(axum::body::Bytes::from_static(
            b"{\"access_token\": \"",
        )))))
    }
}

/// The answer an injected `status` or `throttle` fault gives: Entra-shaped under `/oauth2/`,
/// Graph-shaped elsewhere, with `Retry-After` when given.
pub(crate) fn fault_response(path: &str, status: u16, retry_after: Option<u64>) -> Response {
    let mut response = if path.contains("/oauth2/") {
        let (error, code) = if status == 429 || status >= 500 {
            ("temporarily_unavailable", 90055)
        } else {
            ("invalid_request", 9002313)
        };
        errors::entra_error(status, error, code, &[])
    } else {
        let code = match status {
            429 => "TooManyRequests",
            503 => "serviceNotAvailable",
            500 => "generalException",
            401 => "InvalidAuthenticationToken",
            403 => "ErrorAccessDenied",
            404 => "itemNotFound",
            _ => "invalidRequest",
        };
        errors::graph_error(status, code, None)
    };
    if let Some(secs) = retry_after {
        if let Ok(v) = secs.to_string().parse() {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::HeaderMap;

    use super::*;
    use crate::faults::Fault;
    use crate::test_support::{ctx, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const ORIGIN: &str = "http://127.0.0.1:4173";

    /// Sends a request through the outer service in memory; returns status, headers and body.
    async fn call(app: &App, method: &str, uri: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = handle(app.clone(), req.body(Body::empty()).expect("request")).await.expect("answered");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = to_bytes(res.into_body(), 1024 * 1024).await.expect("body");
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
        headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The comma-separated items of a header, lower-cased.
    fn items(headers: &HeaderMap, name: &str) -> Vec<String> {
        header(headers, name).split(',').map(|s| s.trim().to_ascii_lowercase()).collect()
    }

    #[tokio::test]
    async fn graph_preflights_are_answered_uncounted_and_unfaulted() {
        let ctx = ctx();
        let app = App::new(ctx.clone());
        ctx.faults.add(Fault {
            path: "/v1.0/me".into(),
            method: None,
            count: 1,
            kind: FaultKind::Throttle { retry_after: 7 },
        });
        let (status, headers, body) = call(
            &app,
            "OPTIONS",
            "/v1.0/me",
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization,consistencylevel"),
            ],
        )
        .await;
        assert_eq!((status, body.as_str()), (204, ""));
        assert_eq!(header(&headers, "access-control-allow-origin"), "*");
        assert!(headers.get("access-control-allow-credentials").is_none());
        assert_eq!(items(&headers, "access-control-allow-methods"), ["get", "post", "patch", "put", "delete"]);
        assert_eq!(
            items(&headers, "access-control-allow-headers"),
            ["authorization", "content-type", "consistencylevel", "prefer", "client-request-id"]
        );
        assert!(ctx.faults.calls().is_empty(), "a preflight is not a call: {:?}", ctx.faults.calls());

        // The fault is still there for the real request, and the browser may read its answer.
        let (status, headers, body) = call(&app, "GET", "/v1.0/me", &[("origin", ORIGIN)]).await;
        assert_eq!(status, 429, "{body}");
        assert_eq!(header(&headers, "retry-after"), "7");
        assert_eq!(header(&headers, "access-control-allow-origin"), "*");
        assert_eq!(
            items(&headers, "access-control-expose-headers"),
            ["retry-after", "www-authenticate", "request-id", "client-request-id", "location"]
        );
        assert_eq!(ctx.faults.calls().get("GET /v1.0/me"), Some(&1));
    }

    #[tokio::test]
    async fn graph_answers_and_errors_carry_cors_headers() {
        let ctx = ctx();
        let app = App::new(ctx.clone());
        let token = user_token(&ctx, &user_id(&ctx, "adele@contoso.onmicrosoft.com"), CONTOSO, "User.Read");
        let auth = format!("Bearer {token}");
        let (status, headers, body) =
            call(&app, "GET", "/v1.0/me", &[("origin", ORIGIN), ("authorization", &auth)]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "access-control-allow-origin"), "*");
        for (uri, expected) in [("/v1.0/me", 401), ("/v1.0/no-such-thing", 404)] {
            let (status, headers, _) = call(&app, "GET", uri, &[("origin", ORIGIN)]).await;
            assert_eq!(status, expected, "{uri}");
            assert_eq!(header(&headers, "access-control-allow-origin"), "*", "{uri}");
        }
        ctx.faults.add(Fault {
            path: "/v1.0/".into(),
            method: None,
            count: 1,
            kind: FaultKind::Status { status: 503 },
        });
        let (status, headers, _) = call(&app, "GET", "/v1.0/users", &[("origin", ORIGIN)]).await;
        assert_eq!(status, 503);
        assert_eq!(header(&headers, "access-control-allow-origin"), "*");
        // The sign-in pages are navigated to, not fetched: no CORS there, and an OPTIONS request
        // is routed (and counted) like any other.
        let authorize = "/common/oauth2/v2.0/authorize";
        let (status, headers, _) = call(&app, "OPTIONS", authorize, &[("origin", ORIGIN)]).await;
        assert_eq!(status, 405);
        assert!(headers.get("access-control-allow-origin").is_none());
        assert_eq!(ctx.faults.calls().get(&format!("OPTIONS {authorize}")), Some(&1));
    }

    #[tokio::test]
    async fn discovery_keys_and_the_token_endpoint_answer_any_origin_as_entra_does() {
        let ctx = ctx();
        let app = App::new(ctx.clone());
        for path in ["/common/v2.0/.well-known/openid-configuration", &format!("/{CONTOSO}/discovery/v2.0/keys")] {
            let (status, headers, body) = call(&app, "GET", path, &[("origin", ORIGIN)]).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert_eq!(header(&headers, "access-control-allow-origin"), "*", "{path}");
            assert!(headers.get("access-control-allow-credentials").is_none(), "{path}");
        }
        // The page's preflight for its token request: answered, never counted, no credentials.
        let token = "/common/oauth2/v2.0/token";
        let (status, headers, _) = call(
            &app,
            "OPTIONS",
            token,
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type,x-anchormailbox"),
            ],
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(header(&headers, "access-control-allow-origin"), "*");
        assert_eq!(items(&headers, "access-control-allow-methods"), ["post"]);
        assert_eq!(header(&headers, "access-control-allow-headers"), "*");
        assert!(headers.get("access-control-allow-credentials").is_none(), "credentialed requests are refused");
        assert!(!ctx.faults.calls().keys().any(|k| k.starts_with("OPTIONS")), "{:?}", ctx.faults.calls());
        // The token endpoint's answers carry it, refusals included: the page reads AADSTS9002326.
        let req = Request::builder()
            .method("POST")
            .uri(token)
            .header("origin", ORIGIN)
            .header("content-type", "application/x-www-form-urlencoded");
        let body = "grant_type=client_credentials&client_id=6731de76-14a6-49ae-97bc-6eba6914391e&scope=x";
        let res = handle(app.clone(), req.body(Body::from(body)).expect("request")).await.expect("answered");
        assert_eq!(res.status(), 400);
        assert_eq!(header(res.headers(), "access-control-allow-origin"), "*");
        let text =
            String::from_utf8(to_bytes(res.into_body(), usize::MAX).await.expect("body").to_vec()).expect("utf8");
        assert!(text.contains("AADSTS9002326: Cross-origin token redemption is permitted only"), "{text}");
        assert!(text.contains(&format!("Request origin: '{ORIGIN}'.")), "{text}");
    }

    #[tokio::test]
    async fn the_control_api_reflects_the_origin_with_credentials() {
        let ctx = ctx();
        let app = App::new(ctx.clone());
        let (status, headers, _) = call(
            &app,
            "OPTIONS",
            "/_emulator/sessions",
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
        )
        .await;
        assert_eq!(status, 204);
        assert_eq!(header(&headers, "access-control-allow-origin"), ORIGIN);
        assert_eq!(header(&headers, "access-control-allow-credentials"), "true");
        assert_eq!(items(&headers, "access-control-allow-methods"), ["get", "post", "delete"]);
        assert_eq!(items(&headers, "access-control-allow-headers"), ["content-type"]);
        let (status, headers, body) = call(&app, "GET", "/_emulator/calls", &[("origin", ORIGIN)]).await;
        assert_eq!((status, body.as_str()), (200, "{}"), "control calls are not counted");
        assert_eq!(header(&headers, "access-control-allow-origin"), ORIGIN);
        assert_eq!(header(&headers, "access-control-allow-credentials"), "true");
    }
}
