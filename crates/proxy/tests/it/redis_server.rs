//! Real Redis servers for the tests: `redis-server` on a free loopback port in a scratch
//! directory of its own, stopped and started again on the same port and data, and a Sentinel
//! topology (one primary, one replica, one sentinel) that fails over on request.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redis::Value;

use super::scratch::{PATIENCE, Scratch};

/// The name the sentinel monitors the primary under.
pub const PRIMARY_NAME: &str = "graphgate";

/// How often a wait looks at its condition again.
const POLL: Duration = Duration::from_millis(20);

/// How a server is configured.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `appendonly yes`: every write goes to the append-only file, so a restart keeps the data.
    pub appendonly: bool,
    /// RDB snapshots (`save 3600 1`); none unless asked.
    pub save: bool,
    /// `requirepass`, and `masterauth` with the same password (a replica of a server that has it).
    pub password: Option<String>,
    /// `replicaof 127.0.0.1 PORT`.
    pub replica_of: Option<u16>,
}

impl Options {
    /// A server whose data survives a restart.
    pub fn durable() -> Self {
        Self { appendonly: true, ..Self::default() }
    }
}

/// One `redis-server` process (a data server or a sentinel): its port, directory and
/// configuration file, kept across restarts.
struct Instance {
    port: u16,
    scratch: Scratch,
    conf: PathBuf,
    sentinel: bool,
    password: Option<String>,
    child: Option<Child>,
}

impl Instance {
    fn new(
        conf_name: &str,
        sentinel: bool,
        password: Option<String>,
        conf: impl FnOnce(u16, &Scratch) -> String,
    ) -> Self {
        let port = free_port();
        let scratch = Scratch::new();
        let text = conf(port, &scratch);
        let conf = scratch.file(conf_name, &text);
        let mut instance = Self { port, scratch, conf, sentinel, password, child: None };
        instance.spawn();
        instance
    }

    /// The address with the password, for the harness's own connections.
    fn address(&self) -> String {
        match &self.password {
            Some(pass) => format!("redis://:{pass}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Starts the process and waits (bounded) until it answers `PING`.
    fn spawn(&mut self) {
        assert!(self.child.is_none(), "the server on port {} is already running", self.port);
        let out = File::create(self.scratch.0.join("stdout.log")).unwrap();
        let mut command = Command::new("redis-server");
        command.arg(&self.conf);
        if self.sentinel {
            command.arg("--sentinel");
        }
        let child = command.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(out).spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not on PATH: these tests run real Redis servers; `cargo xtask test` \
                 installs it (`apt-get install redis-server`)"
            ),
            Err(e) => panic!("redis-server could not be started: {e}"),
        };
        self.child = Some(child);
        self.wait_until_answering();
    }

    fn wait_until_answering(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if matches!(query(&self.address(), &["PING"]), Ok(Value::SimpleString(ref s)) if s == "PONG") {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("redis-server on port {} exited ({status}) before answering:\n{}", self.port, self.log());
            }
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer:\n{}", self.port, self.log());
            std::thread::sleep(POLL);
        }
    }

