//! Talking to Microsoft (or the emulator): one HTTP client with rustls, the system's roots plus an
//! optional extra CA, connect and total timeouts, no `Origin` header, bounded retries where a
//! retry is safe, and the authority's issuer and signing keys (from its discovery document),
//! cached together, with which ID tokens are verified.

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
/// How long the issuer and signing keys are trusted before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);

/// After a failed readiness fetch, how long `/readyz` answers that failure without another call.
const READY_RETRY: Duration = Duration::from_secs(30);
/// Clock skew allowed when checking `exp` and `nbf`.
const SKEW_SECS: u64 = 300;

/// What the ID-token check takes from the authority's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Discovery {
    /// `issuer`: the issuer itself, or Entra's multi-tenant template with `{tenantid}`.
    pub(crate) issuer: String,
    /// `jwks_uri`: where the signing keys are.
    pub(crate) jwks_uri: String,
}

impl Discovery {
    /// Reads `issuer` and `jwks_uri` from a discovery document; both are required.
    fn from_document(doc: &Value) -> Result<Self, CoreError> {
        let field = |name: &str| {
            doc[name].as_str().filter(|v| !v.trim().is_empty()).map(str::to_owned).ok_or_else(|| {
                CoreError::new(ErrorCode::MalformedResponse, format!("discovery: the document has no {name}"))
            })
        };
        let discovery = Self { issuer: field("issuer")?, jwks_uri: field("jwks_uri")? };
        graphgate_core::HttpUrl::parse(&discovery.jwks_uri).map_err(|_| {
            CoreError::new(ErrorCode::MalformedResponse, "discovery: jwks_uri is not an http(s) URL".to_owned())
        })?;
        Ok(discovery)
    }
}

