//! Configuration: a TOML file plus `GRAPHGATE_<SECTION>_<KEY>` environment overrides, grouped by
//! concern, with secrets read from an environment variable or a file (never the command line),
//! and validation that reports every problem at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use graphgate_core::{BaseUrl, ClientId, Cloud, Endpoints, RedirectUri, Scopes, Tenant};
use serde::Deserialize;

/// The sections a `GRAPHGATE_<SECTION>_<KEY>` variable may address.
const SECTIONS: [&str; 5] = ["server", "entra", "session", "invitations", "keepalive"];

/// The whole configuration, as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listening and serving.
    #[serde(default)]
    pub server: ServerConfig,
    /// The application registration and Microsoft's endpoints.
    pub entra: EntraConfig,
    /// Sessions.
    #[serde(default)]
    pub session: SessionConfig,
    /// Who may invite external users.
    #[serde(default)]
    pub invitations: InvitationsConfig,
    /// The background refresh of idle sessions.
    #[serde(default)]
    pub keepalive: KeepaliveConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Where to listen. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The origin pages are served from (`https://app.example.com`); decides the cookie's
    /// `Secure` flag and `__Host-` prefix. Default `http://localhost:8080`.
    #[serde(default = "default_origin")]
    pub public_origin: String,
    /// Other origins allowed to call the API with credentials (CORS and CSRF). Default none.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// A directory of static files to serve at `/` (the demo page), if any.
    #[serde(default)]
    pub static_dir: Option<PathBuf>,
    /// Largest request body, bytes. Default 64 KiB.
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// Per-request timeout, seconds. Default 30.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_origin() -> String {
    "http://localhost:8080".to_owned()
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_request_timeout() -> u64 {
    30
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_origin: default_origin(),
            allowed_origins: Vec::new(),
            static_dir: None,
            body_limit: default_body_limit(),
            request_timeout_secs: default_request_timeout(),
        }
    }
}

/// `[entra]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// `global`, `us-gov`, `us-gov-dod` or `china`. Default `global`.
    #[serde(default = "default_cloud")]
    pub cloud: String,
    /// The authority users sign in through: `common`, `organizations`, `consumers`, a tenant ID
    /// or domain. Guests of a tenant sign in through the tenant; their mail works only through
    /// `common` or `organizations` (their home tenant).
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// The application's home tenant (ID or domain), for app-only calls such as invitations.
    #[serde(default)]
    pub app_tenant: Option<String>,
    /// The application (client) ID.
    #[serde(default)]
    pub client_id: String,
    /// Registered Web redirect URIs; the first is the default.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Default delegated scopes (`openid offline_access` are added).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Client capabilities declared on every delegated token request (code redemption,
    /// refresh, keep-alive), as `claims={"access_token":{"xms_cc":{"values":[…]}}}`. `["cp1"]`
    /// makes Graph send claims challenges (Continuous Access Evaluation) instead of accepting a
    /// revoked token until it expires; answer them with `claims` on `/api/auth/token`. Default none.
    #[serde(default)]
    pub client_capabilities: Vec<String>,
    /// Override of the sign-in base URL (another cloud's host, or the emulator).
    #[serde(default)]
    pub login_base: Option<String>,
    /// Override of the Graph base URL.
    #[serde(default)]
    pub graph_base: Option<String>,
    /// A PEM file of extra CA certificates to trust upstream (a TLS-inspecting proxy's CA, or
    /// the emulator's).
    #[serde(default)]
    pub extra_ca_file: Option<PathBuf>,
    /// Upstream connect timeout, seconds. Default 5.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// Upstream total timeout, seconds. Default 15.
    #[serde(default = "default_upstream_timeout")]
    pub upstream_timeout_secs: u64,
    /// The client credential.
    #[serde(default)]
    pub credential: CredentialConfig,
}

fn default_cloud() -> String {
    "global".to_owned()
}
fn default_tenant() -> String {
    "common".to_owned()
}
fn default_scopes() -> Vec<String> {
    vec!["User.Read".to_owned()]
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_upstream_timeout() -> u64 {
    15
}

/// Where a secret comes from: an environment variable or a file, never the command line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// The environment variable holding it.
    #[serde(default)]
    pub env: Option<String>,
    /// The file holding it (trailing whitespace is trimmed).
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl SecretSource {
    /// Reads the secret; `what` names it in errors (the value never appears in them).
    pub fn read(&self, what: &str) -> Result<String, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => {
                std::env::var(var).map_err(|_| format!("{what}: the environment variable {var} is not set"))
            }
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end().to_owned())
                .map_err(|e| format!("{what}: cannot read {}: {e}", path.display())),
            (Some(_), Some(_)) => Err(format!("{what}: give either env or file, not both")),
            (None, None) => Err(format!("{what}: missing (set env = \"VAR\" or file = \"path\")")),
        }
    }

    fn is_set(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }
}