    /// Everything the server wrote: its log file and its output.
    fn log(&self) -> String {
        ["redis.log", "stdout.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(self.scratch.0.join(name)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// SIGTERM (Redis shuts down cleanly: the append-only file flushed, no snapshot unless
    /// `save` is configured), and waits for the process to be gone; SIGKILL if it lingers.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server on port {} ignored SIGTERM:\n{}", self.port, self.log());
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free loopback port: bound, read and let go.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A running `redis-server`; killed and its directory removed on drop.
pub struct RedisServer {
    instance: Instance,
}

impl RedisServer {
    /// Starts a server configured by `opts` and waits until it answers.
    pub fn start(opts: Options) -> Self {
        let password = opts.password.clone();
        Self { instance: Instance::new("redis.conf", false, password, |port, dir| server_conf(port, dir, &opts)) }
    }

    /// `redis://127.0.0.1:PORT/0`, or `redis://:PASS@127.0.0.1:PORT/0` with a password.
    pub fn url(&self) -> String {
        format!("{}/0", self.instance.address())
    }

    pub fn port(&self) -> u16 {
        self.instance.port
    }

    pub fn is_running(&self) -> bool {
        self.instance.child.is_some()
    }

    /// Shuts the server down and waits until it is gone (its port is free then).
    pub fn stop(&mut self) {
        self.instance.stop();
    }

    /// Stops the server if it runs and starts it again: the same port, directory and
    /// configuration (with `appendonly` the data survives).
    pub fn restart(&mut self) {
        self.instance.stop();
        self.instance.spawn();
    }

    /// What the server logged, for a failure's message.
    pub fn log(&self) -> String {
        self.instance.log()
    }
}

fn server_conf(port: u16, dir: &Scratch, opts: &Options) -> String {
    let mut conf = format!(
        "bind 127.0.0.1\nport {port}\ndaemonize no\ndir {dir:?}\nlogfile {log:?}\nappendonly {aof}\n",
        dir = dir.0,
        log = dir.0.join("redis.log"),
        aof = if opts.appendonly { "yes" } else { "no" },
    );
    conf.push_str(if opts.save { "save 3600 1\n" } else { "save \"\"\n" });
    // A replica's first sync starts at once (not after the 5 s Redis waits for more replicas).
    conf.push_str("repl-diskless-sync-delay 0\n");
    if let Some(pass) = &opts.password {
        conf.push_str(&format!("requirepass {pass:?}\nmasterauth {pass:?}\n"));
    }
    if let Some(primary) = opts.replica_of {
        conf.push_str(&format!("replicaof 127.0.0.1 {primary}\n"));
    }
    conf
}

fn sentinel_conf(port: u16, dir: &Scratch, primary: u16) -> String {
    format!(
        "bind 127.0.0.1\nport {port}\ndaemonize no\ndir {dir:?}\nlogfile {log:?}\n\
         sentinel monitor {PRIMARY_NAME} 127.0.0.1 {primary} 1\n\
         sentinel down-after-milliseconds {PRIMARY_NAME} 1000\n\
         sentinel failover-timeout {PRIMARY_NAME} 5000\n",
        dir = dir.0,
        log = dir.0.join("redis.log"),
    )
}

/// One primary, one replica of it and one sentinel monitoring the primary as
/// [`PRIMARY_NAME`]; all stopped on drop.
pub struct RedisSentinel {
    primary: RedisServer,
    replica: RedisServer,
    sentinel: Instance,
}

impl RedisSentinel {
    /// Starts the three and waits until the replica is in sync and the sentinel knows both.
    pub fn start() -> Self {
        let primary = RedisServer::start(Options::default());
        let replica = RedisServer::start(Options { replica_of: Some(primary.port()), ..Options::default() });
        wait_blocking("the replica to sync", || {
            info_field(&replica.url(), "master_link_status").as_deref() == Some("up")
        });
        let primary_port = primary.port();
        let sentinel = Instance::new("sentinel.conf", true, None, |port, dir| sentinel_conf(port, dir, primary_port));
        let topology = Self { primary, replica, sentinel };
        let url = topology.sentinel_url();
        wait_blocking("the sentinel to know the primary", || master_port_blocking(&url) == Some(primary_port));
        let replica_port = topology.replica.port();
        wait_blocking("the sentinel to know the replica", || knows_replica(&url, replica_port));
        topology
    }

    /// `redis://127.0.0.1:PORT`: the sentinel.
    pub fn sentinel_url(&self) -> String {
        self.sentinel.address()
    }

    pub fn primary_name(&self) -> &'static str {
        PRIMARY_NAME
    }

    /// The server that is primary now.
    pub fn primary(&self) -> &RedisServer {
        &self.primary
    }

    /// The server that is replica now.
    pub fn replica(&self) -> &RedisServer {
        &self.replica
    }

    /// Promotes the replica: waits until it holds every write the primary has, sends `SENTINEL
    /// FAILOVER`, then waits until the sentinel names the former replica and that server's
    /// `ROLE` says master. The two swap places ([`Self::primary`] is the new primary).
    pub async fn failover(&mut self) {
        self.wait_for_replica_to_catch_up().await;
        let url = self.sentinel_url();
        let deadline = Instant::now() + PATIENCE;
        // Refused while the sentinel still counts no replica as fit to promote: asked again.
        while let Err(e) = try_command(&url, &["SENTINEL", "FAILOVER", PRIMARY_NAME]).await {
            assert!(Instant::now() < deadline, "SENTINEL FAILOVER refused: {e}");
            tokio::time::sleep(POLL).await;
        }
        let (new_port, new_url) = (self.replica.port(), self.replica.url());
        loop {
            let named = master_port(&url).await == Some(new_port);
            if named && role(&new_url).await.as_deref() == Some("master") {
                break;
            }
            assert!(Instant::now() < deadline, "no failover to port {new_port} within {PATIENCE:?}");
            tokio::time::sleep(POLL).await;
        }
        std::mem::swap(&mut self.primary, &mut self.replica);
    }

    async fn wait_for_replica_to_catch_up(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let written = offset(&self.primary.url()).await;
            if offset(&self.replica.url()).await >= written {
                return;
            }
            assert!(Instant::now() < deadline, "the replica did not catch up within {PATIENCE:?}");
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Waits on the thread (bounded) until `done` holds: only while no proxy runs.
fn wait_blocking(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(POLL);
    }
}

/// The builder of a command from its words.
fn cmd(args: &[&str]) -> redis::Cmd {
    let (name, rest) = args.split_first().expect("a command");
    let mut cmd = redis::cmd(name);
    for arg in rest {
        cmd.arg(*arg);
    }
    cmd
}

/// One command on a connection of its own, blocking (bounded by short timeouts).
pub fn query(url: &str, args: &[&str]) -> redis::RedisResult<Value> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_connection_with_timeout(Duration::from_millis(500))?;
    con.set_read_timeout(Some(Duration::from_secs(5)))?;
    con.set_write_timeout(Some(Duration::from_secs(5)))?;
    cmd(args).query(&mut con)
}

/// One command on a connection of its own; its error when Redis refuses it or cannot be reached.
pub async fn try_command(url: &str, args: &[&str]) -> redis::RedisResult<Value> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let mut con = client.get_multiplexed_async_connection_with_config(&config).await?;
    cmd(args).query_async(&mut con).await
}

/// One command (`TTL key`, `SENTINEL FAILOVER name`, …); panics when it fails.
pub async fn command(url: &str, args: &[&str]) -> Value {
    try_command(url, args).await.unwrap_or_else(|e| panic!("{args:?} on {url}: {e}"))
}

/// A reply as text: a bulk or simple string, or `OK`.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".to_owned()),
        _ => None,
    }
}

