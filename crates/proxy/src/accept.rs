//! The accept loop of one listener: HTTP/1.1 connections served by hyper with the client's
//! address on every request (`ConnectInfo`, and the client as `client_addr.rs` decides it), caps on open connections in all and per client
//! address (an IPv6 /64 is one address; over a cap the connection gets the catalogue's 503
//! `too_many_connections` and is closed at once), a header-read timeout, an idle keep-alive
//! timeout, and graceful shutdown (no new connections; requests in flight finish).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use graphgate_core::ErrorCode;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::client_addr::{Cidr, ClientAddr, client_ip, limit_key};
use crate::config::Settings;
use crate::error::ApiError;

/// What the accept loop enforces, from `[server]`.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_ip: usize,
    /// Connections from these peers are not capped per address (a reverse proxy carries many clients).
    pub(crate) trusted_proxies: Vec<Cidr>,
}

impl Rules {
    pub(crate) fn of(settings: &Settings) -> Self {
        let s = &settings.server;
        Self {
            header_read_timeout: s.header_read_timeout,
            idle_timeout: s.idle_timeout,
            max_connections: s.max_connections,
            max_connections_per_ip: s.max_connections_per_ip,
            trusted_proxies: s.trusted_proxies.clone(),
        }
    }
}

/// Open connections, in all and per address key.
#[derive(Debug)]
struct Counts {
    max: usize,
    per_ip: usize,
    open: Mutex<(usize, HashMap<String, usize>)>,
}

/// One admitted connection; counted until dropped.
#[derive(Debug)]
struct Admitted {
    counts: Arc<Counts>,
    key: Option<String>,
}

impl Counts {
    fn new(max: usize, per_ip: usize) -> Arc<Self> {
        Arc::new(Self { max, per_ip, open: Mutex::default() })
    }

    /// Admits a connection from `ip` (per-address capped unless `exempt`), or `None` over a cap.
    fn admit(self: &Arc<Self>, ip: IpAddr, exempt: bool) -> Option<Admitted> {
        let mut open = crate::lock(&self.open);
        if open.0 >= self.max {
            return None;
        }
        let key = (!exempt).then(|| limit_key(Some(ip)));
        if let Some(key) = &key {
            let n = open.1.entry(key.clone()).or_default();
            if *n >= self.per_ip {
                return None;
            }
            *n += 1;
        }
        open.0 += 1;
        Some(Admitted { counts: self.clone(), key })
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = crate::lock(&self.counts.open);
        open.0 = open.0.saturating_sub(1);
        if let Some(key) = &self.key {
            if let Some(n) = open.1.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    open.1.remove(key);
                }
            }
        }
    }
}

/// No time recorded.
const NONE: u64 = u64::MAX;

/// What a connection is doing, for its timeouts (milliseconds since it was accepted).
#[derive(Debug)]
struct Activity {
    started: Instant,
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// When the bytes of the next request began to arrive (the connection's start for the
    /// first), or [`NONE`] while it waits without any.
    head_since: AtomicU64,
    /// The last request's end or the last bytes written.
    quiet_since: AtomicU64,
    /// Wakes the watcher when a request's bytes begin.
    changed: Notify,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
            quiet_since: AtomicU64::new(0),
            changed: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn read(&self, n: usize) {
        if n > 0
            && self.in_flight.load(Ordering::SeqCst) == 0
            && self.head_since.compare_exchange(NONE, self.now(), Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            self.quiet_since.store(self.now(), Ordering::SeqCst);
        }
    }

    /// When the connection is to be closed, as things stand: `None` while a request is answered.
    fn deadline(&self, rules: &Rules) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = |t: u64| self.started + Duration::from_millis(t);
        Some(match self.head_since.load(Ordering::SeqCst) {
            NONE => ms(self.quiet_since.load(Ordering::SeqCst)) + rules.idle_timeout,
            head => ms(head) + rules.header_read_timeout,
        })
    }
}

/// A request being answered; its end makes the connection quiet.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        activity.head_since.store(NONE, Ordering::SeqCst);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.quiet_since.store(self.0.now(), Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_one();
    }
}

/// The socket, telling [`Activity`] about the bytes that pass.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if polled.is_ready() {
            self.activity.read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The bytes of the answer over a cap: the catalogue's 503 `too_many_connections`, then close.
