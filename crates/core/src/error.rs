//! graphgate's error type, the Entra error it wraps, and the explanation drawn from the catalogue.
//!
//! Invariant: no error built here carries a secret. Details name fields, lengths and positions,
//! never values of codes, tokens or secrets.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

use crate::catalogue::{self, Code, Entry};
use crate::graph::GraphError;

macro_rules! error_codes {
    ($($(#[$meta:meta])* $variant:ident = $name:literal,)*) => {
        /// graphgate's own error codes; each has a row in the [`catalogue`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$meta])* $variant,)*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The snake_case code, as in JSON errors and the catalogue.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The code named `name`, if there is one.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// The redirect's `state` differs from the one stored when sign-in began.
    StateMismatch = "state_mismatch",
    /// The redirect carries a code but no `state`.
    MissingState = "missing_state",
    /// The redirect carries a `state` but no code.
    MissingCode = "missing_code",
    /// The proxy keeps no sign-in of this browser under this `state` (no sign-in cookie, another
    /// browser's, expired, or redeemed already).
    SignInUnknown = "sign_in_unknown",
    /// A protocol parameter appears more than once.
    RepeatedParameter = "repeated_parameter",
    /// The URL carries neither a code nor an error.
    NotARedirect = "not_a_redirect",
    /// No sign-in was started in this tab.
    NoPendingRequest = "no_pending_request",
    /// A redirect URI is malformed or not allowed.
    InvalidRedirectUri = "invalid_redirect_uri",
    /// An application ID is not a GUID.
    InvalidClientId = "invalid_client_id",
    /// A tenant is not common, organizations, consumers, a GUID or a domain.
    InvalidTenant = "invalid_tenant",
    /// A scope value is malformed or scopes are combined in a way Entra refuses.
    InvalidScope = "invalid_scope",
    /// A scope asked of the proxy is not among its allowed scopes.
    ScopeNotAllowed = "scope_not_allowed",
    /// An administration route was called without one of the proxy's API keys.
    AdminKeyRequired = "admin_key_required",
    /// A query string lacks a parameter or carries one that is not valid.
    InvalidQuery = "invalid_query",
    /// An email address is malformed or uses a forbidden character.
    InvalidEmail = "invalid_email",
    /// An invitation request is invalid.
    InvalidInvitation = "invalid_invitation",
    /// A mail message is invalid.
    InvalidMail = "invalid_mail",
    /// A URL is malformed.
    InvalidUrl = "invalid_url",
    /// An upstream answer is not the JSON expected.
    MalformedResponse = "malformed_response",
    /// An ID token cannot be decoded.
    MalformedIdToken = "malformed_id_token",
    /// An ID token failed signature, issuer, audience or expiry checks.
    IdTokenInvalid = "id_token_invalid",
    /// An ID token's nonce differs from the request's.
    NonceMismatch = "nonce_mismatch",
    /// A PKCE code verifier is malformed.
    PkceInvalid = "pkce_invalid",
    /// No session cookie, or an unknown one.
    NotSignedIn = "not_signed_in",
    /// The session passed its absolute lifetime or idle timeout.
    SessionExpired = "session_expired",
    /// The stored grant no longer works; the user must sign in again.
    InteractionRequired = "interaction_required",
    /// A state-changing call lacks the custom request header.
    CsrfHeaderMissing = "csrf_header_missing",
    /// The request's `Origin` is not allowed.
    OriginNotAllowed = "origin_not_allowed",
    /// The request body is not JSON.
    UnsupportedContentType = "unsupported_content_type",
    /// The JSON body does not have the expected shape.
    InvalidJsonBody = "invalid_json_body",
    /// A claims request (a claims challenge answered) is not a JSON object.
    InvalidClaims = "invalid_claims",
    /// The request body is too large.
    BodyTooLarge = "body_too_large",
    /// No such route.
    NotFound = "not_found",
    /// The route exists but not with this method.
    MethodNotAllowed = "method_not_allowed",
    /// The caller may not invite under the configured policy.
    InviteForbidden = "invite_forbidden",
    /// The email's domain is not allowed for self-service invitations.
    EmailDomainNotAllowed = "email_domain_not_allowed",
    /// Too many requests from this client or for this address.
    RateLimited = "rate_limited",
    /// The proxy holds as many connections as it allows (in all, or from this address).
    TooManyConnections = "too_many_connections",
    /// An anonymous (self-service) invitation set a field only the configuration may set.
    InvitationFieldNotAllowed = "invitation_field_not_allowed",
    /// The login or Graph host could not be reached.
    UpstreamUnreachable = "upstream_unreachable",
    /// The login or Graph host did not answer in time.
    UpstreamTimeout = "upstream_timeout",
    /// The session store is not reachable.
    StoreUnavailable = "store_unavailable",
    /// Another proxy instance held the session's refresh for longer than the proxy waits.
    SessionBusy = "session_busy",
    /// The configuration is invalid.
    ConfigInvalid = "config_invalid",
    /// The app-only token carries no roles: admin consent is missing.
    AdminConsentMissing = "admin_consent_missing",
    /// An unexpected internal failure.
    InternalError = "internal_error",
    /// The browser blocked the sign-in popup.
    PopupBlocked = "popup_blocked",
    /// The user closed the sign-in popup.
    PopupClosed = "popup_closed",
    /// A network request failed in the browser.
    NetworkError = "network_error",
    /// `sessionStorage` is not available.
    StorageUnavailable = "storage_unavailable",
    /// The browser module was called where there is no page (Node, server-side rendering).
    BrowserRequired = "browser_required",
    /// An error the catalogue does not know.
    UnknownError = "unknown_error",
}

impl ErrorCode {
    /// This code's catalogue row.
    pub fn entry(self) -> &'static Entry {
        catalogue::lookup(Code::Graphgate(self.as_str()))
            .unwrap_or_else(|| unreachable!("every ErrorCode has a catalogue row (tested)"))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error answered by Entra ID: from the token endpoint (§3.5) or on an error redirect (§2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraError {
    /// The OAuth `error` string, such as `invalid_grant`.
    pub error: String,
    /// `error_description`, usually starting `AADSTSnnnnn:`.
    pub description: Option<String>,
    /// The AADSTS number, from `error_codes` or else from the description.
    pub aadsts: Option<u32>,
    /// `error_codes`.
    pub error_codes: Vec<u32>,
    /// `suberror`, such as `consent_required`.
    pub suberror: Option<String>,
    /// `trace_id`, or the `Trace ID:` line of the description.
    pub trace_id: Option<String>,
    /// `correlation_id`, or the `Correlation ID:` line of the description.
    pub correlation_id: Option<String>,
    /// `timestamp`, or the `Timestamp:` line of the description.
    pub timestamp: Option<String>,
    /// `error_uri`.
    pub error_uri: Option<String>,
    /// `claims`: a claims challenge to send back on the next authorize request.
    pub claims: Option<String>,
    /// The HTTP status of the answer, when it came over HTTP.
    pub http_status: Option<u16>,
}

impl EntraError {
    /// Fills the AADSTS number and the trace, correlation and timestamp fields from the
    /// description where the structured fields left them empty.
    pub(crate) fn complete_from_description(mut self) -> Self {
        if self.aadsts.is_none() {
            self.aadsts = self.error_codes.first().copied().or_else(|| self.description.as_deref().and_then(aadsts_in));
        }
        if let Some(desc) = self.description.clone() {
            let line = |label: &str| {
                desc.lines()
                    .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
                    .filter(|v| !v.is_empty())
            };
            self.trace_id = self.trace_id.take().or_else(|| line("Trace ID:"));
            self.correlation_id = self.correlation_id.take().or_else(|| line("Correlation ID:"));
            self.timestamp = self.timestamp.take().or_else(|| line("Timestamp:"));
        }
        self
    }

    /// The first line of the description without its `AADSTSnnnnn:` prefix.
    pub fn summary(&self) -> Option<&str> {
        let first = self.description.as_deref()?.lines().next()?.trim();
        let rest = first
            .strip_prefix("AADSTS")
            .map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start_matches(':').trim())
            .unwrap_or(first);
        Some(rest)
    }
}

/// Entra's OAuth `error` values meaning the user must be asked on the sign-in page.
const ENTRA_NEEDS_INTERACTION: [&str; 3] = ["login_required", "interaction_required", "consent_required"];

/// Whether an error code means the page must sign the user in interactively (by redirect or
/// popup): Entra's `login_required`, `interaction_required` and `consent_required` (what a silent
/// sign-in answers when it cannot go on), and graphgate's `not_signed_in`. It applies to an OAuth
/// `error` and to graphgate's `code` alike, so a caller may pass either field of an error.
pub fn needs_interaction(code: &str) -> bool {
    ENTRA_NEEDS_INTERACTION.contains(&code) || code == ErrorCode::NotSignedIn.as_str()
}

/// Whether a refresh that failed with the OAuth `error` means the stored grant is dead for good
/// (revoked, lapsed, or now asking for MFA or consent), so the user must sign in again:
/// `invalid_grant` or `interaction_required`. Other errors may pass.
pub fn grant_is_dead(error: &str) -> bool {
    matches!(error, "invalid_grant" | "interaction_required")
}

impl EntraError {
    /// Whether the page must sign the user in interactively (`login_required`,
    /// `interaction_required`, `consent_required`).
    pub fn needs_interaction(&self) -> bool {
        ENTRA_NEEDS_INTERACTION.contains(&self.error.as_str())
    }

    /// Whether, as the answer to a refresh, this error means the stored grant is dead; see [`grant_is_dead`].
    pub fn grant_is_dead(&self) -> bool {
        grant_is_dead(&self.error)
    }
}

/// The first `AADSTS<digits>` number in `text`.
pub fn aadsts_in(text: &str) -> Option<u32> {
    // A byte search rather than `str::find`, whose substring searcher the browser module would carry.
    let start = text.as_bytes().windows(6).position(|w| w == b"AADSTS")? + "AADSTS".len();
    let digits: String = text.get(start..)?.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.aadsts, self.summary()) {
            (Some(n), Some(s)) => write!(f, "{} (AADSTS{n}): {s}", self.error),
            (Some(n), None) => write!(f, "{} (AADSTS{n})", self.error),
            (None, Some(s)) => write!(f, "{}: {s}", self.error),
            (None, None) => f.write_str(&self.error),
        }
    }
}

/// Everything that can go wrong in graphgate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Entra ID answered with an error.
    #[error("{0}")]
    Entra(Box<EntraError>),
    /// Microsoft Graph answered with an error.
    #[error("{0}")]
    Graph(Box<GraphError>),
    /// graphgate found a problem itself.
    #[error("{code}: {detail}")]
    Graphgate {
        /// Which problem.
        code: ErrorCode,
        /// What exactly; never contains a secret.
        detail: String,
    },
}

impl Error {
    /// One of graphgate's own errors.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Error::Graphgate { code, detail: detail.into() }
    }

    /// graphgate's code for this error: its own code, `unknown_error` for an upstream error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Graphgate { code, .. } => *code,
            Error::Entra(_) | Error::Graph(_) => ErrorCode::UnknownError,
        }
    }

    /// The detail text (for upstream errors, their description or message).
    pub fn detail(&self) -> &str {
        match self {
            Error::Graphgate { detail, .. } => detail,
            Error::Entra(e) => e.description.as_deref().unwrap_or(&e.error),
            Error::Graph(e) => &e.message,
        }
    }

    /// Whether the page must sign the user in interactively: Entra asked for it (see
    /// [`EntraError::needs_interaction`]), or graphgate found no usable session or grant
    /// (`not_signed_in`, `interaction_required`).
    pub fn needs_interaction(&self) -> bool {
        match self {
            Error::Entra(e) => e.needs_interaction(),
            Error::Graphgate { code, .. } => matches!(code, ErrorCode::NotSignedIn | ErrorCode::InteractionRequired),
            Error::Graph(_) => false,
        }
    }

    /// Whether, as the answer to a refresh, this error means the stored grant is dead: Entra
    /// refused it with `invalid_grant` or `interaction_required`.
    pub fn grant_is_dead(&self) -> bool {
        matches!(self, Error::Entra(e) if e.grant_is_dead())
    }

    /// The catalogue's explanation of this error.
    pub fn explain(&self) -> Explanation {
        match self {
            Error::Graphgate { code, detail } => {
                Explanation::from_entry(code.entry(), code.as_str().to_owned(), detail.clone())
            }
            Error::Entra(e) => Explanation::for_entra(e),
            Error::Graph(e) => Explanation::for_graph(e),
        }
    }
}

