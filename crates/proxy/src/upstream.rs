//! Talking to Microsoft (or the emulator): one HTTP client with rustls, the system's roots plus an
//! optional extra CA, connect and total timeouts, no `Origin` header, bounded retries where a
//! retry is safe, and the discovery document and signing keys, cached.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use graphgate_core::{
    Endpoints, Error as CoreError, ErrorCode, Grant, HttpRequest, IdToken, IdTokenClaims, Method, Nonce, Scopes,
    Tenant, TokenRequest, TokenResponse, parse_token_response,
};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use serde_json::Value;

use crate::clock::now_secs;
use crate::config::EntraSettings;
use crate::credential::Credential;
use crate::metrics::Metrics;

/// How many times a retryable request is tried in all.
const MAX_ATTEMPTS: u32 = 3;
/// The longest `Retry-After` honoured before giving up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// How long signing keys are trusted before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Clock skew allowed when checking `exp` and `nbf`.
const SKEW_SECS: u64 = 300;

/// Signing keys by `kid`, and when they were fetched.
type KeySet = (Instant, Vec<(String, rsa::PublicKey)>);

/// An upstream answer: status and body text.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// HTTP status.
    pub(crate) status: u16,
    /// Body.
    pub(crate) body: String,
    /// `Retry-After`, when sent.
    retry_after: Option<String>,
}

/// The upstream client.
pub(crate) struct Upstream {
    http: reqwest::Client,
    entra: EntraSettings,
    keys: Mutex<HashMap<String, KeySet>>,
    metrics: std::sync::Arc<Metrics>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").finish_non_exhaustive()
    }
}

