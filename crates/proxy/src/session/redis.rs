//! The Redis session store, shared by every proxy instance: sealed records, pending sign-ins and
//! the account index (each write one Lua script, so no reader sees half of it), and what the
//! instances coordinate through — the refresh lease, the access tokens and the app-only token,
//! each sealed as the records are.
//!
//! Keys, under the configured prefix `P` (default `graphgate:`):
//!
//! | key | what |
//! | --- | --- |
//! | `P s:{K}` | hash: `b` the sealed record, `i` its account index, `e` its end (Unix seconds), `t` the sealed access tokens, `v` their version |
//! | `P p:{K}` | hash: a pending sign-in (`b`, `e`) |
//! | `P l:{K}` | the refresh lease of session `K` (a random token, `PX`) |
//! | `P a:I` | set: the store keys whose account index is `I` |
//! | `P sessions`, `P pending` | sorted sets: store keys by end time (for counts, scans and the purge) |
//! | `P app`, `P l:app` | the sealed app-only token, and its lease |
//!
//! `K` is the store key (a SHA-256, never the session ID). Each record's Redis TTL is what is
//! left of its lifetime when it is written, so Redis drops it by itself at its end; whether a
//! record is live is still decided by the time the caller passes in (`e`), as in every store.
//! The braces are a Redis Cluster hash tag: a session's record, tokens and lease share a slot.

use std::future::Future;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, Cmd, IntoConnectionInfo, RedisError, RedisFuture, Script, Value};

use super::{PENDING_LIFETIME, Record, SessionKey, SessionStore, StoreError, StoreFuture};

/// Which Redis server, and how it is used (from `session.redis_*` and `session.sentinels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisOptions {
    pub(crate) target: RedisTarget,
    /// Put before every key.
    pub(crate) prefix: String,
    /// The longest one command or connection may take.
    pub(crate) timeout: Duration,
}

/// Which Redis server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RedisTarget {
    /// This one (`redis://` or `rediss://`).
    Url(String),
    /// The primary the sentinels name `primary`.
    Sentinel { sentinels: Vec<String>, primary: String },
}

/// The longest a record's Redis TTL is set to (ten years: the longest session lifetime).
const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

/// How many records one round trip reads during a scan.
const SCAN_CHUNK: usize = 500;

/// Replaces the record `KEYS[1]` (ARGV: blob, index, end, TTL, store key, index prefix); with
/// `ARGV[7]` = `new`, creates it (dropping its tokens), else only replaces an existing one and,
/// with `ARGV[7]` = `if`, only if its blob is still `ARGV[8]`. `KEYS[2]` is the end-time set.
static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[7] ~= 'new' then
  if not exists then return 0 end
  if ARGV[7] == 'if' and redis.call('HGET', KEYS[1], 'b') ~= ARGV[8] then return 0 end
end
local old = redis.call('HGET', KEYS[1], 'i')
if old and old ~= '' and old ~= ARGV[2] then redis.call('SREM', ARGV[6] .. old, ARGV[5]) end
if ARGV[7] == 'new' then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'b', ARGV[1], 'i', ARGV[2], 'e', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
if ARGV[2] ~= '' then
  local set = ARGV[6] .. ARGV[2]
  redis.call('SADD', set, ARGV[5])
  if redis.call('TTL', set) < tonumber(ARGV[4]) then redis.call('EXPIRE', set, ARGV[4]) end
end
return 1
",
    )
});

/// Deletes the record `KEYS[1]` and its index entry (ARGV: store key, index prefix).
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('HGET', KEYS[1], 'i')
if old and old ~= '' then redis.call('SREM', ARGV[2] .. old, ARGV[1]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
",
    )
});

/// Removes what ended at or before `ARGV[1]` from the session set `KEYS[1]` and the pending set
/// `KEYS[2]`, with their records (ARGV: now, record prefix, index prefix, pending prefix).
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  local rec = ARGV[2] .. '{' .. m .. '}'
  local i = redis.call('HGET', rec, 'i')
  if i and i ~= '' then redis.call('SREM', ARGV[3] .. i, m) end
  redis.call('DEL', rec)
end
n = n + redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('DEL', ARGV[4] .. '{' .. m .. '}')
end
n = n + redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
return n
",
    )
});

/// Keeps a pending sign-in `KEYS[1]` (ARGV: blob, end, TTL, store key; `KEYS[2]` the pending set).
static PUT_PENDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'b', ARGV[1], 'e', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
return 1
",
    )
});

