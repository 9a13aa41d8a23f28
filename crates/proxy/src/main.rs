//! The `graphgate-proxy` binary: `graphgate-proxy [serve|check] [--config FILE]`, and its log.

#![allow(clippy::print_stdout)]

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use graphgate_proxy::config::{Config, LogConfig, LogFormat, Settings};
use graphgate_proxy::server::{build_state, serve, shutdown_signal};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// graphgate-proxy: the confidential token proxy of graphgate.
#[derive(Debug, Parser)]
#[command(name = "graphgate-proxy", version, args_override_self = true, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The TOML configuration; GRAPHGATE_<SECTION>_<KEY> variables override it
    ///
    /// Secrets come from environment variables or files named there, never from the command
    /// line. Without it, the configuration is the GRAPHGATE_<SECTION>_<KEY> variables alone
    /// (GRAPHGATE_ENTRA_CLIENT_ID, GRAPHGATE_ENTRA_REDIRECT_URIS, ...), the client secret in
    /// GRAPHGATE_CLIENT_SECRET (or a certificate: GRAPHGATE_CLIENT_CERTIFICATE_FILE and
    /// GRAPHGATE_CLIENT_KEY_FILE) and the session key in GRAPHGATE_SESSION_KEY.
    #[arg(long, value_name = "FILE", global = true, verbatim_doc_comment)]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Subcommand)]
enum Command {
    /// Run the proxy (the default)
    #[default]
    Serve,
    /// Check the configuration, credential, session store, sign-in service and app-only permissions
    ///
    /// Says what is wrong in English and Chinese; exits 0 if nothing is wrong.
    Check,
}

/// The configuration from `path` and the environment, or from the environment alone; with its
/// `[log]` section when it could be read.
fn read_config(path: Option<&Path>) -> (Option<LogConfig>, Result<Settings, Vec<String>>) {
    let config = match path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Config::from_toml_and_env(&text, std::env::vars()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        },
        None => Config::from_env(std::env::vars()),
    };
    match config {
        Ok(config) => (Some(config.log.clone()), config.validate()),
        Err(e) => (None, Err(vec![e])),
    }
}

/// The filter when neither `RUST_LOG` nor the configuration sets one.
const DEFAULT_FILTER: &str = "graphgate_proxy=info";

/// How the log is written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Logging {
    format: LogFormat,
    /// `EnvFilter` directives.
    filter: String,
    /// ANSI colour, in the text format only.
    ansi: bool,
}

