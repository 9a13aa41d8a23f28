//! `cargo xtask`: the repository's automation, in Rust so it runs wherever cargo does.
//!
//! `cargo xtask` with no task lists the tasks.

#![allow(clippy::print_stdout)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod names;

type Result<T = ()> = std::result::Result<T, String>;

const TASKS: &str = "\
cargo xtask <task>

tasks:
  test            install what is missing, then run every test (the README's test command)
  codegen         regenerate docs/errors.md from the error catalogue
  codegen --check fail if docs/errors.md is out of date
  wasm            build the npm package `graphgate` as wasm-pack.toml declares, and report its size
                  beside msal-browser's and beside bench/card-floor's (its browser crates alone)
  demo            build everything and run the demo: emulator + proxy serving www/ on
                  http://localhost:8080 (Ctrl-C stops); `demo --config FILE` uses a real tenant,
                  `demo --env` one configured by GRAPHGATE_* environment variables
  bench           graphgate beside the incumbents in one run (release builds; about 10 minutes):
                  writes target/bench/report.md and chart.svg, and docs/benchmarks.md
  bench --quick   the same as a smoke test (2 s per figure, debug builds): fails on errors only
  stress          the long tests (1,000 slow sockets, ten SIGKILLs under load), release builds
  fuzz [--seconds N] [target...]
                  run the fuzz targets of fuzz/ (all by default) for N seconds each (default 30)
                  over a copy of their checked-in corpus; fails on a crash (installs cargo-fuzz)
  setup           install what a fresh machine lacks (wasm32 target, the tests' npm packages)
                  (`test` also installs Chromium, ChromeDriver and wasm-bindgen-cli when missing)
";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["test"] => test(),
        ["codegen"] => codegen(false),
        ["codegen", "--check"] => codegen(true),
        ["demo", rest @ ..] => demo(rest),
        ["fuzz", rest @ ..] => fuzz_args(rest).and_then(|(seconds, targets)| fuzz(seconds, &targets)),
        ["wasm"] => setup().and_then(|()| setup_wasm_bindgen()).and_then(|()| wasm_and_compare(false).map(drop)),
        ["bench"] => bench::bench(false),
        ["stress"] => stress(),
        ["bench", "--quick"] => bench::bench(true),
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
    cargo_home().join("bin").join(name)
}

/// `$CARGO_HOME`, by default `~/.cargo`.
fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_default()
}

/// Installs what the browser tests need: Debian's Chromium and ChromeDriver, NSS's certutil (the
/// end-to-end tests make Chromium trust the emulator's CA with it), a Chinese font (so the Chinese
/// screenshots show text, not boxes), and the wasm-bindgen CLI.
fn setup_browser() -> Result {
    let have = ["/usr/bin/chromedriver", "/usr/bin/chromium", "/usr/bin/certutil", "/usr/share/fonts/truetype/wqy"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !have {
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium", "chromium-driver", "libnss3-tools", "fonts-wqy-microhei"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    setup_wasm_bindgen()
}

/// The wasm-bindgen CLI at exactly the version the crate pins.
fn setup_wasm_bindgen() -> Result {
    let have = output(Command::new(cargo_bin("wasm-bindgen")).arg("--version")).unwrap_or_default();
    if !have.trim().ends_with(WASM_BINDGEN_VERSION) {
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION, "--locked"]))?;
    }
    Ok(())
}

/// The rustup toolchain `name` with the standard library's source, installed (minimal profile)
/// when it is missing.
fn setup_toolchain(name: &str) -> Result {
    let have = output(Command::new("rustup").args(["component", "list", "--installed", "--toolchain", name]))
        .unwrap_or_default();
    if !have.lines().any(|l| l.trim() == "rust-src") {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            name,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))?;
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
    let packages = [
        "@azure/msal-node",
        "@azure/msal-browser",
        "binaryen",
        "esbuild",
        "typescript",
        "playwright-core",
        "oidc-provider",
    ];
    let installed = packages.iter().all(|p| tests.join("node_modules").join(p).join("package.json").exists());
    if !installed {
        run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&tests))?;
    }
    Ok(())
}

