//! The HTTP handlers, by area.

pub mod auth;
pub mod ops;
