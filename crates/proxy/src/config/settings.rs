//! The configuration as the proxy uses it: checked once, every problem reported at once, and
//! turned into the types the code needs (enums, `Duration`s, parsed URLs and tenants, the session
//! cookie's attributes), so no part of the proxy reads the file's strings again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use graphgate_core::assertion::AssertionAlg;
use graphgate_core::{AuthorizeRequest, BaseUrl, ClientId, Cloud, Endpoints, RedirectUri, Scope, Scopes, Tenant};
use tokio::sync::Semaphore;

use super::{Config, KeepaliveConfig, LimitsConfig, SecretSource, SessionConfig};
use crate::client_addr::Cidr;
use crate::cookie::SessionCookie;
use crate::session::{Keyring, LEGACY_KEY_ID, RedisOptions, RedisTarget, decode_key, is_valid_key_id};

/// The largest random delay the keep-alive waits before one session's refresh.
const MAX_JITTER: Duration = Duration::from_secs(30);

/// The longest interval between keep-alive passes: 90 days (any longer and refresh tokens lapse
/// anyway).
const MAX_INTERVAL_MINUTES: u64 = 90 * 24 * 60;

/// The longest `session.force_refresh_interval_secs`: an hour (a longer one would hold back a
/// page whose token Graph keeps refusing).
const MAX_FORCE_REFRESH_SECS: u64 = 3600;

/// The configuration, checked and turned into the types the proxy works with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listening and serving.
    pub(crate) server: ServerSettings,
    /// The session cookie.
    pub(crate) cookie: SessionCookie,
    /// The application registration and Microsoft's endpoints.
    pub(crate) entra: EntraSettings,
    /// The client credential's source.
    pub(crate) credential: CredentialSettings,
    /// Sessions.
    pub(crate) session: SessionSettings,
    /// Who may invite external users.
    pub(crate) invitations: InvitationSettings,
    /// The background refresh of idle sessions.
    pub(crate) keepalive: KeepaliveSettings,
    /// Per-client-address limits.
    pub(crate) limits: LimitsConfig,
}

impl Settings {
    /// Where the proxy listens.
    pub fn listen(&self) -> SocketAddr {
        self.server.listen
    }
}

/// `[server]`, parsed.
#[derive(Debug, Clone)]
pub(crate) struct ServerSettings {
    pub(crate) listen: SocketAddr,
    /// The origins allowed to call with credentials (CORS, CSRF): the public origin first, then
    /// the configured ones, without a trailing `/`.
    pub(crate) origins: Vec<String>,
    pub(crate) static_dir: Option<PathBuf>,
    /// Largest request body, bytes.
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
    /// How long a request's line and headers may take.
    pub(crate) header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub(crate) idle_timeout: Duration,
    /// Open connections per listener.
    pub(crate) max_connections: usize,
    /// Open connections per client address (IPv6: per /64).
    pub(crate) max_connections_per_ip: usize,
    /// The operations listener, if any.
    pub(crate) ops_listen: Option<SocketAddr>,
    /// Whose `X-Forwarded-For` is believed.
    pub(crate) trusted_proxies: Vec<Cidr>,
    /// The public origin is https: answers carry `Strict-Transport-Security`.
    pub(crate) https: bool,
    /// The `Content-Security-Policy` of the static files.
    pub(crate) static_csp: String,
}

/// `[entra]`, parsed.
#[derive(Debug, Clone)]
pub(crate) struct EntraSettings {
    /// The endpoints (cloud plus overrides).
    pub(crate) endpoints: Endpoints,
    /// The sign-in authority.
    pub(crate) tenant: Tenant,
    /// The app's home tenant for app-only calls.
    pub(crate) app_tenant: Option<Tenant>,
    pub(crate) client_id: ClientId,
    /// Registered redirect URIs; never empty, the first is the default.
    pub(crate) redirect_uris: Vec<RedirectUri>,
    /// Default delegated scopes, as configured.
    pub(crate) scopes: Scopes,
    /// What a sign-in asks for by default: core's `openid offline_access`, then [`Self::scopes`].
    pub(crate) sign_in_scopes: Scopes,
    /// What `/api/auth/token` may be asked for: `entra.allowed_scopes`, else [`Self::scopes`].
    /// (a list, not a [`Scopes`]: it may hold a `/.default` scope beside other resources' ones).
    pub(crate) allowed_scopes: Vec<Scope>,
    /// The configured client capabilities (`cp1`).
    pub(crate) client_capabilities: Vec<String>,
    /// The claims request declaring the capabilities, when there are any.
    pub(crate) capabilities_claims: Option<String>,
    pub(crate) extra_ca_file: Option<PathBuf>,
    pub(crate) connect_timeout: Duration,
    pub(crate) upstream_timeout: Duration,
}

impl EntraSettings {
    /// The `claims` of a delegated token request: `challenge` (a claims request, such as a
    /// decoded claims challenge) merged with the configured capabilities; the capabilities alone
    /// without one; `None` when there is neither.
    pub(crate) fn token_claims(&self, challenge: Option<&str>) -> Result<Option<String>, graphgate_core::Error> {
        match challenge {
            Some(c) => {
                let caps: Vec<&str> = self.client_capabilities.iter().map(String::as_str).collect();
                graphgate_core::merge_client_capabilities(c, &caps).map(Some)
            }
            None => Ok(self.capabilities_claims.clone()),
        }
    }
}