/// A reply as an integer (`TTL`, `DBSIZE`, …).
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// A reply as a list of texts (`KEYS`).
pub fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

/// One `field:value` line of `INFO replication`.
fn field_of(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':')).map(|v| v.trim().to_owned())
}

fn info_field(url: &str, field: &str) -> Option<String> {
    field_of(&text(&query(url, &["INFO", "replication"]).ok()?)?, field)
}

/// The replication offset a server has reached (`master_repl_offset`).
async fn offset(url: &str) -> i64 {
    let info = text(&command(url, &["INFO", "replication"]).await).unwrap_or_default();
    field_of(&info, "master_repl_offset").and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// The port of the primary as `SENTINEL get-master-addr-by-name` names it.
fn port_named(reply: &Value) -> Option<u16> {
    texts(reply).get(1)?.parse().ok()
}

fn master_port_blocking(sentinel: &str) -> Option<u16> {
    port_named(&query(sentinel, &["SENTINEL", "get-master-addr-by-name", PRIMARY_NAME]).ok()?)
}

async fn master_port(sentinel: &str) -> Option<u16> {
    port_named(&try_command(sentinel, &["SENTINEL", "get-master-addr-by-name", PRIMARY_NAME]).await.ok()?)
}

/// Whether the sentinel lists the replica on `port` as healthy (no down or disconnected flag).
fn knows_replica(sentinel: &str, port: u16) -> bool {
    let Ok(Value::Array(replicas)) = query(sentinel, &["SENTINEL", "replicas", PRIMARY_NAME]) else {
        return false;
    };
    replicas.iter().any(|replica| {
        let fields = fields_of(replica);
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        field("port") == Some(port.to_string().as_str())
            && field("flags").is_some_and(|f| !f.contains("down") && !f.contains("disconnected"))
    })
}

/// A sentinel's description of an instance: a flat list of names and values, or a map.
fn fields_of(value: &Value) -> Vec<(String, String)> {
    match value {
        Value::Array(items) => {
            items.chunks(2).filter_map(|pair| Some((text(pair.first()?)?, text(pair.get(1)?)?))).collect()
        }
        Value::Map(pairs) => pairs.iter().filter_map(|(k, v)| Some((text(k)?, text(v)?))).collect(),
        _ => Vec::new(),
    }
}

/// The first element of `ROLE`: `master`, `slave` or `sentinel`.
pub async fn role(url: &str) -> Option<String> {
    match try_command(url, &["ROLE"]).await.ok()? {
        Value::Array(items) => text(items.first()?),
        _ => None,
    }
}

#[tokio::test]
async fn a_server_answers_and_keeps_its_data_across_a_restart_with_appendonly() {
    let mut redis = RedisServer::start(Options::durable());
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/0", redis.port()));
    command(&redis.url(), &["SET", "greeting", "hello"]).await;
    assert_eq!(text(&command(&redis.url(), &["GET", "greeting"]).await).as_deref(), Some("hello"));
    let port = redis.port();
    redis.restart();
    assert_eq!(redis.port(), port, "the same port after a restart");
    assert_eq!(text(&command(&redis.url(), &["GET", "greeting"]).await).as_deref(), Some("hello"), "{}", redis.log());
    redis.stop();
    assert!(try_command(&redis.url(), &["PING"]).await.is_err(), "nothing answers once stopped");
    redis.restart();
    assert_eq!(text(&command(&redis.url(), &["GET", "greeting"]).await).as_deref(), Some("hello"));
}

#[tokio::test]
async fn a_server_without_appendonly_forgets_on_restart_and_a_password_is_required() {
    let mut redis = RedisServer::start(Options { password: Some("s3cret".into()), ..Options::default() });
    assert_eq!(redis.url(), format!("redis://:s3cret@127.0.0.1:{}/0", redis.port()));
    command(&redis.url(), &["SET", "k", "v"]).await;
    let anonymous = format!("redis://127.0.0.1:{}/0", redis.port());
    let refused = try_command(&anonymous, &["GET", "k"]).await.expect_err("no password, no answer");
    assert!(refused.to_string().to_lowercase().contains("auth"), "{refused}");
    redis.restart();
    assert_eq!(command(&redis.url(), &["GET", "k"]).await, Value::Nil, "no appendonly, no snapshot: nothing kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sentinel_fails_over_to_the_replica() {
    let mut topology = RedisSentinel::start();
    let (first, second) = (topology.primary().port(), topology.replica().port());
    command(&topology.primary().url(), &["SET", "k", "v"]).await;
    topology.failover().await;
    assert_eq!(topology.primary().port(), second);
    assert_eq!(master_port(&topology.sentinel_url()).await, Some(second));
    assert_eq!(text(&command(&topology.primary().url(), &["GET", "k"]).await).as_deref(), Some("v"));
    command(&topology.primary().url(), &["SET", "k", "w"]).await;
    assert_eq!(topology.replica().port(), first);
}