/// Takes the pending sign-in `KEYS[1]`: returns `{blob, end}` and removes it (ARGV: store key).
static TAKE_PENDING: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local got = redis.call('HMGET', KEYS[1], 'b', 'e')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return got
",
    )
});

/// Stores sealed tokens `ARGV[1]` on the live record `KEYS[1]` and returns their new version;
/// 0 when there is no record.
static PUT_TOKENS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 't', ARGV[1])
return redis.call('HINCRBY', KEYS[1], 'v', 1)
",
    )
});

/// Renews the lease `KEYS[1]` for `ARGV[2]` ms if `ARGV[1]` still holds it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
",
    )
});

/// Releases the lease `KEYS[1]` if `ARGV[1]` still holds it (compare and delete).
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// A connection to the current primary: the connection manager (which reconnects by itself), or
/// one found through Sentinel (found again after a failover).
#[derive(Clone)]
enum Link {
    Direct(ConnectionManager),
    Sentinel(MultiplexedConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Direct(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Direct(c) => c.req_packed_commands(cmd, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Direct(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}

/// How the store reaches Redis.
enum Route {
    Direct(ConnectionManager),
    Sentinel(Box<Sentinel>),
}

/// The primary found through Sentinel, kept until an error says it moved.
struct Sentinel {
    client: tokio::sync::Mutex<SentinelClient>,
    current: Mutex<Option<MultiplexedConnection>>,
    config: AsyncConnectionConfig,
}

/// The Redis store.
pub(crate) struct RedisStore {
    route: Route,
    prefix: String,
    timeout: Duration,
    /// Where the store is, for messages (no password).
    place: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("place", &self.place).field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// A Redis error as a store error: the kind and the server's word, never a key or a value.
fn unavailable(e: &RedisError) -> StoreError {
    let what = match e.code() {
        Some(code) => format!("redis answered {code}"),
        None if e.is_timeout() => "redis did not answer in time".to_owned(),
        None if e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() => {
            "redis cannot be reached".to_owned()
        }
        None => format!("redis failed ({:?})", e.kind()),
    };
    StoreError::Unavailable(what)
}

/// Whether `e` means the connection no longer leads to a usable primary (so Sentinel is asked
/// again), and the command surely did not run (so it may be sent again at once).
fn lost_primary(e: &RedisError) -> (bool, bool) {
    let refused = matches!(e.code(), Some("READONLY" | "MASTERDOWN" | "LOADING")) || e.is_connection_refusal();
    (refused || e.is_connection_dropped() || e.is_io_error() || e.is_timeout(), refused)
}

impl RedisStore {
    /// A store as `settings` say, with `password` (AUTH). Connecting happens on
    /// first use, so a Redis that is down now is reported by the first command, and reached once
    /// it is back.
    pub(crate) fn open(settings: &RedisOptions, password: Option<&str>) -> Result<Self, String> {
        let with_password = |info: redis::ConnectionInfo| match password {
            Some(p) => {
                let redis = info.redis_settings().clone().set_password(p);
                info.set_redis_settings(redis)
            }
            None => info,
        };
        let (route, place) = match &settings.target {
            RedisTarget::Url(url) => {
                let info = url.as_str().into_connection_info().map_err(|e| format!("session.redis_url: {e}"))?;
                let place = format!("{}", info.addr());
                let client = redis::Client::open(with_password(info)).map_err(|e| format!("session.redis_url: {e}"))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(settings.timeout))
                    .set_response_timeout(Some(settings.timeout))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_millis(500));
                let manager = ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| format!("session.redis_url: {e}"))?;
                (Route::Direct(manager), place)
            }
            RedisTarget::Sentinel { sentinels, primary } => {
                let mut infos = Vec::new();
                for s in sentinels {
                    infos.push(s.as_str().into_connection_info().map_err(|e| format!("session.sentinels: {e}"))?);
                }
                let tls = sentinels.iter().all(|s| s.starts_with("rediss://"));
                let mut node = SentinelNodeConnectionInfo::default();
                if tls {
                    node = node.set_tls_mode(redis::TlsMode::Secure);
                }
                if let Some(p) = password {
                    node = node.set_redis_connection_info(redis::RedisConnectionInfo::default().set_password(p));
                }
                let client = SentinelClient::build(infos, primary.as_str(), Some(node), SentinelServerType::Master)
                    .map_err(|e| format!("session.sentinels: {e}"))?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(settings.timeout))
                    .set_response_timeout(Some(settings.timeout));
                let route = Route::Sentinel(Box::new(Sentinel {
                    client: tokio::sync::Mutex::new(client),
                    current: Mutex::new(None),
                    config,
                }));
                (route, format!("the primary {primary:?} of {}", sentinels.join(", ")))
            }
        };
        Ok(Self { route, prefix: settings.prefix.clone(), timeout: settings.timeout, place })
    }

    /// Where the store is, for messages.
    pub(crate) fn place(&self) -> &str {
        &self.place
    }

    /// A connection to the primary.
    async fn link(&self) -> Result<Link, RedisError> {
        match &self.route {
            Route::Direct(manager) => Ok(Link::Direct(manager.clone())),
            Route::Sentinel(sentinel) => {
                let Sentinel { client, current, config } = sentinel.as_ref();
                if let Some(c) = current.lock().unwrap_or_else(PoisonError::into_inner).clone() {
                    return Ok(Link::Sentinel(c));
                }
                let mut client = client.lock().await;
                if let Some(c) = current.lock().unwrap_or_else(PoisonError::into_inner).clone() {
                    return Ok(Link::Sentinel(c));
                }
                let c = client.get_async_connection_with_config(config).await?;
                *current.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.clone());
                Ok(Link::Sentinel(c))
            }
        }
    }