fn test() -> Result {
    setup()?;
    setup_browser()?;
    // The Redis store's tests start their own redis-server (Debian's).
    bench::install_from_apt("redis-server", "redis-server")?;
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    run(cargo().args(["check", "-p", "graphgate-core", "--target", "wasm32-unknown-unknown"]))?;
    // Without core's other users, so core is built as the browser module uses it: without its
    // default features. The card floor (bench/card-floor) uses none of core.
    run(cargo().args([
        "check",
        "-p",
        "graphgate-wasm",
        "-p",
        "graphgate-card-floor",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    // The emulator and proxy binaries, which the browser and Node tests start themselves.
    run(cargo().args(["build", "-p", "graphgate-emulator", "-p", "graphgate-proxy", "--bins"]))?;
    let tests = project_root().join("tests");
    // The browser module's tests, in headless Chromium through wasm-bindgen-test-runner, with the
    // emulator and a proxy started for the test page by the harness.
    run(Command::new("node")
        .args(["harness/with-stack.mjs", "cargo", "test", "-p", "graphgate-wasm", "--target", "wasm32-unknown-unknown"])
        .current_dir(&tests)
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", cargo_bin("wasm-bindgen-test-runner"))
        .env("CHROMEDRIVER", "/usr/bin/chromedriver"))?;
    // The npm package, its size beside msal-browser's, and a TypeScript page type-checked against it.
    wasm_and_compare(true)?;
    run(Command::new(tests.join("node_modules/.bin/tsc")).args(["--noEmit", "-p", "types"]).current_dir(&tests))?;
    // The package imported where there is no page (Node): it loads, and refuses to sign in.
    run(Command::new("node").args(["--test", "package/"]).current_dir(&tests))?;
    run(Command::new("node").args(["--test", "msal-node/"]).current_dir(&tests))?;
    run(Command::new("node").args(["--test", "msal-browser/"]).current_dir(&tests))?;
    run(Command::new("node").args(["--test", "oidc-provider/"]).current_dir(&tests))?;
    // The demo page in headless Chromium against the emulator over HTTPS (screenshots in target/e2e).
    assemble_site()?;
    run(Command::new("node").args(["--test", "--test-concurrency=1", "e2e/"]).current_dir(&tests))?;
    // Coverage-guided fuzzing of every parser of untrusted text, briefly.
    fuzz(TEST_FUZZ_SECONDS, &[])?;
    // The bench as a smoke test: graphgate-proxy and the msal-node peer answer every figure.
    bench::bench(true)
}

/// The long tests, kept out of `test` (`#[ignore = "stress"]`): each bounded in time and traffic,
/// all on loopback.
fn stress() -> Result {
    run(cargo().args(["test", "--release", "-p", "graphgate-proxy", "--test", "it", "--", "--ignored"]))
}

/// The cargo-fuzz version `cargo xtask fuzz` installs.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// How long each fuzz target runs by default.
const FUZZ_SECONDS: u64 = 30;

/// How long each fuzz target runs in `cargo xtask test`: a smoke run over the checked-in corpus,
/// short enough that the whole test run stays within CI's time on two cores.
const TEST_FUZZ_SECONDS: u64 = 15;

/// `fuzz [--seconds N] [target…]`.
fn fuzz_args(args: &[&str]) -> Result<(u64, Vec<String>)> {
    let (mut seconds, mut targets) = (FUZZ_SECONDS, Vec::new());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--seconds" => {
                let n = args.next().ok_or("--seconds needs a number")?;
                seconds = n.parse().ok().filter(|&n| n > 0).ok_or(format!("--seconds {n}: not a number of seconds"))?;
            }
            other if other.starts_with('-') => return Err(format!("fuzz: unknown option {other}\n\n{TASKS}")),
            target => targets.push(target.to_owned()),
        }
    }
    Ok((seconds, targets))
}

