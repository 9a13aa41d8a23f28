//! The accept loop: TLS (or plain TCP), HTTP/1.1 through hyper, and the outer service that
//! counts calls and applies injected faults before the router sees a request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::faults::FaultKind;
use crate::{Ctx, control, errors, graph, identity};

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

/// Serves connections until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
) {
    let app = router(ctx.clone());
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
        let (ctx, app, acceptor, stop) = (ctx.clone(), app.clone(), acceptor.clone(), stop.clone());
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        connection(TokioIo::new(tls), ctx, app, stop).await;
                    }
                }
                None => connection(TokioIo::new(stream), ctx, app, stop).await,
            }
        });
    }
}

async fn connection<I>(io: I, ctx: Arc<Ctx>, app: Router, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| handle(ctx.clone(), app.clone(), req));
    let mut builder = Builder::new(TokioExecutor::new());
    builder = builder.http1_only();
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Counts the call, applies a matching fault, then routes.
async fn handle(ctx: Arc<Ctx>, app: Router, req: hyper::Request<Incoming>) -> Result<Response, std::io::Error> {
    let path = req.uri().path().to_owned();
    let method = req.method().as_str().to_owned();
    if !path.starts_with("/_emulator") {
        ctx.faults.count(format!("{method} {path}"));
        match ctx.faults.take(&method, &path) {
            Some(FaultKind::Drop) => return Err(std::io::Error::other("injected fault: connection dropped")),
            Some(FaultKind::Delay { ms }) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Some(FaultKind::Status { status }) => return Ok(fault_response(&path, status, None)),
            Some(FaultKind::Throttle { retry_after }) => return Ok(fault_response(&path, 429, Some(retry_after))),
            Some(FaultKind::MalformedJson) => {
                return Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], "{\"error\": {\"code\": ")
                    .into_response());
            }
            None => {}
        }
    }
    let response: Result<Response, Infallible> = app.oneshot(req.map(Body::new)).await;
    Ok(response.unwrap_or_else(|never| match never {}))
}

fn fault_response(path: &str, status: u16, retry_after: Option<u64>) -> Response {
    let mut response = if path.contains("/oauth2/") {
        let (error, code) = if status == 429 || status >= 500 {
            ("temporarily_unavailable", 90055)
        } else {
            ("invalid_request", 9002313)
        };
        errors::entra_error(status, error, code, None)
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
