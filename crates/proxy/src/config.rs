//! Configuration: a TOML file plus `GRAPHGATE_<SECTION>_<KEY>` environment overrides, grouped by
//! concern, with secrets read from an environment variable or a file (never the command line),
//! and validation that reports every problem at once.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

mod settings;

pub use settings::Settings;
pub(crate) use settings::{CredentialSettings, EntraSettings, InvitePolicy, StoreKind};

/// The sections a `GRAPHGATE_<SECTION>_<KEY>` variable may address.
const SECTIONS: [&str; 7] = ["server", "entra", "session", "invitations", "keepalive", "limits", "log"];

/// The whole configuration, as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listening and serving.
    #[serde(default)]
    pub(crate) server: ServerConfig,
    /// The application registration and Microsoft's endpoints.
    pub(crate) entra: EntraConfig,
    /// Sessions.
    #[serde(default)]
    pub(crate) session: SessionConfig,
    /// Who may invite external users.
    #[serde(default)]
    pub(crate) invitations: InvitationsConfig,
    /// The background refresh of idle sessions.
    #[serde(default)]
    pub(crate) keepalive: KeepaliveConfig,
    /// Per-client-address limits on the routes that spend an upstream call or a store write.
    #[serde(default)]
    pub(crate) limits: LimitsConfig,
    /// The log's format and level.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerConfig {
    /// Where to listen. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// The origin pages are served from (`https://app.example.com`); decides the cookie's
    /// `Secure` flag and `__Host-` prefix. Default `http://localhost:8080`.
    #[serde(default = "default_origin")]
    pub(crate) public_origin: String,
    /// Other origins allowed to call the API with credentials (CORS and CSRF). Default none.
    #[serde(default)]
    pub(crate) allowed_origins: Vec<String>,
    /// A directory of static files to serve at `/` (the demo page), if any.
    #[serde(default)]
    pub(crate) static_dir: Option<PathBuf>,
    /// Largest request body, bytes. Default 64 KiB.
    #[serde(default = "default_body_limit")]
    pub(crate) body_limit: usize,
    /// Per-request timeout, seconds. Default 30.
    #[serde(default = "default_request_timeout")]
    pub(crate) request_timeout_secs: u64,
    /// A client must send a request's line and headers within this many seconds of starting it
    /// (or of connecting). Default 10.
    #[serde(default = "default_header_read_timeout")]
    pub(crate) header_read_timeout_secs: u64,
    /// A kept-alive connection with no request for this many seconds is closed. Default 60.
    #[serde(default = "default_idle_timeout")]
    pub(crate) idle_timeout_secs: u64,
    /// Open connections per listener; past it a new connection is refused. Default 10000.
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: usize,
    /// Open connections per client address (an IPv6 /64 counts as one). Default 256.
    #[serde(default = "default_max_connections_per_ip")]
    pub(crate) max_connections_per_ip: usize,
    /// A second address serving only `/metrics`, `/healthz` and `/readyz` (then gone from
    /// `listen`). Default none.
    #[serde(default)]
    pub(crate) ops_listen: Option<SocketAddr>,
    /// Addresses or CIDR blocks of reverse proxies whose `X-Forwarded-For` is believed. Default none.
    #[serde(default)]
    pub(crate) trusted_proxies: Vec<String>,
    /// The `Content-Security-Policy` of the `static_dir` files. Default: built from the
    /// configuration (calls to the proxy and Graph).
    #[serde(default)]
    pub(crate) static_csp: Option<String>,
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
fn default_header_read_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    10_000
}
fn default_max_connections_per_ip() -> usize {
    256
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
            header_read_timeout_secs: default_header_read_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            ops_listen: None,
            trusted_proxies: Vec::new(),
            static_csp: None,
        }
    }
}

