//! The `graphgate-emulator` binary: serves the offline Entra ID and Graph until Ctrl-C or SIGTERM.

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use graphgate_emulator::{Config, Seed, spawn};

const USAGE: &str = "\
graphgate-emulator: an offline Entra ID v2 and Microsoft Graph for tests and demos

usage: graphgate-emulator [--listen ADDR] [--seed FILE] [--control] [--http] [--ca-out FILE]

  --listen ADDR   where to listen (default 127.0.0.1:8443; port 0 picks one)
  --seed FILE     a TOML seed of tenants, apps, users and mail (default: the built-in sandbox)
  --control       serve the control API under /_emulator/ (faults, clock, mailboxes, revocation, sessions)
  --http          plain HTTP instead of HTTPS (Microsoft's libraries refuse http:// authorities)
  --ca-out FILE   where to write the CA certificate clients must trust (default: a temp file)
";

fn parse(args: &[String]) -> Result<Config, String> {
    let mut config =
        Config { listen: SocketAddr::from(([127, 0, 0, 1], 8443)), control_api: false, ..Config::default() };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => config.listen = value("--listen")?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--seed" => {
                let path = value("--seed")?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
                config.seed = Seed::from_toml(&text)?;
            }
            "--control" => config.control_api = true,
            "--http" => config.https = false,
            "--ca-out" => config.ca_file = Some(PathBuf::from(value("--ca-out")?)),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(config)
}

async fn stopped() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("graphgate-emulator: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let seed = config.seed.clone();
    let handle = match spawn(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("graphgate-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("graphgate-emulator listening on {}", handle.base_url());
    if let Some(ca) = handle.ca_file() {
        println!(
            "  CA certificate: {}  (trust it: NODE_EXTRA_CA_CERTS, or the proxy's extra CA setting)",
            ca.display()
        );
    }
    println!("  Graph:          {}/v1.0", handle.base_url());
    for app in &seed.apps {
        println!("  app {} ({}), home tenant {}", app.client_id, app.name, app.home_tenant);
    }
    for user in &seed.users {
        println!("  account {} — {}", user.upn, user.name);
    }
    stopped().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}
