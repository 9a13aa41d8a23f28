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
  wasm            build the npm package `graphgate` as wasm-pack.toml declares, and report its size
  demo            build everything and say what the demo will run
  setup           install what a fresh machine lacks (wasm32 target, the tests' npm packages)
                  (`test` also installs Chromium, ChromeDriver and wasm-bindgen-cli when missing)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["test"] => test(),
        ["codegen"] => codegen(false),
        ["codegen", "--check"] => codegen(true),
        ["demo"] => demo(),
        ["wasm"] => setup_browser().and_then(|()| wasm()).and_then(|_| incumbent_size().map(|_| ())),
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

/// The wasm-bindgen CLI version; it must equal the `wasm-bindgen` crate pinned in Cargo.toml.
const WASM_BINDGEN_VERSION: &str = "0.2.129";

/// Where cargo installs binaries.
fn cargo_bin(name: &str) -> PathBuf {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    home.unwrap_or_default().join("bin").join(name)
}

/// Installs what the browser tests need: Debian's Chromium and ChromeDriver, and the
/// wasm-bindgen CLI at exactly the pinned version.
fn setup_browser() -> Result {
    if !Path::new("/usr/bin/chromedriver").exists() || !Path::new("/usr/bin/chromium").exists() {
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let have = output(Command::new(cargo_bin("wasm-bindgen")).arg("--version")).unwrap_or_default();
    if !have.trim().ends_with(WASM_BINDGEN_VERSION) {
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION, "--locked"]))?;
    }
    Ok(())
}

/// Installs what is missing: the wasm32 target, and the npm packages of `tests/`.
fn setup() -> Result {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    let tests = project_root().join("tests");
    let installed = ["@azure/msal-node", "@azure/msal-browser", "binaryen", "esbuild"]
        .iter()
        .all(|p| tests.join("node_modules").join(p).join("package.json").exists());
    if !installed {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&tests))?;
    }
    Ok(())
}

fn test() -> Result {
    setup()?;
    setup_browser()?;
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    run(cargo().args(["check", "-p", "graphgate-core", "--target", "wasm32-unknown-unknown"]))?;
    // Alone, so core is built as the browser module uses it: without its default features.
    run(cargo().args(["check", "-p", "graphgate-wasm", "--target", "wasm32-unknown-unknown"]))?;
    // The browser module's tests, in headless Chromium through wasm-bindgen-test-runner.
    run(cargo()
        .args(["test", "-p", "graphgate-wasm", "--target", "wasm32-unknown-unknown"])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", cargo_bin("wasm-bindgen-test-runner"))
        .env("CHROMEDRIVER", "/usr/bin/chromedriver"))?;
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

/// `wasm-pack.toml`: how the npm package is built.
#[derive(serde::Deserialize)]
struct WasmPack {
    package: WasmPackage,
    build: WasmBuild,
    #[serde(rename = "wasm-opt")]
    wasm_opt: WasmOpt,
}

#[derive(serde::Deserialize)]
struct WasmPackage {
    #[serde(rename = "crate")]
    krate: String,
    name: String,
    #[serde(rename = "out-dir")]
    out_dir: String,
}

#[derive(serde::Deserialize)]
struct WasmBuild {
    profile: String,
    targets: Vec<String>,
}

#[derive(serde::Deserialize)]
struct WasmOpt {
    enabled: bool,
    level: String,
}

/// Sizes of one built target: (.wasm raw, .wasm gzip -9, JS glue raw, JS glue gzip -9).
struct Sizes {
    wasm: u64,
    wasm_gz: u64,
    js: u64,
    js_gz: u64,
}

fn gzip9_len(path: &Path) -> Result<u64> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(path).output().map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()));
    }
    Ok(out.stdout.len() as u64)
}