/// `[entra]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EntraConfig {
    /// `global`, `us-gov`, `us-gov-dod` or `china`. Default `global`.
    #[serde(default = "default_cloud")]
    pub(crate) cloud: String,
    /// The authority users sign in through: `common`, `organizations`, `consumers`, a tenant ID
    /// or domain. Guests of a tenant sign in through the tenant; their mail works only through
    /// `common` or `organizations` (their home tenant).
    #[serde(default = "default_tenant")]
    pub(crate) tenant: String,
    /// The application's home tenant (ID or domain), for app-only calls such as invitations.
    #[serde(default)]
    pub(crate) app_tenant: Option<String>,
    /// The application (client) ID.
    #[serde(default)]
    pub(crate) client_id: String,
    /// Registered Web redirect URIs; the first is the default.
    #[serde(default)]
    pub(crate) redirect_uris: Vec<String>,
    /// Default delegated scopes (`openid offline_access` are added).
    #[serde(default = "default_scopes")]
    pub(crate) scopes: Vec<String>,
    /// The delegated scopes `/api/auth/token` may be asked for (the OpenID scopes are always
    /// allowed); others are refused with 403 `scope_not_allowed`. Default: [`Self::scopes`].
    #[serde(default)]
    pub(crate) allowed_scopes: Option<Vec<String>>,
    /// Client capabilities declared on every delegated token request (code redemption,
    /// refresh, keep-alive), as `claims={"access_token":{"xms_cc":{"values":[…]}}}`. `["cp1"]`
    /// makes Graph send claims challenges (Continuous Access Evaluation) instead of accepting a
    /// revoked token until it expires; answer them with `claims` on `/api/auth/token`. Default none.
    #[serde(default)]
    pub(crate) client_capabilities: Vec<String>,
    /// Override of the sign-in base URL (another cloud's host, or the emulator).
    #[serde(default)]
    pub(crate) login_base: Option<String>,
    /// Override of the Graph base URL.
    #[serde(default)]
    pub(crate) graph_base: Option<String>,
    /// A PEM file of extra CA certificates to trust upstream (a TLS-inspecting proxy's CA, or
    /// the emulator's).
    #[serde(default)]
    pub(crate) extra_ca_file: Option<PathBuf>,
    /// Upstream connect timeout, seconds. Default 5.
    #[serde(default = "default_connect_timeout")]
    pub(crate) connect_timeout_secs: u64,
    /// Upstream total timeout, seconds. Default 15.
    #[serde(default = "default_upstream_timeout")]
    pub(crate) upstream_timeout_secs: u64,
    /// The client credential.
    #[serde(default)]
    pub(crate) credential: CredentialConfig,
}

fn default_cloud() -> String {
    "global".to_owned()
}
fn default_tenant() -> String {
    "common".to_owned()
}
fn default_scopes() -> Vec<String> {
    graphgate_core::DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_upstream_timeout() -> u64 {
    15
}

/// Where a secret comes from: an environment variable or a file, never the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretSource {
    /// The environment variable holding it.
    #[serde(default)]
    pub(crate) env: Option<String>,
    /// The file holding it (trailing whitespace is trimmed).
    #[serde(default)]
    pub(crate) file: Option<PathBuf>,
}