/// `[entra.credential]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// The client secret's value.
    #[serde(default)]
    pub secret: SecretSource,
    /// Send the secret with HTTP Basic instead of in the form body.
    #[serde(default)]
    pub basic_auth: bool,
    /// The certificate (PEM) registered with the application, for client assertions.
    #[serde(default)]
    pub certificate_file: Option<PathBuf>,
    /// The certificate's private key (PEM, PKCS#8).
    #[serde(default)]
    pub key: SecretSource,
    /// `PS256` (default, `x5t#S256`) or `RS256` (`x5t`).
    #[serde(default = "default_alg")]
    pub algorithm: String,
}

fn default_alg() -> String {
    "PS256".to_owned()
}

impl Default for CredentialConfig {
    fn default() -> Self {
        Self {
            secret: SecretSource::default(),
            basic_auth: false,
            certificate_file: None,
            key: SecretSource::default(),
            algorithm: default_alg(),
        }
    }
}

/// `[session]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// `sqlite` (default) or `memory`.
    #[serde(default = "default_store")]
    pub store: String,
    /// The SQLite file. Default `graphgate-sessions.db`.
    #[serde(default = "default_sqlite_path")]
    pub sqlite_path: PathBuf,
    /// The AES-256-GCM key encrypting refresh tokens at rest: 32 bytes, base64.
    #[serde(default)]
    pub key: SecretSource,
    /// Absolute lifetime of a session, hours. Default 720 (30 days).
    #[serde(default = "default_absolute_hours")]
    pub absolute_lifetime_hours: u64,
    /// Idle timeout, hours. Default 168 (7 days).
    #[serde(default = "default_idle_hours")]
    pub idle_timeout_hours: u64,
}

fn default_store() -> String {
    "sqlite".to_owned()
}
fn default_sqlite_path() -> PathBuf {
    PathBuf::from("graphgate-sessions.db")
}
fn default_absolute_hours() -> u64 {
    720
}
fn default_idle_hours() -> u64 {
    168
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            store: default_store(),
            sqlite_path: default_sqlite_path(),
            key: SecretSource::default(),
            absolute_lifetime_hours: default_absolute_hours(),
            idle_timeout_hours: default_idle_hours(),
        }
    }
}

/// `[invitations]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationsConfig {
    /// `admin` (bearer API keys; default), `self-service` or `signed-in`.
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Bearer API keys for `admin`, comma-separated.
    #[serde(default)]
    pub api_keys: SecretSource,
    /// Email domains `self-service` may invite.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Accounts (usernames) allowed to invite under `signed-in`; empty means every signed-in account.
    #[serde(default)]
    pub allowed_accounts: Vec<String>,
    /// Where redemption leads; default: this app's authorize URL (one-step onboarding).
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Invitations per minute per client address and per email under `self-service`. Default 5.
    #[serde(default = "default_rate")]
    pub rate_limit_per_minute: u32,
}

fn default_policy() -> String {
    "admin".to_owned()
}
fn default_rate() -> u32 {
    5
}

impl Default for InvitationsConfig {
    fn default() -> Self {
        Self {
            policy: default_policy(),
            api_keys: SecretSource::default(),
            allowed_domains: Vec::new(),
            allowed_accounts: Vec::new(),
            redirect_url: None,
            rate_limit_per_minute: default_rate(),
        }
    }
}

/// `[keepalive]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepaliveConfig {
    /// Whether idle sessions are refreshed in the background. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// How often the task runs, minutes. Default 60.
    #[serde(default = "default_interval")]
    pub interval_minutes: u64,
    /// Refresh sessions whose last refresh is older than this, hours. Default 24 × 14.
    #[serde(default = "default_refresh_after")]
    pub refresh_after_hours: u64,
    /// Refreshes at once. Default 4.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

