//! The emulator's integration tests, in one binary so its dependencies are linked once: each
//! module is one area of the emulator, served over a real socket; `support` holds their helpers.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on the first unexpected error")]

mod assertion;
mod browser;
mod challenges;
mod cli;
mod control;
mod identity;
mod spa;
mod story;
mod support;