/// Builds the fuzz targets of `fuzz/` (stable Rust: libFuzzer without a sanitizer) and runs each
/// of `targets` (all when empty) for `seconds` over a temporary copy of its corpus in
/// `fuzz/corpus/`, so that no new input lands in the repository. A crash fails, leaving its
/// input in `fuzz/artifacts/` (ignored by git).
fn fuzz(seconds: u64, targets: &[String]) -> Result {
    let have = output(cargo().args(["fuzz", "--version"])).unwrap_or_default();
    if !have.split_whitespace().any(|w| w == CARGO_FUZZ_VERSION) {
        run(cargo().args(["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION, "--locked"]))?;
    }
    let fuzz_dir = project_root().join("fuzz");
    let fuzz_cmd = |sub: &str| {
        let mut cmd = cargo();
        cmd.arg("fuzz").arg(sub).arg("--fuzz-dir").arg(&fuzz_dir);
        cmd
    };
    let listed = output(&mut fuzz_cmd("list")).ok_or("cargo fuzz list failed")?;
    let all: Vec<String> = listed.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        return Err(format!("no fuzz target {unknown}; the targets are {}", all.join(", ")));
    }
    let chosen = if targets.is_empty() { &all[..] } else { targets };
    run(fuzz_cmd("build").args(["--sanitizer", "none"]))?;
    let scratch = env::temp_dir().join(format!("graphgate-fuzz-{}", std::process::id()));
    let result = chosen.iter().try_for_each(|target| {
        let corpus = scratch.join(target);
        let seeds = fuzz_dir.join("corpus").join(target);
        if seeds.is_dir() {
            copy_tree(&seeds, &corpus)?;
        } else {
            std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        }
        run(fuzz_cmd("run").args(["--sanitizer", "none", target]).arg(&corpus).args([
            "--".to_owned(),
            format!("-max_total_time={seconds}"),
            "-print_final_stats=1".to_owned(),
        ]))
        .map_err(|e| format!("{e}: fuzz target {target} crashed; its input is in fuzz/artifacts/{target}/"))
    });
    std::fs::remove_dir_all(&scratch).ok();
    result
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

/// Copies `from` into `to` (files and folders), replacing what is there.
fn copy_tree(from: &Path, to: &Path) -> Result {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|e| format!("{}: {e}", target.display()))?;
        }
    }
    Ok(())
}

/// Assembles the demo site from the built package: `www/` with the npm package under
/// `graphgate/`, in `target/demo/site`. Returns the site's folder.
fn assemble_site() -> Result<PathBuf> {
    let root = project_root();
    let site = root.join("target/demo/site");
    let _ = std::fs::remove_dir_all(&site);
    copy_tree(&root.join("www"), &site)?;
    copy_tree(&root.join("target/npm/web"), &site.join("graphgate"))?;
    Ok(site)
}

/// Builds the binaries and the npm package, and assembles the demo site.
fn demo_site() -> Result<PathBuf> {
    setup()?;
    setup_wasm_bindgen()?;
    run(cargo().args(["build", "-p", "graphgate-emulator", "-p", "graphgate-proxy", "--bins"]))?;
    wasm()?;
    assemble_site()
}

/// `cargo xtask demo [--config FILE | --env]`: the emulator (sandbox seed, plain HTTP on loopback)
/// and the proxy serving the demo site on http://localhost:8080, until Ctrl-C. With `--config`, the
/// proxy runs with that configuration (a real Microsoft tenant) and no emulator is started; with
/// `--env`, the same with the configuration in GRAPHGATE_* environment variables.
fn demo(rest: &[&str]) -> Result {
    // The demo runs from tests/; a relative `--config` is the caller's, so it is made absolute.
    let here = env::current_dir().map_err(|e| e.to_string())?;
    let mut args: Vec<String> = rest.iter().map(|a| (*a).to_owned()).collect();
    if let Some(i) = args.iter().position(|a| a == "--config") {
        let file = args.get(i + 1).ok_or("--config needs a file")?;
        args[i + 1] = here.join(file).display().to_string();
    }
    if args.iter().any(|a| a == "--env") {
        args.extend(["--workdir".to_owned(), here.display().to_string()]);
    }
    let site = demo_site()?;
    let mut cmd = Command::new("node");
    cmd.arg("harness/demo.mjs").arg(&site).args(&args).current_dir(project_root().join("tests"));
    run(&mut cmd)
}

