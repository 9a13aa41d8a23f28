//! Ending sessions: one (sign-out), or every session of an account (sign-out everywhere, an
//! administrator's revocation). Each ends under its token slot's lock, so a refresh or a use being
//! recorded meanwhile cannot write it back, and its cached tokens go with it.

use crate::session::{SessionKey, StoreError};
use crate::state::AppState;

/// Ends the session stored under `key`: under its slot's lock, the cached tokens are dropped and
/// the record is deleted; then the slot itself is removed.
pub(crate) async fn end(state: &AppState, key: &SessionKey) -> Result<(), StoreError> {
    let slot = state.tokens.slot(key, state.clock.now());
    let mut held = slot.lock().await;
    held.clear();
    state.sessions.delete(key).await?;
    drop(held);
    state.tokens.remove(key);
    Ok(())
}

/// Ends each of `keys` (sessions of one account, found by its index) and returns how many.
pub(crate) async fn end_all(state: &AppState, keys: &[SessionKey]) -> Result<usize, StoreError> {
    for key in keys {
        end(state, key).await?;
    }
    Ok(keys.len())
}
