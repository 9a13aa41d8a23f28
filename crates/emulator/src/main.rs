//! The `graphgate-emulator` binary: serves the offline Entra ID and Graph until Ctrl-C or SIGTERM.

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use graphgate_emulator::{Config, Seed, spawn};

/// graphgate-emulator: an offline Entra ID v2 and Microsoft Graph for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "graphgate-emulator", version, args_override_self = true)]
struct Cli {
    /// Where to listen (port 0 picks one)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// A TOML seed of tenants, apps, users and mail (default: the built-in sandbox)
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Serve the control API under /_emulator/ (faults, clock, mailboxes, revocation, sessions)
    #[arg(long)]
    control: bool,
    /// Plain HTTP instead of HTTPS (Microsoft's libraries refuse http:// authorities)
    #[arg(long)]
    http: bool,
    /// Where to write the CA certificate clients must trust (default: a temp file)
    #[arg(long, value_name = "FILE")]
    ca_out: Option<PathBuf>,
}

impl Cli {
    /// The emulator's configuration, with the seed file read and parsed.
    fn config(self) -> Result<Config, String> {
        let seed = match &self.seed {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Seed::from_toml(&text)?
            }
            None => Seed::sandbox(),
        };
        Ok(Config { listen: self.listen, https: !self.http, ca_file: self.ca_out, control_api: self.control, seed })
    }
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
    let config = match Cli::parse().config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("graphgate-emulator: {e}");
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on the first unexpected error")]

    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_as_the_test_harness_passes_them() {
        let cli =
            Cli::try_parse_from(["graphgate-emulator", "--listen", "127.0.0.1:0", "--control", "--ca-out", "ca.pem"])
                .unwrap();
        let config = cli.config().unwrap();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert!(config.https && config.control_api);
        assert_eq!(config.ca_file, Some(PathBuf::from("ca.pem")));

        let config = Cli::try_parse_from(["graphgate-emulator", "--http"]).unwrap().config().unwrap();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 8443)));
        assert!(!config.https && !config.control_api && config.ca_file.is_none());
    }

    #[test]
    fn a_later_flag_replaces_an_earlier_one() {
        let cli = Cli::try_parse_from(["graphgate-emulator", "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2"]);
        assert_eq!(cli.unwrap().listen, SocketAddr::from(([127, 0, 0, 1], 2)));
    }

    #[test]
    fn a_missing_seed_file_is_named() {
        let cli = Cli::try_parse_from(["graphgate-emulator", "--seed", "/nonexistent/seed.toml"]).unwrap();
        assert!(cli.config().unwrap_err().contains("/nonexistent/seed.toml"));
    }
}