/// `wasm-pack.toml`: how the npm package is built.
#[derive(serde::Deserialize)]
struct WasmPack {
    package: WasmPackage,
    build: WasmBuild,
    #[serde(rename = "wasm-opt")]
    wasm_opt: WasmOpt,
    budget: WasmBudget,
}

#[derive(serde::Deserialize)]
struct WasmBudget {
    /// The largest the package may be, bundled and minified, gzip -9, as a multiple of
    /// `@azure/msal-browser` alone measured the same way in the same run.
    #[serde(rename = "max-ratio-to-msal-browser")]
    max_ratio_to_msal_browser: f64,
}

/// `wasm-pack.toml`, read.
fn wasm_pack() -> Result<WasmPack> {
    let text =
        std::fs::read_to_string(project_root().join("wasm-pack.toml")).map_err(|e| format!("wasm-pack.toml: {e}"))?;
    toml::from_str(&text).map_err(|e| format!("wasm-pack.toml: {e}"))
}

#[derive(serde::Deserialize)]
struct WasmPackage {
    #[serde(rename = "crate")]
    krate: String,
    name: String,
    #[serde(rename = "out-dir")]
    out_dir: String,
    #[serde(rename = "core-name")]
    core_name: String,
    #[serde(rename = "js-dir")]
    js_dir: String,
}

#[derive(serde::Deserialize)]
struct WasmBuild {
    profile: String,
    targets: Vec<String>,
    /// The rustup toolchain the module is built with (the default one when absent).
    toolchain: Option<String>,
    /// The standard library crates built from source with the module (`-Zbuild-std`).
    #[serde(default, rename = "build-std")]
    build_std: Vec<String>,
    /// Their cargo features (`-Zbuild-std-features`).
    #[serde(default, rename = "build-std-features")]
    build_std_features: Vec<String>,
    #[serde(default)]
    rustflags: Vec<String>,
    /// Short import and export names in the .wasm and its glue (see `names.rs`).
    #[serde(default, rename = "short-names")]
    short_names: bool,
}

#[derive(serde::Deserialize)]
struct WasmOpt {
    enabled: bool,
    level: String,
    #[serde(default)]
    flags: Vec<String>,
}

/// Sizes of one built target, in bytes: the .wasm raw and gzip -9, the package's JavaScript
/// (wasm-bindgen glue, client.js, index.js) raw and gzip -9 each file, and that JavaScript as an
/// application ships it (esbuild bundle, minified) gzip -9.
struct Sizes {
    wasm: u64,
    wasm_gz: u64,
    js: u64,
    js_gz: u64,
    js_min_gz: Option<u64>,
}

fn gzip9_len(path: &Path) -> Result<u64> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(path).output().map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip failed on {}", path.display()));
    }
    Ok(out.stdout.len() as u64)
}