impl SecretSource {
    /// Reads the secret; `what` names it in errors (the value never appears in them).
    pub(crate) fn read(&self, what: &str) -> Result<String, String> {
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

    pub(crate) fn is_set(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }
}

/// `[entra.credential]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CredentialConfig {
    /// The client secret's value.
    #[serde(default)]
    pub(crate) secret: SecretSource,
    /// Send the secret with HTTP Basic instead of in the form body.
    #[serde(default)]
    pub(crate) basic_auth: bool,
    /// The certificate (PEM) registered with the application, for client assertions.
    #[serde(default)]
    pub(crate) certificate_file: Option<PathBuf>,
    /// The certificate's private key (PEM, PKCS#8).
    #[serde(default)]
    pub(crate) key: SecretSource,
    /// `PS256` (default, `x5t#S256`) or `RS256` (`x5t`).
    #[serde(default = "default_alg")]
    pub(crate) algorithm: String,
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
pub(crate) struct SessionConfig {
    /// `sqlite` (default), `redis` or `memory`.
    #[serde(default = "default_store")]
    pub(crate) store: String,
    /// The SQLite file. Default `graphgate-sessions.db`.
    #[serde(default = "default_sqlite_path")]
    pub(crate) sqlite_path: PathBuf,
    /// One AES-256-GCM key sealing session records at rest: 32 bytes, base64 (the key ID
    /// `"0"`). Give this or [`Self::keys`].
    #[serde(default)]
    pub(crate) key: SecretSource,
    /// The session keys, each with an ID: the first seals, every one opens (key rotation).
    #[serde(default)]
    pub(crate) keys: Option<Vec<SessionKeyConfig>>,
    /// Absolute lifetime of a session, hours. Default 720 (30 days).
    #[serde(default = "default_absolute_hours")]
    pub(crate) absolute_lifetime_hours: u64,
    /// Idle timeout, hours. Default 168 (7 days).
    #[serde(default = "default_idle_hours")]
    pub(crate) idle_timeout_hours: u64,
    /// Use of a session (a cached token served, the session read) is written to the store at
    /// most once per this many minutes. Default 5.
    #[serde(default = "default_touch_minutes")]
    pub(crate) touch_interval_minutes: u64,
    /// At most one upstream `forceRefresh` per session per this many seconds. Default 30.
    #[serde(default = "default_force_refresh_secs")]
    pub(crate) force_refresh_interval_secs: u64,
    /// Sign-ins a client address may begin per minute. Default 60.
    #[serde(default = "default_sign_ins_per_minute")]
    pub(crate) sign_ins_per_minute: u32,
    /// The most sessions whose tokens are kept in memory. Default 100,000.
    #[serde(default = "default_token_cache_sessions")]
    pub(crate) token_cache_sessions: usize,
    /// For tests only: SQLite's `max_page_count`, the most pages the database may grow to, so a
    /// test can fill the store without filling a disk. Unset (the default): SQLite's own limit.
    #[serde(default)]
    pub(crate) sqlite_max_page_count: Option<u32>,
    /// With `store = "redis"`: the server, `redis://` or `rediss://` (TLS), with the database
    /// number as its path. Give this or [`Self::sentinels`].
    #[serde(default)]
    pub(crate) redis_url: Option<String>,
    /// The Redis password (AUTH), from an environment variable or a file; unset: none.
    #[serde(default)]
    pub(crate) redis_password: SecretSource,
    /// Put before every key graphgate writes, so instances of several deployments can share one
    /// Redis. Default `graphgate:`.
    #[serde(default = "default_redis_key_prefix")]
    pub(crate) redis_key_prefix: String,
    /// The longest a Redis command or connection may take, milliseconds. Default 2000.
    #[serde(default = "default_redis_timeout_ms")]
    pub(crate) redis_timeout_ms: u64,
    /// The refresh lease one instance holds while it refreshes a session, milliseconds; renewed
    /// while the holder works. Default 10000.
    #[serde(default = "default_redis_lock_ms")]
    pub(crate) redis_lock_ms: u64,
    /// The longest a request waits for another instance's refresh of its session, milliseconds.
    /// Default 10000.
    #[serde(default = "default_redis_lock_wait_ms")]
    pub(crate) redis_lock_wait_ms: u64,
    /// Redis Sentinel instead of `redis_url`: the sentinels' addresses (`redis://host:port`),
    /// which name the current primary of [`Self::sentinel_primary`].
    #[serde(default)]
    pub(crate) sentinels: Vec<String>,
    /// The name the sentinels monitor the primary under.
    #[serde(default)]
    pub(crate) sentinel_primary: Option<String>,
}

/// One entry of `session.keys`: an ID and where the key comes from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionKeyConfig {
    /// 1 to 32 characters of `A-Z a-z 0-9 . _ -`, unique; written into every record it seals.
    #[serde(default)]
    pub(crate) id: String,
    /// The environment variable holding the key.
    #[serde(default)]
    pub(crate) env: Option<String>,
    /// The file holding the key.
    #[serde(default)]
    pub(crate) file: Option<PathBuf>,
}