impl Logging {
    /// The format from `[log]` (which `GRAPHGATE_LOG_FORMAT` overrides), or, when the
    /// configuration could not be read, from `GRAPHGATE_LOG_FORMAT` itself; the filter from
    /// `RUST_LOG`, else `log.level` (or `GRAPHGATE_LOG_LEVEL`), else [`DEFAULT_FILTER`]; colour
    /// only on a terminal and without `NO_COLOR`. An invalid `log.level` is the second value.
    fn new(log: Option<&LogConfig>, var: &dyn Fn(&str) -> Option<String>, terminal: bool) -> (Self, Option<String>) {
        let format = match log {
            Some(log) => log.format,
            None if var("GRAPHGATE_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) => LogFormat::Json,
            None => LogFormat::Text,
        };
        let level = match log {
            Some(log) => log.level.clone(),
            None => var("GRAPHGATE_LOG_LEVEL"),
        };
        let mut problem = None;
        let configured = match level.filter(|l| !l.trim().is_empty()) {
            Some(level) => match EnvFilter::try_new(&level) {
                Ok(_) => Some(level),
                Err(e) => {
                    problem = Some(format!("log.level: {e}"));
                    None
                }
            },
            None => None,
        };
        let from_env = var(EnvFilter::DEFAULT_ENV).filter(|f| !f.trim().is_empty() && EnvFilter::try_new(f).is_ok());
        let filter = from_env.or(configured).unwrap_or_else(|| DEFAULT_FILTER.to_owned());
        let ansi = terminal && var("NO_COLOR").is_none_or(|v| v.is_empty());
        (Self { format, filter, ansi }, problem)
    }

    /// The subscriber writing to `writer`.
    fn subscriber<W>(&self, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = EnvFilter::try_new(&self.filter).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
        match self.format {
            LogFormat::Text => Box::new(builder.with_ansi(self.ansi).finish()),
            LogFormat::Json => Box::new(builder.with_ansi(false).json().flatten_event(true).finish()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let hangups = graphgate_proxy::reload::listen();
    let cli = Cli::parse();
    let (log, settings) = read_config(cli.config.as_deref());
    let (logging, problem) =
        Logging::new(log.as_ref(), &|name| std::env::var(name).ok(), std::io::stdout().is_terminal());
    // Lines are formatted where they happen and written by a thread of their own, a batch per
    // write: a request does not wait on the log's pipe. Nothing is dropped (a full buffer holds
    // the writer back), and what is buffered is written out when `main` returns.
    let (log_writer, _log_flushed_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("graphgate-log")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    if tracing::subscriber::set_global_default(logging.subscriber(log_writer)).is_err() {
        eprintln!("graphgate-proxy: the log could not be set up");
    }
    let settings = match (settings, problem) {
        (settings, None) => settings,
        (Ok(_), Some(problem)) => Err(vec![problem]),
        (Err(mut problems), Some(problem)) => {
            problems.push(problem);
            Err(problems)
        }
    };
    if cli.config.is_none() {
        tracing::info!("no --config: the configuration comes from GRAPHGATE_* environment variables");
    }
    if cli.command.unwrap_or_default() == Command::Check {
        let report = graphgate_proxy::check::check(settings).await;
        print!("{}", report.render());
        return if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let settings = match settings {
        Ok(s) => s,
        Err(problems) => {
            eprintln!(
                "graphgate-proxy: the configuration has {} problem(s):\n  - {}",
                problems.len(),
                problems.join("\n  - ")
            );
            return ExitCode::from(2);
        }
    };
    let listen = settings.listen();
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
    graphgate_proxy::reload::spawn_on_sighup(hangups, state.clone());
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on the first unexpected error")]

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("graphgate-proxy").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_and_config_as_before() {
        for (args, command, config) in [
            (&[][..], None, None),
            (&["serve"][..], Some(Command::Serve), None),
            (&["serve", "--config", "a.toml"][..], Some(Command::Serve), Some("a.toml")),
            (&["--config", "a.toml"][..], None, Some("a.toml")),
            (&["--config", "a.toml", "check"][..], Some(Command::Check), Some("a.toml")),
            (&["check", "--config", "a.toml"][..], Some(Command::Check), Some("a.toml")),
            (&["check"][..], Some(Command::Check), None),
        ] {
            let cli = parse(args).unwrap();
            assert_eq!(cli.command, command, "{args:?}");
            assert_eq!(cli.config.as_deref(), config.map(Path::new), "{args:?}");
        }
    }

    #[test]
    fn version_help_and_unknown_arguments() {
        let version = parse(&["--version"]).unwrap_err();
        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        assert_eq!(version.exit_code(), 0);
        assert_eq!(version.to_string().trim(), concat!("graphgate-proxy ", env!("CARGO_PKG_VERSION")));

        let help = parse(&["--help"]).unwrap_err();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
        let text = help.to_string();
        for word in ["serve", "check", "--config", "--version", "GRAPHGATE_SESSION_KEY"] {
            assert!(text.contains(word), "{word} missing from:\n{text}");
        }

        let unknown = parse(&["--conifg", "a.toml"]).unwrap_err();
        assert_eq!(unknown.kind(), ErrorKind::UnknownArgument);
        assert_eq!(unknown.exit_code(), 2);
        assert!(unknown.to_string().contains("unexpected argument '--conifg'"), "{unknown}");
        assert_eq!(parse(&["start"]).unwrap_err().kind(), ErrorKind::InvalidSubcommand);
        assert_eq!(parse(&["help"]).unwrap_err().kind(), ErrorKind::InvalidSubcommand);
        assert_eq!(parse(&["--config"]).unwrap_err().kind(), ErrorKind::InvalidValue);
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_log_follows_rust_log_then_the_configuration() {
        let json = LogConfig { format: LogFormat::Json, level: Some("debug".into()) };
        let (l, problem) = Logging::new(Some(&json), &vars(&[]), true);
        assert_eq!(l, Logging { format: LogFormat::Json, filter: "debug".into(), ansi: true });
        assert_eq!(problem, None);
        let (l, _) = Logging::new(Some(&json), &vars(&[("RUST_LOG", "warn")]), false);
        assert_eq!((l.filter.as_str(), l.ansi), ("warn", false));
        let (l, _) = Logging::new(Some(&LogConfig::default()), &vars(&[("NO_COLOR", "1")]), true);
        assert_eq!(l, Logging { format: LogFormat::Text, filter: DEFAULT_FILTER.into(), ansi: false });
        // Without a readable configuration, the variables themselves.
        let (l, _) =
            Logging::new(None, &vars(&[("GRAPHGATE_LOG_FORMAT", "json"), ("GRAPHGATE_LOG_LEVEL", "trace")]), false);
        assert_eq!((l.format, l.filter.as_str()), (LogFormat::Json, "trace"));
        let bad = LogConfig { format: LogFormat::Text, level: Some("graphgate_proxy=loud".into()) };
        let (l, problem) = Logging::new(Some(&bad), &vars(&[]), false);
        assert_eq!(l.filter, DEFAULT_FILTER);
        assert!(problem.unwrap().starts_with("log.level: "));
    }

    #[test]
    fn the_log_section_comes_from_the_file_or_graphgate_log_variables() {
        let toml = "[entra]\nclient_id = \"x\"\n[log]\nformat = \"json\"\nlevel = \"debug\"\n";
        let config = Config::from_toml_and_env(toml, []).unwrap();
        assert_eq!((config.log.format, config.log.level.as_deref()), (LogFormat::Json, Some("debug")));
        let env = [("GRAPHGATE_LOG_FORMAT".to_owned(), "text".to_owned())];
        assert_eq!(Config::from_toml_and_env(toml, env).unwrap().log.format, LogFormat::Text);
        let env = [("GRAPHGATE_LOG_FORMAT".to_owned(), "json".to_owned())];
        assert_eq!(Config::from_env(env).unwrap().log.format, LogFormat::Json);
        assert!(Config::from_toml_and_env("[entra]\n[log]\nformat = \"xml\"\n", []).is_err());
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `logging` writes for an info line with fields and a debug line.
    fn written(logging: &Logging) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing::subscriber::with_default(logging.subscriber(move || writer.clone()), || {
            tracing::info!(request_id = "req-1", status = 200u16, route = "/api/auth/token", "request");
            tracing::debug!("not at info");
            tracing::warn!(error = "a \"quoted\"\nvalue", "keep-alive: a refresh failed");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn the_json_format_writes_one_object_per_line() {
        let log = written(&Logging { format: LogFormat::Json, filter: DEFAULT_FILTER.into(), ansi: true });
        let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{log}");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[0]["message"], "request");
        assert_eq!(lines[0]["request_id"], "req-1");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["target"], "graphgate_proxy::tests");
        assert!(lines[0]["timestamp"].is_string());
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["error"], "a \"quoted\"\nvalue");
        assert!(!log.contains('\x1b'));
    }

    #[test]
    fn the_text_format_is_coloured_only_when_asked() {
        let plain = written(&Logging { format: LogFormat::Text, filter: DEFAULT_FILTER.into(), ansi: false });
        assert!(plain.contains("request_id=\"req-1\"") || plain.contains("request_id=req-1"), "{plain}");
        assert!(!plain.contains('\x1b') && !plain.contains("not at info"), "{plain}");
        let coloured = written(&Logging { format: LogFormat::Text, filter: "debug".into(), ansi: true });
        assert!(coloured.contains('\x1b') && coloured.contains("not at info"), "{coloured}");
    }
}
