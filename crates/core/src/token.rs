//! Token endpoint messages: requests built as data, answers and errors parsed from JSON.
//!
//! Requests never carry an `Origin` header: Entra treats a redemption with one as a browser
//! (SPA) redemption and refuses it for Web redirect URIs (AADSTS9002326).

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::cloud::{Endpoints, Tenant};
use crate::encode::{form_encode, percent_encode};
use crate::error::{EntraError, Error, ErrorCode};
use crate::graph::parse_json_object;
use crate::scope::Scopes;
use crate::secret::{
    AccessToken, AuthorizationCode, ClientAssertion, ClientSecret, IdToken, PkceVerifier, RefreshToken,
};
use crate::url::{ClientId, RedirectUri};

/// The `client_assertion_type` for certificate and federated credentials.
pub const JWT_BEARER_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
}

impl Method {
    /// The method name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// An HTTP request described as data, for the caller to send with its own client.
///
/// Its `Debug` output shows the method, URL and header names only: the body and header values
/// hold secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The absolute URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(&'static str, String)>,
    /// The body (form-encoded for the token endpoint).
    pub body: String,
}

impl HttpRequest {
    /// The value of header `name`, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| *n).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body", &format_args!("<{} bytes redacted>", self.body.len()))
            .finish()
    }
}

/// How a confidential client proves who it is.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// No credential (a public client).
    None,
    /// `client_secret` in the form body (`client_secret_post`).
    SecretPost(ClientSecret),
    /// HTTP Basic with the URL-encoded client ID and secret (`client_secret_basic`).
    SecretBasic(ClientSecret),
    /// A signed JWT (`private_key_jwt`), made by the caller; see [`crate::assertion`].
    Assertion(ClientAssertion),
}

/// What is exchanged for tokens.
#[derive(Debug)]
pub enum Grant<'a> {
    /// An authorization code, with the redirect URI it was issued for and the PKCE verifier.
    AuthorizationCode {
        /// The code from the redirect.
        code: &'a AuthorizationCode,
        /// The same redirect URI as on the authorize request.
        redirect_uri: &'a RedirectUri,
        /// The verifier whose challenge went on the authorize request.
        verifier: Option<&'a PkceVerifier>,
    },
    /// A refresh token.
    RefreshToken(&'a RefreshToken),
    /// The application's own identity (app-only); the scope is `{graph}/.default`.
    ClientCredentials,
}

impl Grant<'_> {
    /// The `grant_type` value.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken(_) => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
        }
    }
}

/// A request to the token endpoint.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    /// Where to send it.
    pub endpoints: &'a Endpoints,
    /// The `{tenant}` path segment. Client credentials need a concrete tenant.
    pub tenant: &'a Tenant,
    /// The application ID.
    pub client_id: &'a ClientId,
    /// What to exchange.
    pub grant: Grant<'a>,
    /// The scopes to ask for; for client credentials this is ignored in favour of `{graph}/.default`.
    pub scopes: Option<&'a Scopes>,
    /// The client credential.
    pub auth: &'a ClientAuth,
}