fn default_interval() -> u64 {
    60
}
fn default_refresh_after() -> u64 {
    24 * 14
}
fn default_concurrency() -> usize {
    4
}

impl Default for KeepaliveConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            interval_minutes: default_interval(),
            refresh_after_hours: default_refresh_after(),
            concurrency: default_concurrency(),
        }
    }
}

/// How invitations are authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitePolicy {
    /// Bearer API keys of the site's own backend.
    Admin,
    /// Anyone, for allowed domains, rate-limited.
    SelfService,
    /// Signed-in sessions, optionally an allow-list of accounts.
    SignedIn,
}

/// The configuration, checked and turned into the types the proxy works with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// As read.
    pub raw: Config,
    /// The endpoints (cloud plus overrides).
    pub endpoints: Endpoints,
    /// The sign-in authority.
    pub tenant: Tenant,
    /// The app's home tenant for app-only calls.
    pub app_tenant: Option<Tenant>,
    /// The application ID.
    pub client_id: ClientId,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<RedirectUri>,
    /// Default scopes.
    pub scopes: Scopes,
    /// The invitation policy.
    pub invite_policy: InvitePolicy,
    /// The claims request declaring `entra.client_capabilities`, when there are any.
    pub capabilities_claims: Option<String>,
}

impl Settings {
    /// The `claims` of a delegated token request: `challenge` (a claims request, such as a
    /// decoded claims challenge) merged with the configured capabilities; the capabilities alone
    /// without one; `None` when there is neither.
    pub fn token_claims(&self, challenge: Option<&str>) -> Result<Option<String>, graphgate_core::Error> {
        match challenge {
            Some(c) => {
                let caps: Vec<&str> = self.raw.entra.client_capabilities.iter().map(String::as_str).collect();
                graphgate_core::merge_client_capabilities(c, &caps).map(Some)
            }
            None => Ok(self.capabilities_claims.clone()),
        }
    }
}

impl Config {
    /// Parses TOML, then applies `GRAPHGATE_<SECTION>_<KEY>` variables from `env`.
    pub fn from_toml_and_env(text: &str, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let table: toml::Table = text.parse().map_err(|e| format!("invalid configuration: {e}"))?;
        Self::from_table_and_env(table, env)
    }

