//! Scaling out on the Redis session store: two proxies sharing one Redis, as a site behind a
//! load balancer runs them. One upstream refresh however many requests race on both, and never
//! an older token after a newer one was answered; a logout on one refused on the other at once;
//! the keep-alive and the app-only token not doubled; a killed instance losing nothing; Redis
//! restarted, stopped and failed over under running proxies; each session's key expiring with
//! the session.
//!
//! The proxies are the real binary (`process`), on the rig's configuration with the SQLite
//! lines replaced by the Redis ones, so both share the session keys; the keep-alive test runs
//! two instances in-process instead, because its passes are driven by the proxies' clocks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use graphgate_proxy::AppState;
use graphgate_proxy::config::Config;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::process::{self, PATIENCE, Proxy};
use crate::redis_server::{Options, RedisSentinel, RedisServer, command, int, text, texts};
use crate::support::*;

/// No per-address limit holds back the test's one address (the end of `[session]`, then
/// `[limits]`).
const UNLIMITED: &str = "sign_ins_per_minute = 10000\n\
    [limits]\nexchanges_per_minute = 10000\ntoken_refreshes_per_minute = 100000\nlogouts_per_minute = 10000\n";

/// [`UNLIMITED`], with every forced refresh going upstream.
const EVERY_FORCE_UPSTREAM: &str = "force_refresh_interval_secs = 0\nsign_ins_per_minute = 10000\n\
    [limits]\nexchanges_per_minute = 10000\ntoken_refreshes_per_minute = 100000\nlogouts_per_minute = 10000\n";

const REFRESHES: &str = "token:refresh_token";

/// The `[session]` lines of a store at `url`, with `extra` settings of it.
fn redis_store(url: &str, extra: &str) -> String {
    format!("store = \"redis\"\nredis_url = \"{url}\"\n{extra}")
}

/// The `[session]` lines of a store found through the sentinel at `url`.
fn sentinel_store(url: &str, primary: &str) -> String {
    format!("store = \"redis\"\nsentinels = [\"{url}\"]\nsentinel_primary = \"{primary}\"\n")
}

/// The rig's configuration made fit for a process on Redis: an ephemeral port, and the SQLite
/// store's lines replaced by `store`.
fn on_redis(rig_toml: &str, store: &str) -> String {
    let toml = process::config_for_process(rig_toml, "unused.db");
    let lines: Vec<&str> = toml
        .lines()
        .filter(|line| !line.starts_with("sqlite_path"))
        .map(|line| if line == "store = \"sqlite\"" { store.trim_end() } else { line })
        .collect();
    lines.join("\n") + "\n"
}

/// Two proxy processes on one configuration, and the rig (the emulator, the browser's client).
struct Pair {
    rig: Rig,
    a: Proxy,
    b: Proxy,
}

/// Starts the rig with `rig_toml` added to `[session]`, then two processes on `store`.
async fn pair(rig_toml: &str, store: &str) -> Pair {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), rig_toml).await;
    let toml = on_redis(&rig.config_toml, store);
    let a = process::start(&rig.scratch.0, "a.toml", &toml);
    let b = process::start(&rig.scratch.0, "b.toml", &toml);
    Pair { rig, a, b }
}

impl Pair {
    fn bases(&self) -> [String; 2] {
        [self.a.base.clone(), self.b.base.clone()]
    }

    /// Instance `i % 2`: A for even `i`, B for odd.
    fn base(&self, i: usize) -> &str {
        if i % 2 == 0 { &self.a.base } else { &self.b.base }
    }

    /// Signs `n` sessions in, half through each instance; returns their cookies.
    async fn sign_in(&mut self, n: usize) -> Vec<String> {
        let bases = self.bases();
        sign_in_many(&mut self.rig, &bases, n).await
    }

    fn assert_alive(&mut self) {
        for (name, proxy) in [("A", &mut self.a), ("B", &mut self.b)] {
            let exited = proxy.child.try_wait().unwrap();
            assert!(exited.is_none(), "instance {name} exited ({exited:?}):\n{}", proxy.lines().join("\n"));
        }
    }
}

/// Signs `n` sessions in, in turn through each of `bases`, the sign-ins of one instance at once.
async fn sign_in_many(rig: &mut Rig, bases: &[String], n: usize) -> Vec<String> {
    let mut cookies = Vec::with_capacity(n);
    for (i, base) in bases.iter().enumerate() {
        rig.base.clone_from(base);
        let share = n / bases.len() + usize::from(i < n % bases.len());
        let signed = join_all((0..share).map(|_| Box::pin(rig.signed_in())).collect()).await;
        cookies.extend(signed.into_iter().map(|(cookie, _)| cookie));
    }
    cookies
}

