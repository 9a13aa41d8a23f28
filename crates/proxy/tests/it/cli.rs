//! The `graphgate-proxy` binary's command line: `--version`, `--help`, and refusal of arguments
//! it does not know, before any configuration is read.

use std::process::{Command, Output};

fn proxy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graphgate-proxy")).args(args).output().unwrap()
}

#[test]
fn version_prints_the_crate_version() {
    let out = proxy(&["--version"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), concat!("graphgate-proxy ", env!("CARGO_PKG_VERSION")));
}

#[test]
fn help_lists_the_subcommands_and_flags() {
    let out = proxy(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in ["serve", "check", "--config", "--help", "--version"] {
        assert!(help.contains(word), "{word} missing from:\n{help}");
    }
}

#[test]
fn an_unknown_argument_is_refused() {
    let out = proxy(&["serve", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unexpected argument '--no-such-flag'"), "{err}");
}
