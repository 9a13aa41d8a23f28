//! Who calls the invitation endpoints, checked against the configured policy: an API key of the
//! site's backend (`admin`), anyone for the allowed domains (`self-service`), or a signed-in
//! member of the app's tenant or an allow-listed object ID (`signed-in`); and each caller's rate
//! limits.

use std::fmt;

use axum::http::HeaderMap;
use graphgate_core::{Account, AccountType, Email, ErrorCode, Tenant};

use crate::api_keys::KeyRefused;
use crate::client_addr::ClientAddr;
use crate::config::InvitePolicy;
use crate::error::ApiError;
use crate::state::AppState;

/// A caller the policy let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    /// The site's backend, by its API key's label (`sha256:` and 8 hex digits; never the key).
    Admin { key: String },
    /// A signed-in account: its tenant ID and object ID.
    Account { tenant: String, object: String },
    /// Anyone (`self-service`), by client address (`server.trusted_proxies` decide which).
    Anonymous { client: ClientAddr },
}

impl Caller {
    /// Whether the caller may see the full answer (the redemption link and the user's ID).
    pub(crate) fn is_admin(&self) -> bool {
        matches!(self, Self::Admin { .. })
    }

    /// The key its rate limits count under.
    fn limit_key(&self) -> String {
        match self {
            Self::Admin { key } => format!("key:{key}"),
            Self::Account { tenant, object } => format!("account:{tenant}/{object}"),
            Self::Anonymous { client } => format!("ip:{}", client.key()),
        }
    }
}

/// How the audit line names the caller: `api-key:sha256:…` (the key's label, as the admin API's
/// audit lines name it), `account:{tid}/{oid}` or `client:{address}`.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin { key } => write!(f, "api-key:{key}"),
            Self::Account { tenant, object } => write!(f, "account:{tenant}/{object}"),
            Self::Anonymous { client } => write!(f, "client:{client}"),
        }
    }
}

/// Checks the caller against the invitation policy; `email` is the address asked about (the
/// self-service domains apply to it).
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddr,
    email: &Email,
) -> Result<Caller, ApiError> {
    let cfg = &state.settings.invitations;
    match cfg.policy {
        InvitePolicy::Admin => match state.api_keys.presented_in(headers) {
            Ok(key) => Ok(Caller::Admin { key }),
            Err(KeyRefused::Missing) => Err(ApiError::new(
                ErrorCode::InviteForbidden,
                "invitations need the site's API key (Authorization: Bearer …)",
            )),
            Err(KeyRefused::Unknown) => {
                Err(ApiError::new(ErrorCode::InviteForbidden, "the API key is not one of this proxy's"))
            }
        },
        InvitePolicy::SelfService => {
            let domain = email.domain();
            if !cfg.allowed_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
                return Err(ApiError::new(
                    ErrorCode::EmailDomainNotAllowed,
                    format!("{domain} is not among the domains open to self-service invitations"),
                ));
            }
            Ok(Caller::Anonymous { client })
        }
        InvitePolicy::SignedIn => {
            let key = state
                .settings
                .cookie
                .session_key(headers)
                .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "sign in to invite"))?;
            let session = state
                .sessions
                .load(&key, state.clock.now())
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "the session is unknown or expired"))?;
            let account = &session.account;
            let home = app_tenant_id(state).await?;
            if let Err(why) = may_invite(account, &home, &cfg.allowed_object_ids) {
                return Err(ApiError::new(ErrorCode::InviteForbidden, why));
            }
            Ok(Caller::Account { tenant: account.tenant_id.clone(), object: account.object_id.clone() })
        }
    }
}

/// The ID of `entra.app_tenant`: as configured when it is a tenant ID, else the `tid` of the
/// app-only token (issued in that tenant).
async fn app_tenant_id(state: &AppState) -> Result<String, ApiError> {
    match state.settings.entra.app_tenant.as_ref() {
        Some(Tenant::Id(id)) => Ok(id.clone()),
        _ => super::app_token(state).await?.tenant_id().map(str::to_owned).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ConfigInvalid,
                "the tenant ID of entra.app_tenant is not known; give entra.app_tenant as the tenant's ID (a GUID)",
            )
        }),
    }
}

