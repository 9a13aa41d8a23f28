//! The HTTP handlers, by area.

pub(crate) mod admin;
pub(crate) mod auth;
mod claims;
pub(crate) mod invitations;
pub(crate) mod ops;
