//! graphgate-emulator: an offline Entra ID (v2.0) and Microsoft Graph subset that behaves like
//! the real services — HTTPS, signed tokens, sign-in and consent pages, guests and invitations,
//! mailboxes — so tests, benchmarks and the demo run without reaching Microsoft.
//!
//! In-process use: [`spawn`] starts it on an ephemeral loopback port and returns a [`Handle`]
//! with its base URL, its CA certificate and the control operations (clock, faults, counters,
//! mailboxes, revocation, sign-in sessions, CORS switches, claims challenges). The `graphgate-emulator` binary serves the same thing.

mod challenges;
mod control;
mod correlation;
mod cors;
mod errors;
mod faults;
mod graph;
mod identity;
mod ids;
mod jwt;
mod seed;
mod server;
mod state;
#[cfg(test)]
mod test_support;
mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultKind};
pub use ids::guid;
pub use seed::{
    AppSeed, Audience, RedirectKind, RedirectSeed, SANDBOX_CERTIFICATE_PEM, SANDBOX_KEY_PEM, SecretSeed, Seed,
    TenantSeed, UserSeed,
};

/// How to run the emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve HTTPS with a local CA (the default). Plain HTTP is for quick manual use only:
    /// Microsoft's client libraries refuse `http://` authorities.
    pub https: bool,
    /// Where to write the CA certificate (PEM); a temporary file when `None`.
    pub ca_file: Option<PathBuf>,
    /// Whether the HTTP control API under `/_emulator/` is served.
    pub control_api: bool,
    /// The world to start from.
    pub seed: Seed,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            https: true,
            ca_file: None,
            control_api: true,
            seed: Seed::sandbox(),
        }
    }
}

/// How far the control API may move the clock past real time: about 100 years, far beyond any
/// lifetime the emulator models (90 days of refresh-token inactivity), and far from overflowing
/// the arithmetic done on times.
pub const MAX_CLOCK_OFFSET_SECS: u64 = 100 * 366 * 24 * 3600;

/// What every request handler shares.
pub(crate) struct Ctx {
    /// `https://127.0.0.1:PORT`: the base of both the login and the Graph endpoints.
    pub base: String,
    /// The token-signing key.
    pub keys: jwt::Keys,
    /// The directory and everything else that changes.
    world: Mutex<state::World>,
    /// Fault rules and call counters.
    pub faults: faults::Faults,
    /// Seconds the clock has been moved forward.
    offset: AtomicU64,
    /// Whether `/_emulator/` is served.
    pub control_api: bool,
    /// The switches of Graph's CORS policy.
    pub cors: cors::Switches,
    /// Bumped to make every open connection close once its request in flight is answered.
    pub(crate) recycle: watch::Sender<u64>,
}

impl Ctx {
    /// The emulator's clock: real time plus the offset set through the control API.
    pub(crate) fn now(&self) -> u64 {
        let real = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        real.saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Locks the world.
    pub(crate) fn world(&self) -> MutexGuard<'_, state::World> {
        faults::lock(&self.world)
    }

    /// Moves the clock forward by `secs`, unless that would take it more than
    /// [`MAX_CLOCK_OFFSET_SECS`] past real time (then nothing moves and the error says why).
    pub(crate) fn advance(&self, secs: u64) -> Result<(), String> {
        self.offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |offset| {
                offset.checked_add(secs).filter(|o| *o <= MAX_CLOCK_OFFSET_SECS)
            })
            .map(drop)
            .map_err(|offset| {
                format!(
                    "the clock may move at most {MAX_CLOCK_OFFSET_SECS} seconds (about 100 years) past real time; \
                     it is {offset} seconds ahead already"
                )
            })
    }

    /// Adds a fault rule; a connection-level one (`tls`) closes the open connections first, so
    /// the next request needs a fresh one.
    pub(crate) fn add_rule(&self, rule: faults::FaultRule) {
        let recycle = rule.fault.kind.is_connection_level();
        self.faults.add_rule(rule);
        if recycle {
            self.recycle.send_modify(|generation| *generation = generation.wrapping_add(1));
        }
    }

    /// Replaces the world with one built from `seed`.
    pub(crate) fn reseed(&self, seed: &Seed) -> Result<(), String> {
        let world = state::World::from_seed(seed, self.now())?;
        *self.world() = world;
        Ok(())
    }
}

/// A running emulator.
pub struct Handle {
    ctx: Arc<Ctx>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    ca_file: Option<PathBuf>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("base_url", &self.ctx.base).finish_non_exhaustive()
    }
}

/// Starts the emulator.
pub async fn spawn(config: Config) -> Result<Handle, String> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if config.https { "https" } else { "http" };
    let keys = tokio::task::spawn_blocking(jwt::Keys::generate).await.map_err(|e| e.to_string())??;
    let tls = if config.https { Some(tls::Tls::generate()?) } else { None };
    let ctx = Arc::new(Ctx {
        base: format!("{scheme}://{addr}"),
        keys,
        world: Mutex::new(state::World::default()),
        faults: faults::Faults::default(),
        offset: AtomicU64::new(0),
        control_api: config.control_api,
        cors: cors::Switches::default(),
        recycle: watch::channel(0).0,
    });
    ctx.reseed(&config.seed)?;
    let (ca_pem, ca_file) = match &tls {
        Some(t) => {
            let path = config
                .ca_file
                .clone()
                .unwrap_or_else(|| std::env::temp_dir().join(format!("graphgate-emulator-ca-{}.pem", addr.port())));
            std::fs::write(&path, &t.ca_pem)
                .map_err(|e| format!("cannot write the CA certificate to {}: {e}", path.display()))?;
            (Some(t.ca_pem.clone()), Some(path))
        }
        None => (None, None),
    };
    let (shutdown, stop) = watch::channel(false);
    let task = tokio::spawn(server::serve(listener, tls.map(|t| t.config), ctx.clone(), stop));
    Ok(Handle { ctx, addr, ca_pem, ca_file, shutdown, task })
}