    /// The configuration without a file, from `GRAPHGATE_<SECTION>_<KEY>` variables alone. The
    /// credential is the client secret in `GRAPHGATE_CLIENT_SECRET` or, when
    /// `GRAPHGATE_CLIENT_CERTIFICATE_FILE` names a certificate, that certificate with its private
    /// key in the file `GRAPHGATE_CLIENT_KEY_FILE`; the session key is `GRAPHGATE_SESSION_KEY`.
    pub fn from_env(env: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| toml::Value::String(v.clone()));
        let source =
            |kind: &str, value: toml::Value| toml::Value::Table(toml::Table::from_iter([(kind.to_owned(), value)]));
        let mut credential = toml::Table::new();
        match var(ENV_CERTIFICATE_FILE) {
            Some(certificate) => {
                credential.insert("certificate_file".into(), certificate);
                if let Some(key) = var(ENV_KEY_FILE) {
                    credential.insert("key".into(), source("file", key));
                }
            }
            None => {
                credential.insert("secret".into(), source("env", ENV_CLIENT_SECRET.into()));
            }
        }
        let entra = toml::Table::from_iter([("credential".to_owned(), toml::Value::Table(credential))]);
        let session = toml::Table::from_iter([("key".to_owned(), source("env", ENV_SESSION_KEY.into()))]);
        let table = toml::Table::from_iter([
            ("entra".to_owned(), toml::Value::Table(entra)),
            ("session".to_owned(), toml::Value::Table(session)),
        ]);
        Self::from_table_and_env(table, env)
    }

    fn from_table_and_env(
        mut table: toml::Table,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, String> {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("GRAPHGATE_") else { continue };
            let lower = rest.to_ascii_lowercase();
            let Some(section) = SECTIONS.iter().find(|s| lower.starts_with(&format!("{s}_"))) else { continue };
            let key = &lower[section.len() + 1..];
            // A variable named like a secret's own key is that secret's source (`key = { env =
            // "GRAPHGATE_SESSION_KEY" }`), never an override of where the secret comes from.
            if SECRET_KEYS.contains(&(*section, key)) {
                continue;
            }
            let entry = table.entry((*section).to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(t) = entry.as_table_mut() else { continue };
            if t.get(key).is_some_and(toml::Value::is_table) {
                continue;
            }
            t.insert(key.to_owned(), env_value(key, &value));
        }
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| format!("invalid configuration: {e}"))
    }

    /// Checks everything and reports every problem at once.
    pub fn validate(self) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
        let mut note = |r: Result<(), String>| {
            if let Err(e) = r {
                problems.push(e);
            }
        };
        let cloud: Cloud = self.entra.cloud.parse().unwrap_or_else(|e: graphgate_core::Error| {
            note(Err(format!("entra.cloud: {}", e.detail())));
            Cloud::Global
        });
        let mut endpoints = Endpoints::for_cloud(cloud);
        if let Some(b) = &self.entra.login_base {
            match BaseUrl::parse(b) {
                Ok(b) => endpoints = endpoints.with_login_base(b),
                Err(e) => note(Err(format!("entra.login_base: {}", e.detail()))),
            }
        }
        if let Some(b) = &self.entra.graph_base {
            match BaseUrl::parse(b) {
                Ok(b) => endpoints = endpoints.with_graph_base(b),
                Err(e) => note(Err(format!("entra.graph_base: {}", e.detail()))),
            }
        }
        let tenant = Tenant::parse(&self.entra.tenant).unwrap_or_else(|e| {
            note(Err(format!("entra.tenant: {}", e.detail())));
            Tenant::Common
        });
        let app_tenant = match &self.entra.app_tenant {
            Some(t) => match Tenant::parse(t) {
                Ok(t) if t.is_concrete() => Some(t),
                Ok(_) => {
                    note(Err("entra.app_tenant: app-only calls need the tenant's ID or domain, not common/organizations/consumers".into()));
                    None
                }
                Err(e) => {
                    note(Err(format!("entra.app_tenant: {}", e.detail())));
                    None
                }
            },
            None => tenant.is_concrete().then(|| tenant.clone()),
        };
        let client_id = ClientId::parse(&self.entra.client_id).unwrap_or_else(|e| {
            note(Err(format!("entra.client_id: {}", e.detail())));
            ClientId::parse("00000000-0000-0000-0000-000000000000").unwrap_or_else(|_| unreachable!("a valid GUID"))
        });
        let mut redirect_uris = Vec::new();
        if self.entra.redirect_uris.is_empty() {
            note(Err("entra.redirect_uris: give at least one registered Web redirect URI".into()));
        }
        for uri in &self.entra.redirect_uris {
            match RedirectUri::parse(uri) {
                Ok(u) => redirect_uris.push(u),
                Err(e) => note(Err(format!("entra.redirect_uris: {}", e.detail()))),
            }
        }
        let scopes = Scopes::parse_all(&self.entra.scopes).unwrap_or_else(|e| {
            note(Err(format!("entra.scopes: {}", e.detail())));
            Scopes::new()
        });
        let capabilities_claims = capabilities_claims(&self.entra.client_capabilities).unwrap_or_else(|e| {
            note(Err(e));
            None
        });
        let c = &self.entra.credential;
        match (c.secret.is_set(), c.certificate_file.is_some() || c.key.is_set()) {
            (false, false) => note(Err("entra.credential: give a client secret (secret.env or secret.file) or a certificate (certificate_file and key)".into())),
            (true, true) => note(Err("entra.credential: give a client secret or a certificate, not both".into())),
            (false, true) if c.certificate_file.is_none() || !c.key.is_set() => {
                note(Err("entra.credential: a certificate credential needs both certificate_file and key".into()))
            }
            _ => {}
        }
        if !["PS256", "RS256"].contains(&c.algorithm.as_str()) {
            note(Err(format!("entra.credential.algorithm: {:?} is not PS256 or RS256", c.algorithm)));
        }
        if !["sqlite", "memory"].contains(&self.session.store.as_str()) {
            note(Err(format!("session.store: {:?} is not sqlite or memory", self.session.store)));
        }
        if !self.session.key.is_set() {
            note(Err(
                "session.key: set the refresh-token encryption key (32 bytes, base64) with key.env or key.file".into()
            ));
        }
        let (idle, absolute) = (self.session.idle_timeout_hours, self.session.absolute_lifetime_hours);
        if !(1..=24 * 3650).contains(&idle) || !(1..=24 * 3650).contains(&absolute) {
            note(Err("session: lifetimes must be between one hour and ten years".into()));
        }
        if self.keepalive.interval_minutes == 0 || self.keepalive.concurrency == 0 {
            note(Err("keepalive: interval_minutes and concurrency must be at least 1".into()));
        }
        let invite_policy = match self.invitations.policy.as_str() {
            "admin" => InvitePolicy::Admin,
            "self-service" => InvitePolicy::SelfService,
            "signed-in" => InvitePolicy::SignedIn,
            other => {
                note(Err(format!("invitations.policy: {other:?} is not admin, self-service or signed-in")));
                InvitePolicy::Admin
            }
        };
        if invite_policy == InvitePolicy::SelfService && self.invitations.allowed_domains.is_empty() {
            note(Err(
                "invitations.allowed_domains: self-service invitations need at least one allowed email domain".into()
            ));
        }
        for origin in &self.server.allowed_origins {
            if graphgate_core::HttpUrl::parse(origin)
                .map(|u| u.origin() != origin.trim_end_matches('/'))
                .unwrap_or(true)
            {
                note(Err(format!("server.allowed_origins: {origin:?} is not an origin like https://app.example.com")));
            }
        }
        if graphgate_core::HttpUrl::parse(&self.server.public_origin).is_err() {
            note(Err(format!(
                "server.public_origin: {:?} is not an origin like https://app.example.com",
                self.server.public_origin
            )));
        }
        if problems.is_empty() {
            Ok(Settings {
                raw: self,
                endpoints,
                tenant,
                app_tenant,
                client_id,
                redirect_uris,
                scopes,
                invite_policy,
                capabilities_claims,
            })
        } else {
            Err(problems)
        }
    }
}