impl SessionKeyConfig {
    /// Where the key comes from.
    pub(crate) fn source(&self) -> SecretSource {
        SecretSource { env: self.env.clone(), file: self.file.clone() }
    }
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
fn default_touch_minutes() -> u64 {
    5
}
fn default_force_refresh_secs() -> u64 {
    30
}
fn default_sign_ins_per_minute() -> u32 {
    60
}
fn default_redis_key_prefix() -> String {
    "graphgate:".to_owned()
}
fn default_redis_timeout_ms() -> u64 {
    2000
}
fn default_redis_lock_ms() -> u64 {
    10_000
}
fn default_redis_lock_wait_ms() -> u64 {
    10_000
}
fn default_token_cache_sessions() -> usize {
    crate::tokens::DEFAULT_MAX_SESSIONS
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            store: default_store(),
            sqlite_path: default_sqlite_path(),
            key: SecretSource::default(),
            keys: None,
            absolute_lifetime_hours: default_absolute_hours(),
            idle_timeout_hours: default_idle_hours(),
            touch_interval_minutes: default_touch_minutes(),
            force_refresh_interval_secs: default_force_refresh_secs(),
            sign_ins_per_minute: default_sign_ins_per_minute(),
            token_cache_sessions: default_token_cache_sessions(),
            sqlite_max_page_count: None,
            redis_url: None,
            redis_password: SecretSource::default(),
            redis_key_prefix: default_redis_key_prefix(),
            redis_timeout_ms: default_redis_timeout_ms(),
            redis_lock_ms: default_redis_lock_ms(),
            redis_lock_wait_ms: default_redis_lock_wait_ms(),
            sentinels: Vec::new(),
            sentinel_primary: None,
        }
    }
}

/// `[invitations]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InvitationsConfig {
    /// `admin` (bearer API keys; default), `self-service` or `signed-in`.
    #[serde(default = "default_policy")]
    pub(crate) policy: String,
    /// Bearer API keys for `admin`, comma-separated.
    #[serde(default)]
    pub(crate) api_keys: SecretSource,
    /// Email domains `self-service` may invite.
    #[serde(default)]
    pub(crate) allowed_domains: Vec<String>,
    /// No longer accepted: usernames (`preferred_username`, `email`) are not a safe ground for
    /// authorization. Kept only so that `validate` refuses it with a message naming
    /// `allowed_object_ids`.
    #[serde(default)]
    pub(crate) allowed_accounts: Vec<String>,
    /// Object IDs (GUIDs) allowed to invite under `signed-in` besides the members of
    /// `entra.app_tenant`.
    #[serde(default)]
    pub(crate) allowed_object_ids: Vec<String>,
    /// Where redemption leads; default: this app's authorize URL (one-step onboarding).
    #[serde(default)]
    pub(crate) redirect_url: Option<String>,
    /// The text of the invitation email under `self-service` (and the default under the other
    /// policies); none: Microsoft's standard text only.
    #[serde(default)]
    pub(crate) message: Option<String>,
    /// Invitations per minute per client address and per email under `self-service`. Default 5.
    #[serde(default = "default_rate")]
    pub(crate) rate_limit_per_minute: u32,
    /// Invitations per minute per signed-in account under `signed-in`. Default 10.
    #[serde(default = "default_signed_in_rate")]
    pub(crate) signed_in_rate_limit_per_minute: u32,
    /// Invitations per minute per API key under `admin`. Default 120.
    #[serde(default = "default_admin_rate")]
    pub(crate) admin_rate_limit_per_minute: u32,
    /// Status look-ups per minute per caller (API key, signed-in account or client address).
    /// Default 30.
    #[serde(default = "default_status_rate")]
    pub(crate) status_rate_limit_per_minute: u32,
}

