//! Serving: slow and idle connections closed by their timeouts while others are answered,
//! connection caps answered with the catalogue's 503, the operations listener, the security
//! headers on API answers and static files, a body over the limit answered in typed JSON however
//! it is sent, `/readyz` from the cached discovery document, and shutdown with connections open.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

/// The rig's proxy again with `lines` added to `[server]`.
async fn with_server(lines: &str) -> Rig {
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    rig.config_toml = rig.config_toml.replace("[server]\n", &format!("[server]\n{lines}\n"));
    rig.restart_proxy().await;
    rig
}

fn address(rig: &Rig) -> SocketAddr {
    rig.base.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to `to` from the loopback address `from` (Linux routes all of 127/8 to lo).
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset); what was read. Panics after `within`.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut seen = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection in time");
    seen
}

/// The JSON body of a raw HTTP answer.
fn body_of(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())))
}

/// `count` connections that send half a request and then nothing, spread over 127.0.0.2–9.
async fn slow_sockets(rig: &Rig, count: usize) -> Vec<TcpStream> {
    let to = address(rig);
    let mut all = Vec::with_capacity(count);
    for i in 0..count {
        let mut s = connect_from([127, 0, 0, 2 + (i % 8) as u8], to).await;
        s.write_all(b"GET /api/config HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
        all.push(s);
    }
    all
}

async fn slow_sockets_are_closed_while_others_are_answered(count: usize) {
    let rig = with_server("header_read_timeout_secs = 1\nmax_connections_per_ip = 200").await;
    let mut slow = slow_sockets(&rig, count).await;
    // All still open: a normal client is answered at once.
    let (status, config) = rig.get("/api/config", None).await;
    assert_eq!((status, config["clientId"].as_str()), (200, Some(APP)));
    // And every slow one is closed by the server after the header-read timeout.
    let closes = slow.iter_mut().map(|s| Box::pin(read_to_close(s, Duration::from_secs(20)))).collect();
    for seen in join_all(closes).await {
        assert!(!String::from_utf8_lossy(&seen).contains("clientId"), "no answer to half a request");
    }
    let (status, _) = rig.get("/api/config", None).await;
    assert_eq!(status, 200, "still serving");
}

#[tokio::test]
async fn two_hundred_slow_sockets_are_closed_after_the_header_timeout_while_others_are_answered() {
    slow_sockets_are_closed_while_others_are_answered(200).await;
}

#[tokio::test]
#[ignore = "stress"]
async fn a_thousand_slow_sockets_are_closed_after_the_header_timeout_while_others_are_answered() {
    slow_sockets_are_closed_while_others_are_answered(1000).await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let rig = with_server("header_read_timeout_secs = 30\nidle_timeout_secs = 1").await;
    let mut s = connect_from([127, 0, 0, 1], address(&rig)).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let seen = read_to_close(&mut s, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("\"ok\""), "answered first: {text}");
    assert!(started.elapsed() >= Duration::from_millis(900), "kept alive for the idle timeout");
}

#[tokio::test]
async fn connections_over_a_cap_get_the_catalogue_s_503() {
    let rig = with_server("max_connections = 8\nmax_connections_per_ip = 3").await;
    let to = address(&rig);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2], to).await);
    }
    // The fourth from 127.0.0.2 is refused; 127.0.0.3 still gets in (and stays, kept alive).
    let mut refused = connect_from([127, 0, 0, 2], to).await;
    let (status, body) = body_of(&read_to_close(&mut refused, Duration::from_secs(5)).await);
    assert_eq!((status, body["error"].as_str()), (503, Some("too_many_connections")), "{body}");
    assert_eq!(body["retryable"], true);
    let mut other = connect_from([127, 0, 0, 3], to).await;
    other.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    other.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    held.push(other);
    // Eight in all, whatever the address.
    for last in 4..8 {
        held.push(connect_from([127, 0, 0, last], to).await);
    }
    let mut refused = connect_from([127, 0, 0, 20], to).await;
    let (status, body) = body_of(&read_to_close(&mut refused, Duration::from_secs(5)).await);
    assert_eq!((status, body["error"].as_str()), (503, Some("too_many_connections")), "{body}");
    drop(held);
}