fn write(path: &Path, text: &str) -> Result {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The entry module of one target: tells the hand-written part how to load the wasm module
/// (instantiated on first use on the web; imported on first use by bundlers), starts loading it
/// in a page, and re-exports the API. Nothing runs that needs a window.
fn entry_js(target: &str, core: &str) -> String {
    let load = if target == "web" {
        format!(
            "async () => {{\n  const core = await import('./{core}.js');\n  await core.default();\n  return core;\n}}"
        )
    } else {
        format!("() => import('./{core}.js')")
    };
    format!(
        "// The npm package `graphgate`: sign in with Microsoft and call Microsoft Graph from the browser.\n\
         import {{ install, preload }} from './{ENTRY_JS}';\n\
         install({load});\n\
         preload();\n\
         export {{ createClient, createClientFromProxy, GraphgateError, inSignInPopup }} from './{ENTRY_JS}';\n"
    )
}

/// The hand-written JavaScript of the package, in `js-dir`.
const ENTRY_JS: &str = "graphgate.js";

/// The package's types: the module's declarations (written in the Rust crate).
fn entry_dts(core: &str) -> String {
    format!("// Types of the npm package `graphgate` (declared in crates/wasm).\nexport * from './{core}';\n")
}

fn package_json(cfg: &WasmPack, target: &str) -> Result<String> {
    let root = project_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let workspace: toml::Value = toml::from_str(&manifest).map_err(|e| e.to_string())?;
    let field = |k: &str| workspace["workspace"]["package"].get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let core = &cfg.package.core_name;
    let mut files = vec![
        "index.js".to_owned(),
        "index.d.ts".to_owned(),
        ENTRY_JS.to_owned(),
        format!("{core}.js"),
        format!("{core}.d.ts"),
        format!("{core}_bg.wasm"),
        format!("{core}_bg.wasm.d.ts"),
    ];
    if target == "bundler" {
        files.push(format!("{core}_bg.js"));
    }
    let json = serde_json::json!({
        "name": cfg.package.name,
        "version": field("version"),
        "description": "Sign in with Microsoft (Entra ID and personal accounts) and call Microsoft Graph from the browser: a small WebAssembly module with a Graph client.",
        "license": field("license"),
        "repository": {"type": "git", "url": field("repository")},
        "type": "module",
        "main": "index.js",
        "module": "index.js",
        "types": "index.d.ts",
        "files": files,
        "sideEffects": ["./index.js", format!("./{core}.js")],
        "keywords": ["microsoft", "entra", "azure-ad", "msal", "oauth2", "pkce", "microsoft-graph", "wasm"],
    });
    serde_json::to_string_pretty(&json).map_err(|e| e.to_string())
}

/// Builds the npm package: cargo for wasm32, wasm-bindgen (the CLI must match the pinned crate)
/// for every target, wasm-opt from the npm `binaryen` package when it is installed, then the
/// package's JavaScript, types and package.json.
/// Builds `krate` for wasm32 as wasm-pack.toml declares (toolchain, `-Zbuild-std`, flags,
/// profile) and returns the .wasm cargo wrote.
fn build_wasm(cfg: &WasmPack, krate: &str) -> Result<PathBuf> {
    let root = project_root();
    let mut build = match &cfg.build.toolchain {
        Some(toolchain) => {
            setup_toolchain(toolchain)?;
            // This cargo's environment names the toolchain xtask runs on; the module's is another.
            let mut cmd = Command::new("rustup");
            cmd.args(["run", toolchain, "cargo"]).current_dir(&root);
            for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN"] {
                cmd.env_remove(var);
            }
            cmd
        }
        None => cargo(),
    };
    build.args(["build", "-p", krate, "--target", "wasm32-unknown-unknown", "--profile", &cfg.build.profile]);
    if !cfg.build.build_std.is_empty() {
        build.arg(format!("-Zbuild-std={}", cfg.build.build_std.join(",")));
    }
    if !cfg.build.build_std_features.is_empty() {
        build.arg(format!("-Zbuild-std-features={}", cfg.build.build_std_features.join(",")));
    }
    // Panic locations name source files: relative to the checkout and the registry, the module's
    // bytes (and so its size) do not depend on where they are on this machine.
    let mut flags = vec![
        format!("--remap-path-prefix={}/=", root.display()),
        format!("--remap-path-prefix={}/=", cargo_home().join("registry/src").display()),
    ];
    flags.extend(cfg.build.rustflags.iter().cloned());
    build.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", flags.join(" "));
    run(&mut build)?;
    Ok(root
        .join("target/wasm32-unknown-unknown")
        .join(&cfg.build.profile)
        .join(format!("{}.wasm", krate.replace('-', "_"))))
}