/// The claims request declaring `capabilities` (`None` for none); an error naming a value that
/// is not a capability name (letters, digits, `-`, `_` and `.`, at most 64).
fn capabilities_claims(capabilities: &[String]) -> Result<Option<String>, String> {
    if capabilities.is_empty() {
        return Ok(None);
    }
    let mut names = Vec::with_capacity(capabilities.len());
    for c in capabilities {
        let name = c.trim();
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(format!("entra.client_capabilities: {c:?} is not a capability name such as cp1"));
        }
        names.push(name);
    }
    graphgate_core::merge_client_capabilities("", &names)
        .map(Some)
        .map_err(|e| format!("entra.client_capabilities: {}", e.detail()))
}

/// Keys whose value is a list: an override is split at commas (a single item is a list too).
const LIST_KEYS: [&str; 6] =
    ["redirect_uris", "scopes", "allowed_origins", "allowed_domains", "allowed_accounts", "client_capabilities"];

/// The client secret's variable, for [`Config::from_env`].
pub const ENV_CLIENT_SECRET: &str = "GRAPHGATE_CLIENT_SECRET";
/// The certificate file of a certificate credential, for [`Config::from_env`].
pub const ENV_CERTIFICATE_FILE: &str = "GRAPHGATE_CLIENT_CERTIFICATE_FILE";
/// The file with the certificate's private key, for [`Config::from_env`].
pub const ENV_KEY_FILE: &str = "GRAPHGATE_CLIENT_KEY_FILE";
/// The session key's variable, for [`Config::from_env`].
pub const ENV_SESSION_KEY: &str = "GRAPHGATE_SESSION_KEY";

/// Keys that say where a secret comes from (`{ env = … }` or `{ file = … }`); see
/// [`Config::from_toml_and_env`].
const SECRET_KEYS: [(&str, &str); 3] = [("session", "key"), ("invitations", "api_keys"), ("entra", "credential")];

