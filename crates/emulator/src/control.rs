//! The control API (placeholder until the module lands).

use std::sync::Arc;

use axum::Router;
use serde_json::Value;

use crate::Ctx;

/// Control routes, nested under `/_emulator`.
pub(crate) fn router() -> Router<Arc<Ctx>> {
    Router::new()
}

pub(crate) fn revoke(_ctx: &Ctx, _address: &str) -> Result<(), String> {
    Err("not yet".into())
}

pub(crate) fn mailbox(_ctx: &Ctx, _address: &str) -> Result<Vec<Value>, String> {
    Err("not yet".into())
}

pub(crate) fn invitations(_ctx: &Ctx) -> Vec<Value> {
    Vec::new()
}