/// `/api/auth/token` at `base`, forced or not.
async fn token_at(rig: &Rig, base: &str, cookie: &str, force: bool) -> (u16, Value) {
    let res = rig.post_at(base, "/api/auth/token", Some(cookie), json!({"forceRefresh": force})).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn access_token(body: &Value) -> String {
    body["accessToken"].as_str().unwrap_or_else(|| panic!("no access token: {body}")).to_owned()
}

/// Polls a forced refresh at `base` until it answers 200 (bounded by [`PATIENCE`]); only 503
/// `store_unavailable` may come before.
async fn until_served(rig: &Rig, base: &str, cookie: &str, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = token_at(rig, base, cookie, true).await;
        if status == 200 {
            return;
        }
        assert_eq!((status, body["error"].as_str()), (503, Some("store_unavailable")), "{what}: {body}");
        assert!(Instant::now() < deadline, "{what}: not served again within {PATIENCE:?}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every session answers a forced refresh with 200 on both instances (after waiting out the
/// store's return, when there was an outage).
async fn all_served(pair: &Pair, cookies: &[String], what: &str) {
    for (n, cookie) in cookies.iter().enumerate() {
        for (name, base) in [("A", &pair.a.base), ("B", &pair.b.base)] {
            until_served(&pair.rig, base, cookie, &format!("{what}: session {n} on {name}")).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_forced_refreshes_of_one_session_on_two_instances_redeem_its_refresh_token_once() {
    let redis = RedisServer::start(Options::default());
    // The default force_refresh_interval_secs (30): all 200 fall in one interval.
    let mut pair = pair(UNLIMITED, &redis_store(&redis.url(), "")).await;
    let base_a = pair.a.base.clone();
    pair.rig.base = base_a;
    let (cookie, signed_in) = pair.rig.signed_in().await;
    let before = pair.rig.emu.call_count(REFRESHES);
    let answers =
        join_all((0..200).map(|i| Box::pin(token_at(&pair.rig, pair.base(i), &cookie, true))).collect()).await;
    let mut tokens = BTreeSet::new();
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "request {i}: {body}");
        tokens.insert(access_token(body));
    }
    assert_eq!(pair.rig.emu.call_count(REFRESHES) - before, 1, "one refresh for the interval, on either instance");
    assert_eq!(tokens.len(), 1, "every answer is the one refreshed token");
    assert!(!tokens.contains(&access_token(&signed_in)), "a forced refresh answers a newer token than sign-in's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_an_answer_never_gets_an_older_token_on_either_instance() {
    let redis = RedisServer::start(Options::default());
    let mut pair = pair(EVERY_FORCE_UPSTREAM, &redis_store(&redis.url(), "")).await;
    let base_a = pair.a.base.clone();
    pair.rig.base = base_a;
    let (cookie, signed_in) = pair.rig.signed_in().await;
    let mut seen = vec![access_token(&signed_in)];
    let before = pair.rig.emu.call_count(REFRESHES);
    for round in 0..10 {
        let (status, forced) = token_at(&pair.rig, pair.base(round), &cookie, true).await;
        assert_eq!(status, 200, "round {round}: {forced}");
        let newest = access_token(&forced);
        assert!(!seen.contains(&newest), "round {round}: a forced refresh answered an earlier token");
        seen.push(newest.clone());
        // Unforced, right after, on the other instance: the newest token, never one it had before.
        let (status, cached) = token_at(&pair.rig, pair.base(round + 1), &cookie, false).await;
        assert_eq!(status, 200, "round {round}: {cached}");
        assert_eq!(access_token(&cached), newest, "round {round}: the other instance answered an older token");
    }
    assert_eq!(pair.rig.emu.call_count(REFRESHES) - before, 10, "one refresh per forced request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_on_the_other_at_once() {
    let redis = RedisServer::start(Options::default());
    let mut pair = pair(UNLIMITED, &redis_store(&redis.url(), "")).await;
    let cookies = pair.sign_in(1).await;
    let cookie = &cookies[0];
    // B holds a token for the session in memory just before the logout.
    for _ in 0..2 {
        let (status, body) = token_at(&pair.rig, &pair.b.base, cookie, false).await;
        assert_eq!(status, 200, "{body}");
    }
    let res = pair.rig.post_at(&pair.a.base, "/api/auth/logout", Some(cookie), json!({})).send().await.unwrap();
    assert!(res.status().is_success(), "logout on A: {}", res.status());
    let (status, body) = token_at(&pair.rig, &pair.b.base, cookie, false).await;
    assert_eq!(status, 401, "B served a session A had ended: {body}");
    let (status, body) = pair.rig.get_at(&pair.b.base, "/api/auth/session", Some(cookie)).await;
    assert_eq!(status, 401, "{body}");
}

/// A proxy in this process (its clock can be moved), on the configuration `toml`.
struct InProcess {
    state: Arc<AppState>,
    base: String,
}

async fn in_process(toml: &str) -> InProcess {
    let settings = Config::from_toml_and_env(toml, []).unwrap().validate().unwrap();
    let state = graphgate_proxy::server::build_state(settings).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = state.clone();
    tokio::spawn(async move {
        graphgate_proxy::server::serve(listener, serving, std::future::pending()).await.unwrap();
    });
    InProcess { state, base }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keep_alive_refreshes_each_session_from_one_instance_only() {
    const SESSIONS: usize = 12;
    let redis = RedisServer::start(Options::default());
    let keepalive = "[keepalive]\nrefresh_after_hours = 1\nconcurrency = 4\n";
    let mut rig = rig(CONTOSO, Cred::Secret(SECRET), &format!("{UNLIMITED}{keepalive}")).await;
    let toml = on_redis(&rig.config_toml, &redis_store(&redis.url(), ""));
    let (a, b) = (in_process(&toml).await, in_process(&toml).await);
    sign_in_many(&mut rig, &[a.base.clone(), b.base.clone()], SESSIONS).await;
    // Two hours on: every session is due on both instances.
    a.state.clock.advance(2 * 3600);
    b.state.clock.advance(2 * 3600);
    let before = rig.emu.call_count(REFRESHES);
    let (ra, rb) =
        tokio::join!(graphgate_proxy::keepalive::run_once(&a.state), graphgate_proxy::keepalive::run_once(&b.state));
    assert_eq!((ra.failed, rb.failed, ra.ended, rb.ended), (0, 0, 0, 0), "{ra:?} {rb:?}");
    assert_eq!(ra.refreshed + rb.refreshed, SESSIONS, "each session refreshed by one instance: {ra:?} {rb:?}");
    assert_eq!(rig.emu.call_count(REFRESHES) - before, SESSIONS as u64, "one redemption per session, not two");
    // Passes again on both: nothing is due any more.
    let (ra, rb) =
        tokio::join!(graphgate_proxy::keepalive::run_once(&a.state), graphgate_proxy::keepalive::run_once(&b.state));
    assert_eq!(ra.refreshed + rb.refreshed, 0, "{ra:?} {rb:?}");
    assert_eq!(rig.emu.call_count(REFRESHES) - before, SESSIONS as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_instances_share_one_app_only_token_for_invitations() {
    const KEY: &str = "site-backend-key-1";
    let keys = Scratch::new();
    let file = keys.file("api-keys", KEY);
    let redis = RedisServer::start(Options::default());
    let rig_toml = format!("{UNLIMITED}[invitations]\napi_keys = {{ file = {file:?} }}\n");
    let pair = pair(&rig_toml, &redis_store(&redis.url(), "")).await;
    let invite = |i: usize| {
        let req =
            pair.rig.post_at(pair.base(i), "/api/invitations", None, json!({"email": format!("guest{i}@example.org")}));
        async move {
            let res = req.bearer_auth(KEY).send().await.unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let answers = join_all((0..20).map(|i| Box::pin(invite(i))).collect()).await;
    for (i, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "invitation {i}: {body}");
        assert_eq!(body["status"], "invited", "invitation {i}: {body}");
    }
    assert_eq!(pair.rig.emu.call_count("token:client_credentials"), 1, "one client-credentials grant for both");
    assert_eq!(pair.rig.emu.invitations().len(), 20);
}

/// Eight workers sending forced refreshes of every session, alternating between `bases`, until
/// `stop`; after them, a task that ends once 60 have been answered 200.
fn load(
    rig: &Rig,
    bases: [String; 2],
    cookies: Arc<Vec<String>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let answered = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for worker in 0..8 {
        let (http, bases, cookies, stop, answered) =
            (rig.http.clone(), bases.clone(), cookies.clone(), stop.clone(), answered.clone());
        workers.push(tokio::spawn(async move {
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let res = http
                    .post(format!("{}/api/auth/token", bases[i % 2]))
                    .header("x-graphgate", "1")
                    .header("origin", ORIGIN)
                    .header("cookie", &cookies[i % cookies.len()])
                    .json(&json!({"forceRefresh": true}))
                    .send()
                    .await;
                // An instance killed meanwhile answers nothing; the other keeps answering.
                if res.is_ok_and(|r| r.status() == 200) {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    // The test goes on once refreshes flow (a count, not a fixed wait).
    workers.push(tokio::spawn(async move {
        let deadline = Instant::now() + PATIENCE;
        while answered.load(Ordering::Relaxed) < 60 {
            assert!(Instant::now() < deadline, "the load did not get going");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }));
    workers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_loses_no_session_and_the_other_serves_all_of_them() {
    const SESSIONS: usize = 100;
    let redis = RedisServer::start(Options::default());
    // A short lease, so one the killed process held runs out soon.
    let mut pair = pair(EVERY_FORCE_UPSTREAM, &redis_store(&redis.url(), "redis_lock_ms = 2000\n")).await;
    let cookies = Arc::new(pair.sign_in(SESSIONS).await);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = load(&pair.rig, pair.bases(), cookies.clone(), stop.clone());
    // The last task ends when the load has got going.
    workers.pop().unwrap().await.unwrap();
    let Pair { rig, a, b } = pair;
    a.kill();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let answers = join_all(cookies.iter().map(|c| Box::pin(token_at(&rig, &b.base, c, false))).collect()).await;
    for (n, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "session {n} lost with the killed instance: {body}");
    }
    // Each stored refresh token still redeems.
    let answers = join_all(cookies.iter().map(|c| Box::pin(token_at(&rig, &b.base, c, true))).collect()).await;
    for (n, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "session {n} refreshes no more: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_survives_a_redis_restart_with_appendonly_on_both_instances() {
    let mut redis = RedisServer::start(Options::durable());
    let mut pair = pair(EVERY_FORCE_UPSTREAM, &redis_store(&redis.url(), "")).await;
    let cookies = pair.sign_in(10).await;
    all_served(&pair, &cookies, "before the restart").await;
    redis.restart();
    // Forced refreshes: each reads the session's refresh token from the restarted Redis.
    all_served(&pair, &cookies, "after the restart").await;
    pair.assert_alive();
}

/// Asserts a 503 `store_unavailable` came within `bound`.
fn assert_unavailable(what: &str, (status, body): &(u16, Value), took: Duration, bound: Duration) {
    assert_eq!((*status, body["error"].as_str()), (503, Some("store_unavailable")), "{what}: {body}");
    assert!(took < bound, "{what}: answered after {took:?}, over {bound:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_answers_503_in_time_and_service_resumes_when_it_returns() {
    let bound = Duration::from_secs(5);
    let mut redis = RedisServer::start(Options::durable());
    let mut pair = pair(EVERY_FORCE_UPSTREAM, &redis_store(&redis.url(), "redis_timeout_ms = 1000\n")).await;
    let cookies = pair.sign_in(2).await;
    all_served(&pair, &cookies, "before the outage").await;
    redis.stop();
    for (name, base) in [("A", pair.a.base.clone()), ("B", pair.b.base.clone())] {
        let started = Instant::now();
        let answer = token_at(&pair.rig, &base, &cookies[0], true).await;
        assert_unavailable(&format!("forced refresh on {name}"), &answer, started.elapsed(), bound);
        let started = Instant::now();
        let answer = pair.rig.get_at(&base, "/api/auth/session", Some(&cookies[1])).await;
        assert_unavailable(&format!("session on {name}"), &answer, started.elapsed(), bound);
        let started = Instant::now();
        let (status, ready) = pair.rig.get_at(&base, "/readyz", None).await;
        assert_eq!(status, 503, "readyz on {name}: {ready}");
        assert!(ready["store"].is_string() && ready["store"] != "ok", "readyz on {name} names the store: {ready}");
        assert!(started.elapsed() < bound, "readyz on {name} took {:?}", started.elapsed());
    }
    pair.assert_alive();
    redis.restart();
    all_served(&pair, &cookies, "after Redis returned").await;
    for base in pair.bases() {
        let deadline = Instant::now() + PATIENCE;
        while pair.rig.get_at(&base, "/readyz", None).await.0 != 200 {
            assert!(Instant::now() < deadline, "{base}/readyz not ready again within {PATIENCE:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    pair.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_is_served_after_a_sentinel_failover() {
    let mut topology = RedisSentinel::start();
    let store = sentinel_store(&topology.sentinel_url(), topology.primary_name());
    let mut pair = pair(EVERY_FORCE_UPSTREAM, &store).await;
    let cookies = pair.sign_in(6).await;
    all_served(&pair, &cookies, "before the failover").await;
    topology.failover().await;
    // Forced refreshes write the rotated refresh token: to the new primary only.
    all_served(&pair, &cookies, "after the failover").await;
    pair.assert_alive();
}

/// The store key of the session a cookie (`name=value`) names: the lowercase hex SHA-256 of the
/// cookie's value (the session ID), as `SessionKey::of` makes it.
fn store_key(cookie: &str) -> String {
    let (_, id) = cookie.split_once('=').unwrap();
    Sha256::digest(id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs one session in under the given lifetimes; returns the TTLs of the Redis keys that name
/// its store key.
async fn ttls_of_a_new_session(idle_hours: u64, absolute_hours: u64) -> Vec<(String, i64)> {
    let redis = RedisServer::start(Options::default());
    let lifetimes = format!("idle_timeout_hours = {idle_hours}\nabsolute_lifetime_hours = {absolute_hours}\n");
    let mut pair = pair(&format!("{lifetimes}{UNLIMITED}"), &redis_store(&redis.url(), "")).await;
    let cookie = pair.sign_in(1).await.remove(0);
    let key = store_key(&cookie);
    let keys = texts(&command(&redis.url(), &["KEYS", &format!("*{key}*")]).await);
    assert!(!keys.is_empty(), "no Redis key names the store key {key}");
    let mut ttls = Vec::new();
    for name in keys {
        // -2: gone since KEYS listed it (a lease let go meanwhile).
        match int(&command(&redis.url(), &["TTL", &name]).await).unwrap() {
            -2 => {}
            ttl => ttls.push((name, ttl)),
        }
    }
    ttls
}

/// How far a key's TTL may stray from the session's end: the seconds the test itself takes, and
/// any grace the store adds.
const SLACK: i64 = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sessions_redis_key_expires_with_the_session() {
    // The idle timeout ends it first; then the absolute lifetime does.
    for (idle, absolute) in [(2, 3), (5, 4)] {
        let ends = i64::try_from(idle.min(absolute) * 3600).unwrap();
        let ttls = ttls_of_a_new_session(idle, absolute).await;
        assert!(
            ttls.iter().all(|(_, ttl)| (1..=ends + SLACK).contains(ttl)),
            "every key of the session expires, none after the session ends ({ends} s): {ttls:?}"
        );
        assert!(
            ttls.iter().any(|(_, ttl)| (ends - SLACK..=ends + SLACK).contains(ttl)),
            "the session's record expires when the session ends ({ends} s): {ttls:?}"
        );
    }
}

/// A session's refresh lease that another holds for longer than `redis_lock_wait_ms` answers 503
/// `session_busy` after about that wait; a cached token needs no lease, and once the lease is
/// gone the refresh goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_held_elsewhere_for_too_long_answers_session_busy_after_the_wait() {
    let redis = RedisServer::start(Options::default());
    let store = redis_store(&redis.url(), "redis_lock_wait_ms = 300\n");
    let mut pair = pair(EVERY_FORCE_UPSTREAM, &store).await;
    let base_a = pair.a.base.clone();
    pair.rig.base = base_a;
    let (cookie, _) = pair.rig.signed_in().await;
    let lease = format!("graphgate:l:{{{}}}", store_key(&cookie));
    command(&redis.url(), &["SET", &lease, "held-by-another-instance", "PX", "60000"]).await;
    let started = Instant::now();
    let (status, body) = token_at(&pair.rig, &pair.a.base, &cookie, true).await;
    let took = started.elapsed();
    assert_eq!((status, body["error"].as_str()), (503, Some("session_busy")), "{body}");
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "answered after {took:?}");
    assert_eq!(token_at(&pair.rig, &pair.b.base, &cookie, false).await.0, 200, "a cached token needs no lease");
    assert_eq!(text(&command(&redis.url(), &["GET", &lease]).await).as_deref(), Some("held-by-another-instance"));
    command(&redis.url(), &["DEL", &lease]).await;
    let (status, body) = token_at(&pair.rig, &pair.a.base, &cookie, true).await;
    assert_eq!(status, 200, "{body}");
}

/// `check` opens the Redis store and asks it, naming where it is; with Redis down it says the
/// store cannot be used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_tries_the_redis_store_and_names_it() {
    let mut redis = RedisServer::start(Options::default());
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let store = redis_store(&redis.url(), "redis_timeout_ms = 500\n");
    let config = rig.scratch.file("check.toml", &on_redis(&rig.config_toml, &store));
    let place = format!("127.0.0.1:{}", redis.port());
    let (passed, report) = process::check(&config);
    assert!(passed, "{report}");
    assert!(report.contains("opens and answers") && report.contains(&place), "{report}");
    redis.stop();
    let (passed, report) = process::check(&config);
    assert!(!passed, "{report}");
    assert!(report.contains("cannot be used") && report.contains(&place), "{report}");
}