/// Writes `artifact`'s glue for `target` into `out` (emptied first) with wasm-bindgen, named
/// `core`, then optimises the .wasm with wasm-opt and shortens its names as wasm-pack.toml says;
/// returns the .wasm written.
fn bindgen_and_optimise(cfg: &WasmPack, artifact: &Path, target: &str, out: &Path, core: &str) -> Result<PathBuf> {
    let wasm_opt = project_root().join("tests/node_modules/.bin/wasm-opt");
    let _ = std::fs::remove_dir_all(out);
    run(Command::new(cargo_bin("wasm-bindgen"))
        .args([
            "--target",
            target,
            "--remove-name-section",
            "--remove-producers-section",
            "--out-name",
            core,
            "--out-dir",
        ])
        .arg(out)
        .arg(artifact))?;
    let wasm_file = out.join(format!("{core}_bg.wasm"));
    if cfg.wasm_opt.enabled {
        if wasm_opt.exists() {
            // No `--all-features`: wasm-opt reads the features the module uses from its
            // target_features section; enabling all of them lets it write encodings (compact
            // imports) that browsers refuse to instantiate.
            run(Command::new(&wasm_opt)
                .arg(&cfg.wasm_opt.level)
                .args(&cfg.wasm_opt.flags)
                .arg(&wasm_file)
                .arg("-o")
                .arg(&wasm_file))?;
        } else {
            eprintln!(
                "xtask: wasm-opt (npm binaryen) is not installed under tests/node_modules; the module is not optimised"
            );
        }
    }
    if cfg.build.short_names {
        shorten_names(out, core)?;
    }
    Ok(wasm_file)
}

fn wasm() -> Result<Vec<(String, Sizes)>> {
    let root = project_root();
    let cfg = wasm_pack()?;
    setup()?;
    let artifact = build_wasm(&cfg, &cfg.package.krate)?;
    let esbuild = root.join("tests/node_modules/.bin/esbuild");
    let core = &cfg.package.core_name;
    let js_dir = root.join(&cfg.package.js_dir);
    let mut report = Vec::new();
    for target in &cfg.build.targets {
        let out = root.join(&cfg.package.out_dir).join(target);
        let wasm_file = bindgen_and_optimise(&cfg, &artifact, target, &out, core)?;
        std::fs::copy(js_dir.join(ENTRY_JS), out.join(ENTRY_JS)).map_err(|e| format!("{ENTRY_JS}: {e}"))?;
        write(&out.join("index.js"), &entry_js(target, core))?;
        write(&out.join("index.d.ts"), &entry_dts(core))?;
        write(&out.join("package.json"), &package_json(&cfg, target)?)?;
        // The JavaScript a page loads: the wasm-bindgen glue, the API and the entry.
        let mut js = 0;
        let mut js_gz = 0;
        for file in [format!("{core}.js"), format!("{core}_bg.js"), ENTRY_JS.to_owned(), "index.js".to_owned()] {
            let path = out.join(file);
            if path.exists() {
                js += std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
                js_gz += gzip9_len(&path)?;
            }
        }
        // The same JavaScript bundled and minified, as msal-browser is measured below (the
        // bundler target imports the .wasm as a module; it is counted above, not bundled).
        let js_min_gz = if esbuild.exists() {
            let bundle = root.join(&cfg.package.out_dir).join(format!("graphgate-{target}.min.js"));
            run(Command::new(&esbuild)
                .arg(out.join("index.js"))
                .args(MINIFIED_BUNDLE)
                .arg("--external:*.wasm")
                .arg(format!("--outfile={}", bundle.display())))?;
            Some(gzip9_len(&bundle)?)
        } else {
            None
        };
        let sizes = Sizes {
            wasm: std::fs::metadata(&wasm_file).map_err(|e| e.to_string())?.len(),
            wasm_gz: gzip9_len(&wasm_file)?,
            js,
            js_gz,
            js_min_gz,
        };
        println!(
            "{target:8} .wasm {} B (gzip -9 {} B) + JS {} B (gzip -9 {} B) = {} B gzip -9",
            sizes.wasm,
            sizes.wasm_gz,
            sizes.js,
            sizes.js_gz,
            sizes.wasm_gz + sizes.js_gz
        );
        if let Some(min) = sizes.js_min_gz {
            println!(
                "{target:8} .wasm gzip -9 {} B + JS bundled and minified (esbuild) gzip -9 {min} B = {} B gzip -9",
                sizes.wasm_gz,
                sizes.wasm_gz + min
            );
        }
        report.push((target.clone(), sizes));
    }
    Ok(report)
}

