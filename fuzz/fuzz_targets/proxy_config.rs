//! Fuzz target: the proxy's configuration loader, TOML text and `GRAPHGATE_*` overrides to
//! validated settings (`Config::from_toml_and_env`, then `Config::validate`).
//!
//! Input: the TOML text, optionally followed by a NUL byte and `NAME=value` lines, the
//! environment. Checks: no panic; a refusal names at least one problem.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, env) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let (Ok(text), Ok(env)) = (std::str::from_utf8(text), std::str::from_utf8(env)) else { return };
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    if let Err(problems) = graphgate_proxy::fuzzing::config(text, env) {
        assert!(!problems.is_empty(), "refused without a reason");
        assert!(problems.iter().all(|p| !p.is_empty()));
    }
});
