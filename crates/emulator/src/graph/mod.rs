//! Microsoft Graph v1.0, the subset graphgate uses (placeholder until the module lands).

use std::sync::Arc;

use axum::Router;

use crate::Ctx;

/// Graph's routes, nested under `/v1.0`.
pub(crate) fn router() -> Router<Arc<Ctx>> {
    Router::new()
}