/// Gives the module in `out` short import and export names, and its glue and declarations too.
fn shorten_names(out: &Path, core: &str) -> Result {
    let wasm_file = out.join(format!("{core}_bg.wasm"));
    let bytes = std::fs::read(&wasm_file).map_err(|e| format!("{}: {e}", wasm_file.display()))?;
    let (wasm, renames) = names::shorten(&bytes).map_err(|e| format!("{}: {e}", wasm_file.display()))?;
    let present =
        |names: &[String]| -> Vec<PathBuf> { names.iter().map(|n| out.join(n)).filter(|p| p.exists()).collect() };
    let js_files = present(&[format!("{core}.js"), format!("{core}_bg.js")]);
    let dts_files = present(&[format!("{core}_bg.wasm.d.ts")]);
    let read = |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
    let mut js = js_files.iter().map(read).collect::<Result<Vec<_>>>()?;
    let mut dts = dts_files.iter().map(read).collect::<Result<Vec<_>>>()?;
    renames.rewrite(&mut js, &mut dts).map_err(|e| format!("{}: {e}", out.display()))?;
    std::fs::write(&wasm_file, wasm).map_err(|e| format!("{}: {e}", wasm_file.display()))?;
    for (p, t) in js_files.iter().zip(&js).chain(dts_files.iter().zip(&dts)) {
        write(p, t)?;
    }
    Ok(())
}

/// How esbuild bundles both graphgate and msal-browser for the size comparison: one list, so the
/// two are measured the same way.
const MINIFIED_BUNDLE: [&str; 6] =
    ["--bundle", "--minify", "--format=esm", "--platform=browser", "--target=es2020", "--log-level=warning"];