/// Where the client credential comes from.
#[derive(Debug, Clone)]
pub(crate) enum CredentialSettings {
    /// A client secret, sent in the form body or (`basic`) with HTTP Basic.
    Secret { secret: SecretSource, basic: bool },
    /// A certificate (PEM file) and its private key, signing assertions with `alg`.
    Certificate { certificate_file: PathBuf, key: SecretSource, alg: AssertionAlg },
}

/// Which backend keeps the sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreKind {
    /// In this process only (lost on restart).
    Memory,
    /// The SQLite file at this path.
    Sqlite(PathBuf),
    /// A Redis server (or the primary that Sentinel names), shared by every instance.
    Redis(RedisSettings),
}

/// Where the Redis store is and how it is used (`session.redis_*`, `session.sentinels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisSettings {
    pub(crate) options: RedisOptions,
    /// The password, read when the store is opened.
    pub(crate) password: Option<SecretSource>,
    /// The refresh lease's length (renewed while held).
    pub(crate) lock: Duration,
    /// The longest a request waits for another instance's refresh.
    pub(crate) lock_wait: Duration,
}

impl RedisSettings {
    /// The password, read from its source.
    pub(crate) fn read_password(&self) -> Result<Option<String>, String> {
        self.password.as_ref().map(|p| p.read("session.redis_password")).transpose()
    }
}

/// Bounds of the Redis times, milliseconds.
const REDIS_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 50..=60_000;
const REDIS_LOCK_MS: std::ops::RangeInclusive<u64> = 100..=600_000;
const REDIS_LOCK_WAIT_MS: std::ops::RangeInclusive<u64> = 0..=600_000;

