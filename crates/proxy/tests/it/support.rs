//! The proxy's test harness: graphgate-emulator over HTTPS and graphgate-proxy on loopback, both
//! in-process on their own ports, a browser-like client that keeps the session cookie, and the
//! emulator's sign-in page clicked through.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use graphgate_core::{
    AuthorizeRequest, BaseUrl, ClientId, Endpoints, Nonce, PkceChallenge, RedirectUri, Scopes, State, Tenant,
    form_encode,
};
use graphgate_emulator::{Config as EmuConfig, Handle};
use graphgate_proxy::AppState;
use graphgate_proxy::config::Config;
use serde_json::Value;

pub const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
pub const APP: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const SECRET: &str = "sandbox-secret~5yN.Xq2Vt8Lw3Kd9Rb7Mh4Fz";
pub const EXPIRED_SECRET: &str = "sandbox-expired-secret~Q1w2E3r4T5y6";
pub const REDIRECT: &str = "http://localhost:5173/";
pub const ADELE: &str = "a1f5c3e2-0b4d-4c6e-8f1a-2b3c4d5e6f70";
pub const ORIGIN: &str = "http://localhost:5173";

pub use crate::scratch::Scratch;

/// The running pair.
pub struct Rig {
    pub emu: Handle,
    pub emu_http: reqwest::Client,
    pub proxy: Arc<AppState>,
    pub base: String,
    pub http: reqwest::Client,
    pub scratch: Scratch,
    pub config_toml: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// How the proxy authenticates in a test.
pub enum Cred {
    Secret(&'static str),
    Certificate,
}

/// Starts the emulator and a proxy configured for it.
pub async fn rig(tenant: &str, cred: Cred, extra_toml: &str) -> Rig {
    rig_with_entra(tenant, cred, "", extra_toml).await
}

/// [`rig`] with `entra_toml` added to the `[entra]` table (`{emu}` in it stands for the
/// emulator's base URL).
pub async fn rig_with_entra(tenant: &str, cred: Cred, entra_toml: &str, extra_toml: &str) -> Rig {
    let emu = graphgate_emulator::spawn(EmuConfig::default()).await.unwrap();
    let scratch = Scratch::new();
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let key_file = scratch.file("session.key", &key);
    let credential = match cred {
        Cred::Secret(s) => format!("credential = {{ secret = {{ file = {:?} }} }}", scratch.file("secret", s)),
        Cred::Certificate => format!(
            "credential = {{ certificate_file = {:?}, key = {{ file = {:?} }} }}",
            scratch.file("cert.pem", graphgate_emulator::SANDBOX_CERTIFICATE_PEM),
            scratch.file("key.pem", graphgate_emulator::SANDBOX_KEY_PEM)
        ),
    };
    let config_toml = format!(
        r#"
[server]
public_origin = "{ORIGIN}"
[entra]
tenant = "{tenant}"
app_tenant = "{CONTOSO}"
client_id = "{APP}"
redirect_uris = ["{REDIRECT}"]
scopes = ["User.Read", "Mail.Send"]
{entra_toml}
login_base = "{base}"
graph_base = "{base}"
extra_ca_file = {ca:?}
{credential}
[session]
store = "sqlite"
sqlite_path = {db:?}
key = {{ file = {key_file:?} }}
{extra_toml}
"#,
        base = emu.base_url(),
        entra_toml = entra_toml.replace("{emu}", emu.base_url()),
        ca = emu.ca_file().unwrap(),
        db = scratch.0.join("sessions.db"),
    );
    let (proxy, base, stop, task) = start_proxy(&config_toml).await;
    Rig {
        emu_http: trusting_client(&emu),
        emu,
        proxy,
        base,
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        scratch,
        config_toml,
        stop: Some(stop),
        task: Some(task),
    }
}

async fn start_proxy(
    toml: &str,
) -> (Arc<AppState>, String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let settings = Config::from_toml_and_env(toml, []).unwrap().validate().unwrap();
    let state = graphgate_proxy::server::build_state(settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let s = state.clone();
    let task = tokio::spawn(async move {
        graphgate_proxy::server::serve(listener, s, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (state, base, stop, task)
}

impl Rig {
    /// Stops the proxy and starts a new one with the same configuration (same SQLite file).
    pub async fn restart_proxy(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        let (proxy, base, stop, task) = start_proxy(&self.config_toml).await;
        (self.proxy, self.base, self.stop, self.task) = (proxy, base, Some(stop), Some(task));
    }

    /// Moves both clocks forward.
    pub fn advance(&self, secs: u64) {
        self.emu.advance_clock(secs);
        self.proxy.clock.advance(secs);
    }

    /// Begins a sign-in at the proxy as the browser module does; returns the answer (state,
    /// nonce, codeChallenge) and the sign-in cookie (`name=value`).
    pub async fn begin(&self, cookie: Option<&str>) -> (Value, String) {
        let body = serde_json::json!({"redirectUri": REDIRECT, "scopes": ["User.Read", "Mail.Send"]});
        let res = self.post("/api/auth/begin", cookie, body).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let set = res.headers().get("set-cookie").expect("a sign-in cookie").to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_owned();
        (res.json().await.unwrap(), cookie)
    }

    /// Signs `account` in on the emulator's pages, begun at the proxy; returns (code, state,
    /// sign-in cookie).
    pub async fn sign_in(&self, tenant: &str, account: &str) -> (String, String, String) {
        self.sign_in_with(tenant, account, None).await
    }

    /// [`Self::sign_in`] with `claims` on the authorize request, begun under the sign-in cookie
    /// `cookie` when one is given (another tab of the same browser).
    pub async fn sign_in_with(&self, tenant: &str, account: &str, claims: Option<&str>) -> (String, String, String) {
        let (begun, cookie) = self.begin(None).await;
        let code = self.authorize(tenant, account, claims, &begun).await;
        (code, begun["state"].as_str().unwrap().to_owned(), cookie)
    }

    /// Goes through the emulator's sign-in pages for the sign-in `begun`; returns the code.
    pub async fn authorize(&self, tenant: &str, account: &str, claims: Option<&str>, begun: &Value) -> String {
        let endpoints = Endpoints::default().with_login_base(BaseUrl::parse(self.emu.base_url()).unwrap());
        let tenant = Tenant::parse(tenant).unwrap();
        let client = ClientId::parse(APP).unwrap();
        let redirect = RedirectUri::parse(REDIRECT).unwrap();
        let text = |name: &str| begun[name].as_str().unwrap().to_owned();
        let mut request = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
            .scopes(Scopes::parse_all(["User.Read", "Mail.Send"]).unwrap())
            .with_state(State::new(text("state")))
            .with_nonce(Nonce::new(text("nonce")))
            .with_challenge(PkceChallenge::parse(&text("codeChallenge")).unwrap());
        if let Some(c) = claims {
            request = request.claims(c);
        }
        let (url, pending) = request.build().unwrap();
        let query = url.split_once('?').unwrap().1.to_owned();
        let action = format!("{}/{}/oauth2/v2.0/authorize", self.emu.base_url(), tenant.as_str());
        let post = |step: &'static str, account: String| {
            let (http, action, query) = (self.emu_http.clone(), action.clone(), query.clone());
            async move {
                http.post(action)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_encode([("q", query.as_str()), ("account", account.as_str()), ("step", step)]))
                    .send()
                    .await
                    .unwrap()
            }
        };
        let mut res = post("select", account.to_owned()).await;
        if res.status() == 200 {
            // The consent page names the user object that consents (a guest's own object, not
            // its home account's).
            let page = res.text().await.unwrap();
            let consenting = page
                .split("name=\"account\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or(account)
                .to_owned();
            res = post("accept", consenting).await;
        }
        let location = res.headers().get("location").expect("a redirect").to_str().unwrap().to_owned();
        let response = graphgate_core::parse_redirect(graphgate_core::redirect_params(&location, None)).unwrap();
        response.verify(&pending.state).unwrap().code.into_exposed_secret()
    }

    /// A POST to the proxy as the page would send it.
    pub fn post(&self, path: &str, cookie: Option<&str>, body: Value) -> reqwest::RequestBuilder {
        self.post_at(&self.base, path, cookie, body)
    }

    /// [`Self::post`] to the proxy at `base` (another instance).
    pub fn post_at(&self, base: &str, path: &str, cookie: Option<&str>, body: Value) -> reqwest::RequestBuilder {
        let mut req =
            self.http.post(format!("{base}{path}")).header("x-graphgate", "1").header("origin", ORIGIN).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req
    }

    /// Redeems a code through the proxy with the sign-in cookie; returns (status, session
    /// cookie, body).
    pub async fn exchange(&self, code: &str, state: &str, sign_in_cookie: &str) -> (u16, Option<String>, Value) {
        let res = self.exchange_response(code, state, sign_in_cookie).await;
        let status = res.status().as_u16();
        let cookie = res.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (status, cookie, res.json().await.unwrap())
    }

    /// The raw answer of `/api/auth/exchange`, for tests that read its headers.
    pub async fn exchange_response(&self, code: &str, state: &str, sign_in_cookie: &str) -> reqwest::Response {
        let body = serde_json::json!({"code": code, "state": state});
        self.post("/api/auth/exchange", Some(sign_in_cookie), body).send().await.unwrap()
    }

    /// Signs in and exchanges; returns the session cookie and the answer.
    pub async fn signed_in(&self) -> (String, Value) {
        let (code, state, sign_in) = self.sign_in(CONTOSO, ADELE).await;
        let (status, cookie, body) = self.exchange(&code, &state, &sign_in).await;
        assert_eq!(status, 200, "{body}");
        (cookie.expect("a session cookie"), body)
    }

    pub async fn token(&self, cookie: &str) -> (u16, Value) {
        let res = self.post("/api/auth/token", Some(cookie), serde_json::json!({})).send().await.unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> (u16, Value) {
        self.get_at(&self.base, path, cookie).await
    }

    /// [`Self::get`] from the proxy at `base` (another instance).
    pub async fn get_at(&self, base: &str, path: &str, cookie: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{base}{path}"));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

fn trusting_client(emu: &Handle) -> reqwest::Client {
    graphgate_proxy::install_crypto_provider();
    let cert = reqwest::Certificate::from_pem(emu.ca_pem().unwrap().as_bytes()).unwrap();
    reqwest::Client::builder().add_root_certificate(cert).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Polls every future on this task until all are done (what a page's parallel calls look like).
pub async fn join_all<F: std::future::Future + Unpin>(mut futures: Vec<F>) -> Vec<F::Output> {
    let mut results: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in futures.iter_mut().enumerate() {
            if results[i].is_none() {
                match std::pin::Pin::new(f).poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}

/// A log writer keeping everything written to it, for tests that read the log.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