impl Handle {
    /// `https://127.0.0.1:PORT`: the login base URL and the Graph base URL (Graph under `/v1.0`).
    pub fn base_url(&self) -> &str {
        &self.ctx.base
    }

    /// The address listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate clients must trust (PEM), when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The file the CA certificate was written to.
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// The emulator's current time (Unix seconds).
    pub fn now(&self) -> u64 {
        self.ctx.now()
    }

    /// Moves the emulator's clock forward (expiring codes, tokens and refresh tokens).
    ///
    /// # Panics
    ///
    /// When the clock would end up more than [`MAX_CLOCK_OFFSET_SECS`] past real time (a test's
    /// mistake; the control API answers 400 instead).
    #[allow(clippy::panic, reason = "a test helper: an absurd offset is the test's own bug")]
    pub fn advance_clock(&self, secs: u64) {
        if let Err(e) = self.ctx.advance(secs) {
            panic!("advance_clock: {e}");
        }
    }

    /// Replaces the whole world with `seed`.
    pub fn reseed(&self, seed: &Seed) -> Result<(), String> {
        self.ctx.reseed(seed)
    }

    /// Adds a fault rule. A `tls` fault also closes the connections open now, so the next
    /// request opens a fresh one (and meets the fault).
    ///
    /// # Panics
    ///
    /// When the rule is out of bounds (a test's mistake; the control API answers 400 instead).
    #[allow(clippy::panic, reason = "a test helper: an invalid rule is the test's own bug")]
    pub fn add_fault(&self, fault: Fault) {
        let rule = faults::FaultRule { fault, in_batch: false };
        if let Err(e) = rule.check() {
            panic!("add_fault: {e}");
        }
        self.ctx.add_rule(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.ctx.faults.clear();
    }

    /// Adds a fault rule for the sub-requests of `$batch` (`"in_batch": true` in the control
    /// API): a matching sub-request answers the fault inside the batch. Drop and malformed-JSON
    /// faults are refused (a sub-request has neither a connection nor a body of its own).
    pub fn add_batch_fault(&self, fault: Fault) -> Result<(), String> {
        let rule = faults::FaultRule { fault, in_batch: true };
        rule.check()?;
        self.ctx.faults.add_rule(rule);
        Ok(())
    }

    /// Whether Graph's CORS answers list `Retry-After` in `Access-Control-Expose-Headers`
    /// (default true, as Graph does today; false as it did in 2022).
    pub fn set_expose_retry_after(&self, expose: bool) {
        self.ctx.cors.set_expose_retry_after(expose);
    }

    /// Makes Graph challenge the `cp1` tokens of the account owning `address` (401
    /// `insufficient_claims` with `claims`, by default a CAE `nbf` claim) until a token
    /// satisfies it; with `interaction`, only an interactive sign-in does. Returns the challenge
    /// as the control API answers it (`{account, userId, id, claims, interaction}`).
    pub fn claims_challenge(&self, address: &str, claims: Option<Value>, interaction: bool) -> Result<Value, String> {
        control::claims_challenge(&self.ctx, address, claims, interaction).map_err(String::from)
    }

    /// Removes every claims challenge.
    pub fn clear_claims_challenges(&self) {
        self.ctx.world().claims_challenges.clear();
    }

    /// Calls per endpoint (`"POST /common/oauth2/v2.0/token"`) and per grant (`"token:refresh_token"`).
    pub fn calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.ctx.faults.calls()
    }

    /// One counter (0 when never counted).
    pub fn call_count(&self, key: &str) -> u64 {
        self.calls().get(key).copied().unwrap_or(0)
    }

    /// Resets the call counters.
    pub fn reset_calls(&self) {
        self.ctx.faults.reset_calls();
    }

    /// Revokes every refresh token of the user owning `address` (AADSTS50173 afterwards).
    pub fn revoke(&self, address: &str) -> Result<(), String> {
        control::revoke(&self.ctx, address)
    }

    /// The messages in the mailbox of the user owning `address`, every folder, as Graph JSON
    /// with a `parentFolder` well-known name added.
    pub fn mailbox(&self, address: &str) -> Result<Vec<Value>, String> {
        control::mailbox(&self.ctx, address)
    }

    /// Every refresh token issued so far (for tests that check tokens never leak elsewhere).
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.ctx.world().refresh_tokens.keys().cloned().collect()
    }

    /// Opens a sign-in session for the account owning `address`, as choosing it on the sign-in
    /// page does, and returns the cookie a browser would send with it (`emu_session=...`). An
    /// authorize request carrying it and a `login_hint` naming the account skips the picker.
    pub fn session_cookie(&self, address: &str) -> Result<String, String> {
        let (session, _) = control::open_session(&self.ctx, address)?;
        Ok(identity::cookie_pair(&session))
    }

    /// The invitations sent so far, as JSON.
    pub fn invitations(&self) -> Vec<Value> {
        control::invitations(&self.ctx)
    }

    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        if let Some(path) = &self.ca_file {
            let _ = std::fs::remove_file(path);
        }
    }
}