/// An override's value, typed by its key: lists split at commas, else a boolean, an integer or text.
fn env_value(key: &str, v: &str) -> toml::Value {
    if LIST_KEYS.contains(&key) {
        return toml::Value::Array(
            v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| toml::Value::String(s.to_owned())).collect(),
        );
    }
    if let Ok(b) = v.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = v.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    toml::Value::String(v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        [entra]
        tenant = "common"
        app_tenant = "contoso.onmicrosoft.com"
        client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
        redirect_uris = ["http://localhost:8080/"]
        scopes = ["User.Read", "Mail.Send"]
        credential = { secret = { env = "GRAPHGATE_TEST_SECRET" } }
        [session]
        key = { env = "GRAPHGATE_TEST_KEY" }
    "#;

    #[test]
    fn environment_variables_alone_configure_the_proxy() {
        let var = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let base = [
            var("GRAPHGATE_ENTRA_CLIENT_ID", "6731de76-14a6-49ae-97bc-6eba6914391e"),
            var("GRAPHGATE_ENTRA_TENANT", "organizations"),
            var("GRAPHGATE_ENTRA_APP_TENANT", "contoso.onmicrosoft.com"),
            var("GRAPHGATE_ENTRA_REDIRECT_URIS", "http://localhost:8080/"),
            var("GRAPHGATE_SESSION_STORE", "memory"),
        ];
        let c = Config::from_env(base.clone()).expect("parses");
        assert_eq!(c.entra.credential.secret.env.as_deref(), Some(ENV_CLIENT_SECRET));
        assert_eq!(c.session.key.env.as_deref(), Some(ENV_SESSION_KEY));
        assert_eq!(c.session.store, "memory");
        let s = c.validate().expect("valid");
        assert_eq!(s.tenant, Tenant::Organizations);
        assert_eq!(s.raw.entra.redirect_uris, ["http://localhost:8080/"]);

        let with_certificate =
            base.iter().cloned().chain([var(ENV_CERTIFICATE_FILE, "app.pem"), var(ENV_KEY_FILE, "app-key.pem")]);
        let c = Config::from_env(with_certificate).expect("parses");
        assert!(c.entra.credential.secret.env.is_none(), "a certificate, not a secret");
        assert_eq!(c.entra.credential.certificate_file.as_deref(), Some(std::path::Path::new("app.pem")));
        assert_eq!(c.entra.credential.key.file.as_deref(), Some(std::path::Path::new("app-key.pem")));

        let no_key = base.iter().cloned().chain([var(ENV_CERTIFICATE_FILE, "app.pem")]);
        let problems = Config::from_env(no_key).expect("parses").validate().expect_err("no key file");
        assert!(problems.iter().any(|p| p.contains("needs both certificate_file and key")), "{problems:?}");

        let problems = Config::from_env([]).expect("parses").validate().expect_err("nothing set");
        assert!(problems.iter().any(|p| p.starts_with("entra.client_id")), "{problems:?}");
        assert!(problems.iter().any(|p| p.starts_with("entra.redirect_uris")), "{problems:?}");
    }

    #[test]
    fn a_good_configuration_validates() {
        let s = Config::from_toml_and_env(GOOD, []).expect("parses").validate().expect("valid");
        assert_eq!(s.tenant, Tenant::Common);
        assert_eq!(s.app_tenant, Some(Tenant::Domain("contoso.onmicrosoft.com".into())));
        assert_eq!(s.endpoints.login_base().as_str(), "https://login.microsoftonline.com");
        assert_eq!(s.invite_policy, InvitePolicy::Admin);
    }

    #[test]
    fn environment_variables_override_the_file() {
        let env = [
            ("GRAPHGATE_ENTRA_CLOUD".to_owned(), "china".to_owned()),
            ("GRAPHGATE_ENTRA_LOGIN_BASE".to_owned(), "https://127.0.0.1:9443".to_owned()),
            ("GRAPHGATE_SERVER_ALLOWED_ORIGINS".to_owned(), "https://a.example,https://b.example".to_owned()),
            ("GRAPHGATE_KEEPALIVE_ENABLED".to_owned(), "true".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ];
        let s = Config::from_toml_and_env(GOOD, env).expect("parses").validate().expect("valid");
        assert_eq!(s.endpoints.cloud(), Cloud::China);
        assert_eq!(s.endpoints.login_base().as_str(), "https://127.0.0.1:9443");
        assert_eq!(s.endpoints.graph_base(), "https://microsoftgraph.chinacloudapi.cn/v1.0");
        assert_eq!(s.raw.server.allowed_origins.len(), 2);
        assert!(s.raw.keepalive.enabled);
    }

    #[test]
    fn overrides_follow_the_key_and_leave_secret_sources_alone() {
        let toml = GOOD.replace("GRAPHGATE_TEST_KEY", "GRAPHGATE_SESSION_KEY");
        let env = [
            // The secret itself, in the variable the file names: not an override of `session.key`.
            ("GRAPHGATE_SESSION_KEY".to_owned(), "c2VjcmV0LWtleS1ieXRlcy0wMTIzNDU2Nzg5YWJjZGVm".to_owned()),
            ("GRAPHGATE_ENTRA_SCOPES".to_owned(), "Mail.Send".to_owned()),
            ("GRAPHGATE_ENTRA_REDIRECT_URIS".to_owned(), "https://app.example/".to_owned()),
            ("GRAPHGATE_INVITATIONS_API_KEYS".to_owned(), "k1,k2".to_owned()),
        ];
        let c = Config::from_toml_and_env(&toml, env).expect("parses");
        assert_eq!(c.session.key.env.as_deref(), Some("GRAPHGATE_SESSION_KEY"));
        assert_eq!(c.entra.scopes, ["Mail.Send"], "one item is still a list");
        assert_eq!(c.entra.redirect_uris, ["https://app.example/"]);
        assert_eq!(c.invitations.api_keys.env, None, "secret sources are never set by an override");
        c.validate().expect("valid");
    }

    #[test]
    fn client_capabilities_come_from_the_file_or_the_environment() {
        let s = Config::from_toml_and_env(GOOD, []).expect("parses").validate().expect("valid");
        assert_eq!(s.capabilities_claims, None, "none by default");
        assert_eq!(s.token_claims(None).expect("claims"), None);
        let toml = GOOD.replace("scopes = [", "client_capabilities = [\"cp1\"]\n        scopes = [");
        let s = Config::from_toml_and_env(&toml, []).expect("parses").validate().expect("valid");
        let cp1 = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
        assert_eq!(s.capabilities_claims.as_deref(), Some(cp1));
        assert_eq!(s.token_claims(None).expect("claims").as_deref(), Some(cp1));
        let merged =
            s.token_claims(Some(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#)).expect("claims");
        let merged: serde_json::Value = serde_json::from_str(&merged.expect("some")).expect("json");
        assert_eq!(merged["access_token"]["xms_cc"]["values"], serde_json::json!(["cp1"]));
        assert_eq!(merged["access_token"]["nbf"]["value"], "1");
        assert!(s.token_claims(Some("[]")).is_err());
        let env = [("GRAPHGATE_ENTRA_CLIENT_CAPABILITIES".to_owned(), "cp1, cp2".to_owned())];
        let s = Config::from_toml_and_env(GOOD, env).expect("parses").validate().expect("valid");
        assert_eq!(s.raw.entra.client_capabilities, ["cp1", "cp2"]);
        assert!(s.capabilities_claims.expect("claims").contains(r#"["cp1","cp2"]"#));
        let env = [("GRAPHGATE_ENTRA_CLIENT_CAPABILITIES".to_owned(), "cp1,\"x\"".to_owned())];
        let problems = Config::from_toml_and_env(GOOD, env).expect("parses").validate().expect_err("invalid");
        assert!(problems.iter().any(|p| p.starts_with("entra.client_capabilities")), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = r#"
            [entra]
            cloud = "mars"
            tenant = "not a tenant"
            client_id = "my-app"
            redirect_uris = ["http://app.example.com/"]
            scopes = ["a b"]
            [session]
            store = "postgres"
            [invitations]
            policy = "self-service"
        "#;
        let problems = Config::from_toml_and_env(bad, []).expect("parses").validate().expect_err("invalid");
        for field in [
            "entra.cloud",
            "entra.tenant",
            "entra.client_id",
            "entra.redirect_uris",
            "entra.scopes",
            "entra.credential",
            "session.store",
            "session.key",
            "invitations.allowed_domains",
        ] {
            assert!(problems.iter().any(|p| p.starts_with(field)), "{field} not reported in {problems:#?}");
        }
        assert!(Config::from_toml_and_env("[entra]\ncolour = 1", []).is_err(), "unknown keys are refused");
    }

    #[test]
    fn secrets_come_from_env_or_file_and_errors_do_not_show_them() {
        let dir = std::env::temp_dir().join(format!("graphgate-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret-value\n").expect("write");
        let from_file = SecretSource { env: None, file: Some(dir.clone()) };
        assert_eq!(from_file.read("secret").expect("read"), "s3cret-value");
        std::fs::remove_file(&dir).expect("cleanup");
        let missing = SecretSource { env: Some("GRAPHGATE_SURELY_UNSET_VAR".into()), file: None };
        let err = missing.read("entra.credential.secret").expect_err("unset");
        assert!(err.contains("GRAPHGATE_SURELY_UNSET_VAR"));
    }
}
