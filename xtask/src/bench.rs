//! `cargo xtask bench`: graphgate beside the incumbents in one run. It installs what the run
//! needs when missing (wrk, redis-server, the msal-node peer's packages), builds the emulator and
//! the proxy (release; debug for `--quick`), runs `bench/run.mjs` — graphgate-proxy, with the
//! SQLite and the Redis session store, and the msal-node peer against one emulator — and, for a
//! full run, the browser figures (the package's size beside msal-browser and the Graph client,
//! and start-up in headless Chromium). A full run's report becomes `docs/benchmarks.md` (and
//! `docs/benchmarks.svg`); `--quick` is the smoke test CI runs, which fails on errors and never on
//! numbers.

use std::path::Path;
use std::process::Command;

use crate::{Result, cargo, output, project_root, run};

/// Runs the bench; `quick` for the smoke run.
pub(crate) fn bench(quick: bool) -> Result {
    install_from_apt("wrk", "wrk")?;
    install_from_apt("redis-server", "redis-server")?;
    let root = project_root();
    let peer = root.join("bench/peer-msal-node");
    if !peer.join("node_modules/@azure/msal-node/package.json").exists() {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&peer))?;
    }
    crate::setup()?;
    let profile = if quick { "debug" } else { "release" };
    let mut build = cargo();
    build.args(["build", "-p", "graphgate-emulator", "-p", "graphgate-proxy", "--bins"]);
    if !quick {
        build.arg("--release");
    }
    run(&mut build)?;
    let mut driver = Command::new("node");
    driver.arg(root.join("bench/run.mjs")).env("GRAPHGATE_PROFILE", profile).current_dir(&root);
    if quick {
        driver.arg("--quick");
    }
    run(&mut driver)?;
    if quick {
        return Ok(());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let report = std::fs::read_to_string(Path::new(&target).join("bench/report.md"))
        .map_err(|e| format!("the bench wrote no report: {e}"))?;
    let browser = browser_figures()?;
    let text = format!("{report}\n## The browser module\n\n{browser}\n");
    crate::write(&root.join("docs/benchmarks.md"), &text)?;
    std::fs::copy(Path::new(&target).join("bench/chart.svg"), root.join("docs/benchmarks.svg"))
        .map_err(|e| format!("docs/benchmarks.svg: {e}"))?;
    println!("wrote docs/benchmarks.md and docs/benchmarks.svg");
    Ok(())
}

/// The browser figures: the package's size beside the incumbents (as `cargo xtask wasm` reports
/// it) and start-up in headless Chromium beside msal-browser's (`tests/bench/startup.mjs`).
fn browser_figures() -> Result<String> {
    crate::setup_browser()?;
    let size = crate::wasm_and_compare(false)?;
    let tests = project_root().join("tests");
    let startup =
        output(Command::new("node").arg("bench/startup.mjs").env("GRAPHGATE_PROFILE", "release").current_dir(&tests))
            .ok_or("tests/bench/startup.mjs failed")?;
    Ok(format!(
        "Size (gzip -9):\n\n```\n{}\n```\n\nStart-up to ready in headless Chromium:\n\n```\n{}\n```\n",
        size.trim(),
        startup.trim()
    ))
}

/// `program` from Debian's package `package`, when it is missing.
pub(crate) fn install_from_apt(program: &str, package: &str) -> Result {
    if output(Command::new(program).arg("--version")).is_some() || Path::new("/usr/bin").join(program).exists() {
        return Ok(());
    }
    let install = || {
        run(Command::new("apt-get").args(["install", "-y", "-qq", package]).env("DEBIAN_FRONTEND", "noninteractive"))
    };
    install().or_else(|_| {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        install()
    })
}