    /// Forgets the connection found through Sentinel, so the next command asks again.
    fn forget(&self) {
        if let Route::Sentinel(sentinel) = &self.route {
            *sentinel.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    /// Runs `op` on a connection within the timeout; once more at once when the primary refused
    /// it without running it (a failover under way).
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: Fn(Link) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let run = async { op(self.link().await?).await };
            let e = match tokio::time::timeout(self.timeout, run).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => e,
                Err(_) => {
                    self.forget();
                    return Err(StoreError::Unavailable("redis did not answer in time".into()));
                }
            };
            let (lost, safe_to_resend) = lost_primary(&e);
            if lost {
                self.forget();
            }
            if !(safe_to_resend && attempt < 2) {
                return Err(unavailable(&e));
            }
        }
    }

    /// Runs `cmd` (see [`Self::run`]).
    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.run(|mut link| async move { cmd.query_async::<T>(&mut link).await }).await
    }

    /// Runs `pipe` (see [`Self::run`]).
    async fn query_pipe<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, StoreError> {
        self.run(|mut link| async move { pipe.query_async::<T>(&mut link).await }).await
    }

    /// Runs `script` with `keys` and `args` (see [`Self::run`]); the script's text is sent only
    /// when the server does not know it yet.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        self.run(|mut link| async move {
            let mut call = script.prepare_invoke();
            for key in keys {
                call.key(*key);
            }
            for arg in args {
                call.arg(*arg);
            }
            call.invoke_async::<T>(&mut link).await
        })
        .await
    }

    fn record_key(&self, key: &SessionKey) -> String {
        format!("{}s:{{{key}}}", self.prefix)
    }

    fn pending_key(&self, key: &SessionKey) -> String {
        format!("{}p:{{{key}}}", self.prefix)
    }

    fn lease_key(&self, name: &str) -> String {
        format!("{}l:{name}", self.prefix)
    }

    fn sessions_set(&self) -> String {
        format!("{}sessions", self.prefix)
    }

    fn pending_set(&self) -> String {
        format!("{}pending", self.prefix)
    }

    fn index_prefix(&self) -> String {
        format!("{}a:", self.prefix)
    }

    async fn write(&self, key: &SessionKey, record: &Record, how: &[u8], only_if: &[u8]) -> Result<bool, StoreError> {
        let ttl = record.expires_at.saturating_sub(record.written_at).clamp(1, MAX_TTL_SECS).to_string();
        let end = record.expires_at.to_string();
        let (rec, set, index_prefix) = (self.record_key(key), self.sessions_set(), self.index_prefix());
        let args: [&[u8]; 8] = [
            &record.blob,
            record.index.as_bytes(),
            end.as_bytes(),
            ttl.as_bytes(),
            key.as_bytes(),
            index_prefix.as_bytes(),
            how,
            only_if,
        ];
        let written: i64 = self.eval(&WRITE, &[&rec, &set], &args).await?;
        Ok(written == 1)
    }

    /// Reads the blobs of `keys` live at `now`, a chunk per round trip.
    async fn blobs_of(&self, keys: Vec<String>, now: u64) -> Result<Vec<(SessionKey, Vec<u8>)>, StoreError> {
        let keys = keys
            .iter()
            .map(|member| SessionKey::parse(member))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| StoreError::Corrupt("a key that is not a store key".into()))?;
        let mut out = Vec::new();
        for chunk in keys.chunks(SCAN_CHUNK) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("HMGET").arg(self.record_key(key)).arg("b").arg("e");
            }
            let rows: Vec<(Option<Vec<u8>>, Option<u64>)> = self.query_pipe(&pipe).await?;
            for (key, row) in chunk.iter().zip(rows) {
                if let (Some(blob), Some(end)) = row {
                    if end > now {
                        out.push((key.clone(), blob));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The version of the access tokens kept with the session under `key`, when the session is
    /// live at `now` (0: none kept yet); `None` when it is not.
    pub(crate) async fn token_version(&self, key: &SessionKey, now: u64) -> Result<Option<u64>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.record_key(key)).arg("e").arg("v");
        let (end, version): (Option<u64>, Option<u64>) = self.query(&cmd).await?;
        Ok(end.filter(|&e| e > now).map(|_| version.unwrap_or(0)))
    }

    /// The sealed access tokens kept with the session under `key`, with their version.
    pub(crate) async fn tokens(&self, key: &SessionKey) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.record_key(key)).arg("v").arg("t");
        let (version, blob): (Option<u64>, Option<Vec<u8>>) = self.query(&cmd).await?;
        Ok(version.zip(blob))
    }

    /// Keeps sealed access tokens with the session under `key`; their new version, or `None`
    /// when the session is gone.
    pub(crate) async fn put_tokens(&self, key: &SessionKey, blob: &[u8]) -> Result<Option<u64>, StoreError> {
        let version: u64 = self.eval(&PUT_TOKENS, &[&self.record_key(key)], &[blob]).await?;
        Ok((version > 0).then_some(version))
    }

    /// A small shared value (the sealed app-only token) under `name`.
    pub(crate) async fn value(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}{name}", self.prefix));
        self.query(&cmd).await
    }

    /// Keeps a small shared value under `name` for `ttl`.
    pub(crate) async fn put_value(&self, name: &str, blob: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}{name}", self.prefix)).arg(blob).arg("PX").arg(ttl.as_millis().max(1).to_string());
        self.query::<()>(&cmd).await
    }

    /// Tries once to take the lease `name` for `hold` under `token`.
    pub(crate) async fn try_lease(&self, name: &str, token: &str, hold: Duration) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.lease_key(name)).arg(token).arg("NX").arg("PX").arg(hold.as_millis().to_string());
        let set: Option<String> = self.query(&cmd).await?;
        Ok(set.is_some())
    }

    /// Renews the lease `name` if `token` still holds it; whether it does.
    pub(crate) async fn renew_lease(&self, name: &str, token: &str, hold: Duration) -> Result<bool, StoreError> {
        let hold = hold.as_millis().to_string();
        let renewed: i64 = self.eval(&RENEW, &[&self.lease_key(name)], &[token.as_bytes(), hold.as_bytes()]).await?;
        Ok(renewed == 1)
    }

    /// Releases the lease `name` if `token` still holds it.
    pub(crate) async fn release_lease(&self, name: &str, token: &str) -> Result<(), StoreError> {
        let _: i64 = self.eval(&RELEASE, &[&self.lease_key(name)], &[token.as_bytes()]).await?;
        Ok(())
    }
}

