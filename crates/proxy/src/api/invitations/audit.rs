//! The audit line of each invitation request (`target: "graphgate::audit"`): who asked (an API
//! key by its place, a signed-in account by tenant and object ID, or a client address), whom,
//! when (Unix seconds of the proxy's clock), and the outcome. Never a key, cookie or token.

use graphgate_core::ErrorCode;

use super::caller::Caller;
use crate::config::InvitePolicy;
use crate::error::ApiError;

/// What an invitation request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A stranger was invited.
    Invited,
    /// A pending guest was invited again (Graph was asked; with a mail, once a day at most).
    Reinvited,
    /// A pending guest, not mailed again within the day.
    PendingNotRemailed,
    /// Already a member: not invited.
    Member,
    /// A guest who has redeemed: not invited.
    GuestAccepted,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Reinvited => "reinvited",
            Self::PendingNotRemailed => "guest-pending-not-remailed",
            Self::Member => "member",
            Self::GuestAccepted => "guest-accepted",
        }
    }
}

/// The audit line's `outcome` for an error: `rate-limited`, `refused` (the policy said no),
/// `invalid` (bad input) or `failed` (Graph, the token endpoint or the store).
fn error_outcome(e: &ApiError) -> &'static str {
    let refusals = [
        ErrorCode::InviteForbidden,
        ErrorCode::NotSignedIn,
        ErrorCode::EmailDomainNotAllowed,
        ErrorCode::InvitationFieldNotAllowed,
    ];
    if e.error == ErrorCode::RateLimited.as_str() {
        "rate-limited"
    } else if refusals.iter().any(|c| c.as_str() == e.error) {
        "refused"
    } else if e.status().is_client_error() && ErrorCode::from_name(&e.error).is_some() {
        "invalid"
    } else {
        "failed"
    }
}

/// What the audit line knows of a request so far.
#[derive(Debug)]
pub(crate) struct Audit {
    policy: InvitePolicy,
    /// The caller once the policy let it in; else the client address.
    pub(crate) who: String,
    /// The invited address once it parsed.
    pub(crate) whom: Option<String>,
}

impl Audit {
    pub(crate) fn new(policy: InvitePolicy, client: String) -> Self {
        Self { policy, who: format!("client:{client}"), whom: None }
    }

    /// Names the caller the policy let in.
    pub(crate) fn caller(&mut self, caller: &Caller) {
        self.who = caller.to_string();
    }

    /// Writes the line.
    pub(crate) fn write(&self, result: &Result<Outcome, ApiError>, at: u64) {
        let policy = match self.policy {
            InvitePolicy::Admin => "admin",
            InvitePolicy::SelfService => "self-service",
            InvitePolicy::SignedIn => "signed-in",
        };
        let whom = self.whom.as_deref().unwrap_or("-");
        let (outcome, error) = match result {
            Ok(o) => (o.as_str(), ""),
            Err(e) => (error_outcome(e), e.error.as_str()),
        };
        tracing::info!(target: "graphgate::audit", policy, who = %self.who, whom, at, outcome, error, "invitation");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_into_outcomes() {
        let e = |c: ErrorCode| ApiError::new(c, "x");
        assert_eq!(error_outcome(&e(ErrorCode::RateLimited)), "rate-limited");
        assert_eq!(error_outcome(&e(ErrorCode::InviteForbidden)), "refused");
        assert_eq!(error_outcome(&e(ErrorCode::InvalidEmail)), "invalid");
        assert_eq!(error_outcome(&e(ErrorCode::UpstreamUnreachable)), "failed");
    }
}
