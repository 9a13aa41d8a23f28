//! The `graphgate-emulator` binary's command line: `--version`, `--help`, and refusal of
//! arguments it does not know.

use std::process::{Command, Output};

fn emulator(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graphgate-emulator")).args(args).output().unwrap()
}

#[test]
fn version_prints_the_crate_version() {
    let out = emulator(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        concat!("graphgate-emulator ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_lists_every_flag() {
    let out = emulator(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--listen", "--seed", "--control", "--http", "--ca-out", "--help", "--version"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn an_unknown_argument_is_refused() {
    let out = emulator(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unexpected argument '--no-such-flag'"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_listen_address_is_refused() {
    let out = emulator(&["--listen", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--listen"));
}
