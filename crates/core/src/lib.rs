//! graphgate-core: the protocol facts of Microsoft Entra ID (v2.0) and Microsoft Graph, as pure code.
//!
//! This crate does no I/O and needs no async runtime. It builds requests as data
//! ([`HttpRequest`]: method, URL, headers, body) and parses answers from strings, so the browser
//! module, the proxy and the emulator share one implementation of every rule:
//!
//! - [`Cloud`], [`Tenant`] and [`Endpoints`]: which host and path each cloud and tenant uses;
//! - [`AuthorizeRequest`]: the authorize URL with PKCE (S256), `state` and `nonce`;
//! - [`parse_redirect`]: what came back to the redirect URI;
//! - [`TokenRequest`] and [`parse_token_response`]: the token endpoint's messages;
//! - [`IdTokenClaims`]: who signed in (decoded, not verified — verification is the proxy's job);
//! - [`GraphError`] and [`parse_retry_after`]: Graph's errors and throttling;
//! - [`RetryPolicy`], [`batch`] and [`is_fresh`]: when to resend a Graph request, how to split a
//!   `$batch`, when a cached token is stale;
//! - [`parse_claims_challenge`] and [`merge_client_capabilities`]: claims challenges (CAE) and `cp1`;
//! - [`catalogue`]: every error code explained, in English and Chinese;
//! - [`invitation`] and [`mail`]: validated models for the Graph calls graphgate makes.
//!
//! Secrets (client secrets, codes, tokens, verifiers, session IDs) are newtypes from [`secret`]
//! whose `Debug` output is redacted and whose value is reachable only through `expose_secret()`.
//!
//! ```
//! use graphgate_core::{AuthorizeRequest, ClientId, Endpoints, RedirectUri, Scopes, Tenant};
//!
//! let endpoints = Endpoints::default(); // global cloud; `with_login_base` points it elsewhere
//! let tenant = Tenant::Common; // work, school and personal accounts
//! let client = ClientId::parse("6731de76-14a6-49ae-97bc-6eba6914391e")?;
//! let redirect = RedirectUri::parse("http://localhost:5173")?;
//! let (url, pending) = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
//!     .scopes(Scopes::parse_all(["Mail.Send"])?) // `openid offline_access` are added
//!     .build()?;
//! assert!(url.contains("scope=openid%20offline_access%20Mail.Send"));
//! // Send the browser to `url`; keep `pending` (state, nonce, PKCE verifier) until it comes back.
//! # drop(pending);
//! # Ok::<(), graphgate_core::Error>(())
//! ```
//!
//! Without its `std` feature (on by default) the crate is `no_std` + `alloc`, which is how the
//! browser module builds it: the standard library's runtime costs bytes every page downloads.

#![no_std]

extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

/// What every module uses from `alloc` (the parts of the standard prelude `no_std` lacks).
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}

#[cfg(feature = "assertion")]
pub mod assertion;
mod authorize;
pub mod batch;
pub mod catalogue;
mod claims;
mod cloud;
mod email;
mod encode;
mod error;
mod freshness;
mod graph;
mod id_token;
pub mod invitation;
pub mod mail;
mod newtype;
mod pkce;
mod random;
mod redirect;
mod retry;
mod scope;
pub mod secret;
mod token;
mod url;

pub use authorize::{AuthorizeRequest, PendingAuth, Prompt, ResponseMode};
pub use claims::{CP1, merge_client_capabilities, parse_claims_challenge};
pub use cloud::{CONSUMERS_TENANT_ID, Cloud, Endpoints, Tenant};
pub use email::{Email, FORBIDDEN_EMAIL_CHARS};
pub use encode::{form_encode, percent_decode_param, percent_encode};
pub use error::{EntraError, Error, ErrorCode, Explanation, aadsts_in, grant_is_dead, lookup_url, needs_interaction};
pub use freshness::{REFRESH_MARGIN_SECS, is_fresh, refresh_margin};
pub use graph::{GraphError, GraphErrorBody};
pub use id_token::{Account, AccountType, IdTokenClaims, decode_jwt_payload};
pub use pkce::PkceChallenge;
pub use random::random_token;
pub use redirect::{RedirectResponse, RedirectSuccess, parse_redirect, redirect_params};
pub use retry::{
    Attempt, RetryDecision, RetryPolicy, is_resendable, longest_retry_after, parse_retry_after, retry_after_header,
};
pub use scope::{DEFAULT_SCOPES, GRAPH_RESOURCE, Scope, Scopes};
pub use secret::{
    AccessToken, AuthorizationCode, ClientAssertion, ClientSecret, IdToken, Nonce, PkceVerifier, PrivateKeyPem,
    RefreshToken, SessionId, State,
};
pub use token::{
    ClientAuth, Grant, HttpRequest, JWT_BEARER_ASSERTION_TYPE, Method, TokenRequest, TokenResponse,
    parse_token_response,
};
pub use url::{BaseUrl, ClientId, HttpUrl, RedirectUri};
