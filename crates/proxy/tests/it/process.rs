//! The real `graphgate-proxy` binary for tests that signal or kill it: started with a TOML file
//! beside the rig's, its output collected line by line, its address read from its first line.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running proxy process; killed on drop.
pub struct Proxy {
    pub child: Child,
    pub base: String,
    pub output: Arc<Mutex<Vec<String>>>,
}

pub use crate::scratch::PATIENCE;

/// Writes `toml` to `dir/name` and starts the binary on it; waits until it listens.
pub fn start(dir: &Path, name: &str, toml: &str) -> Proxy {
    let config = dir.join(name);
    std::fs::write(&config, toml).unwrap();
    start_with(&config)
}

/// Starts the binary on the configuration file `config`; waits until it listens.
pub fn start_with(config: &PathBuf) -> Proxy {
    let mut proxy = spawn_with(config);
    proxy.wait_until_listening();
    proxy
}

/// Starts the binary on the configuration file `config`, without waiting.
pub fn spawn_with(config: &PathBuf) -> Proxy {
    let mut child = Command::new(env!("CARGO_BIN_EXE_graphgate-proxy"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "graphgate_proxy=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                output.lock().unwrap().push(line);
            }
        });
    }
    Proxy { child, base: String::new(), output }
}

/// The rig's configuration made fit for a process: an ephemeral port, its own database file.
pub fn config_for_process(rig_toml: &str, db: &str) -> String {
    rig_toml.replace("[server]\n", "[server]\nlisten = \"127.0.0.1:0\"\n").replace("sessions.db", db)
}

impl Proxy {
    /// Waits (blocking, bounded) until the proxy says it listens; its address becomes `base`.
    pub fn wait_until_listening(&mut self) {
        let line = self.wait_blocking("graphgate-proxy listening on http://", 1);
        self.base = line.split("listening on ").nth(1).unwrap().trim().to_owned();
    }

    /// Waits (bounded by [`PATIENCE`]) for an output line containing `text`; returns it. The
    /// runtime keeps running meanwhile (the emulator the proxy calls is on it).
    pub async fn wait_for_line(&mut self, text: &str) -> String {
        self.wait_for_nth_line(text, 1).await
    }

    /// Waits for the `n`th output line containing `text`.
    pub async fn wait_for_nth_line(&mut self, text: &str, n: usize) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.poll_line(text, n, deadline) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// [`Self::wait_for_nth_line`] blocking the thread: only before the proxy calls anything.
    fn wait_blocking(&mut self, text: &str, n: usize) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.poll_line(text, n, deadline) {
                return line;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn poll_line(&mut self, text: &str, n: usize, deadline: Instant) -> Option<String> {
        {
            let found: Vec<String> = self.lines().into_iter().filter(|l| l.contains(text)).collect();
            if found.len() >= n {
                return Some(found[n - 1].clone());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the proxy exited ({status}) before printing {text:?}:\n{}", self.lines().join("\n"));
            }
            assert!(
                Instant::now() < deadline,
                "no line {text:?} (#{n}) within {PATIENCE:?}:\n{}",
                self.lines().join("\n")
            );
            None
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    /// Sends `signal` (`"HUP"`, `"KILL"`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(mut self) {
        self.signal("KILL");
        self.child.wait().unwrap();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary's `check` on `config`; returns its exit success and its output.
pub fn check(config: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_graphgate-proxy"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}