fn default_policy() -> String {
    "admin".to_owned()
}
fn default_rate() -> u32 {
    5
}
fn default_signed_in_rate() -> u32 {
    10
}
fn default_admin_rate() -> u32 {
    120
}
fn default_status_rate() -> u32 {
    30
}

impl Default for InvitationsConfig {
    fn default() -> Self {
        Self {
            policy: default_policy(),
            api_keys: SecretSource::default(),
            allowed_domains: Vec::new(),
            allowed_accounts: Vec::new(),
            allowed_object_ids: Vec::new(),
            redirect_url: None,
            message: None,
            rate_limit_per_minute: default_rate(),
            signed_in_rate_limit_per_minute: default_signed_in_rate(),
            admin_rate_limit_per_minute: default_admin_rate(),
            status_rate_limit_per_minute: default_status_rate(),
        }
    }
}

/// `[keepalive]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeepaliveConfig {
    /// Whether idle sessions are refreshed in the background. Default false.
    #[serde(default)]
    pub(crate) enabled: bool,
    /// How often the task runs, minutes. Default 60.
    #[serde(default = "default_interval")]
    pub(crate) interval_minutes: u64,
    /// Refresh sessions whose last refresh is older than this, hours. Default 24 × 14.
    #[serde(default = "default_refresh_after")]
    pub(crate) refresh_after_hours: u64,
    /// Refreshes at once. Default 4.
    #[serde(default = "default_concurrency")]
    pub(crate) concurrency: usize,
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

/// `[limits]`: per client address and minute (429 `rate_limited` beyond).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsConfig {
    /// `/api/auth/exchange` calls. Default 30.
    #[serde(default = "default_exchanges")]
    pub(crate) exchanges_per_minute: u32,
    /// `/api/auth/token` calls with `forceRefresh` or `claims` (they go upstream). Default 60.
    #[serde(default = "default_token_refreshes")]
    pub(crate) token_refreshes_per_minute: u32,
    /// `/api/auth/logout` calls. Default 30.
    #[serde(default = "default_logouts")]
    pub(crate) logouts_per_minute: u32,
}

fn default_exchanges() -> u32 {
    30
}
fn default_token_refreshes() -> u32 {
    60
}
fn default_logouts() -> u32 {
    30
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            exchanges_per_minute: default_exchanges(),
            token_refreshes_per_minute: default_token_refreshes(),
            logouts_per_minute: default_logouts(),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (the default) or `json`, one JSON object per line.
    #[serde(default)]
    pub format: LogFormat,
    /// The level or filter directives (`debug`, `graphgate_proxy=debug,info`); `RUST_LOG` takes
    /// precedence. Default `graphgate_proxy=info`.
    #[serde(default)]
    pub level: Option<String>,
}

/// The log's format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
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
}

/// Keys whose value is a list: an override is split at commas (a single item is a list too).
const LIST_KEYS: [&str; 9] = [
    "redirect_uris",
    "trusted_proxies",
    "scopes",
    "allowed_scopes",
    "allowed_origins",
    "allowed_domains",
    "allowed_accounts",
    "allowed_object_ids",
    "client_capabilities",
];

/// The client secret's variable, for [`Config::from_env`].
const ENV_CLIENT_SECRET: &str = "GRAPHGATE_CLIENT_SECRET";
/// The certificate file of a certificate credential, for [`Config::from_env`].
const ENV_CERTIFICATE_FILE: &str = "GRAPHGATE_CLIENT_CERTIFICATE_FILE";
/// The file with the certificate's private key, for [`Config::from_env`].
const ENV_KEY_FILE: &str = "GRAPHGATE_CLIENT_KEY_FILE";
/// The session key's variable, for [`Config::from_env`].
const ENV_SESSION_KEY: &str = "GRAPHGATE_SESSION_KEY";