/// An error explained for a person: what the catalogue knows about it, plus the upstream facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The stable slug (`unknown-error` for codes the catalogue does not know).
    pub slug: &'static str,
    /// The code as people search for it: `AADSTS50020`, `MailboxNotEnabledForRESTAPI`, `state_mismatch`.
    pub code: String,
    /// The AADSTS number, when there is one.
    pub aadsts: Option<u32>,
    /// The message: the upstream text when there is one, else the catalogue's.
    pub message: String,
    /// The HTTP status graphgate answers with.
    pub status: u16,
    /// Whether trying again later may succeed.
    pub retryable: bool,
    /// Why it happened, in English.
    pub cause: &'static str,
    /// Why it happened, in Chinese.
    pub cause_zh: &'static str,
    /// What to do, in English.
    pub hint: String,
    /// What to do, in Chinese.
    pub hint_zh: String,
    /// The upstream trace or request ID.
    pub trace_id: Option<String>,
    /// The upstream correlation (or client request) ID.
    pub correlation_id: Option<String>,
    /// Microsoft's lookup page for an AADSTS code.
    pub lookup_url: Option<String>,
}

/// Microsoft's public lookup page for AADSTS code `n`.
pub fn lookup_url(n: u32) -> String {
    format!("https://login.microsoftonline.com/error?code={n}")
}