impl TokenRequest<'_> {
    /// Builds the HTTP request: `POST {login}/{tenant}/oauth2/v2.0/token` with a form body.
    pub fn to_http(&self) -> Result<HttpRequest, Error> {
        self.to_http_with_claims(None)
    }

    /// [`Self::to_http`] with a `claims` parameter (a JSON claims request: client capabilities
    /// such as `cp1`, or a claims challenge answered; see [`crate::merge_client_capabilities`]).
    /// Client credentials never carry one.
    pub fn to_http_with_claims(&self, claims: Option<&str>) -> Result<HttpRequest, Error> {
        if matches!(self.grant, Grant::ClientCredentials) && !self.tenant.is_concrete() {
            return Err(Error::new(
                ErrorCode::InvalidTenant,
                format!("client credentials need a tenant ID or domain, not '{}'", self.tenant.as_str()),
            ));
        }
        let default_scope;
        let scope_text;
        let mut pairs: Vec<(&str, &str)> =
            vec![("client_id", self.client_id.as_str()), ("grant_type", self.grant.grant_type())];
        match &self.grant {
            Grant::AuthorizationCode { code, redirect_uri, verifier } => {
                pairs.push(("code", code.expose_secret()));
                pairs.push(("redirect_uri", redirect_uri.as_str()));
                if let Some(v) = verifier {
                    pairs.push(("code_verifier", v.expose_secret()));
                }
            }
            Grant::RefreshToken(rt) => pairs.push(("refresh_token", rt.expose_secret())),
            Grant::ClientCredentials => {}
        }
        if let Some(c) = claims.filter(|c| !c.is_empty() && !matches!(self.grant, Grant::ClientCredentials)) {
            pairs.push(("claims", c));
        }
        if matches!(self.grant, Grant::ClientCredentials) {
            default_scope = self.endpoints.graph_default_scope();
            pairs.push(("scope", &default_scope));
        } else if let Some(scopes) = self.scopes.filter(|s| !s.is_empty()) {
            scope_text = scopes.to_string();
            pairs.push(("scope", &scope_text));
        }
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded".to_owned()),
            ("Accept", "application/json".to_owned()),
        ];
        match self.auth {
            ClientAuth::None => {}
            ClientAuth::SecretPost(secret) => pairs.push(("client_secret", secret.expose_secret())),
            ClientAuth::SecretBasic(secret) => {
                let raw =
                    format!("{}:{}", percent_encode(self.client_id.as_str()), percent_encode(secret.expose_secret()));
                headers.push(("Authorization", format!("Basic {}", STANDARD.encode(raw))));
            }
            ClientAuth::Assertion(assertion) => {
                pairs.push(("client_assertion_type", JWT_BEARER_ASSERTION_TYPE));
                pairs.push(("client_assertion", assertion.expose_secret()));
            }
        }
        Ok(HttpRequest {
            method: Method::Post,
            url: self.endpoints.token_url(self.tenant),
            headers,
            body: form_encode(pairs),
        })
    }
}

/// A successful token answer (§3.3).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// Always `Bearer`.
    pub token_type: String,
    /// The granted scopes, space-separated (may be absent: then as requested).
    #[serde(default)]
    pub scope: Option<String>,
    /// Seconds until the access token expires (a number, or a string from older endpoints).
    #[serde(deserialize_with = "number_or_string")]
    pub expires_in: u64,
    /// The legacy extended lifetime, when present.
    #[serde(default, deserialize_with = "opt_number_or_string")]
    pub ext_expires_in: Option<u64>,
    /// The access token.
    pub access_token: AccessToken,
    /// A refresh token: present only when `offline_access` was asked for.
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    /// An ID token: present only when `openid` was asked for.
    #[serde(default)]
    pub id_token: Option<IdToken>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    Text(String),
}

fn to_u64<E: serde::de::Error>(v: NumberOrString) -> Result<u64, E> {
    match v {
        NumberOrString::Number(n) => Ok(n),
        NumberOrString::Text(s) => s.trim().parse().map_err(|_| E::custom("expected a number of seconds")),
    }
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    to_u64(NumberOrString::deserialize(d)?)
}

fn opt_number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Option::<NumberOrString>::deserialize(d)?.map(to_u64).transpose()
}

/// The JSON of a token error (§3.5).
#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    error_uri: Option<String>,
    #[serde(default)]
    suberror: Option<String>,
    #[serde(default)]
    claims: Option<String>,
}

/// Parses the token endpoint's answer: a [`TokenResponse`] on 2xx, an [`EntraError`] otherwise.
pub fn parse_token_response(status: u16, body: &str) -> Result<TokenResponse, Error> {
    if (200..300).contains(&status) {
        let t: TokenResponse = parse_json_object(body, "token answer")?;
        if !t.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Error::new(
                ErrorCode::MalformedResponse,
                format!("token_type is '{}', expected Bearer", t.token_type),
            ));
        }
        return Ok(t);
    }
    let e: TokenErrorBody = parse_json_object(body, &format!("token error (HTTP {status})"))?;
    if e.error.trim().is_empty() {
        return Err(Error::new(
            ErrorCode::MalformedResponse,
            format!("token error (HTTP {status}): the error field is empty"),
        ));
    }
    Err(Error::Entra(Box::new(
        EntraError {
            error: e.error,
            description: e.error_description,
            aadsts: None,
            error_codes: e.error_codes,
            suberror: e.suberror,
            trace_id: e.trace_id,
            correlation_id: e.correlation_id,
            timestamp: e.timestamp,
            error_uri: e.error_uri,
            claims: e.claims,
            http_status: Some(status),
        }
        .complete_from_description(),
    )))
}

#[cfg(test)]
mod tests;
