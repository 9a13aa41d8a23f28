//! `cargo xtask`: the repository's automation, in Rust so it runs wherever cargo does.
//!
//! `cargo xtask` with no task lists the tasks.

#![allow(clippy::print_stdout)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

const TASKS: &str = "\
cargo xtask <task>

tasks:
  test            install what is missing, then run every test (the README's test command)
  codegen         regenerate docs/errors.md from the error catalogue
  codegen --check fail if docs/errors.md is out of date
  demo            build everything and say what the demo will run
  setup           install what a fresh machine lacks (wasm32 target, the tests' npm packages)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["test"] => test(),
        ["codegen"] => codegen(false),
        ["codegen", "--check"] => codegen(true),
        ["demo"] => demo(),
        ["setup"] => setup(),
        [] | ["help"] | ["--help"] | ["-h"] => {
            print!("{TASKS}");
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n\n{TASKS}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

fn run(cmd: &mut Command) -> Result {
    eprintln!("$ {}", describe(cmd));
    let status = cmd.status().map_err(|e| format!("could not start {}: {e}", describe(cmd)))?;
    if status.success() { Ok(()) } else { Err(format!("{} failed ({status})", describe(cmd))) }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn output(cmd: &mut Command) -> Option<String> {
    cmd.output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Installs what is missing: the wasm32 target, and the npm packages of `tests/`.
fn setup() -> Result {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let tests = project_root().join("tests");
    if !tests.join("node_modules/@azure/msal-node/package.json").exists() {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&tests))?;
    }
    Ok(())
}

fn test() -> Result {
    setup()?;
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    run(cargo().args(["check", "-p", "graphgate-core", "--target", "wasm32-unknown-unknown"]))?;
    // The Node tests start the emulator binary themselves.
    run(cargo().args(["build", "-p", "graphgate-emulator", "--bin", "graphgate-emulator"]))?;
    run(Command::new("node").args(["--test", "msal-node/"]).current_dir(project_root().join("tests")))?;
    Ok(())
}

fn codegen(check: bool) -> Result {
    let path = project_root().join("docs/errors.md");
    let fresh = graphgate_core::catalogue::render_markdown();
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == fresh {
        eprintln!("docs/errors.md is up to date");
        return Ok(());
    }
    if check {
        return Err("docs/errors.md is out of date: run `cargo xtask codegen`".into());
    }
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(|e| e.to_string())?;
    std::fs::write(&path, fresh).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("wrote docs/errors.md");
    Ok(())
}

fn demo() -> Result {
    setup()?;
    run(cargo().args(["build", "--workspace"]))?;
    run(cargo().args(["check", "-p", "graphgate-core", "--target", "wasm32-unknown-unknown"]))?;
    println!(
        "\nBuilt: graphgate-core (native and wasm32), graphgate-emulator and graphgate-proxy.\n\
         The demo page arrives with the browser module; `cargo xtask demo` will then start the emulator with\n\
         its sandbox seed and the proxy serving www/, and print the URL and the sandbox accounts.\n\
         Today: `cargo run -p graphgate-emulator -- --control` serves the offline Microsoft sign-in and Graph,\n\
         and `cargo xtask test` exercises everything that exists."
    );
    Ok(())
}