/// A proxy of `rig`'s configuration plus `server_lines`, served with an operations listener;
/// (main base, ops base, stop, task).
async fn start_with_ops(
    rig: &Rig,
    server_lines: &str,
) -> (String, String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let toml = rig.config_toml.replace("[server]\n", &format!("[server]\n{server_lines}\n"));
    let settings = graphgate_proxy::config::Config::from_toml_and_env(&toml, []).unwrap().validate().unwrap();
    let state = graphgate_proxy::server::build_state(settings).await.unwrap();
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bases = (format!("http://{}", main.local_addr().unwrap()), format!("http://{}", ops.local_addr().unwrap()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        graphgate_proxy::server::serve_with_ops(main, Some(ops), state, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (bases.0, bases.1, stop, task)
}

#[tokio::test]
async fn ops_listen_takes_the_operations_routes_off_the_main_listener() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (main, ops, stop, task) = start_with_ops(&rig, "ops_listen = \"127.0.0.1:0\"").await;
    let get = |url: String| async move {
        let res = reqwest::get(url).await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)))
    };
    for path in ["/metrics", "/healthz", "/readyz"] {
        let (status, body) = get(format!("{main}{path}")).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "{path} on the main listener");
    }
    assert_eq!(get(format!("{main}/api/config")).await.0, 200, "the API stays");
    assert_eq!(get(format!("{ops}/healthz")).await, (200, serde_json::json!({"status": "ok"})));
    let (status, ready) = get(format!("{ops}/readyz")).await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")), "{ready}");
    let (status, metrics) = get(format!("{ops}/metrics")).await;
    assert!(status == 200 && metrics.as_str().unwrap().contains("graphgate_sessions"), "{metrics}");
    let (status, body) = get(format!("{ops}/api/config")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")), "only the operations routes");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_completes_with_idle_and_slow_connections_open() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let (main, _ops, stop, task) = start_with_ops(&rig, "header_read_timeout_secs = 2").await;
    let to: SocketAddr = main.trim_start_matches("http://").parse().unwrap();
    // A kept-alive connection after one answer, and one halfway through its headers.
    let mut idle = connect_from([127, 0, 0, 1], to).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let mut slow = connect_from([127, 0, 0, 2], to).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost").await.unwrap();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task).await.expect("shutdown completes").unwrap();
    read_to_close(&mut idle, Duration::from_secs(1)).await;
    read_to_close(&mut slow, Duration::from_secs(1)).await;
    assert!(TcpStream::connect(to).await.is_err(), "the listener is closed");
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_static_files_a_csp() {
    let www = Scratch::new();
    www.file("index.html", "<h1>demo</h1>");
    let rig = with_server(&format!("static_dir = {:?}", www.0)).await;
    let url = |path: &str| format!("{}{path}", rig.base);
    let answers = [
        ("config", rig.http.get(url("/api/config")).send().await.unwrap()),
        ("not found", rig.http.get(url("/api/nothing")).send().await.unwrap()),
        ("csrf refusal", rig.http.post(url("/api/auth/token")).send().await.unwrap()),
        (
            "preflight",
            rig.http
                .request(reqwest::Method::OPTIONS, url("/api/auth/token"))
                .header("origin", ORIGIN)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap(),
        ),
        ("metrics", rig.http.get(url("/metrics")).send().await.unwrap()),
        ("static file", rig.http.get(url("/index.html")).send().await.unwrap()),
    ];
    for (what, res) in &answers {
        assert_eq!(header(res, "x-content-type-options"), Some("nosniff"), "{what}");
        assert_eq!(header(res, "referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(header(res, "strict-transport-security"), None, "{what}: not on http");
    }
    let (_, file) = &answers[5];
    assert_eq!(file.status(), 200);
    let csp = header(file, "content-security-policy").expect("a policy on static files");
    for part in [
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        &format!("connect-src 'self' {ORIGIN} {}", rig.emu.base_url().trim_end_matches('/')),
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert_eq!(header(&answers[0].1, "content-security-policy"), None, "the policy is the static files'");
}

#[tokio::test]
async fn hsts_only_when_the_public_origin_is_https_and_the_csp_is_configurable() {
    let www = Scratch::new();
    www.file("index.html", "<h1>demo</h1>");
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    rig.config_toml = rig
        .config_toml
        .replace(&format!("public_origin = \"{ORIGIN}\""), "public_origin = \"https://app.example.com\"")
        .replace("[server]\n", &format!("[server]\nstatic_dir = {:?}\nstatic_csp = \"default-src 'self'\"\n", www.0));
    rig.restart_proxy().await;
    for path in ["/api/config", "/index.html", "/nothing"] {
        let res = rig.http.get(format!("{}{path}", rig.base)).send().await.unwrap();
        assert_eq!(header(&res, "strict-transport-security"), Some("max-age=31536000"), "{path}");
    }
    let res = rig.http.get(format!("{}/index.html", rig.base)).send().await.unwrap();
    assert_eq!(header(&res, "content-security-policy"), Some("default-src 'self'"));
}

/// Sends `request` raw and reads the answer until the server closes.
async fn raw(rig: &Rig, request: &[u8]) -> (u16, Value) {
    let mut s = connect_from([127, 0, 0, 1], address(rig)).await;
    s.write_all(request).await.unwrap();
    body_of(&read_to_close(&mut s, Duration::from_secs(10)).await)
}

#[tokio::test]
async fn a_body_over_the_limit_is_typed_json_with_content_length_or_chunked() {
    let rig = with_server("body_limit = 1024").await;
    let big = format!("{{\"scopes\": [\"{}\"]}}", "a".repeat(2000));
    let head = "POST /api/auth/token HTTP/1.1\r\nHost: x\r\nX-Graphgate: 1\r\nContent-Type: application/json\r\n\
                Connection: close\r\n";
    let sized = format!("{head}Content-Length: {}\r\n\r\n{big}", big.len());
    let (status, body) = raw(&rig, sized.as_bytes()).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("body_too_large")), "Content-Length: {body}");
    let chunked = format!("{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let (status, body) = raw(&rig, chunked.as_bytes()).await;
    assert_eq!((status, body["error"].as_str()), (413, Some("body_too_large")), "chunked: {body}");
    assert!(body["hintZh"].as_str().is_some_and(|h| !h.is_empty()));
}

#[tokio::test]
async fn a_hundred_readyz_calls_fetch_the_discovery_document_at_most_once() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let discovery = format!("GET /{CONTOSO}/v2.0/.well-known/openid-configuration");
    let calls: Vec<_> = (0..100).map(|_| Box::pin(rig.get("/readyz", None))).collect();
    for (status, body) in join_all(calls).await {
        assert_eq!((status, body["status"].as_str()), (200, Some("ready")), "{body}");
    }
    assert_eq!(rig.emu.call_count(&discovery), 1, "one fetch, then the cache");
}