async fn refusal() -> Vec<u8> {
    let response =
        ApiError::new(ErrorCode::TooManyConnections, "too many open connections; try again shortly").into_response();
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let mut bytes = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// Whether an accept error concerns one connection only (then the next accept goes on at once).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted)
}

/// Serves `app` on `listener` until `stop` turns true, then lets the open connections finish
/// their requests (idle ones close at once) and returns.
pub(crate) async fn run(listener: TcpListener, app: Router, rules: Rules, mut stop: watch::Receiver<bool>) {
    let rules = Arc::new(rules);
    let counts = Counts::new(rules.max_connections, rules.max_connections_per_ip);
    let refused = refusal().await;
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, say: wait a little rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let exempt = rules.trusted_proxies.iter().any(|c| c.contains(peer.ip()));
        let Some(admitted) = counts.admit(peer.ip(), exempt) else {
            // A fresh socket's send buffer is empty: the refusal goes out without waiting.
            let _ = stream.try_write(&refused);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(stream, peer, app.clone(), rules.clone(), stop.clone(), admitted));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// One connection: served until the client closes it, a timeout closes it, or shutdown.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    rules: Arc<Rules>,
    mut stop: watch::Receiver<bool>,
    _admitted: Admitted,
) {
    let activity = Activity::new();
    let io = TokioIo::new(Watched { inner: stream, activity: activity.clone() });
    let for_requests = activity.clone();
    let trusted = rules.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        let in_flight = InFlight::begin(&for_requests);
        let client = ClientAddr(client_ip(Some(peer.ip()), req.headers(), &trusted.trusted_proxies));
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(client);
        let answer = app.clone().oneshot(req);
        async move {
            let response = answer.await;
            drop(in_flight);
            response
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // The timeouts are this module's own (below), so that waiting between requests may be
        // longer than a request's headers may take.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = activity.deadline(&rules);
        let timeout = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = activity.changed.notified() => {}
            _ = timeout => {
                // Re-checked: a request may have begun since the deadline was read.
                if activity.deadline(&rules).is_some_and(|at| at <= Instant::now()) {
                    return;
                }
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn connections_are_capped_in_all_and_per_address() {
        let counts = Counts::new(4, 2);
        let a1 = counts.admit(ip("192.0.2.1"), false).expect("first");
        let _a2 = counts.admit(ip("192.0.2.1"), false).expect("second");
        assert!(counts.admit(ip("192.0.2.1"), false).is_none(), "a third from one address");
        // An IPv6 /64 is one address.
        let _b1 = counts.admit(ip("2001:db8::1"), false).expect("v6");
        let _b2 = counts.admit(ip("2001:db8::2"), false).expect("v6, same /64");
        assert!(counts.admit(ip("2001:db8::ffff"), false).is_none(), "the /64 is full");
        assert!(counts.admit(ip("198.51.100.1"), true).is_none(), "four in all, even for a trusted proxy");
        drop(a1);
        let _a3 = counts.admit(ip("192.0.2.1"), false).expect("a slot came free");
        assert_eq!(crate::lock(&counts.open).1.len(), 2, "only addresses with connections are kept");
    }

    #[test]
    fn a_trusted_proxy_is_capped_in_all_only() {
        let counts = Counts::new(3, 1);
        let held: Vec<_> = (0..3).map(|_| counts.admit(ip("10.0.0.1"), true).expect("exempt")).collect();
        assert!(counts.admit(ip("10.0.0.1"), true).is_none());
        drop(held);
        assert_eq!(*crate::lock(&counts.open), (0, HashMap::new()), "every count returned");
    }

    #[test]
    fn the_deadline_follows_the_connection() {
        let rules = Rules {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1,
            max_connections_per_ip: 1,
            trusted_proxies: Vec::new(),
        };
        let a = Activity::new();
        assert_eq!(a.deadline(&rules), Some(a.started + rules.header_read_timeout), "a new connection");
        let req = InFlight::begin(&a);
        assert_eq!(a.deadline(&rules), None, "a request in flight");
        drop(req);
        let idle = a.deadline(&rules).expect("idle");
        assert!(idle >= a.started + rules.idle_timeout, "kept alive");
        a.read(0);
        assert_eq!(a.deadline(&rules), Some(idle), "no bytes, no change");
        a.read(5);
        assert!(a.deadline(&rules).expect("head") < idle, "the next request's headers are timed");
    }
}
