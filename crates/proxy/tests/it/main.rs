//! The proxy's integration tests, in one binary so its dependencies are linked once: each module
//! is one area of the proxy against graphgate-emulator, plus two checks of the source tree
//! itself; `support` holds the harness. The log capture (`tests/logs.rs`) keeps a binary of its
//! own because it installs the process's global log subscriber.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first unexpected error")]

mod abuse;
mod auth;
mod claims;
mod cli;
mod crash;
mod doc_lines;
mod faults;
mod invitations;
mod keys;
mod module_cycles;
mod ops;
mod process;
mod reload;
mod scopes;
mod serving;
mod session_rules;
mod signin;
mod store_faults;
mod support;
