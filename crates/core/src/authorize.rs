//! The authorize request: the URL a browser is sent to, and what must be kept until it returns.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use crate::cloud::{Endpoints, Tenant};
use crate::encode::form_encode;
use crate::error::Error;
use crate::pkce::PkceChallenge;
use crate::random::random_token;
use crate::scope::{Scope, Scopes};
use crate::secret::{Nonce, PkceVerifier, State};
use crate::url::{ClientId, RedirectUri};

/// How the authorization response reaches the redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseMode {
    /// In the query string (the default for the code flow).
    #[default]
    Query,
    /// In the fragment, which never reaches a server.
    Fragment,
    /// As a form POST to the redirect URI.
    FormPost,
}

impl ResponseMode {
    /// The `response_mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
        }
    }

    /// Parses `query`, `fragment` or `form_post`.
    pub fn parse(s: &str) -> Option<Self> {
        [ResponseMode::Query, ResponseMode::Fragment, ResponseMode::FormPost].into_iter().find(|m| m.as_str() == s)
    }
}

/// The `prompt` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Always ask for credentials.
    Login,
    /// Never show UI; fail with `login_required`, `interaction_required` or `consent_required`.
    None,
    /// Always show the consent screen.
    Consent,
    /// Show the account picker.
    SelectAccount,
}

impl Prompt {
    /// The `prompt` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::Login => "login",
            Prompt::None => "none",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }

    /// Parses `login`, `none`, `consent` or `select_account`.
    pub fn parse(s: &str) -> Option<Self> {
        [Prompt::Login, Prompt::None, Prompt::Consent, Prompt::SelectAccount].into_iter().find(|p| p.as_str() == s)
    }
}

/// What the page must keep (in `sessionStorage`) until the redirect comes back.
#[derive(Debug)]
#[must_use = "the state, nonce and verifier are needed to finish signing in"]
pub struct PendingAuth {
    /// The `state` sent; the redirect must echo it.
    pub state: State,
    /// The `nonce` sent; the ID token must carry it.
    pub nonce: Nonce,
    /// The PKCE verifier; the code redemption must send it. `None` when the challenge came from
    /// elsewhere ([`AuthorizeRequest::with_challenge`]): whoever made it keeps the verifier.
    pub verifier: Option<PkceVerifier>,
    /// The redirect URI used; the redemption must repeat it exactly.
    pub redirect_uri: RedirectUri,
    /// The scopes asked for.
    pub scopes: Scopes,
    /// The response mode asked for.
    pub response_mode: ResponseMode,
}

/// Builds an authorize URL step by step.
///
/// `openid` and `offline_access` are added in front of the scopes unless left out on purpose
/// ([`Self::without_openid`], [`Self::without_offline_access`]): without `offline_access` Entra
/// issues no refresh token.
#[derive(Debug)]
pub struct AuthorizeRequest<'a> {
    endpoints: &'a Endpoints,
    tenant: &'a Tenant,
    client_id: &'a ClientId,
    redirect_uri: &'a RedirectUri,
    scopes: Scopes,
    openid: bool,
    offline_access: bool,
    response_mode: ResponseMode,
    prompt: Option<Prompt>,
    login_hint: Option<String>,
    domain_hint: Option<String>,
    claims: Option<String>,
    state: Option<State>,
    nonce: Option<Nonce>,
    verifier: Option<PkceVerifier>,
    challenge: Option<PkceChallenge>,
}

impl<'a> AuthorizeRequest<'a> {
    /// Starts a request for `client_id` signing in through `tenant`, returning to `redirect_uri`.
    pub fn new(
        endpoints: &'a Endpoints,
        tenant: &'a Tenant,
        client_id: &'a ClientId,
        redirect_uri: &'a RedirectUri,
    ) -> Self {
        Self {
            endpoints,
            tenant,
            client_id,
            redirect_uri,
            scopes: Scopes::new(),
            openid: true,
            offline_access: true,
            response_mode: ResponseMode::Query,
            prompt: None,
            login_hint: None,
            domain_hint: None,
            claims: None,
            state: None,
            nonce: None,
            verifier: None,
            challenge: None,
        }
    }

    /// The resource scopes to ask for (bare names such as `Mail.Send` mean Graph).
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Leaves `openid` out (then no ID token, and no nonce is sent).
    pub fn without_openid(mut self) -> Self {
        self.openid = false;
        self
    }

    /// Leaves `offline_access` out (then no refresh token).
    pub fn without_offline_access(mut self) -> Self {
        self.offline_access = false;
        self
    }

