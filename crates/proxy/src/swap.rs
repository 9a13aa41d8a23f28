//! A value replaced whole while readers keep using the one they took: what a reload (SIGHUP)
//! swaps in for the client credential and the session keys.

use std::sync::{Arc, RwLock};

/// A shared `T` that [`Swap::store`] replaces; [`Swap::load`] hands out the current one, which
/// stays valid for its holder after a replacement.
pub(crate) struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// A swap holding `value`.
    pub(crate) fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub(crate) fn load(&self) -> Arc<T> {
        // The lock is held only to clone or replace the `Arc`, so a poisoned lock still holds
        // a whole value.
        Arc::clone(&self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Replaces the value; readers holding the old one keep it until they drop it.
    pub(crate) fn store(&self, value: T) {
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(value);
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Swap<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_keeps_its_value_across_a_store() {
        let swap = Swap::new(1);
        let old = swap.load();
        swap.store(2);
        assert_eq!((*old, *swap.load()), (1, 2));
    }
}