/// Makes sure rustls has its crypto provider (ring) before any client is built.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Upstream {
    /// Builds the client: system roots plus `entra.extra_ca_file`, timeouts from the configuration.
    pub(crate) fn new(entra: EntraSettings, metrics: std::sync::Arc<Metrics>) -> Result<Self, String> {
        install_crypto_provider();
        let e = &entra;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(e.connect_timeout)
            .timeout(e.upstream_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("graphgate-proxy/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &e.extra_ca_file {
            let pem = std::fs::read(path)
                .map_err(|err| format!("entra.extra_ca_file: cannot read {}: {err}", path.display()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| format!("entra.extra_ca_file: {err}"))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Self { http, entra, keys: Mutex::new(HashMap::new()), metrics })
    }

    /// The endpoints (cloud plus overrides).
    pub(crate) fn endpoints(&self) -> &Endpoints {
        &self.entra.endpoints
    }

    /// Sends one request. Transport failures become `upstream_unreachable` / `upstream_timeout`.
    pub(crate) async fn send(&self, req: &HttpRequest, kind: &'static str) -> Result<Answer, CoreError> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.http.request(method, &req.url);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        if req.method == Method::Post {
            builder = builder.body(req.body.clone());
        }
        let started = Instant::now();
        let result = builder.send().await;
        let outcome = match result {
            Ok(res) => {
                let status = res.status().as_u16();
                let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
                match res.text().await {
                    Ok(body) => Ok(Answer { status, body, retry_after }),
                    Err(e) => Err(transport(&e, host_of(&req.url))),
                }
            }
            Err(e) => Err(transport(&e, host_of(&req.url))),
        };
        let status = outcome.as_ref().map(|a| a.status).unwrap_or(0);
        self.metrics.upstream(kind, started.elapsed(), status);
        // The host and the path only: queries may carry addresses, bodies carry credentials.
        let path = req
            .url
            .split("://")
            .nth(1)
            .and_then(|r| r.find('/').map(|i| &r[i..]))
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("");
        tracing::debug!(
            kind,
            host = host_of(&req.url),
            path,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "upstream"
        );
        outcome
    }

    /// Sends a request that is safe to repeat (client credentials, discovery, keys): retries
    /// transport errors, 5xx and 429 (honouring `Retry-After`), at most [`MAX_ATTEMPTS`] times.
    async fn send_idempotent(&self, req: &HttpRequest, kind: &'static str) -> Result<Answer, CoreError> {
        let mut attempt = 1;
        loop {
            let result = self.send(req, kind).await;
            let wait = match &result {
                Ok(a) if a.status == 429 || a.status >= 500 => {
                    let now = now_secs();
                    a.retry_after
                        .as_deref()
                        .and_then(|v| graphgate_core::parse_retry_after(v, now))
                        .map(Duration::from_secs)
                }
                Err(_) => None,
                Ok(_) => return result,
            };
            if attempt >= MAX_ATTEMPTS || wait.is_some_and(|w| w > MAX_RETRY_AFTER) {
                return result;
            }
            let backoff = wait.unwrap_or_else(|| Duration::from_millis(200 * 2u64.pow(attempt - 1)));
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    /// Asks the token endpoint of `tenant` for `grant`, authenticating with `credential`.
    /// Client credentials are retried when safe (5xx, 429); a code or refresh-token redemption is
    /// sent once, never replayed. Delegated grants declare `entra.client_capabilities`.
    pub(crate) async fn token(
        &self,
        credential: &Credential,
        tenant: &Tenant,
        grant: Grant<'_>,
        scopes: Option<&Scopes>,
        now: u64,
    ) -> Result<TokenResponse, CoreError> {
        self.token_with_claims(credential, tenant, grant, scopes, None, now).await
    }

    /// [`Self::token`] answering a claims challenge: `challenge` (a claims request) merged with
    /// the configured capabilities goes as the `claims` parameter of a delegated grant.
    pub(crate) async fn token_with_claims(
        &self,
        credential: &Credential,
        tenant: &Tenant,
        grant: Grant<'_>,
        scopes: Option<&Scopes>,
        challenge: Option<&str>,
        now: u64,
    ) -> Result<TokenResponse, CoreError> {
        let s = &self.entra;
        let token_url = s.endpoints.token_url(tenant);
        let repeatable = matches!(grant, Grant::ClientCredentials);
        let claims = if repeatable { None } else { s.token_claims(challenge)? };
        let auth = credential.client_auth(&s.client_id, &token_url, now)?;
        let req = TokenRequest { endpoints: &s.endpoints, tenant, client_id: &s.client_id, grant, scopes, auth: &auth }
            .to_http_with_claims(claims.as_deref())?;
        let answer =
            if repeatable { self.send_idempotent(&req, "token").await? } else { self.send(&req, "token").await? };
        parse_token_response(answer.status, &answer.body)
    }

    /// Fetches a JSON document with GET (retried when safe).
    async fn get_json(&self, url: &str, kind: &'static str) -> Result<Value, CoreError> {
        let req = HttpRequest {
            method: Method::Get,
            url: url.to_owned(),
            headers: vec![("Accept", "application/json".to_owned())],
            body: String::new(),
        };
        let answer = self.send_idempotent(&req, kind).await?;
        if answer.status != 200 {
            return Err(CoreError::new(
                ErrorCode::MalformedResponse,
                format!("{kind}: HTTP {} from {}", answer.status, host_of(url)),
            ));
        }
        serde_json::from_str(&answer.body)
            .map_err(|_| CoreError::new(ErrorCode::MalformedResponse, format!("{kind}: the answer is not JSON")))
    }

    /// The discovery document of the sign-in authority (used by `/readyz` and `check`).
    pub(crate) async fn discovery(&self) -> Result<Value, CoreError> {
        self.get_json(&self.entra.endpoints.discovery_url(&self.entra.tenant), "discovery").await
    }

    async fn signing_keys(&self, tenant: &Tenant, refresh: bool) -> Result<Vec<(String, rsa::PublicKey)>, CoreError> {
        let url = self.entra.endpoints.keys_url(tenant);
        if !refresh {
            if let Some((at, keys)) = crate::lock(&self.keys).get(&url) {
                if at.elapsed() < KEYS_TTL {
                    return Ok(keys.clone());
                }
            }
        }
        let doc = self.get_json(&url, "keys").await?;
        let keys: Vec<(String, rsa::PublicKey)> = doc["keys"]
            .as_array()
            .map(|keys| {
                keys.iter()
                    .filter(|k| k["kty"] == "RSA")
                    .filter_map(|k| {
                        let kid = k["kid"].as_str()?.to_owned();
                        let n = URL_SAFE_NO_PAD.decode(k["n"].as_str()?).ok()?;
                        let e = URL_SAFE_NO_PAD.decode(k["e"].as_str()?).ok()?;
                        let key = rsa::PublicKey::new(
                            rsa::BoxedUint::from_be_slice_vartime(&n),
                            rsa::BoxedUint::from_be_slice_vartime(&e),
                        )
                        .ok()?;
                        Some((kid, key))
                    })
                    .collect()
            })
            .unwrap_or_default();
        crate::lock(&self.keys).insert(url, (Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Verifies an ID token: RS256 signature with the authority's keys (fetched again once when
    /// the `kid` is unknown), `iss` = `{login}/{tid}/v2.0` for the token's own `tid`, `aud` = the
    /// client ID, `exp`/`nbf` with five minutes of skew, and the `nonce` of the sign-in.
    pub(crate) async fn verify_id_token(
        &self,
        token: &IdToken,
        nonce: &Nonce,
        now: u64,
    ) -> Result<IdTokenClaims, CoreError> {
        let invalid = |why: &str| CoreError::new(ErrorCode::IdTokenInvalid, why.to_owned());
        let jwt = token.expose_secret();
        let (input, sig) = jwt.rsplit_once('.').ok_or_else(|| invalid("not a JWT"))?;
        let header = input
            .split('.')
            .next()
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .ok_or_else(|| invalid("unreadable JWT header"))?;
        if header["alg"] != "RS256" {
            return Err(invalid("the ID token is not signed with RS256"));
        }
        let kid = header["kid"].as_str().unwrap_or("").to_owned();
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .ok()
            .and_then(|s| Signature::try_from(s.as_slice()).ok())
            .ok_or_else(|| invalid("unreadable signature"))?;
        let mut keys = self.signing_keys(&self.entra.tenant, false).await?;
        if !keys.iter().any(|(k, _)| *k == kid) {
            keys = self.signing_keys(&self.entra.tenant, true).await?;
        }
        let (_, key) = keys
            .iter()
            .find(|(k, _)| *k == kid)
            .ok_or_else(|| invalid("the ID token's signing key is not among the authority's keys"))?;
        VerifyingKey::<Sha256>::new(key.clone())
            .verify(input.as_bytes(), &sig)
            .map_err(|_| invalid("the ID token's signature does not verify"))?;
        let claims = IdTokenClaims::decode_unverified(token)?;
        let tid = claims.tid.clone().unwrap_or_default();
        if claims.iss != self.entra.endpoints.issuer(&tid) {
            return Err(invalid("the ID token's issuer is not the authority's for its tenant"));
        }
        if !claims.aud.iter().any(|a| a.eq_ignore_ascii_case(self.entra.client_id.as_str())) {
            return Err(invalid("the ID token was issued to another application"));
        }
        if claims.exp + SKEW_SECS < now || claims.nbf.is_some_and(|nbf| nbf > now + SKEW_SECS) {
            return Err(invalid("the ID token is expired or not yet valid"));
        }
        claims.check_nonce(nonce)?;
        Ok(claims)
    }
}

fn transport(e: &reqwest::Error, host: &str) -> CoreError {
    if e.is_timeout() {
        CoreError::new(ErrorCode::UpstreamTimeout, format!("{host} did not answer in time"))
    } else {
        CoreError::new(ErrorCode::UpstreamUnreachable, format!("cannot reach {host}: {}", reqwest_reason(e)))
    }
}

/// A short reason without URLs (which may carry query parameters).
fn reqwest_reason(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = String::from("connection failed");
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

fn host_of(url: &str) -> &str {
    url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or("upstream")
}
