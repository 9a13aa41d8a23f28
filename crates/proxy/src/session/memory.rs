//! An in-process session store: a map behind a mutex, for tests and single-process trials.
//! Everything is lost when the process exits.

use std::collections::HashMap;
use std::future::ready;
use std::sync::{Mutex, MutexGuard};

use super::{Record, SessionKey, SessionStore, StoreFuture};

/// A [`SessionStore`] held in memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    records: Mutex<HashMap<SessionKey, Record>>,
    pending: Mutex<HashMap<SessionKey, Record>>,
}

impl MemoryStore {
    /// An empty store.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> MutexGuard<'_, HashMap<SessionKey, Record>> {
        // Every operation leaves the map consistent, so a poisoned lock is still safe to use.
        self.records.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pending(&self) -> MutexGuard<'_, HashMap<SessionKey, Record>> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SessionStore for MemoryStore {
    fn load(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let blob = self.records().get(key).filter(|r| r.expires_at > now).map(|r| r.blob.clone());
        Box::pin(ready(Ok(blob)))
    }

    fn save(&self, key: &SessionKey, record: Record) -> StoreFuture<'_, ()> {
        self.records().insert(key.clone(), record);
        Box::pin(ready(Ok(())))
    }

    fn update(&self, key: &SessionKey, record: Record, only_if: Option<Vec<u8>>) -> StoreFuture<'_, bool> {
        let mut records = self.records();
        let written = match records.get_mut(key) {
            Some(old) if only_if.as_ref().is_none_or(|blob| *blob == old.blob) => {
                *old = record;
                true
            }
            _ => false,
        };
        Box::pin(ready(Ok(written)))
    }

    fn delete(&self, key: &SessionKey) -> StoreFuture<'_, ()> {
        self.records().remove(key);
        Box::pin(ready(Ok(())))
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(ready(Ok(())))
    }

    fn count(&self, now: u64) -> StoreFuture<'_, u64> {
        let live = self.records().values().filter(|r| r.expires_at > now).count();
        Box::pin(ready(Ok(u64::try_from(live).unwrap_or(u64::MAX))))
    }

    fn scan(&self, now: u64) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        let live = self
            .records()
            .iter()
            .filter(|(_, r)| r.expires_at > now)
            .map(|(key, r)| (key.clone(), r.blob.clone()))
            .collect();
        Box::pin(ready(Ok(live)))
    }

    fn sample(&self, now: u64, limit: usize) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        let some = self
            .records()
            .iter()
            .filter(|(_, r)| r.expires_at > now)
            .take(limit)
            .map(|(key, r)| (key.clone(), r.blob.clone()))
            .collect();
        Box::pin(ready(Ok(some)))
    }

    fn keys_with_index(&self, index: &str, now: u64) -> StoreFuture<'_, Vec<SessionKey>> {
        let keys = self
            .records()
            .iter()
            .filter(|(_, r)| r.expires_at > now && r.index == index)
            .map(|(k, _)| k.clone())
            .collect();
        Box::pin(ready(Ok(keys)))
    }

    fn purge_expired(&self, now: u64) -> StoreFuture<'_, u64> {
        let mut purged = 0;
        for mut map in [self.records(), self.pending()] {
            let before = map.len();
            map.retain(|_, r| r.expires_at > now);
            purged += before - map.len();
        }
        Box::pin(ready(Ok(u64::try_from(purged).unwrap_or(u64::MAX))))
    }

    fn put_pending(&self, key: &SessionKey, blob: Vec<u8>, expires_at: u64) -> StoreFuture<'_, ()> {
        self.pending().insert(key.clone(), Record { blob, index: String::new(), expires_at, written_at: 0 });
        Box::pin(ready(Ok(())))
    }

    fn take_pending(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let taken = self.pending().remove(key).filter(|r| r.expires_at > now).map(|r| r.blob);
        Box::pin(ready(Ok(taken)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::conformance::run_conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_store_passes_the_conformance_suite() {
        run_conformance(MemoryStore::new).await;
    }
}