/// Builds the npm package: cargo for wasm32, wasm-bindgen (the CLI must match the pinned crate)
/// for every target, then wasm-opt from the npm `binaryen` package when it is installed.
fn wasm() -> Result<Vec<(String, Sizes)>> {
    let root = project_root();
    let text = std::fs::read_to_string(root.join("wasm-pack.toml")).map_err(|e| format!("wasm-pack.toml: {e}"))?;
    let cfg: WasmPack = toml::from_str(&text).map_err(|e| format!("wasm-pack.toml: {e}"))?;
    setup()?;
    run(cargo().args([
        "build",
        "-p",
        &cfg.package.krate,
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        &cfg.build.profile,
    ]))?;
    let artifact = root
        .join("target/wasm32-unknown-unknown")
        .join(&cfg.build.profile)
        .join(format!("{}.wasm", cfg.package.krate.replace('-', "_")));
    let wasm_opt = root.join("tests/node_modules/.bin/wasm-opt");
    let mut report = Vec::new();
    for target in &cfg.build.targets {
        let out = root.join(&cfg.package.out_dir).join(target);
        run(Command::new(cargo_bin("wasm-bindgen"))
            .args([
                "--target",
                target,
                "--remove-name-section",
                "--remove-producers-section",
                "--out-name",
                &cfg.package.name,
                "--out-dir",
            ])
            .arg(&out)
            .arg(&artifact))?;
        let wasm_file = out.join(format!("{}_bg.wasm", cfg.package.name));
        if cfg.wasm_opt.enabled {
            if wasm_opt.exists() {
                run(Command::new(&wasm_opt)
                    .arg(&cfg.wasm_opt.level)
                    .arg("--all-features")
                    .arg(&wasm_file)
                    .arg("-o")
                    .arg(&wasm_file))?;
            } else {
                eprintln!(
                    "xtask: wasm-opt (npm binaryen) is not installed under tests/node_modules; the module is not optimised"
                );
            }
        }
        // The JS glue: `{name}.js`, plus `{name}_bg.js` for bundlers.
        let mut js = 0;
        let mut js_gz = 0;
        for file in [format!("{}.js", cfg.package.name), format!("{}_bg.js", cfg.package.name)] {
            let path = out.join(file);
            if path.exists() {
                js += std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
                js_gz += gzip9_len(&path)?;
            }
        }
        let sizes = Sizes {
            wasm: std::fs::metadata(&wasm_file).map_err(|e| e.to_string())?.len(),
            wasm_gz: gzip9_len(&wasm_file)?,
            js,
            js_gz,
        };
        println!(
            "{target:8} .wasm {} B (gzip -9 {} B) + JS glue {} B (gzip -9 {} B) = {} B gzip -9",
            sizes.wasm,
            sizes.wasm_gz,
            sizes.js,
            sizes.js_gz,
            sizes.wasm_gz + sizes.js_gz
        );
        report.push((target.clone(), sizes));
    }
    Ok(report)
}

/// Bundles `@azure/msal-browser`'s `PublicClientApplication` with esbuild (minified ES module for
/// the browser, tree-shaken) and returns its gzip -9 size: the yardstick for the module's size.
fn incumbent_size() -> Result<u64> {
    let root = project_root();
    let tests = root.join("tests");
    let esbuild = tests.join("node_modules/.bin/esbuild");
    if !esbuild.exists() || !tests.join("node_modules/@azure/msal-browser/package.json").exists() {
        eprintln!(
            "xtask: @azure/msal-browser or esbuild is not installed under tests/node_modules; skipping the comparison"
        );
        return Ok(0);
    }
    let out = root.join("target/npm/msal-browser.min.js");
    run(Command::new(&esbuild)
        .arg(tests.join("size/msal-browser-entry.mjs"))
        .args(["--bundle", "--minify", "--format=esm", "--platform=browser", "--target=es2020", "--log-level=warning"])
        .arg(format!("--outfile={}", out.display()))
        .current_dir(&tests))?;
    let raw = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();
    let gz = gzip9_len(&out)?;
    println!("@azure/msal-browser PublicClientApplication (esbuild, minified) {raw} B = {gz} B gzip -9");
    Ok(gz)
}