/// Whether `url` is a Redis URL graphgate accepts.
fn is_redis_url(url: &str) -> bool {
    ["redis://", "rediss://"].iter().any(|scheme| url.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
}

/// `session.redis_*` and `session.sentinels`, checked.
fn redis_settings(c: &SessionConfig) -> Result<RedisSettings, Vec<String>> {
    let mut problems = Vec::new();
    let target = match (&c.redis_url, c.sentinels.is_empty()) {
        (Some(url), true) => {
            if !is_redis_url(url) {
                problems.push("session.redis_url: must start with redis:// or rediss://".to_owned());
            }
            RedisTarget::Url(url.clone())
        }
        (None, false) => {
            if c.sentinels.iter().any(|s| !is_redis_url(s)) {
                problems.push("session.sentinels: each must start with redis:// or rediss://".to_owned());
            }
            let primary = c.sentinel_primary.clone().unwrap_or_default();
            if primary.trim().is_empty() {
                problems.push("session.sentinel_primary: the name the sentinels monitor the primary under".to_owned());
            }
            RedisTarget::Sentinel { sentinels: c.sentinels.clone(), primary }
        }
        (Some(_), false) => {
            problems.push("session: give session.redis_url or session.sentinels, not both".to_owned());
            RedisTarget::Url(String::new())
        }
        (None, true) => {
            problems.push("session.redis_url: store = \"redis\" needs redis_url (or sentinels)".to_owned());
            RedisTarget::Url(String::new())
        }
    };
    let prefix = &c.redis_key_prefix;
    if prefix.len() > 64 || prefix.chars().any(|ch| ch.is_whitespace() || ch.is_control() || "{}".contains(ch)) {
        problems.push("session.redis_key_prefix: at most 64 characters, without spaces or braces".to_owned());
    }
    for (name, value, range) in [
        ("redis_timeout_ms", c.redis_timeout_ms, REDIS_TIMEOUT_MS),
        ("redis_lock_ms", c.redis_lock_ms, REDIS_LOCK_MS),
        ("redis_lock_wait_ms", c.redis_lock_wait_ms, REDIS_LOCK_WAIT_MS),
    ] {
        if !range.contains(&value) {
            problems.push(format!("session.{name}: between {} and {} milliseconds", range.start(), range.end()));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(RedisSettings {
        options: RedisOptions { target, prefix: prefix.clone(), timeout: Duration::from_millis(c.redis_timeout_ms) },
        password: c.redis_password.is_set().then(|| c.redis_password.clone()),
        lock: Duration::from_millis(c.redis_lock_ms),
        lock_wait: Duration::from_millis(c.redis_lock_wait_ms),
    })
}

/// `[session]`, parsed.
#[derive(Debug, Clone)]
pub(crate) struct SessionSettings {
    pub(crate) store: StoreKind,
    /// The session keys' IDs and sources, never empty: the first seals, all open. A lone
    /// `session.key` is the one key [`LEGACY_KEY_ID`].
    pub(crate) keys: Vec<(String, SecretSource)>,
    pub(crate) absolute_lifetime: Duration,
    pub(crate) idle_timeout: Duration,
    /// Use of a session is recorded at most this often (shorter than the idle timeout).
    pub(crate) touch_interval: Duration,
    /// At most one upstream forced refresh per session this often.
    pub(crate) force_refresh_interval: Duration,
    /// Sign-ins one client address may begin per minute.
    pub(crate) sign_ins_per_minute: u32,
    /// The most sessions whose tokens are kept in memory.
    pub(crate) token_cache_sessions: usize,
    /// SQLite's `max_page_count` for the database (for tests of a full store).
    pub(crate) sqlite_max_page_count: Option<u32>,
}

impl SessionSettings {
    /// What names the key with this ID in messages: `session.key` for a lone key, else
    /// `session.keys[ID]`.
    pub(crate) fn key_name(&self, id: &str) -> String {
        if self.keys.len() == 1 && id == LEGACY_KEY_ID {
            "session.key".to_owned()
        } else {
            format!("session.keys[{id}]")
        }
    }

    /// Reads every key and builds the keyring; the texts read come back too (to scrub them from
    /// reports). Errors name the key, never its value.
    pub(crate) fn keyring(&self) -> Result<(Keyring, Vec<String>), String> {
        let mut keys = Vec::with_capacity(self.keys.len());
        let mut texts = Vec::with_capacity(self.keys.len());
        for (id, source) in &self.keys {
            let name = self.key_name(id);
            let text = source.read(&name)?;
            let key = decode_key(&text).map_err(|e| format!("{name}: {e}"));
            texts.push(text);
            keys.push((id.clone(), key?));
        }
        Ok((Keyring::new(keys).map_err(|e| format!("session.keys: {e}"))?, texts))
    }
}

/// `session.key` or `session.keys`, checked: the IDs and sources, or the problems.
fn session_keys(cfg: &SessionConfig) -> Result<Vec<(String, SecretSource)>, Vec<String>> {
    match (&cfg.keys, cfg.key.is_set()) {
        (Some(_), true) => Err(vec!["session.keys: give session.key or session.keys, not both".into()]),
        (None, false) => Err(vec![
            "session.key: set the session encryption key (32 bytes, base64) with key.env or key.file, or list keys with IDs in session.keys"
                .into(),
        ]),
        (None, true) => Ok(vec![(LEGACY_KEY_ID.to_owned(), cfg.key.clone())]),
        (Some(list), false) => {
            let mut problems = Vec::new();
            if list.is_empty() {
                problems.push("session.keys: give at least one key".into());
            }
            let mut ids: Vec<&str> = Vec::new();
            for entry in list {
                if !is_valid_key_id(&entry.id) {
                    problems.push(format!(
                        "session.keys: the key ID {:?} is not 1 to 32 characters of A-Z a-z 0-9 . _ -",
                        entry.id
                    ));
                } else if ids.contains(&entry.id.as_str()) {
                    problems.push(format!("session.keys: the key ID {:?} is given twice", entry.id));
                }
                ids.push(&entry.id);
                if !entry.source().is_set() {
                    problems.push(format!("session.keys[{}]: set env = \"VAR\" or file = \"path\"", entry.id));
                }
            }
            if problems.is_empty() {
                Ok(list.iter().map(|e| (e.id.clone(), e.source())).collect())
            } else {
                Err(problems)
            }
        }
    }
}

/// How invitations are authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvitePolicy {
    /// Bearer API keys of the site's own backend.
    Admin,
    /// Anyone, for allowed domains, rate-limited.
    SelfService,
    /// Signed-in members of `entra.app_tenant`, and the object IDs of an allow-list.
    SignedIn,
}

/// `[invitations]`, parsed.
#[derive(Debug, Clone)]
pub(crate) struct InvitationSettings {
    pub(crate) policy: InvitePolicy,
    /// The API keys' source, when one is set.
    pub(crate) api_keys: Option<SecretSource>,
    pub(crate) allowed_domains: Vec<String>,
    /// Object IDs (lower-case GUIDs) that may invite under `signed-in` besides the tenant's members.
    pub(crate) allowed_object_ids: Vec<String>,
    pub(crate) redirect_url: Option<String>,
    /// The invitation email's text: always under `self-service`, the default under the others.
    pub(crate) message: Option<String>,
    /// `self-service`: per client address and per invited address, a minute.
    pub(crate) rate_limit_per_minute: u32,
    /// `signed-in`: per signed-in account, a minute.
    pub(crate) signed_in_rate_limit_per_minute: u32,
    /// `admin`: per API key, a minute.
    pub(crate) admin_rate_limit_per_minute: u32,
    /// `/api/invitations/status`: per caller, a minute.
    pub(crate) status_rate_limit_per_minute: u32,
}

/// `[keepalive]`, parsed.
#[derive(Debug, Clone)]
pub(crate) struct KeepaliveSettings {
    pub(crate) enabled: bool,
    /// Between passes: at least a minute, at most 90 days.
    pub(crate) interval: Duration,
    /// A session last refreshed this long ago is due.
    pub(crate) refresh_after: Duration,
    /// Refreshes at once: at least one, within what a semaphore counts.
    pub(crate) concurrency: usize,
    /// The random delay before each refresh stays below this: the interval, at most 30 seconds.
    pub(crate) jitter_bound: Duration,
}

impl KeepaliveSettings {
    fn of(cfg: &KeepaliveConfig) -> Self {
        Self {
            enabled: cfg.enabled,
            interval: interval(cfg),
            refresh_after: Duration::from_secs(cfg.refresh_after_hours.saturating_mul(3600)),
            concurrency: concurrency(cfg),
            jitter_bound: jitter_bound(cfg),
        }
    }
}

/// The time between passes: `interval_minutes`, at least one minute and at most 90 days.
fn interval(cfg: &KeepaliveConfig) -> Duration {
    Duration::from_secs(cfg.interval_minutes.clamp(1, MAX_INTERVAL_MINUTES) * 60)
}

/// Refreshes at once: `concurrency`, at least one (and within what a semaphore can count).
fn concurrency(cfg: &KeepaliveConfig) -> usize {
    cfg.concurrency.clamp(1, Semaphore::MAX_PERMITS)
}

/// The jitter bound the background task uses: the interval, at most [`MAX_JITTER`].
fn jitter_bound(cfg: &KeepaliveConfig) -> Duration {
    interval(cfg).min(MAX_JITTER)
}

fn hours(h: u64) -> Duration {
    Duration::from_secs(h.saturating_mul(3600))
}

impl Config {
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
        let client_id = match ClientId::parse(&self.entra.client_id) {
            Ok(id) => Some(id),
            Err(e) => {
                note(Err(format!("entra.client_id: {}", e.detail())));
                None
            }
        };
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
        let allowed_scopes = match &self.entra.allowed_scopes {
            None => scopes.iter().cloned().collect(),
            Some(list) => list
                .iter()
                .filter_map(|s| {
                    Scope::parse(s).map_err(|e| note(Err(format!("entra.allowed_scopes: {}", e.detail())))).ok()
                })
                .collect(),
        };
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
        let alg = match c.algorithm.as_str() {
            "PS256" => AssertionAlg::Ps256,
            "RS256" => AssertionAlg::Rs256,
            other => {
                note(Err(format!("entra.credential.algorithm: {other:?} is not PS256 or RS256")));
                AssertionAlg::Ps256
            }
        };
        let credential = match &c.certificate_file {
            Some(file) => CredentialSettings::Certificate { certificate_file: file.clone(), key: c.key.clone(), alg },
            None => CredentialSettings::Secret { secret: c.secret.clone(), basic: c.basic_auth },
        };
        let store = match self.session.store.as_str() {
            "sqlite" => StoreKind::Sqlite(self.session.sqlite_path.clone()),
            "memory" => StoreKind::Memory,
            "redis" => match redis_settings(&self.session) {
                Ok(redis) => StoreKind::Redis(redis),
                Err(problems) => {
                    problems.into_iter().for_each(|p| note(Err(p)));
                    StoreKind::Memory
                }
            },
            other => {
                note(Err(format!("session.store: {other:?} is not sqlite, redis or memory")));
                StoreKind::Memory
            }
        };
        let keys = session_keys(&self.session).unwrap_or_else(|found| {
            for p in found {
                note(Err(p));
            }
            Vec::new()
        });
        let (idle, absolute) = (self.session.idle_timeout_hours, self.session.absolute_lifetime_hours);
        if !(1..=24 * 3650).contains(&idle) || !(1..=24 * 3650).contains(&absolute) {
            note(Err("session: lifetimes must be between one hour and ten years".into()));
        }
        let touch = self.session.touch_interval_minutes;
        if touch.saturating_mul(60) >= idle.saturating_mul(3600) {
            note(Err("session.touch_interval_minutes: must be shorter than the idle timeout".into()));
        }
        if self.session.force_refresh_interval_secs > MAX_FORCE_REFRESH_SECS {
            note(Err(format!(
                "session.force_refresh_interval_secs: at most {MAX_FORCE_REFRESH_SECS} seconds (0: no limit)"
            )));
        }
        if self.session.sign_ins_per_minute == 0 {
            note(Err("session.sign_ins_per_minute: at least 1".into()));
        }
        if self.session.token_cache_sessions == 0 {
            note(Err("session.token_cache_sessions: at least 1".into()));
        }
        if self.keepalive.interval_minutes == 0 || self.keepalive.concurrency == 0 {
            note(Err("keepalive: interval_minutes and concurrency must be at least 1".into()));
        }
        let policy = match self.invitations.policy.as_str() {
            "admin" => InvitePolicy::Admin,
            "self-service" => InvitePolicy::SelfService,
            "signed-in" => InvitePolicy::SignedIn,
            other => {
                note(Err(format!("invitations.policy: {other:?} is not admin, self-service or signed-in")));
                InvitePolicy::Admin
            }
        };
        if policy == InvitePolicy::SelfService && self.invitations.allowed_domains.is_empty() {
            note(Err(
                "invitations.allowed_domains: self-service invitations need at least one allowed email domain".into()
            ));
        }
        let allowed_object_ids = invitation_rules(&self, policy, &tenant, app_tenant.as_ref()).unwrap_or_else(|e| {
            e.into_iter().for_each(|p| note(Err(p)));
            Vec::new()
        });
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
        let trusted_proxies = serving_rules(&self).unwrap_or_else(|found| {
            found.into_iter().for_each(|p| note(Err(p)));
            Vec::new()
        });
        let (Some(client_id), Some(first_redirect), true) = (client_id, redirect_uris.first(), problems.is_empty())
        else {
            return Err(problems);
        };
        let sign_in_scopes = AuthorizeRequest::new(&endpoints, &tenant, &client_id, first_redirect)
            .scopes(scopes.clone())
            .effective_scopes();
        let server = &self.server;
        let mut origins = vec![server.public_origin.trim_end_matches('/').to_owned()];
        origins.extend(server.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_owned()));
        let api_keys = self.invitations.api_keys.is_set().then(|| self.invitations.api_keys.clone());
        Ok(Settings {
            server: ServerSettings {
                listen: server.listen,
                origins,
                static_dir: server.static_dir.clone(),
                body_limit: server.body_limit,
                request_timeout: Duration::from_secs(server.request_timeout_secs),
                header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
                idle_timeout: Duration::from_secs(server.idle_timeout_secs),
                max_connections: server.max_connections,
                max_connections_per_ip: server.max_connections_per_ip,
                ops_listen: server.ops_listen,
                trusted_proxies,
                https: server.public_origin.starts_with("https://"),
                static_csp: server
                    .static_csp
                    .clone()
                    .unwrap_or_else(|| default_static_csp(&server.public_origin, &endpoints)),
            },
            cookie: SessionCookie::for_origins(&server.public_origin, &server.allowed_origins),
            entra: EntraSettings {
                endpoints,
                tenant,
                app_tenant,
                client_id,
                redirect_uris,
                scopes,
                sign_in_scopes,
                allowed_scopes,
                client_capabilities: self.entra.client_capabilities.clone(),
                capabilities_claims,
                extra_ca_file: self.entra.extra_ca_file.clone(),
                connect_timeout: Duration::from_secs(self.entra.connect_timeout_secs),
                upstream_timeout: Duration::from_secs(self.entra.upstream_timeout_secs),
            },
            credential,
            session: SessionSettings {
                store,
                keys,
                absolute_lifetime: hours(absolute),
                idle_timeout: hours(idle),
                touch_interval: Duration::from_secs(touch.saturating_mul(60)),
                force_refresh_interval: Duration::from_secs(self.session.force_refresh_interval_secs),
                sign_ins_per_minute: self.session.sign_ins_per_minute,
                token_cache_sessions: self.session.token_cache_sessions,
                sqlite_max_page_count: self.session.sqlite_max_page_count,
            },
            invitations: InvitationSettings {
                policy,
                api_keys,
                allowed_domains: self.invitations.allowed_domains.clone(),
                allowed_object_ids,
                redirect_url: self.invitations.redirect_url.clone(),
                message: self.invitations.message.clone(),
                rate_limit_per_minute: self.invitations.rate_limit_per_minute,
                signed_in_rate_limit_per_minute: self.invitations.signed_in_rate_limit_per_minute,
                admin_rate_limit_per_minute: self.invitations.admin_rate_limit_per_minute,
                status_rate_limit_per_minute: self.invitations.status_rate_limit_per_minute,
            },
            keepalive: KeepaliveSettings::of(&self.keepalive),
            limits: self.limits.clone(),
        })
    }
}