impl Explanation {
    fn from_entry(entry: &'static Entry, code: String, message: String) -> Self {
        Self {
            slug: entry.slug,
            code,
            aadsts: None,
            message,
            status: entry.status,
            retryable: entry.retryable,
            cause: entry.cause.en,
            cause_zh: entry.cause.zh,
            hint: entry.fix.en.to_owned(),
            hint_zh: entry.fix.zh.to_owned(),
            trace_id: None,
            correlation_id: None,
            lookup_url: None,
        }
    }

    fn for_entra(e: &EntraError) -> Self {
        let known = e.aadsts.and_then(|n| catalogue::lookup(Code::Aadsts(n)));
        let message = e.description.as_deref().and_then(|d| d.lines().next()).unwrap_or(&e.error).trim().to_owned();
        let code = e.aadsts.map(|n| format!("AADSTS{n}")).unwrap_or_else(|| e.error.clone());
        let mut x = match known {
            Some(entry) => Self::from_entry(entry, code, message),
            None => Self::unknown(code, message, e.aadsts),
        };
        if known.is_none() && e.aadsts.is_none() {
            // No number at all: fall back on the OAuth error for the status class.
            if let Some(code) = ErrorCode::from_name(&e.error) {
                x.status = code.entry().status;
            }
        }
        x.aadsts = e.aadsts;
        x.trace_id = e.trace_id.clone();
        x.correlation_id = e.correlation_id.clone();
        x.lookup_url = e.aadsts.map(lookup_url);
        x
    }