/// Keys that say where a secret comes from (`{ env = … }` or `{ file = … }`); see
/// [`Config::from_toml_and_env`].
const SECRET_KEYS: [(&str, &str); 4] =
    [("session", "key"), ("session", "keys"), ("invitations", "api_keys"), ("entra", "credential")];

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
    use graphgate_core::{Cloud, RedirectUri, Tenant};

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
        assert_eq!(s.entra.tenant, Tenant::Organizations);
        assert_eq!(
            s.entra.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
            ["http://localhost:8080/"]
        );

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
        assert_eq!(s.entra.tenant, Tenant::Common);
        assert_eq!(s.entra.app_tenant, Some(Tenant::Domain("contoso.onmicrosoft.com".into())));
        assert_eq!(s.entra.endpoints.login_base().as_str(), "https://login.microsoftonline.com");
        assert_eq!(s.invitations.policy, InvitePolicy::Admin);
    }

    #[test]
    fn a_graph_base_is_accepted_with_or_without_its_version() {
        let graph = |base: &str| {
            let toml = GOOD.replace("[session]", &format!("graph_base = {base:?}\n[session]"));
            let s = Config::from_toml_and_env(&toml, []).expect("parses").validate().expect(base);
            (s.entra.endpoints.graph_base(), s.entra.endpoints.graph_default_scope())
        };
        let v1 = ("https://graph.microsoft.com/v1.0".to_owned(), "https://graph.microsoft.com/.default".to_owned());
        for base in [
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/",
            "https://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/v1.0/",
        ] {
            assert_eq!(graph(base), v1, "{base}");
        }
        let beta = ("https://graph.microsoft.com/beta".to_owned(), "https://graph.microsoft.com/.default".to_owned());
        assert_eq!(graph("https://graph.microsoft.com/beta"), beta);
        assert_eq!(graph("https://graph.microsoft.com/beta/"), beta);
        let toml = GOOD.replace("[session]", "graph_base = \"graph.microsoft.com/v1.0\"\n[session]");
        let problems = Config::from_toml_and_env(&toml, []).expect("parses").validate().expect_err("no scheme");
        assert!(problems.iter().any(|p| p.starts_with("entra.graph_base: ")), "{problems:?}");
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
        assert_eq!(s.entra.endpoints.cloud(), Cloud::China);
        assert_eq!(s.entra.endpoints.login_base().as_str(), "https://127.0.0.1:9443");
        assert_eq!(s.entra.endpoints.graph_base(), "https://microsoftgraph.chinacloudapi.cn/v1.0");
        assert_eq!(s.server.origins.iter().skip(1).count(), 2, "the allowed origins, after the public one");
        assert!(s.keepalive.enabled);
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
        assert_eq!(s.entra.capabilities_claims, None, "none by default");
        assert_eq!(s.entra.token_claims(None).expect("claims"), None);
        let toml = GOOD.replace("scopes = [", "client_capabilities = [\"cp1\"]\n        scopes = [");
        let s = Config::from_toml_and_env(&toml, []).expect("parses").validate().expect("valid");
        let cp1 = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;
        assert_eq!(s.entra.capabilities_claims.as_deref(), Some(cp1));
        assert_eq!(s.entra.token_claims(None).expect("claims").as_deref(), Some(cp1));
        let merged =
            s.entra.token_claims(Some(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#)).expect("claims");
        let merged: serde_json::Value = serde_json::from_str(&merged.expect("some")).expect("json");
        assert_eq!(merged["access_token"]["xms_cc"]["values"], serde_json::json!(["cp1"]));
        assert_eq!(merged["access_token"]["nbf"]["value"], "1");
        assert!(s.entra.token_claims(Some("[]")).is_err());
        let env = [("GRAPHGATE_ENTRA_CLIENT_CAPABILITIES".to_owned(), "cp1, cp2".to_owned())];
        let s = Config::from_toml_and_env(GOOD, env).expect("parses").validate().expect("valid");
        assert_eq!(s.entra.client_capabilities, ["cp1", "cp2"]);
        assert!(s.entra.capabilities_claims.expect("claims").contains(r#"["cp1","cp2"]"#));
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
    fn session_keys_are_a_list_with_ids_or_one_key() {
        let with = |session: &str| {
            let toml = GOOD.replace("key = { env = \"GRAPHGATE_TEST_KEY\" }", session);
            Config::from_toml_and_env(&toml, []).expect("parses").validate()
        };
        let s = with(r#"keys = [ { id = "2026-12", env = "A" }, { id = "2026-06", file = "/run/old.key" } ]"#)
            .expect("valid");
        let ids: Vec<&str> = s.session.keys.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["2026-12", "2026-06"]);
        assert_eq!(s.session.keys[1].1.file.as_deref(), Some(std::path::Path::new("/run/old.key")));
        assert_eq!(s.session.key_name("2026-12"), "session.keys[2026-12]");
        let s = with(r#"key = { env = "A" }"#).expect("valid");
        assert_eq!(s.session.keys.len(), 1);
        assert_eq!((s.session.keys[0].0.as_str(), s.session.key_name("0")), ("0", "session.key".to_owned()));

        for (session, expected) in [
            (
                r#"key = { env = "A" }
                keys = [ { id = "a", env = "B" } ]"#,
                "not both",
            ),
            ("", "session.key"),
            ("keys = []", "at least one"),
            (r#"keys = [ { id = "a", env = "A" }, { id = "a", env = "B" } ]"#, "twice"),
            (r#"keys = [ { id = "", env = "A" } ]"#, "1 to 32"),
            (r#"keys = [ { id = "has space", env = "A" } ]"#, "1 to 32"),
            (r#"keys = [ { id = "a" } ]"#, "session.keys[a]"),
        ] {
            let problems = with(session).expect_err(session);
            assert!(
                problems.iter().any(|p| p.starts_with("session.key") && p.contains(expected)),
                "{session}: {problems:?}"
            );
        }
        let toml =
            GOOD.replace("key = { env = \"GRAPHGATE_TEST_KEY\" }", r#"keys = [ { id = "a", env = "A", colour = 1 } ]"#);
        assert!(Config::from_toml_and_env(&toml, []).is_err(), "unknown keys in an entry are refused");
        // An override never says where a key comes from.
        let env = [("GRAPHGATE_SESSION_KEYS".to_owned(), "x".to_owned())];
        let c = Config::from_toml_and_env(GOOD, env).expect("parses");
        assert!(c.session.keys.is_none());
    }

    #[test]
    fn the_keyring_reads_every_key_and_names_the_failing_one() {
        let dir = std::env::temp_dir().join(format!("graphgate-keyring-{}", std::process::id()));
        std::fs::write(&dir, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").expect("write");
        let toml = GOOD.replace(
            "key = { env = \"GRAPHGATE_TEST_KEY\" }",
            &format!("keys = [ {{ id = \"new\", file = {dir:?} }}, {{ id = \"old\", file = {dir:?} }} ]"),
        );
        let s = Config::from_toml_and_env(&toml, []).expect("parses").validate().expect("valid");
        let (ring, texts) = s.session.keyring().expect("keys read");
        assert_eq!(ring.sealing().id(), "new");
        assert_eq!(texts.len(), 2);
        std::fs::write(&dir, "too short").expect("write");
        let err = s.session.keyring().expect_err("not a key");
        assert!(err.starts_with("session.keys[new]: ") && !err.contains("too short"), "{err}");
        std::fs::remove_file(&dir).expect("cleanup");
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