/// The longest `server.header_read_timeout_secs` and `server.idle_timeout_secs`: an hour.
const MAX_CONNECTION_TIMEOUT_SECS: u64 = 3600;

/// The `[server]` serving rules and `[limits]`: timeouts of 1 s to an hour, connection caps of at
/// least one (per address no more than in all), an `ops_listen` apart from `listen`, trusted
/// proxies as addresses or CIDR blocks (returned), a CSP that fits in a header, no zero limit.
fn serving_rules(cfg: &Config) -> Result<Vec<Cidr>, Vec<String>> {
    let server = &cfg.server;
    let mut problems = Vec::new();
    for (name, value) in
        [("header_read_timeout_secs", server.header_read_timeout_secs), ("idle_timeout_secs", server.idle_timeout_secs)]
    {
        if !(1..=MAX_CONNECTION_TIMEOUT_SECS).contains(&value) {
            problems.push(format!("server.{name}: 1 to {MAX_CONNECTION_TIMEOUT_SECS} seconds"));
        }
    }
    if server.max_connections == 0 || server.max_connections_per_ip == 0 {
        problems.push("server.max_connections and server.max_connections_per_ip: at least 1".to_owned());
    } else if server.max_connections_per_ip > server.max_connections {
        problems.push("server.max_connections_per_ip: at most server.max_connections".to_owned());
    }
    if server.ops_listen.is_some_and(|ops| ops == server.listen) {
        problems.push("server.ops_listen: must differ from server.listen".to_owned());
    }
    let mut proxies = Vec::with_capacity(server.trusted_proxies.len());
    for entry in &server.trusted_proxies {
        match Cidr::parse(entry) {
            Ok(c) => proxies.push(c),
            Err(e) => problems.push(format!("server.trusted_proxies: {e}")),
        }
    }
    if let Some(csp) = &server.static_csp {
        if csp.trim().is_empty() || axum::http::HeaderValue::from_str(csp).is_err() {
            problems.push("server.static_csp: a policy on one line of visible ASCII, or leave it out".to_owned());
        }
    }
    let limits = &cfg.limits;
    for (name, value) in [
        ("exchanges_per_minute", limits.exchanges_per_minute),
        ("token_refreshes_per_minute", limits.token_refreshes_per_minute),
        ("logouts_per_minute", limits.logouts_per_minute),
    ] {
        if value == 0 {
            problems.push(format!("limits.{name}: at least 1 (0 would refuse every request)"));
        }
    }
    if problems.is_empty() { Ok(proxies) } else { Err(problems) }
}

