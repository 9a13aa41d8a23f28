//! The `graphgate-proxy` binary: `graphgate-proxy [serve|check] [--config FILE]`.

#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use graphgate_proxy::config::Config;
use graphgate_proxy::server::{build_state, serve, shutdown_signal};

const USAGE: &str = "\
graphgate-proxy: the confidential token proxy of graphgate

usage: graphgate-proxy [serve] [--config FILE]
       graphgate-proxy check [--config FILE]

  serve           run the proxy (the default)
  check           check the configuration, credential, session store, sign-in service and the
                  app-only permissions; says what is wrong in English and Chinese; exit 0 if nothing is wrong
  --config FILE   the TOML configuration; GRAPHGATE_<SECTION>_<KEY> variables override it.
                  Secrets come from environment variables or files named there, never from here.
                  Without it, the configuration is the GRAPHGATE_<SECTION>_<KEY> variables alone
                  (GRAPHGATE_ENTRA_CLIENT_ID, GRAPHGATE_ENTRA_REDIRECT_URIS, ...), the client secret
                  in GRAPHGATE_CLIENT_SECRET (or a certificate: GRAPHGATE_CLIENT_CERTIFICATE_FILE and
                  GRAPHGATE_CLIENT_KEY_FILE) and the session key in GRAPHGATE_SESSION_KEY.
";

/// The configuration from `path` and the environment, or from the environment alone.
fn read_config(path: Option<&str>) -> Result<graphgate_proxy::config::Settings, Vec<String>> {
    let config = match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| vec![format!("cannot read {path}: {e}")])?;
            Config::from_toml_and_env(&text, std::env::vars())
        }
        None => Config::from_env(std::env::vars()),
    };
    config.map_err(|e| vec![e])?.validate()
}

fn load(path: Option<&str>) -> Result<graphgate_proxy::config::Settings, String> {
    read_config(path).map_err(|problems| {
        format!("the configuration has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "graphgate_proxy=info".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut config = None;
    let mut command = "serve";
    let mut it = args.iter().map(String::as_str);
    while let Some(arg) = it.next() {
        match arg {
            "serve" => command = "serve",
            "check" => command = "check",
            "--config" => match it.next() {
                Some(file) => config = Some(file),
                None => {
                    eprintln!("graphgate-proxy: --config needs a file\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("graphgate-proxy: unknown argument {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    if config.is_none() {
        tracing::info!("no --config: the configuration comes from GRAPHGATE_* environment variables");
    }
    if command == "check" {
        let report = graphgate_proxy::check::check(read_config(config)).await;
        print!("{}", report.render());
        return if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let settings = match load(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("graphgate-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let listen = settings.raw.server.listen;
    let state = match build_state(settings).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("graphgate-proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("graphgate-proxy: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %listen, "graphgate-proxy listening");
    println!(
        "graphgate-proxy listening on http://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    match serve(listener, state, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("graphgate-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