/// The authority's issuer and signing keys (by `kid`), and when they were fetched.
#[derive(Debug, Clone)]
struct Authority {
    fetched: Instant,
    issuer: String,
    keys: Vec<(String, rsa::PublicKey)>,
}

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
    authority: Mutex<Option<Authority>>,
    /// Held while `/readyz` fetches (one fetch at a time); the last failed fetch and its error.
    ready_failed: tokio::sync::Mutex<Option<(Instant, CoreError)>>,
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
        Ok(Self { http, entra, authority: Mutex::new(None), ready_failed: Default::default(), metrics })
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

    /// The discovery document of the sign-in authority (`{login}/{tenant}/v2.0/.well-known/
    /// openid-configuration`), fetched now, with the `issuer` and `jwks_uri` the ID-token check
    /// needs (used by `/readyz` and `check`).
    pub(crate) async fn discovery(&self) -> Result<Discovery, CoreError> {
        let doc = self.get_json(&self.entra.endpoints.discovery_url(&self.entra.tenant), "discovery").await?;
        Discovery::from_document(&doc)
    }

    /// Readiness (`/readyz`): the authority's issuer and keys, from the cache while it is fresh, so
    /// at most one fetch per [`KEYS_TTL`] however often it is asked; concurrent callers wait for
    /// one fetch, and a failed fetch is answered for [`READY_RETRY`] without another call.
    pub(crate) async fn ready(&self) -> Result<(), CoreError> {
        let mut failed = self.ready_failed.lock().await;
        if let Some((_, e)) = failed.as_ref().filter(|(at, _)| at.elapsed() < READY_RETRY) {
            return Err(e.clone());
        }
        match self.authority(false).await {
            Ok(_) => {
                *failed = None;
                Ok(())
            }
            Err(e) => {
                *failed = Some((Instant::now(), e.clone()));
                Err(e)
            }
        }
    }

    /// The authority's issuer and keys: cached for [`KEYS_TTL`], fetched again (discovery, then
    /// `jwks_uri`) when `refresh` or when the cache is older.
    async fn authority(&self, refresh: bool) -> Result<Authority, CoreError> {
        if !refresh {
            if let Some(a) = crate::lock(&self.authority).as_ref().filter(|a| a.fetched.elapsed() < KEYS_TTL) {
                return Ok(a.clone());
            }
        }
        let discovery = self.discovery().await?;
        let doc = self.get_json(&discovery.jwks_uri, "keys").await?;
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
        let authority = Authority { fetched: Instant::now(), issuer: discovery.issuer, keys };
        *crate::lock(&self.authority) = Some(authority.clone());
        Ok(authority)
    }

    /// Verifies an ID token: RS256 signature with the authority's keys (issuer and keys fetched
    /// again once when the `kid` is unknown), `iss` = the discovery document's `issuer` (its
    /// `{tenantid}` template filled with the token's own `tid`: core's
    /// [`IdTokenClaims::check_issuer`]), `aud` = the client ID, `exp`/`nbf` with five minutes of
    /// skew, and the `nonce` of the sign-in.
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
        let mut authority = self.authority(false).await?;
        if !authority.keys.iter().any(|(k, _)| *k == kid) {
            authority = self.authority(true).await?;
        }
        let (_, key) = authority
            .keys
            .iter()
            .find(|(k, _)| *k == kid)
            .ok_or_else(|| invalid("the ID token's signing key is not among the authority's keys"))?;
        VerifyingKey::<Sha256>::new(key.clone())
            .verify(input.as_bytes(), &sig)
            .map_err(|_| invalid("the ID token's signature does not verify"))?;
        let claims = IdTokenClaims::decode_unverified(token)?;
        claims.check_issuer(&authority.issuer)?;
        if !claims.aud.iter().any(|a| a.eq_ignore_ascii_case(self.entra.client_id.as_str())) {
            return Err(invalid("the ID token was issued to another application"));
        }
        let skewed = now.saturating_add(SKEW_SECS);
        if claims.exp.saturating_add(SKEW_SECS) < now || claims.nbf.is_some_and(|nbf| nbf > skewed) {
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

/// The upstream client of a proxy configured for `tenant` at `login_base`, for tests that serve
/// their own authority.
#[cfg(test)]
pub(crate) fn test_upstream(login_base: &str, tenant: &str, client_id: &str) -> Upstream {
    let toml = format!(
        r#"
        [entra]
        tenant = "{tenant}"
        client_id = "{client_id}"
        redirect_uris = ["http://localhost:8080/"]
        login_base = "{login_base}"
        credential = {{ secret = {{ env = "GRAPHGATE_TEST_SECRET" }} }}
        [session]
        key = {{ env = "GRAPHGATE_TEST_KEY" }}
        "#
    );
    let settings = crate::config::Config::from_toml_and_env(&toml, []).expect("parses").validate().expect("valid");
    Upstream::new(settings.entra, std::sync::Arc::new(crate::metrics::Metrics::default())).expect("client")
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, OnceLock};

    use axum::Json;
    use axum::routing::get;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use serde_json::json;

    use super::*;

    const APP: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
    const HOME: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const OTHER: &str = "bbbbbbbb-0000-0000-0000-000000000002";
    const KID: &str = "test-key";
    const NONCE: &str = "nonce-1";

    /// One key for every test (generating one takes a moment).
    fn signing_key() -> &'static SigningKey<Sha256> {
        static KEY: OnceLock<SigningKey<Sha256>> = OnceLock::new();
        KEY.get_or_init(|| {
            let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("a key");
            SigningKey::<Sha256>::new(private)
        })
    }

    fn sign(claims: &Value) -> IdToken {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": KID});
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = signing_key().sign(input.as_bytes());
        IdToken::new(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_vec())))
    }

    /// An authority at a loopback address serving a discovery document for `tenant` whose
    /// `issuer` is `issuer` (`{base}` replaced with its address) and whose keys are at a path
    /// of its own; the upstream client configured for it, and the base URL.
    async fn authority(tenant: &str, issuer: &str) -> (Upstream, String) {
        let (upstream, base, _) = counting_authority(tenant, issuer).await;
        (upstream, base)
    }

    fn claims(iss: &str, extra: Value) -> Value {
        let mut c = json!({"iss": iss, "aud": APP, "sub": "sub-1", "exp": now_secs() + 3600, "iat": now_secs(), "nonce": NONCE});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        c
    }

    async fn verify(upstream: &Upstream, claims: &Value) -> Result<IdTokenClaims, CoreError> {
        upstream.verify_id_token(&sign(claims), &Nonce::new(NONCE), now_secs()).await
    }

    #[tokio::test]
    async fn entras_issuer_template_takes_the_tokens_own_tid() {
        let (upstream, base) = authority("common", "{base}/{tenantid}/v2.0").await;
        let member = claims(&format!("{base}/{HOME}/v2.0"), json!({"tid": HOME, "oid": "o-1"}));
        let account = verify(&upstream, &member).await.expect("verified").account();
        assert_eq!(account.home_account_id, format!("o-1.{HOME}"), "Entra's form when oid and tid are there");
        let personal = claims(&format!("{base}/{CONSUMERS}/v2.0"), json!({"tid": CONSUMERS, "oid": "o-2"}));
        verify(&upstream, &personal).await.expect("another tenant, its own issuer");
        // An issuer that is not the token's own tenant's, or a token without tid, is refused.
        for (iss, tid) in [(HOME, Some(OTHER)), (OTHER, Some(HOME)), (HOME, None)] {
            let extra = tid.map_or_else(|| json!({}), |t| json!({"tid": t}));
            let err = verify(&upstream, &claims(&format!("{base}/{iss}/v2.0"), extra)).await.expect_err("refused");
            assert_eq!(err.code(), ErrorCode::IdTokenInvalid, "{iss} {tid:?}");
        }
        let literal = claims(&format!("{base}/{{tenantid}}/v2.0"), json!({"tid": HOME}));
        assert_eq!(
            verify(&upstream, &literal).await.expect_err("the template itself").code(),
            ErrorCode::IdTokenInvalid
        );
    }

    #[tokio::test]
    async fn the_issuer_is_whatever_discovery_names_on_any_host() {
        // External ID (CIAM): the issuer's host is not the sign-in base's.
        let ciam = format!("https://{HOME}.ciamlogin.com/{HOME}/v2.0");
        let (upstream, base) = authority(HOME, &ciam).await;
        verify(&upstream, &claims(&ciam, json!({"tid": HOME, "oid": "o-1"}))).await.expect("CIAM");
        let computed = claims(&format!("{base}/{HOME}/v2.0"), json!({"tid": HOME, "oid": "o-1"}));
        assert_eq!(verify(&upstream, &computed).await.expect_err("not discovery's").code(), ErrorCode::IdTokenInvalid);
    }

    #[tokio::test]
    async fn an_openid_providers_account_without_tid_or_oid_is_keyed_on_iss_and_sub() {
        let (upstream, base) = authority("contoso.example", "{base}/contoso.example").await;
        let iss = format!("{base}/contoso.example");
        let c = verify(&upstream, &claims(&iss, json!({"email": "ada@contoso.example", "name": "Ada"})))
            .await
            .expect("verified");
        let account = c.account();
        assert_eq!(account.home_account_id, format!("sub-1.{iss}"));
        assert_eq!((account.object_id.as_str(), account.tenant_id.as_str()), ("sub-1", ""));
        assert_eq!(account.username, "ada@contoso.example");
        // Entra's shape, a trailing slash, another audience or nonce: all refused.
        for wrong in [format!("{iss}/v2.0"), format!("{iss}/"), format!("{base}/other.example")] {
            let err = verify(&upstream, &claims(&wrong, json!({}))).await.expect_err(&wrong);
            assert_eq!(err.code(), ErrorCode::IdTokenInvalid, "{wrong}");
        }
        let err = verify(&upstream, &claims(&iss, json!({"aud": OTHER}))).await.expect_err("aud");
        assert_eq!(err.code(), ErrorCode::IdTokenInvalid);
        let err = verify(&upstream, &claims(&iss, json!({"nonce": "other"}))).await.expect_err("nonce");
        assert_eq!(err.code(), ErrorCode::NonceMismatch);
    }

    #[tokio::test]
    async fn a_discovery_document_without_issuer_or_jwks_uri_is_malformed() {
        for doc in [
            json!({"jwks_uri": "https://x.example/keys"}),
            json!({"issuer": "https://x.example"}),
            json!({"issuer": "https://x.example", "jwks_uri": "keys"}),
        ] {
            let err = Discovery::from_document(&doc).expect_err("refused");
            assert_eq!(err.code(), ErrorCode::MalformedResponse, "{doc}");
        }
        let d = Discovery::from_document(&json!({"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys"}))
            .expect("read");
        assert_eq!(d.issuer, "https://login.microsoftonline.com/{tenantid}/v2.0");
    }

    const CONSUMERS: &str = graphgate_core::CONSUMERS_TENANT_ID;

    /// HMAC-SHA-256 (RFC 2104), for forging an HS256 token in a test.
    fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&sha2::Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = sha2::Sha256::new().chain_update(pad(0x36)).chain_update(data).finalize();
        sha2::Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
    }

    fn encode(header: &Value, claims: &Value) -> String {
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    /// An authority as [`authority`] does, and how many times its keys were fetched.
    async fn counting_authority(tenant: &str, issuer: &str) -> (Upstream, String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let public = signing_key().as_ref().to_public_key();
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "kid": KID,
            "n": URL_SAFE_NO_PAD.encode(public.n_bytes()), "e": URL_SAFE_NO_PAD.encode(public.e_bytes()),
        }]});
        let doc = json!({"issuer": issuer.replace("{base}", &base), "jwks_uri": format!("{base}/elsewhere/jwks")});
        let fetches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let n = fetches.clone();
        let app = axum::Router::new()
            .route(&format!("/{tenant}/v2.0/.well-known/openid-configuration"), get(move || async move { Json(doc) }))
            .route(
                "/elsewhere/jwks",
                get(move || {
                    n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let jwks = jwks.clone();
                    async move { Json(jwks) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (test_upstream(&base, tenant, APP), base, fetches)
    }

    #[tokio::test]
    async fn forged_and_mismatched_id_tokens_are_refused() {
        let (upstream, base, fetches) = counting_authority(HOME, "{base}/{tenantid}/v2.0").await;
        let iss = format!("{base}/{HOME}/v2.0");
        let good = claims(&iss, json!({"tid": HOME, "oid": "o-1"}));
        verify(&upstream, &good).await.expect("the genuine token");
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        let check = |token: IdToken, what: &'static str| {
            let upstream = &upstream;
            async move {
                let err = upstream.verify_id_token(&token, &Nonce::new(NONCE), now_secs()).await.expect_err(what);
                assert_eq!(err.code(), ErrorCode::IdTokenInvalid, "{what}: {err:?}");
            }
        };
        // alg none, with and without a signature part.
        let none = encode(&json!({"typ": "JWT", "alg": "none", "kid": KID}), &good);
        check(IdToken::new(format!("{none}.")), "alg none").await;
        check(IdToken::new(none.clone()), "alg none, no signature").await;
        let none_upper = encode(&json!({"typ": "JWT", "alg": "None", "kid": KID}), &good);
        check(IdToken::new(format!("{none_upper}.")), "alg None").await;
        // HS256 keyed with the public key's bytes (its JWK text and its modulus).
        let public = signing_key().as_ref().to_public_key();
        let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(public.n_bytes()), "e": URL_SAFE_NO_PAD.encode(public.e_bytes())});
        for secret in [jwk.to_string().into_bytes(), public.n_bytes().to_vec()] {
            let input = encode(&json!({"typ": "JWT", "alg": "HS256", "kid": KID}), &good);
            let mac = hmac_sha256(&secret, input.as_bytes());
            check(IdToken::new(format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac))), "HS256 with the public key").await;
        }
        // The wrong issuer, the wrong audience, expired, not yet valid.
        check(sign(&claims(&format!("{base}/{OTHER}/v2.0"), json!({"tid": HOME}))), "wrong iss").await;
        check(sign(&claims("https://evil.example/v2.0", json!({"tid": HOME}))), "foreign iss").await;
        check(sign(&claims(&iss, json!({"tid": HOME, "aud": OTHER}))), "wrong aud").await;
        check(sign(&claims(&iss, json!({"tid": HOME, "aud": [OTHER]}))), "wrong aud list").await;
        let past = now_secs() - 2 * SKEW_SECS;
        check(sign(&claims(&iss, json!({"tid": HOME, "exp": past, "iat": past - 3600}))), "expired").await;
        let future = now_secs() + 2 * SKEW_SECS;
        check(sign(&claims(&iss, json!({"tid": HOME, "nbf": future}))), "nbf in the future").await;
        check(sign(&claims(&iss, json!({"tid": HOME, "nbf": u64::MAX}))), "nbf at the end of time").await;
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1, "known keys: no refetch");
        // An unknown kid: the keys are fetched again exactly once, then the token is refused.
        let input = encode(&json!({"typ": "JWT", "alg": "RS256", "kid": "unknown-key"}), &good);
        let sig = signing_key().sign(input.as_bytes());
        check(IdToken::new(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_vec()))), "unknown kid").await;
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2, "one refetch for the unknown kid");
        // A token without a kid is refused the same way.
        let input = encode(&json!({"typ": "JWT", "alg": "RS256"}), &good);
        let sig = signing_key().sign(input.as_bytes());
        check(IdToken::new(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_vec()))), "no kid").await;
    }

    #[tokio::test]
    async fn absurd_times_in_an_id_token_do_not_overflow() {
        let (upstream, base) = authority(HOME, "{base}/{tenantid}/v2.0").await;
        let iss = format!("{base}/{HOME}/v2.0");
        verify(&upstream, &claims(&iss, json!({"tid": HOME, "exp": u64::MAX, "iat": u64::MAX})))
            .await
            .expect("a far-off expiry is not an overflow");
    }
}
