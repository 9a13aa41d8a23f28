//! Parsing what comes back to the redirect URI: a code and state, or an error.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use crate::authorize::ResponseMode;
use crate::encode::parse_pairs;
use crate::error::{EntraError, Error, ErrorCode};
use crate::secret::{AuthorizationCode, State};

/// The parameters that may appear at most once in an authorization response.
const PROTOCOL_PARAMS: [&str; 8] =
    ["code", "state", "error", "error_description", "error_uri", "session_state", "error_subcode", "id_token"];

/// A successful authorization response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectSuccess {
    /// The authorization code.
    pub code: AuthorizationCode,
    /// The echoed `state`.
    pub state: State,
    /// `session_state`, when Entra sent one.
    pub session_state: Option<String>,
}

/// What came back to the redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectResponse {
    /// A code was issued.
    Success(RedirectSuccess),
    /// Entra answered with an error (the state is echoed on errors too).
    Error {
        /// The error, with its AADSTS number and IDs taken from the description.
        error: Box<EntraError>,
        /// The echoed `state`, if any.
        state: Option<State>,
    },
}

impl RedirectResponse {
    /// Checks the echoed state against the one kept when sign-in began, in constant time.
    ///
    /// Returns the code on success. An error redirect becomes [`Error::Entra`] — after its
    /// state, when present, has been checked too.
    pub fn verify(self, expected: &State) -> Result<RedirectSuccess, Error> {
        let mismatch = || {
            Error::new(ErrorCode::StateMismatch, "the state returned to the redirect URI is not the one this page sent")
        };
        match self {
            RedirectResponse::Success(s) if &s.state == expected => Ok(s),
            RedirectResponse::Success(_) => Err(mismatch()),
            RedirectResponse::Error { state: Some(s), .. } if &s != expected => Err(mismatch()),
            RedirectResponse::Error { error, .. } => Err(Error::Entra(error)),
        }
    }
}

/// The parameter string of a redirect URL: the query for `Query`, the fragment for `Fragment`,
/// the whole input (a POST body) for `FormPost`. With `None`, whichever of query and fragment
/// carries `code` or `error` (the query first).
pub fn redirect_params(url: &str, mode: Option<ResponseMode>) -> &str {
    let (before_hash, fragment) = url.split_once('#').unwrap_or((url, ""));
    let query = before_hash.split_once('?').map(|(_, q)| q).unwrap_or("");
    let carries = |p: &str| p.split('&').any(|kv| kv.starts_with("code=") || kv.starts_with("error="));
    match mode {
        Some(ResponseMode::Query) => query,
        Some(ResponseMode::Fragment) => fragment,
        Some(ResponseMode::FormPost) => url,
        None if carries(query) => query,
        None if carries(fragment) => fragment,
        None => query,
    }
}

/// Parses an authorization response's parameters (a query string, fragment or form body).
///
/// Typed errors: `repeated_parameter` when a protocol parameter appears twice, `missing_state`,
/// `missing_code`, `not_a_redirect` when neither a code nor an error is present, and
/// `invalid_url` when the parameters are not valid percent-encoded UTF-8. Never panics.
pub fn parse_redirect(params: &str) -> Result<RedirectResponse, Error> {
    let pairs = parse_pairs(params.trim_start_matches(['?', '#'])).ok_or_else(|| {
        Error::new(ErrorCode::InvalidUrl, "the redirect's parameters are not valid percent-encoded UTF-8")
    })?;
    let mut found: [Option<String>; PROTOCOL_PARAMS.len()] = Default::default();
    for (name, value) in pairs {
        if let Some(i) = PROTOCOL_PARAMS.iter().position(|p| *p == name) {
            if found[i].is_some() {
                return Err(Error::new(
                    ErrorCode::RepeatedParameter,
                    ["the redirect carries `", &name, "` more than once"].concat(),
                ));
            }
            found[i] = Some(value);
        }
    }
    let [code, state, error, description, error_uri, session_state, _subcode, _id_token] = found;
    let state = state.filter(|s| !s.is_empty()).map(State::new);
    if let Some(error) = error {
        let entra = EntraError { error, description, error_uri, ..EntraError::default() }.complete_from_description();
        return Ok(RedirectResponse::Error { error: Box::new(entra), state });
    }
    match (code.filter(|c| !c.is_empty()), state) {
        (Some(code), Some(state)) => {
            Ok(RedirectResponse::Success(RedirectSuccess { code: AuthorizationCode::new(code), state, session_state }))
        }
        (Some(_), None) => Err(Error::new(ErrorCode::MissingState, "the redirect carries a code but no state")),
        (None, Some(_)) => Err(Error::new(ErrorCode::MissingCode, "the redirect carries a state but no code")),
        (None, None) => Err(Error::new(ErrorCode::NotARedirect, "the URL carries neither a code nor an error")),
    }
}

#[cfg(test)]
mod tests;
