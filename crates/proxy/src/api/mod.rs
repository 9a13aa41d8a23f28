//! The HTTP handlers, by area.

pub mod auth;
mod claims;
pub mod invitations;
pub mod ops;