/// Whether `account` may invite under `signed-in`: a member of the tenant `home` (its `tid` is
/// `home`, and its ID token carried no `idp` naming a home elsewhere — what a guest's and a
/// personal account's tokens carry), or an object ID in `allowed`.
///
/// The member/guest signal is the ID token's `idp` claim, kept in the session as the account's
/// type: it was verified with the token at sign-in and needs no Graph call (and no
/// `User.Read.All`) per invitation. A guest's `tid` is the inviting tenant's too, so `tid`
/// alone would not tell them apart.
pub(crate) fn may_invite(account: &Account, home: &str, allowed: &[String]) -> Result<(), &'static str> {
    let in_list = !account.tenant_id.is_empty() && allowed.iter().any(|id| id.eq_ignore_ascii_case(&account.object_id));
    if in_list {
        return Ok(());
    }
    if !account.tenant_id.eq_ignore_ascii_case(home) {
        return Err("only members of the app's tenant (or the object IDs the configuration lists) may invite; \
                    this account belongs to another tenant");
    }
    match account.account_type {
        AccountType::Member => Ok(()),
        AccountType::Guest | AccountType::Personal => Err(
            "only members of the app's tenant (or the object IDs the configuration lists) may invite; this account is \
             a guest there",
        ),
    }
}

/// Counts a hit of `caller` on its limit: `POST` counts against the policy's limit (self-service:
/// per client address and per invited address), `/status` against the status limit.
pub(crate) fn limit(state: &AppState, caller: &Caller, email: &Email, status: bool) -> Result<(), ApiError> {
    let cfg = &state.settings.invitations;
    let rate = &state.rate.per_minute;
    let now = state.clock.now();
    let refused = |limit: u32, what: &str| {
        Err(ApiError::new(ErrorCode::RateLimited, format!("at most {limit} {what} a minute; try again in a minute")))
    };
    if status {
        let limit = cfg.status_rate_limit_per_minute;
        if !rate.allow(&format!("status:{}", caller.limit_key()), limit, now) {
            return refused(limit, "status look-ups per caller");
        }
        return Ok(());
    }
    match caller {
        Caller::Admin { .. } => {
            let limit = cfg.admin_rate_limit_per_minute;
            if !rate.allow(&caller.limit_key(), limit, now) {
                return refused(limit, "invitations per API key");
            }
        }
        Caller::Account { .. } => {
            let limit = cfg.signed_in_rate_limit_per_minute;
            if !rate.allow(&caller.limit_key(), limit, now) {
                return refused(limit, "invitations per signed-in account");
            }
        }
        Caller::Anonymous { .. } => {
            let limit = cfg.rate_limit_per_minute;
            if !rate.allow(&caller.limit_key(), limit, now)
                || !rate.allow(&format!("email:{}", email.as_str().to_ascii_lowercase()), limit, now)
            {
                return refused(limit, "invitations per client and per address");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const OTHER: &str = "4c1b5f0e-9a7d-4e2b-8c3f-6d5a4b3c2d1e";

    fn account(tenant: &str, object: &str, account_type: AccountType) -> Account {
        Account {
            home_account_id: format!("{object}.{tenant}"),
            tenant_id: tenant.to_owned(),
            object_id: object.to_owned(),
            username: "someone@contoso.com".to_owned(),
            name: None,
            email: None,
            account_type,
            idp: None,
        }
    }

    #[test]
    fn members_of_the_home_tenant_and_listed_object_ids_may_invite() {
        assert!(may_invite(&account(HOME, "o-1", AccountType::Member), HOME, &[]).is_ok());
        assert!(may_invite(&account(HOME, "o-1", AccountType::Guest), HOME, &[]).is_err(), "a guest");
        assert!(may_invite(&account(HOME, "o-1", AccountType::Personal), HOME, &[]).is_err());
        assert!(may_invite(&account(OTHER, "o-1", AccountType::Member), HOME, &[]).is_err(), "another tenant");
        let listed = ["o-1".to_owned()];
        assert!(may_invite(&account(OTHER, "O-1", AccountType::Member), HOME, &listed).is_ok());
        assert!(may_invite(&account(HOME, "o-1", AccountType::Guest), HOME, &listed).is_ok());
        assert!(may_invite(&account("", "o-1", AccountType::Member), HOME, &listed).is_err(), "no Entra account");
    }

    #[test]
    fn the_audit_names_a_key_by_its_label_only() {
        assert_eq!(Caller::Admin { key: "sha256:0a1b2c3d".into() }.to_string(), "api-key:sha256:0a1b2c3d");
        let a = Caller::Account { tenant: HOME.into(), object: "o".into() };
        assert_eq!(a.to_string(), format!("account:{HOME}/o"));
        assert_eq!(Caller::Anonymous { client: ClientAddr(None) }.to_string(), "client:unknown");
        let v6 = ClientAddr(Some("2001:db8::7".parse().expect("an address")));
        let anonymous = Caller::Anonymous { client: v6 };
        assert_eq!(anonymous.to_string(), "client:2001:db8::7", "the audit names the address");
        assert_eq!(anonymous.limit_key(), "ip:2001:db8::/64", "the limit counts its /64");
    }
}