    fn for_graph(e: &GraphError) -> Self {
        let known = catalogue::lookup(Code::Graph(&e.code))
            .or_else(|| e.inner_code.as_deref().and_then(|c| catalogue::lookup(Code::Graph(c))));
        let mut x = match known {
            Some(entry) => Self::from_entry(entry, e.code.clone(), e.message.clone()),
            None => {
                let mut x = Self::unknown(e.code.clone(), e.message.clone(), None);
                x.status = e.status;
                x.retryable = matches!(e.status, 429 | 500 | 502 | 503 | 504);
                x
            }
        };
        x.trace_id = e.request_id.clone();
        x.correlation_id = e.client_request_id.clone();
        x
    }

    fn unknown(code: String, message: String, aadsts: Option<u32>) -> Self {
        let mut x = Self::from_entry(ErrorCode::UnknownError.entry(), code, message);
        if let Some(n) = aadsts {
            let url = lookup_url(n);
            x.hint = format!("{} {url}", x.hint);
            x.hint_zh = format!("{} {url}", x.hint_zh);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_catalogue_row_and_back() {
        for code in ErrorCode::ALL {
            assert_eq!(code.entry().code, Code::Graphgate(code.as_str()));
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(*code));
        }
        for entry in catalogue::ENTRIES {
            if let Code::Graphgate(name) = entry.code {
                assert!(ErrorCode::from_name(name).is_some(), "catalogue row {name} has no ErrorCode");
            }
        }
    }

    #[test]
    fn finds_the_aadsts_number_in_text() {
        assert_eq!(aadsts_in("AADSTS50020: User account ..."), Some(50020));
        assert_eq!(aadsts_in("x AADSTS7000215: y"), Some(7000215));
        assert_eq!(aadsts_in("AADSTS: none"), None);
        assert_eq!(aadsts_in("nothing"), None);
    }

    #[test]
    fn explains_a_known_entra_error() {
        let e = EntraError {
            error: "access_denied".into(),
            description: Some("AADSTS50020: User account from identity provider does not exist in tenant.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-01-01 00:00:00Z".into()),
            ..Default::default()
        }
        .complete_from_description();
        assert_eq!(e.aadsts, Some(50020));
        assert_eq!(e.trace_id.as_deref(), Some("t-1"));
        assert_eq!(e.correlation_id.as_deref(), Some("c-1"));
        assert_eq!(e.timestamp.as_deref(), Some("2026-01-01 00:00:00Z"));
        let x = Error::Entra(Box::new(e)).explain();
        assert_eq!(x.code, "AADSTS50020");
        assert_eq!(x.slug, catalogue::lookup(Code::Aadsts(50020)).expect("row").slug);
        assert!(x.hint.contains("/common/"), "{}", x.hint);
        assert!(!x.hint_zh.is_empty());
        assert_eq!(x.lookup_url.as_deref(), Some("https://login.microsoftonline.com/error?code=50020"));
    }

    #[test]
    fn an_unknown_code_keeps_the_raw_text_and_links_the_lookup_page() {
        let e = EntraError {
            error: "invalid_request".into(),
            description: Some("AADSTS99999999: Something new.".into()),
            ..Default::default()
        }
        .complete_from_description();
        let x = Error::Entra(Box::new(e)).explain();
        assert_eq!(x.slug, "unknown-error");
        assert_eq!(x.code, "AADSTS99999999");
        assert_eq!(x.message, "AADSTS99999999: Something new.");
        assert!(x.hint.ends_with("https://login.microsoftonline.com/error?code=99999999"), "{}", x.hint);
        assert!(x.hint_zh.ends_with("https://login.microsoftonline.com/error?code=99999999"));
    }

    #[test]
    fn interaction_and_dead_grants_are_told_apart() {
        let entra = |error: &str| Error::Entra(Box::new(EntraError { error: error.into(), ..Default::default() }));
        for code in ["login_required", "interaction_required", "consent_required"] {
            assert!(needs_interaction(code) && entra(code).needs_interaction(), "{code}");
        }
        assert!(needs_interaction("not_signed_in"));
        assert!(Error::new(ErrorCode::NotSignedIn, "no cookie").needs_interaction());
        assert!(Error::new(ErrorCode::InteractionRequired, "grant dead").needs_interaction());
        for code in ["invalid_grant", "invalid_client", "access_denied", "Login_Required", "", "session_expired"] {
            assert!(!needs_interaction(code) && !entra(code).needs_interaction(), "{code}");
        }
        assert!(!Error::new(ErrorCode::StateMismatch, "x").needs_interaction());
        assert!(!GraphError::parse(401, "").into_error().needs_interaction());

        for error in ["invalid_grant", "interaction_required"] {
            assert!(grant_is_dead(error) && entra(error).grant_is_dead(), "{error}");
        }
        for error in ["login_required", "consent_required", "invalid_client", "temporarily_unavailable", ""] {
            assert!(!grant_is_dead(error) && !entra(error).grant_is_dead(), "{error}");
        }
        assert!(!Error::new(ErrorCode::InteractionRequired, "x").grant_is_dead());
        assert!(!GraphError::parse(400, "").into_error().grant_is_dead());
    }

    #[test]
    fn graphgate_errors_explain_themselves() {
        let x = Error::new(ErrorCode::StateMismatch, "the state differs").explain();
        assert_eq!(x.code, "state_mismatch");
        assert_eq!(x.status, 400);
        assert_eq!(x.message, "the state differs");
        assert!(!x.hint.is_empty() && !x.hint_zh.is_empty());
    }
}