/// Builds the package and prints its size beside the incumbents', measured the same way in the
/// same run: msal-browser with the Graph SDK's client (what a page ships today to sign in and
/// call Graph; graphgate's goal is at most half of it) and msal-browser alone. With `enforce`
/// (the test run), a package over the budget of `wasm-pack.toml` fails the run.
fn wasm_and_compare(enforce: bool) -> Result<String> {
    let report = wasm()?;
    let ratio = wasm_pack()?.budget.max_ratio_to_msal_browser;
    let Some(msal) = incumbent_size("msal-browser-entry.mjs", "@azure/msal-browser PublicClientApplication")? else {
        return Ok(String::new());
    };
    let mut lines = String::new();
    let mut say = |line: String| {
        println!("{line}");
        lines.push_str(&line);
        lines.push('\n');
    };
    let pair = incumbent_size(
        "msal-graph-entry.mjs",
        "@azure/msal-browser PublicClientApplication + @microsoft/microsoft-graph-client Client",
    )?;
    let budget = (msal as f64 * ratio) as u64;
    let mut over = None;
    for (target, sizes) in &report {
        let ours = sizes.wasm_gz + sizes.js_min_gz.unwrap_or(sizes.js_gz);
        if let Some(pair) = pair {
            say(format!(
                "{target:8} graphgate {ours} B vs msal-browser + Graph client {pair} B gzip -9: {:.2}x (goal <= 0.50x, {} B)",
                ours as f64 / pair as f64,
                pair / 2
            ));
        }
        say(format!(
            "{target:8} graphgate {ours} B vs msal-browser alone {msal} B gzip -9: {:.2}x (budget <= {ratio:.2}x, {budget} B){}",
            ours as f64 / msal as f64,
            if ours <= budget { "" } else { "  OVER BUDGET" }
        ));
        if ours > budget {
            over = Some(format!(
                "the npm package's {target} build is {ours} B gzip -9, over its budget of {budget} B ({ratio}x @azure/msal-browser)"
            ));
        }
    }
    // Outside the test run: what the browser crates cost on their own, built the same way.
    if !enforce && let Some((_, web)) = report.iter().find(|(t, _)| t == "web") {
        let ours = web.wasm_gz + web.js_min_gz.unwrap_or(web.js_gz);
        let floor = card_floor_size(&wasm_pack()?)?;
        say(format!(
            "web      card floor ({CARD_FLOOR}: each browser crate once, in its role) {floor} B gzip -9: \
                 graphgate's own part {} B; msal-browser alone leaves {} B for it",
            ours.saturating_sub(floor),
            msal.saturating_sub(floor)
        ));
    }
    match over {
        Some(why) if enforce => Err(why),
        _ => Ok(lines),
    }
}

/// The crate that uses each browser crate the module is built on once, in its role, and nothing
/// else (bench/card-floor).
const CARD_FLOOR: &str = "graphgate-card-floor";

/// [`CARD_FLOOR`] built, bound (web target), optimised and its glue bundled and minified exactly
/// as the package is: its .wasm plus JavaScript, gzip -9, in bytes.
fn card_floor_size(cfg: &WasmPack) -> Result<u64> {
    let root = project_root();
    let artifact = build_wasm(cfg, CARD_FLOOR)?;
    let dir = root.join(&cfg.package.out_dir);
    let core = "card_floor";
    let wasm_file = bindgen_and_optimise(cfg, &artifact, "web", &dir.join("card-floor"), core)?;
    let bundle = dir.join("card-floor.min.js");
    run(Command::new(root.join("tests/node_modules/.bin/esbuild"))
        .arg(dir.join("card-floor").join(format!("{core}.js")))
        .args(MINIFIED_BUNDLE)
        .arg("--external:*.wasm")
        .arg(format!("--outfile={}", bundle.display())))?;
    Ok(gzip9_len(&wasm_file)? + gzip9_len(&bundle)?)
}

/// Bundles the incumbent entry `tests/size/{entry}` with esbuild (minified ES module for the
/// browser, tree-shaken) and returns its gzip -9 size; `None` when the tests' npm packages are
/// not installed.
fn incumbent_size(entry: &str, name: &str) -> Result<Option<u64>> {
    let root = project_root();
    let tests = root.join("tests");
    let esbuild = tests.join("node_modules/.bin/esbuild");
    let packages = ["@azure/msal-browser", "@microsoft/microsoft-graph-client"];
    if !esbuild.exists() || packages.iter().any(|p| !tests.join("node_modules").join(p).join("package.json").exists()) {
        eprintln!(
            "xtask: the incumbents or esbuild are not installed under tests/node_modules; skipping the comparison"
        );
        return Ok(None);
    }
    let out = root.join("target/npm").join(entry.replace(".mjs", ".min.js"));
    run(Command::new(&esbuild)
        .arg(tests.join("size").join(entry))
        .args(MINIFIED_BUNDLE)
        .arg(format!("--outfile={}", out.display()))
        .current_dir(&tests))?;
    let raw = std::fs::metadata(&out).map_err(|e| e.to_string())?.len();
    let gz = gzip9_len(&out)?;
    println!("{name} (esbuild, minified) {raw} B = {gz} B gzip -9");
    Ok(Some(gz))
}