impl SessionStore for RedisStore {
    fn load(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = key.clone();
        Box::pin(async move {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(self.record_key(&key)).arg("b").arg("e");
            let (blob, end): (Option<Vec<u8>>, Option<u64>) = self.query(&cmd).await?;
            Ok(blob.filter(|_| end.is_some_and(|e| e > now)))
        })
    }

    fn save(&self, key: &SessionKey, record: Record) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(async move { self.write(&key, &record, b"new", b"").await.map(|_| ()) })
    }

    fn update(&self, key: &SessionKey, record: Record, only_if: Option<Vec<u8>>) -> StoreFuture<'_, bool> {
        let key = key.clone();
        Box::pin(async move {
            match only_if {
                Some(old) => self.write(&key, &record, b"if", &old).await,
                None => self.write(&key, &record, b"any", b"").await,
            }
        })
    }

    fn delete(&self, key: &SessionKey) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(async move {
            let (rec, set, index_prefix) = (self.record_key(&key), self.sessions_set(), self.index_prefix());
            let _: i64 = self.eval(&DELETE, &[&rec, &set], &[key.as_bytes(), index_prefix.as_bytes()]).await?;
            Ok(())
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let pong: String = self.query(&redis::cmd("PING")).await?;
            if pong == "PONG" { Ok(()) } else { Err(StoreError::Unavailable("redis answered PING oddly".into())) }
        })
    }

    fn count(&self, now: u64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut cmd = redis::cmd("ZCOUNT");
            cmd.arg(self.sessions_set()).arg(format!("({now}")).arg("+inf");
            self.query(&cmd).await
        })
    }

    fn scan(&self, now: u64) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("ZRANGEBYSCORE");
            cmd.arg(self.sessions_set()).arg(format!("({now}")).arg("+inf");
            let keys: Vec<String> = self.query(&cmd).await?;
            self.blobs_of(keys, now).await
        })
    }

    fn sample(&self, now: u64, limit: usize) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        Box::pin(async move {
            let mut cmd = redis::cmd("ZRANGEBYSCORE");
            cmd.arg(self.sessions_set()).arg(format!("({now}")).arg("+inf").arg("LIMIT").arg(0).arg(limit);
            let keys: Vec<String> = self.query(&cmd).await?;
            self.blobs_of(keys, now).await
        })
    }

    fn keys_with_index(&self, index: &str, now: u64) -> StoreFuture<'_, Vec<SessionKey>> {
        let set = format!("{}{index}", self.index_prefix());
        Box::pin(async move {
            let mut cmd = redis::cmd("SMEMBERS");
            cmd.arg(&set);
            let members: Vec<String> = self.query(&cmd).await?;
            let mut keys: Vec<SessionKey> =
                self.blobs_of(members, now).await?.into_iter().map(|(key, _)| key).collect();
            keys.sort();
            Ok(keys)
        })
    }

    fn purge_expired(&self, now: u64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let (sessions, pending) = (self.sessions_set(), self.pending_set());
            let now = now.to_string();
            let (records, index, pendings) =
                (format!("{}s:", self.prefix), self.index_prefix(), format!("{}p:", self.prefix));
            let args: [&[u8]; 4] = [now.as_bytes(), records.as_bytes(), index.as_bytes(), pendings.as_bytes()];
            self.eval(&PURGE, &[&sessions, &pending], &args).await
        })
    }

    fn put_pending(&self, key: &SessionKey, blob: Vec<u8>, expires_at: u64) -> StoreFuture<'_, ()> {
        let key = key.clone();
        Box::pin(async move {
            let (end, ttl) = (expires_at.to_string(), PENDING_LIFETIME.as_secs().to_string());
            let (rec, set) = (self.pending_key(&key), self.pending_set());
            let args: [&[u8]; 4] = [&blob, end.as_bytes(), ttl.as_bytes(), key.as_bytes()];
            let _: i64 = self.eval(&PUT_PENDING, &[&rec, &set], &args).await?;
            Ok(())
        })
    }

    fn take_pending(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = key.clone();
        Box::pin(async move {
            let (rec, set) = (self.pending_key(&key), self.pending_set());
            let (blob, end): (Option<Vec<u8>>, Option<u64>) =
                self.eval(&TAKE_PENDING, &[&rec, &set], &[key.as_bytes()]).await?;
            Ok(blob.filter(|_| end.is_some_and(|e| e > now)))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::session::conformance::run_conformance;
    use crate::session::redis_harness::{Options, RedisServer, command, int};

    static STORES: AtomicUsize = AtomicUsize::new(0);

    fn settings(url: &str, prefix: &str) -> RedisOptions {
        RedisOptions {
            target: RedisTarget::Url(url.to_owned()),
            prefix: prefix.to_owned(),
            timeout: Duration::from_millis(1_000),
        }
    }

    /// A store of its own on `server` (a prefix nobody else uses, so it starts empty).
    fn store(server: &RedisServer) -> RedisStore {
        let n = STORES.fetch_add(1, Ordering::Relaxed);
        RedisStore::open(&settings(&server.url(), &format!("test{n}:")), None).expect("opened")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_passes_the_conformance_suite() {
        let server = RedisServer::start(Options::default());
        run_conformance(|| store(&server)).await;
    }

    fn record(blob: &[u8], written_at: u64, expires_at: u64) -> Record {
        Record { blob: blob.to_vec(), index: "i".into(), expires_at, written_at }
    }

    fn key(n: u32) -> SessionKey {
        SessionKey::of(&graphgate_core::SessionId::new(format!("session-{n}")))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_records_ttl_is_what_is_left_of_its_life() {
        let server = RedisServer::start(Options::default());
        let store = store(&server);
        let k = key(1);
        store.save(&k, record(b"x", 1_000, 1_000 + 3_600)).await.expect("save");
        let ttl = int(&command(&server.url(), &["TTL", &store.record_key(&k)]).await).expect("a TTL");
        assert!((3_590..=3_600).contains(&ttl), "{ttl}");
        store.update(&k, record(b"y", 2_000, 2_000 + 60), None).await.expect("update");
        let ttl = int(&command(&server.url(), &["TTL", &store.record_key(&k)]).await).expect("a TTL");
        assert!((50..=60).contains(&ttl), "an update sets it again: {ttl}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_is_held_by_one_and_released_only_by_its_holder() {
        let server = RedisServer::start(Options::default());
        let store = store(&server);
        let hold = Duration::from_secs(30);
        assert!(store.try_lease("{k}", "a", hold).await.expect("try"));
        assert!(!store.try_lease("{k}", "b", hold).await.expect("try"), "held");
        assert!(!store.renew_lease("{k}", "b", hold).await.expect("renew"), "not b's to renew");
        store.release_lease("{k}", "b").await.expect("release");
        assert!(!store.try_lease("{k}", "b", hold).await.expect("try"), "b could not release a's lease");
        assert!(store.renew_lease("{k}", "a", hold).await.expect("renew"));
        store.release_lease("{k}", "a").await.expect("release");
        assert!(store.try_lease("{k}", "b", Duration::from_millis(100)).await.expect("try"), "free once released");
        // A lease nobody renews lapses.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !store.try_lease("{k}", "c", hold).await.expect("try") {
            assert!(std::time::Instant::now() < deadline, "the lease never lapsed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_live_and_end_with_their_session() {
        let server = RedisServer::start(Options::default());
        let store = store(&server);
        let k = key(1);
        assert_eq!(store.token_version(&k, 10).await.expect("version"), None, "no session");
        assert_eq!(store.put_tokens(&k, b"t1").await.expect("put"), None, "nothing kept for no session");
        store.save(&k, record(b"x", 0, 1_000)).await.expect("save");
        assert_eq!(store.token_version(&k, 10).await.expect("version"), Some(0));
        assert_eq!(store.put_tokens(&k, b"t1").await.expect("put"), Some(1));
        assert_eq!(store.put_tokens(&k, b"t2").await.expect("put"), Some(2));
        assert_eq!(store.tokens(&k).await.expect("tokens"), Some((2, b"t2".to_vec())));
        assert_eq!(store.token_version(&k, 1_000).await.expect("version"), None, "ended by the time passed in");
        store.update(&k, record(b"y", 0, 1_000), None).await.expect("update");
        assert_eq!(store.tokens(&k).await.expect("tokens"), Some((2, b"t2".to_vec())), "an update keeps them");
        store.save(&k, record(b"z", 0, 1_000)).await.expect("save");
        assert_eq!(store.tokens(&k).await.expect("tokens"), None, "a new session starts without");
        store.delete(&k).await.expect("delete");
        assert_eq!(store.token_version(&k, 10).await.expect("version"), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_password_is_sent_and_a_missing_or_wrong_one_is_a_typed_error_without_it() {
        let server = RedisServer::start(Options { password: Some("pw-right-5c1e".into()), ..Options::default() });
        let url = format!("redis://127.0.0.1:{}/0", server.port());
        let open = |password: Option<&str>| RedisStore::open(&settings(&url, "auth:"), password).expect("opened");
        open(Some("pw-right-5c1e")).ping().await.expect("answers with the password");
        for password in [None, Some("pw-wrong-9d2b")] {
            let e = open(password).ping().await.expect_err("refused");
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("pw-right") && !shown.contains("pw-wrong"), "{shown}");
        }
        let store = open(Some("pw-right-5c1e"));
        assert!(!format!("{store:?}").contains("pw-right"), "{store:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_redis_that_is_down_is_a_typed_error_within_the_timeout() {
        let mut server = RedisServer::start(Options::default());
        let store = store(&server);
        store.ping().await.expect("up");
        server.stop();
        let started = std::time::Instant::now();
        let e = store.load(&key(1), 0).await.expect_err("down");
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        server.restart();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.ping().await.is_err() {
            assert!(std::time::Instant::now() < deadline, "never reconnected");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
