//! The HTTP handlers, by area.

pub mod auth;
pub mod invitations;
pub mod ops;