/// The static files' default policy: what the demo page needs and nothing more — scripts and
/// the wasm module from the proxy's origin, calls to the proxy and Graph (the sign-in host is
/// navigated to, never fetched), its own styles and images, no framing.
fn default_static_csp(public_origin: &str, endpoints: &Endpoints) -> String {
    let origin_of = |url: &str| graphgate_core::HttpUrl::parse(url).map(|u| u.origin().to_owned()).ok();
    let mut connect = vec!["'self'".to_owned()];
    for origin in [origin_of(public_origin), origin_of(&endpoints.graph_base())].into_iter().flatten() {
        if !connect.contains(&origin) {
            connect.push(origin);
        }
    }
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src {}; style-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

/// The longest `invitations.message` (Graph's limit on `customizedMessageBody`).
const MAX_INVITATION_MESSAGE: usize = 10_000;

/// The `[invitations]` rules beyond the policy's name: the object-ID allow-list (lower-case GUIDs,
/// returned), the refused old `allowed_accounts`, `signed-in` only with a single-tenant authority
/// or an allow-list and with `entra.app_tenant`, a message Graph accepts, and no zero limit.
fn invitation_rules(
    cfg: &Config,
    policy: InvitePolicy,
    tenant: &Tenant,
    app_tenant: Option<&Tenant>,
) -> Result<Vec<String>, Vec<String>> {
    let inv = &cfg.invitations;
    let mut problems = Vec::new();
    if !inv.allowed_accounts.is_empty() {
        problems.push(
            "invitations.allowed_accounts: no longer supported, as usernames (preferred_username, email) are not a \
             safe ground for authorization; list the inviters' object IDs in invitations.allowed_object_ids instead"
                .to_owned(),
        );
    }
    let mut ids = Vec::with_capacity(inv.allowed_object_ids.len());
    for id in &inv.allowed_object_ids {
        // An object ID has the GUID shape of an application ID.
        match ClientId::parse(id.trim()) {
            Ok(guid) => ids.push(guid.as_str().to_owned()),
            Err(_) => problems.push(format!(
                "invitations.allowed_object_ids: {id:?} is not an object ID (a GUID like 00000000-0000-0000-0000-000000000000)"
            )),
        }
    }
    if policy == InvitePolicy::SignedIn {
        if !tenant.is_concrete() && ids.is_empty() {
            problems.push(format!(
                "invitations.policy: \"signed-in\" with entra.tenant = {:?} lets accounts of any organization (or \
                 personal accounts) sign in; set entra.tenant to the tenant's ID, or list who may invite in \
                 invitations.allowed_object_ids",
                tenant.as_str()
            ));
        }
        if app_tenant.is_none() {
            problems.push(
                "invitations.policy: \"signed-in\" lets members of entra.app_tenant invite; set entra.app_tenant"
                    .to_owned(),
            );
        }
    }
    if inv.message.as_deref().is_some_and(|m| m.trim().is_empty() || m.chars().count() > MAX_INVITATION_MESSAGE) {
        problems.push(format!("invitations.message: give 1 to {MAX_INVITATION_MESSAGE} characters, or leave it out"));
    }
    let limits = [
        ("rate_limit_per_minute", inv.rate_limit_per_minute),
        ("signed_in_rate_limit_per_minute", inv.signed_in_rate_limit_per_minute),
        ("admin_rate_limit_per_minute", inv.admin_rate_limit_per_minute),
        ("status_rate_limit_per_minute", inv.status_rate_limit_per_minute),
    ];
    for (name, value) in limits {
        if value == 0 {
            problems.push(format!("invitations.{name}: at least 1 (0 would refuse every request)"));
        }
    }
    if problems.is_empty() { Ok(ids) } else { Err(problems) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_and_jitter_bound_have_floors_and_ceilings() {
        let mut cfg = KeepaliveConfig { interval_minutes: 0, ..KeepaliveConfig::default() };
        assert_eq!(interval(&cfg), Duration::from_secs(60), "zero would make tokio's interval panic");
        assert_eq!(jitter_bound(&cfg), MAX_JITTER);
        cfg.interval_minutes = 60;
        assert_eq!(interval(&cfg), Duration::from_secs(3600));
        assert_eq!(jitter_bound(&cfg), MAX_JITTER);
        cfg.interval_minutes = u64::MAX;
        assert_eq!(interval(&cfg), Duration::from_secs(90 * 24 * 3600), "no overflow in tokio's interval");
        cfg.concurrency = 0;
        assert_eq!(concurrency(&cfg), 1, "zero permits would wait forever");
        cfg.concurrency = usize::MAX;
        assert_eq!(concurrency(&cfg), Semaphore::MAX_PERMITS, "more would make the semaphore panic");
    }

    #[test]
    fn the_cookie_and_the_origins_are_decided_once() {
        let toml = r#"
            [server]
            public_origin = "https://app.example/"
            allowed_origins = ["https://other.example"]
            [entra]
            client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
            redirect_uris = ["https://app.example/"]
            credential = { secret = { env = "X" } }
            [session]
            store = "memory"
            key = { env = "Y" }
        "#;
        let s = Config::from_toml_and_env(toml, []).expect("parses").validate().expect("valid");
        assert_eq!(s.server.origins, ["https://app.example", "https://other.example"]);
        assert_eq!(s.cookie, SessionCookie::for_origin("https://app.example", true));
        assert_eq!(s.session.store, StoreKind::Memory);
        assert_eq!(s.entra.sign_in_scopes.to_string(), "openid offline_access User.Read");
        assert!(s.invitations.api_keys.is_none());
    }

    /// Validates a configuration whose `[session]` has `extra` beside a key.
    fn with_session(extra: &str) -> Result<Settings, Vec<String>> {
        let toml = format!(
            r#"
            [entra]
            client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
            redirect_uris = ["https://app.example/"]
            credential = {{ secret = {{ env = "X" }} }}
            [session]
            key = {{ env = "Y" }}
            {extra}
            "#
        );
        Config::from_toml_and_env(&toml, []).expect("parses").validate()
    }

    #[test]
    fn the_touch_and_forced_refresh_intervals_default_and_are_checked() {
        let validate = with_session;
        let s = validate("").expect("valid");
        assert_eq!(s.session.touch_interval, Duration::from_secs(300));
        assert_eq!(s.session.force_refresh_interval, Duration::from_secs(30));
        let s = validate("touch_interval_minutes = 0\nforce_refresh_interval_secs = 0").expect("valid");
        assert_eq!((s.session.touch_interval, s.session.force_refresh_interval), (Duration::ZERO, Duration::ZERO));
        let problems = validate("idle_timeout_hours = 1\ntouch_interval_minutes = 60").expect_err("refused");
        assert!(problems.iter().any(|p| p.starts_with("session.touch_interval_minutes")), "{problems:?}");
        let problems = validate("force_refresh_interval_secs = 3601").expect_err("refused");
        assert!(problems.iter().any(|p| p.starts_with("session.force_refresh_interval_secs")), "{problems:?}");
        let problems = validate(&format!("touch_interval_minutes = {}", i64::MAX)).expect_err("no overflow");
        assert!(problems.iter().any(|p| p.starts_with("session.touch_interval_minutes")), "{problems:?}");
    }

    #[test]
    fn the_redis_store_is_checked() {
        let validate = |extra: &str| with_session(&format!("store = \"redis\"\n{extra}"));
        let s = validate(r#"redis_url = "rediss://cache.example:6380/2""#).expect("valid");
        let StoreKind::Redis(redis) = s.session.store else { panic!("not redis: {:?}", s.session.store) };
        assert_eq!(redis.options.target, RedisTarget::Url("rediss://cache.example:6380/2".into()));
        assert_eq!((redis.options.prefix.as_str(), redis.options.timeout), ("graphgate:", Duration::from_secs(2)));
        assert_eq!(
            (redis.lock, redis.lock_wait, redis.password),
            (Duration::from_secs(10), Duration::from_secs(10), None)
        );
        let s = validate(
            r#"sentinels = ["redis://10.0.0.1:26379"]
            sentinel_primary = "main"
            redis_password = { env = "P" }"#,
        )
        .expect("valid");
        let StoreKind::Redis(redis) = s.session.store else { panic!("not redis") };
        let sentinel =
            RedisTarget::Sentinel { sentinels: vec!["redis://10.0.0.1:26379".into()], primary: "main".into() };
        assert_eq!(redis.options.target, sentinel);
        assert!(redis.password.is_some());
        for (extra, field) in [
            ("", "session.redis_url"),
            (r#"redis_url = "http://x""#, "session.redis_url"),
            (
                r#"redis_url = "redis://x"
                sentinels = ["redis://y:26379"]"#,
                "session: give",
            ),
            (r#"sentinels = ["redis://y:26379"]"#, "session.sentinel_primary"),
            (
                r#"sentinels = ["y:26379"]
                sentinel_primary = "m""#,
                "session.sentinels",
            ),
            (
                r#"redis_url = "redis://x"
                redis_key_prefix = "a b""#,
                "session.redis_key_prefix",
            ),
            (
                r#"redis_url = "redis://x"
                redis_timeout_ms = 0"#,
                "session.redis_timeout_ms",
            ),
            (
                r#"redis_url = "redis://x"
                redis_lock_ms = 99"#,
                "session.redis_lock_ms",
            ),
            (
                r#"redis_url = "redis://x"
                redis_lock_wait_ms = 600001"#,
                "session.redis_lock_wait_ms",
            ),
        ] {
            let problems = validate(extra).expect_err(extra);
            assert!(problems.iter().any(|p| p.starts_with(field)), "{extra}: {problems:?}");
        }
    }

    fn with_server(server: &str, limits: &str) -> Result<Settings, Vec<String>> {
        let toml = format!(
            r#"
            [server]
            {server}
            [entra]
            client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
            redirect_uris = ["https://app.example/"]
            graph_base = "https://graph.example:8443/v1.0"
            login_base = "https://login.example"
            credential = {{ secret = {{ env = "X" }} }}
            [session]
            store = "memory"
            key = {{ env = "Y" }}
            [limits]
            {limits}
        "#
        );
        Config::from_toml_and_env(&toml, []).expect("parses").validate()
    }

    #[test]
    fn the_serving_rules_default_safely_and_are_checked() {
        let s = with_server("", "").expect("valid");
        let server = &s.server;
        assert_eq!(
            (server.header_read_timeout, server.idle_timeout),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        assert_eq!((server.max_connections, server.max_connections_per_ip), (10_000, 256));
        assert_eq!((server.ops_listen, server.trusted_proxies.len(), server.https), (None, 0, false));
        assert_eq!(
            (s.limits.exchanges_per_minute, s.limits.token_refreshes_per_minute, s.limits.logouts_per_minute),
            (30, 60, 30)
        );
        let csp = &server.static_csp;
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://localhost:8080 https://graph.example:8443;"),
            "the proxy and Graph, not the sign-in host: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'") && csp.starts_with("default-src 'none'"), "{csp}");

        let s = with_server(
            "public_origin = \"https://app.example\"\nops_listen = \"127.0.0.1:9100\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nstatic_csp = \"default-src 'self'\"",
            "exchanges_per_minute = 3",
        )
        .expect("valid");
        assert!(s.server.https);
        assert_eq!(s.server.ops_listen, Some("127.0.0.1:9100".parse().expect("an address")));
        assert_eq!(
            s.server.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.0.0.0/8", "::1/128"]
        );
        assert_eq!(s.server.static_csp, "default-src 'self'");
        assert_eq!(s.limits.exchanges_per_minute, 3);

        for (server, limits, field) in [
            ("header_read_timeout_secs = 0", "", "server.header_read_timeout_secs"),
            ("idle_timeout_secs = 3601", "", "server.idle_timeout_secs"),
            ("max_connections = 0", "", "server.max_connections"),
            ("max_connections = 10\nmax_connections_per_ip = 11", "", "server.max_connections_per_ip"),
            ("ops_listen = \"127.0.0.1:8080\"", "", "server.ops_listen"),
            ("trusted_proxies = [\"10.0.0.0/33\"]", "", "server.trusted_proxies"),
            ("trusted_proxies = [\"proxy.example\"]", "", "server.trusted_proxies"),
            ("static_csp = \"\"", "", "server.static_csp"),
            ("static_csp = \"a\\nb\"", "", "server.static_csp"),
            ("", "logouts_per_minute = 0", "limits.logouts_per_minute"),
        ] {
            let problems = with_server(server, limits).expect_err(server);
            assert!(problems.iter().any(|p| p.starts_with(field)), "{server} {limits}: {problems:?}");
        }
        let env = [("GRAPHGATE_SERVER_TRUSTED_PROXIES".to_owned(), "10.0.0.1, 192.168.0.0/16".to_owned())];
        let toml = "[entra]\nclient_id = \"x\"\n";
        let c = Config::from_toml_and_env(toml, env).expect("parses");
        assert_eq!(c.server.trusted_proxies, ["10.0.0.1", "192.168.0.0/16"], "a list key");
        let env = [("GRAPHGATE_LIMITS_EXCHANGES_PER_MINUTE".to_owned(), "7".to_owned())];
        assert_eq!(Config::from_toml_and_env(toml, env).expect("parses").limits.exchanges_per_minute, 7);
    }

    fn cookie_for(public: &str, allowed: &str) -> String {
        let toml = format!(
            r#"
            [server]
            public_origin = "{public}"
            allowed_origins = {allowed}
            [entra]
            client_id = "6731de76-14a6-49ae-97bc-6eba6914391e"
            redirect_uris = ["https://app.example/"]
            credential = {{ secret = {{ env = "X" }} }}
            [session]
            store = "memory"
            key = {{ env = "Y" }}
        "#
        );
        let s = Config::from_toml_and_env(&toml, []).expect("parses").validate().expect("valid");
        s.cookie.set(graphgate_core::SessionId::new("abc"), 60)
    }

    #[test]
    fn the_cookie_is_strict_when_every_allowed_origin_is_same_site() {
        for (public, allowed) in [
            ("https://app.example.com", r#"["https://admin.example.com"]"#),
            ("https://example.com", r#"["https://www.EXAMPLE.com:8443", "https://a.b.example.com"]"#),
            ("https://127.0.0.1:8443", r#"["https://127.0.0.1:9443"]"#),
            ("https://localhost:8443", r#"["https://localhost:9443"]"#),
        ] {
            let set = cookie_for(public, allowed);
            assert!(set.contains("SameSite=Strict") && set.contains("Secure"), "{public} {allowed}: {set}");
        }
    }

    #[test]
    fn the_cookie_is_none_only_when_an_allowed_origin_is_cross_site() {
        for (public, allowed) in [
            ("https://app.example.com", r#"["https://admin.example.com", "https://app.other.com"]"#),
            ("https://app.example.com", r#"["http://admin.example.com"]"#),
            ("https://127.0.0.1", r#"["https://127.0.0.2"]"#),
            ("https://localhost", r#"["https://app.localhost"]"#),
        ] {
            let set = cookie_for(public, allowed);
            assert!(set.contains("SameSite=None") && set.contains("Secure"), "{public} {allowed}: {set}");
        }
        // Plain http (local development) keeps Lax, not Secure, as before.
        let set = cookie_for("http://localhost:8080", r#"["http://localhost:5173", "http://other.example"]"#);
        assert!(set.contains("SameSite=Lax") && !set.contains("Secure"), "{set}");
        // No other origin at all: as before.
        let set = cookie_for("https://app.example.com", "[]");
        assert!(set.contains("SameSite=Lax") && set.contains("Secure"), "{set}");
    }
}