    /// Sets `response_mode`.
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = mode;
        self
    }

    /// Sets `prompt`.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets `login_hint` (pre-fills the username).
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// Sets `domain_hint` (skips home-realm discovery).
    pub fn domain_hint(mut self, hint: impl Into<String>) -> Self {
        self.domain_hint = Some(hint.into());
        self
    }

    /// Sets `claims` (a JSON claims request, such as a claims challenge answered).
    pub fn claims(mut self, claims_json: impl Into<String>) -> Self {
        self.claims = Some(claims_json.into());
        self
    }

    /// Uses this `state` instead of a random one.
    pub fn with_state(mut self, state: State) -> Self {
        self.state = Some(state);
        self
    }

    /// Uses this `nonce` instead of a random one.
    pub fn with_nonce(mut self, nonce: Nonce) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// Uses this PKCE verifier instead of a random one.
    pub fn with_pkce_verifier(mut self, verifier: PkceVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Uses this PKCE verifier with a challenge computed elsewhere (Web Crypto in a browser,
    /// where this crate may be built without SHA-256).
    pub fn with_pkce(mut self, verifier: PkceVerifier, challenge: PkceChallenge) -> Self {
        self.verifier = Some(verifier);
        self.challenge = Some(challenge);
        self
    }

    /// Sends this S256 challenge, whose verifier is kept elsewhere (by the token proxy, which
    /// redeems the code): the [`PendingAuth`] then holds no verifier.
    pub fn with_challenge(mut self, challenge: PkceChallenge) -> Self {
        self.verifier = None;
        self.challenge = Some(challenge);
        self
    }

    /// The scopes that will be sent: `openid offline_access` (unless left out), then the rest.
    pub fn effective_scopes(&self) -> Scopes {
        let mut s = self.scopes.clone();
        let mut at = 0;
        if self.openid {
            s.ensure_first(Scope::OPENID, at);
            at += 1;
        }
        if self.offline_access {
            s.ensure_first(Scope::OFFLINE_ACCESS, at);
        }
        s
    }

    /// Builds the URL and the [`PendingAuth`] to keep. Random values come from the CSPRNG.
    pub fn build(mut self) -> Result<(String, PendingAuth), Error> {
        let state = match self.state.take() {
            Some(s) => s,
            None => State::new(random_token(32)?),
        };
        let nonce = match self.nonce.take() {
            Some(n) => n,
            None => Nonce::new(random_token(32)?),
        };
        let (verifier, challenge) = match (self.verifier.take(), self.challenge.take()) {
            (verifier, Some(c)) => (verifier, c),
            (Some(v), None) => {
                let c = default_challenge(&v)?;
                (Some(v), c)
            }
            (None, None) => {
                let v = PkceVerifier::random()?;
                let c = default_challenge(&v)?;
                (Some(v), c)
            }
        };
        self.verifier = verifier;
        Ok(self.build_begun(state, nonce, challenge))
    }

    /// Builds the URL and the [`PendingAuth`] of a sign-in begun elsewhere, which made its
    /// `state`, `nonce` and `challenge` (graphgate-proxy does, and keeps the verifier): they are
    /// used instead of any given before, nothing random is made here, and nothing can fail.
    pub fn build_begun(self, state: State, nonce: Nonce, challenge: PkceChallenge) -> (String, PendingAuth) {
        let scopes = self.effective_scopes();
        let scope_text = scopes.space_separated();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", self.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("response_mode", self.response_mode.as_str()),
            ("scope", &scope_text),
            ("state", state.expose_secret()),
        ];
        if scopes.contains(Scope::OPENID) {
            pairs.push(("nonce", nonce.expose_secret()));
        }
        pairs.push(("code_challenge", challenge.as_str()));
        pairs.push(("code_challenge_method", challenge.method()));
        if let Some(p) = self.prompt {
            pairs.push(("prompt", p.as_str()));
        }
        if let Some(h) = &self.login_hint {
            pairs.push(("login_hint", h));
        }
        if let Some(h) = &self.domain_hint {
            pairs.push(("domain_hint", h));
        }
        if let Some(c) = &self.claims {
            pairs.push(("claims", c));
        }
        let url = [self.endpoints.authorize_url(self.tenant), form_encode(pairs)].join("?");
        let pending = PendingAuth {
            state,
            nonce,
            verifier: self.verifier,
            redirect_uri: self.redirect_uri.clone(),
            scopes,
            response_mode: self.response_mode,
        };
        (url, pending)
    }
}

#[cfg(feature = "sha2")]
fn default_challenge(verifier: &PkceVerifier) -> Result<PkceChallenge, Error> {
    Ok(PkceChallenge::s256(verifier))
}

#[cfg(not(feature = "sha2"))]
fn default_challenge(_: &PkceVerifier) -> Result<PkceChallenge, Error> {
    Err(Error::new(
        crate::error::ErrorCode::PkceInvalid,
        "this build has no SHA-256: supply the S256 challenge with AuthorizeRequest::with_pkce",
    ))
}

#[cfg(test)]
mod tests;
