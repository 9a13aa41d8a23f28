//! The seed: tenants, applications, users, mail and To Do lists, read from TOML.
//!
//! `seed/sandbox.toml` is the default sandbox; `--seed FILE` or the control API replaces it.

use serde::{Deserialize, Serialize};

/// The sandbox app's certificate (registered in the sandbox seed), PEM.
pub const SANDBOX_CERTIFICATE_PEM: &str = include_str!("../seed/sandbox-cert.pem");
/// The private key of [`SANDBOX_CERTIFICATE_PEM`], PEM (PKCS#8). A sandbox credential: it
/// works only against the emulator.
pub const SANDBOX_KEY_PEM: &str = include_str!("../seed/sandbox-key.pem");

/// The sandbox seed shipped with the emulator.
pub(crate) const SANDBOX_TOML: &str = include_str!("../seed/sandbox.toml");

/// Everything the emulator starts from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Directories (tenants).
    #[serde(default)]
    pub tenants: Vec<TenantSeed>,
    /// Registered applications.
    #[serde(default)]
    pub apps: Vec<AppSeed>,
    /// Users: members of a tenant, or personal accounts (`tenant = "consumers"`).
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// Messages placed in mailboxes.
    #[serde(default)]
    pub messages: Vec<MessageSeed>,
    /// To Do lists.
    #[serde(default)]
    pub todo_lists: Vec<TodoListSeed>,
}

impl Seed {
    /// The default sandbox.
    pub fn sandbox() -> Self {
        Self::from_toml(SANDBOX_TOML).unwrap_or_else(|e| unreachable!("the shipped sandbox seed parses (tested): {e}"))
    }

    /// Parses a seed from TOML.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| format!("invalid seed: {e}"))
    }
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSeed {
    /// The tenant ID (a GUID).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Verified domains; the first is the initial `*.onmicrosoft.com` domain.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Whether the tenant has Exchange Online (mailboxes). Default true.
    #[serde(default = "yes")]
    pub exchange: bool,
}

fn yes() -> bool {
    true
}

/// Who may sign in to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Audience {
    /// Accounts of the home tenant only.
    SingleTenant,
    /// Work or school accounts of any tenant.
    MultiTenant,
    /// Work or school accounts of any tenant and personal accounts.
    MultiTenantAndPersonal,
    /// Personal accounts only.
    PersonalOnly,
}

/// The platform a redirect URI is registered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedirectKind {
    /// A Web (confidential, server-side) redirect URI.
    Web,
    /// A single-page-application redirect URI (redeemed from the browser, with `Origin`).
    Spa,
}

/// A registered redirect URI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectSeed {
    /// The URI. `http://localhost` and `http://127.0.0.1` URIs match any port.
    pub uri: String,
    /// Its platform.
    pub kind: RedirectKind,
}

/// A client secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSeed {
    /// The secret's ID (what the portal shows in the "Secret ID" column).
    pub id: String,
    /// The secret's value.
    pub value: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for SecretSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSeed")
            .field("id", &self.id)
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// An application registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSeed {
    /// Application (client) ID.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// The tenant it is registered in.
    pub home_tenant: String,
    /// Supported account types.
    pub audience: Audience,
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<RedirectSeed>,
    /// Application permissions (roles) granted with admin consent in the home tenant.
    #[serde(default)]
    pub application_permissions: Vec<String>,
    /// Client secrets.
    #[serde(default)]
    pub secrets: Vec<SecretSeed>,
    /// Certificates (PEM), for client assertions.
    #[serde(default)]
    pub certificates: Vec<String>,
}

/// A user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSeed {
    /// Object ID (a GUID).
    pub id: String,
    /// Home tenant ID, or `consumers` for a personal Microsoft account.
    pub tenant: String,
    /// User principal name (the sign-in name).
    pub upn: String,
    /// Display name.
    pub name: String,
    /// Primary email address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Other email addresses.
    #[serde(default)]
    pub other_mails: Vec<String>,
    /// Whether the user has a mailbox.
    #[serde(default)]
    pub mailbox: bool,
    /// Whether the user may grant admin consent.
    #[serde(default)]
    pub admin: bool,
}

/// A message placed in a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSeed {
    /// The mailbox owner's UPN or address.
    pub owner: String,
    /// `inbox`, `sentitems`, `drafts` or `deleteditems`.
    #[serde(default = "inbox")]
    pub folder: String,
    /// Sender address.
    pub from: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    #[serde(default)]
    pub body: String,
}

fn inbox() -> String {
    "inbox".to_owned()
}

/// A To Do list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TodoListSeed {
    /// The owner's UPN or address.
    pub owner: String,
    /// Display name.
    pub name: String,
    /// `defaultList`, `flaggedEmails` or `none`.
    #[serde(default)]
    pub wellknown: Option<String>,
    /// Tasks.
    #[serde(default)]
    pub tasks: Vec<TaskSeed>,
}

/// A To Do task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSeed {
    /// Title.
    pub title: String,
    /// `notStarted`, `inProgress`, `completed`, `waitingOnOthers` or `deferred`.
    #[serde(default = "not_started")]
    pub status: String,
}

fn not_started() -> String {
    "notStarted".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_seed_parses() {
        let s = Seed::sandbox();
        assert_eq!(s.tenants.len(), 2);
        assert_eq!(s.apps[0].audience, Audience::MultiTenantAndPersonal);
        assert!(s.users.iter().any(|u| u.tenant == "consumers"));
        assert!(!format!("{:?}", s.apps[0]).contains("sandbox-secret~"));
        assert_eq!(
            s.apps[0].certificates,
            vec![SANDBOX_CERTIFICATE_PEM.trim().to_owned() + "\n"],
            "the seed registers seed/sandbox-cert.pem"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(Seed::from_toml("[[tenants]]\nid = \"x\"\nname = \"y\"\ncolour = 1").is_err());
    }
}
