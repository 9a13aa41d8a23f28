//! Entra ID v2.0 endpoints (placeholder until the module lands).

use std::sync::Arc;

use axum::Router;

use crate::Ctx;

/// Identity routes.
pub(crate) fn router() -> Router<Arc<Ctx>> {
    Router::new()
}
