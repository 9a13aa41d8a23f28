//! The proxy's integration tests, in one binary so its dependencies are linked once: each module
//! is one area of the proxy against graphgate-emulator, plus two checks of the source tree
//! itself; `support` holds the harness, `process` runs the real binary and `redis_server` real
//! Redis servers. The log capture (`tests/logs.rs`) keeps a binary of its own because it installs
//! the process's global log subscriber.

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
mod redis_server;
mod reload;
mod scale_out;
mod scopes;
mod scratch;
mod serving;
mod session_rules;
mod signin;
mod store_faults;
mod support;
