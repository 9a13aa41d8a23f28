//! The default session store: one SQLite file (WAL mode) that survives restarts.
//!
//! rusqlite is synchronous, so every operation runs on tokio's blocking pool against a single
//! connection behind a mutex. One row per session:
//! `sessions(key TEXT PRIMARY KEY, blob BLOB NOT NULL, expires_at INTEGER NOT NULL, account TEXT)`,
//! indexed on `expires_at` and `account` (the account index; `NULL` in rows written before it
//! existed). A database made before the `account` column gains it when opened.
//! One row per pending sign-in in `pending(key TEXT PRIMARY KEY, blob BLOB NOT NULL, expires_at
//! INTEGER NOT NULL)`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, params};

use super::{Record, SessionKey, SessionStore, StoreError, StoreFuture};

/// How long an operation waits for another process holding the database lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS sessions (
        key TEXT PRIMARY KEY,
        blob BLOB NOT NULL,
        expires_at INTEGER NOT NULL,
        account TEXT
    );
    CREATE INDEX IF NOT EXISTS sessions_expires_at ON sessions (expires_at);
    CREATE TABLE IF NOT EXISTS pending (
        key TEXT PRIMARY KEY,
        blob BLOB NOT NULL,
        expires_at INTEGER NOT NULL
    );
";

/// The account index's lookup, made once the column exists (in new and migrated databases).
const ACCOUNT_INDEX: &str = "CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);";

/// SQLite's page cache, as `PRAGMA cache_size` takes it: negative, KiB (256 KiB; SQLite's default is
/// 2 MiB).
const PAGE_CACHE_KIB: i64 = -256;

/// A [`SessionStore`] in a SQLite database.
#[derive(Clone)]
pub(crate) struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Where the database lives, for `Debug` (`None` in memory).
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, in WAL mode, with the `sessions` table.
    ///
    /// On Unix a new file is created readable by its owner only.
    #[cfg(test)]
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, None)
    }

    /// [`Self::open`], the database limited to `max_page_count` pages when given (SQLite's
    /// `max_page_count`: a write that needs more fails as on a full disk).
    ///
    /// A file that is not a SQLite database (garbage bytes, a damaged header) fails here, with
    /// SQLite's "file is not a database".
    pub(crate) fn open_with(path: impl AsRef<Path>, max_page_count: Option<u32>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        create_private_file(path)?;
        let conn = Connection::open(path).map_err(|e| unavailable("could not open the database file", &e))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| unavailable("could not enable WAL mode", &e))?;
        if let Some(pages) = max_page_count {
            conn.pragma_update(None, "max_page_count", pages)
                .map_err(|e| unavailable("could not set max_page_count", &e))?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| unavailable("could not set the synchronous mode", &e))?;
        // Cached tokens are answered from memory without the store, so the store is read rarely:
        // a small page cache keeps it from growing with the sessions (the OS caches the file).
        conn.pragma_update(None, "cache_size", PAGE_CACHE_KIB)
            .map_err(|e| unavailable("could not set the page cache's size", &e))?;
        // A damaged page inside a file with a sound header is found now, not by some user later.
        let verdict: String = conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(|e| unavailable("could not check the database file", &e))?;
        if verdict != "ok" {
            return Err(StoreError::Corrupt(format!("the database file is damaged (SQLite's quick_check: {verdict})")));
        }
        Self::init(conn, Some(path.to_owned()))
    }

    /// A private in-memory database, for tests.
    #[cfg(test)]
    pub(crate) fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| unavailable("could not open a database", &e))?;
        Self::init(conn, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| unavailable("could not set the busy timeout", &e))?;
        conn.execute_batch(SCHEMA).map_err(|e| unavailable("could not create the sessions table", &e))?;
        migrate(&conn)?;
        conn.execute_batch(ACCOUNT_INDEX).map_err(|e| unavailable("could not index the sessions table", &e))?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), path })
    }

    /// Runs `op` against the connection on the blocking pool.
    fn run<T, F>(&self, op: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // No operation leaves a transaction open, so a poisoned lock is still usable.
                let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                op(&conn)
            })
            .await
            .map_err(|_| StoreError::Unavailable("a database task did not finish".into()))?
        })
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("SqliteStore");
        match &self.path {
            Some(path) => s.field("path", path),
            None => s.field("path", &":memory:"),
        };
        s.finish()
    }
}

/// Adds the `account` column to a table made before it existed (its rows keep `NULL`).
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let read = |e: rusqlite::Error| unavailable("could not read the sessions table's columns", &e);
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('sessions')").map_err(read)?;
    let columns = stmt.query_map([], |row| row.get::<_, String>(0)).map_err(read)?;
    let mut has_account = false;
    for column in columns {
        has_account |= column.map_err(read)? == "account";
    }
    if !has_account {
        conn.execute_batch("ALTER TABLE sessions ADD COLUMN account TEXT;")
            .map_err(|e| unavailable("could not add the account column", &e))?;
    }
    Ok(())
}

/// The message of a database error. SQLite's messages name tables and columns, never the bound
/// values, so no key or blob can appear in them.
fn unavailable(what: &str, error: &rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {error}"))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!("could not create the database file: {e}"))),
    }
}

#[cfg(not(unix))]
fn create_private_file(_: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Unix seconds as SQLite's signed integer (times past year 292 billion are clamped).
fn to_sql_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn count_of(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl SessionStore for SqliteStore {
    fn load(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = key.clone();
        self.run(move |conn| {
            conn.prepare_cached("SELECT blob FROM sessions WHERE key = ?1 AND expires_at > ?2")
                .and_then(|mut stmt| {
                    stmt.query_row(params![key.as_str(), to_sql_time(now)], |row| row.get(0)).optional()
                })
                .map_err(|e| unavailable("could not read a session", &e))
        })
    }

    fn save(&self, key: &SessionKey, record: Record) -> StoreFuture<'_, ()> {
        let key = key.clone();
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO sessions (key, blob, expires_at, account) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key) DO UPDATE SET blob = excluded.blob, expires_at = excluded.expires_at,
                 account = excluded.account",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![key.as_str(), record.blob, to_sql_time(record.expires_at), record.index])
            })
            .map(drop)
            .map_err(|e| unavailable("could not write a session", &e))
        })
    }

    fn update(&self, key: &SessionKey, record: Record, only_if: Option<Vec<u8>>) -> StoreFuture<'_, bool> {
        let key = key.clone();
        self.run(move |conn| {
            let expires_at = to_sql_time(record.expires_at);
            let changed = match only_if {
                None => conn
                    .prepare_cached("UPDATE sessions SET blob = ?2, expires_at = ?3, account = ?4 WHERE key = ?1")
                    .and_then(|mut stmt| stmt.execute(params![key.as_str(), record.blob, expires_at, record.index])),
                Some(old) => conn
                    .prepare_cached(
                        "UPDATE sessions SET blob = ?2, expires_at = ?3, account = ?4 WHERE key = ?1 AND blob = ?5",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![key.as_str(), record.blob, expires_at, record.index, old])
                    }),
            };
            changed.map(|n| n > 0).map_err(|e| unavailable("could not write a session", &e))
        })
    }

    fn delete(&self, key: &SessionKey) -> StoreFuture<'_, ()> {
        let key = key.clone();
        self.run(move |conn| {
            conn.prepare_cached("DELETE FROM sessions WHERE key = ?1")
                .and_then(|mut stmt| stmt.execute(params![key.as_str()]))
                .map(drop)
                .map_err(|e| unavailable("could not delete a session", &e))
        })
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        self.run(|conn| {
            conn.query_row("SELECT COUNT(*) FROM sessions WHERE 0", [], |row| row.get::<_, i64>(0))
                .map(drop)
                .map_err(|e| unavailable("the database does not answer", &e))
        })
    }

    fn count(&self, now: u64) -> StoreFuture<'_, u64> {
        self.run(move |conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM sessions WHERE expires_at > ?1")
                .and_then(|mut stmt| stmt.query_row(params![to_sql_time(now)], |row| row.get::<_, i64>(0)))
                .map(count_of)
                .map_err(|e| unavailable("could not count sessions", &e))
        })
    }

    fn scan(&self, now: u64) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        self.run(move |conn| {
            let read = |e: rusqlite::Error| unavailable("could not list sessions", &e);
            let mut stmt = conn.prepare_cached("SELECT key, blob FROM sessions WHERE expires_at > ?1").map_err(read)?;
            let rows = stmt
                .query_map(params![to_sql_time(now)], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?)))
                .map_err(read)?;
            let mut live = Vec::new();
            for row in rows {
                let (key, blob) = row.map_err(read)?;
                // A row this store did not write (a malformed key) is not a session: skip it.
                if let Some(key) = SessionKey::parse(&key) {
                    live.push((key, blob));
                }
            }
            Ok(live)
        })
    }

    fn sample(&self, now: u64, limit: usize) -> StoreFuture<'_, Vec<(SessionKey, Vec<u8>)>> {
        self.run(move |conn| {
            let read = |e: rusqlite::Error| unavailable("could not list sessions", &e);
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut stmt =
                conn.prepare_cached("SELECT key, blob FROM sessions WHERE expires_at > ?1 LIMIT ?2").map_err(read)?;
            let rows = stmt
                .query_map(params![to_sql_time(now), limit], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Vec<u8>>(1)?))
                })
                .map_err(read)?;
            let mut some = Vec::new();
            for row in rows {
                let (key, blob) = row.map_err(read)?;
                if let Some(key) = SessionKey::parse(&key) {
                    some.push((key, blob));
                }
            }
            Ok(some)
        })
    }

    fn keys_with_index(&self, index: &str, now: u64) -> StoreFuture<'_, Vec<SessionKey>> {
        let index = index.to_owned();
        self.run(move |conn| {
            let read = |e: rusqlite::Error| unavailable("could not look up an account's sessions", &e);
            let mut stmt =
                conn.prepare_cached("SELECT key FROM sessions WHERE account = ?1 AND expires_at > ?2").map_err(read)?;
            let rows = stmt.query_map(params![index, to_sql_time(now)], |row| row.get::<_, String>(0)).map_err(read)?;
            let mut keys = Vec::new();
            for row in rows {
                if let Some(key) = SessionKey::parse(&row.map_err(read)?) {
                    keys.push(key);
                }
            }
            Ok(keys)
        })
    }

    fn purge_expired(&self, now: u64) -> StoreFuture<'_, u64> {
        self.run(move |conn| {
            let mut purged = 0;
            for sql in ["DELETE FROM sessions WHERE expires_at <= ?1", "DELETE FROM pending WHERE expires_at <= ?1"] {
                purged += conn
                    .prepare_cached(sql)
                    .and_then(|mut stmt| stmt.execute(params![to_sql_time(now)]))
                    .map_err(|e| unavailable("could not purge expired records", &e))?;
            }
            Ok(u64::try_from(purged).unwrap_or(u64::MAX))
        })
    }

    fn put_pending(&self, key: &SessionKey, blob: Vec<u8>, expires_at: u64) -> StoreFuture<'_, ()> {
        let key = key.clone();
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO pending (key, blob, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET blob = excluded.blob, expires_at = excluded.expires_at",
            )
            .and_then(|mut stmt| stmt.execute(params![key.as_str(), blob, to_sql_time(expires_at)]))
            .map(drop)
            .map_err(|e| unavailable("could not keep a pending sign-in", &e))
        })
    }

    fn take_pending(&self, key: &SessionKey, now: u64) -> StoreFuture<'_, Option<Vec<u8>>> {
        let key = key.clone();
        self.run(move |conn| {
            // One statement reads and removes, so two takers cannot both get the row.
            let row: Option<(Vec<u8>, i64)> = conn
                .prepare_cached("DELETE FROM pending WHERE key = ?1 RETURNING blob, expires_at")
                .and_then(|mut stmt| {
                    stmt.query_row(params![key.as_str()], |row| Ok((row.get(0)?, row.get(1)?))).optional()
                })
                .map_err(|e| unavailable("could not take a pending sign-in", &e))?;
            Ok(row.filter(|(_, expires_at)| *expires_at > to_sql_time(now)).map(|(blob, _)| blob))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use graphgate_core::{Account, AccountType, RefreshToken};

    use super::*;
    use crate::session::conformance::run_conformance;
    use crate::session::{Keyring, Session, SessionManager};

    /// A fresh path in the temp directory, removed (with its WAL files) on drop.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicU32 = AtomicU32::new(0);
            let unique =
                format!("graphgate-{name}-{}-{}.db", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
            let path = std::env::temp_dir().join(unique);
            let db = Self(path);
            db.remove();
            db
        }

        fn remove(&self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = self.0.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            self.remove();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_passes_the_conformance_suite() {
        run_conformance(|| SqliteStore::in_memory().expect("in-memory database")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn file_store_passes_the_conformance_suite() {
        let counter = AtomicU32::new(0);
        // Each run gets its own file, so runs do not see each other's rows.
        let dbs = Mutex::new(Vec::new());
        run_conformance(|| {
            let file = TempDb::new(&format!("conformance-{}", counter.fetch_add(1, Ordering::Relaxed)));
            let store = SqliteStore::open(&file.0).expect("database file");
            dbs.lock().expect("lock").push(file);
            store
        })
        .await;
        drop(dbs);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sessions_survive_a_restart() {
        let db = TempDb::new("restart");
        let now = 1_700_000_000;
        let cipher = Keyring::single([3; 32]);
        let lifetime = Duration::from_secs(30 * 24 * 3600);
        let idle = Duration::from_secs(7 * 24 * 3600);
        let account = Account {
            home_account_id: "o.t".into(),
            tenant_id: "t".into(),
            object_id: "o".into(),
            username: "ada@contoso.com".into(),
            name: Some("Ada".into()),
            email: None,
            account_type: AccountType::Member,
            idp: None,
        };
        let session = Session {
            account,
            refresh_token: RefreshToken::new("rt-1"),
            scopes: "openid Mail.Send".into(),
            tenant: "organizations".into(),
            created_at: now,
            last_seen: now,
            refreshed_at: now,
        };

        let id = {
            let store = SqliteStore::open(&db.0).expect("open");
            let manager = SessionManager::new(Arc::new(store), cipher.clone(), lifetime, idle);
            manager.create(session.clone(), now).await.expect("create")
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&db.0).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o077, 0, "the database file is private: {mode:o}");
        }

        let store = SqliteStore::open(&db.0).expect("reopen");
        assert!(format!("{store:?}").contains("graphgate-restart"));
        let manager = SessionManager::new(Arc::new(store), cipher, lifetime, idle);
        let loaded = manager.load(&SessionKey::of(&id), now + 60).await.expect("load").expect("the session survived");
        assert_eq!(loaded, session);
        assert_eq!(manager.live_sessions(now + 60).await.expect("count"), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_without_the_account_column_is_migrated_at_open() {
        let db = TempDb::new("migrate");
        {
            let conn = Connection::open(&db.0).expect("open");
            conn.execute_batch(
                "CREATE TABLE sessions (key TEXT PRIMARY KEY, blob BLOB NOT NULL, expires_at INTEGER NOT NULL);
                 CREATE INDEX sessions_expires_at ON sessions (expires_at);",
            )
            .expect("the earlier schema");
            conn.execute(
                "INSERT INTO sessions (key, blob, expires_at) VALUES (?1, ?2, ?3)",
                params!["a".repeat(64), b"old".to_vec(), 100],
            )
            .expect("an earlier row");
        }
        let store = SqliteStore::open(&db.0).expect("migrated");
        let key = SessionKey::parse(&"a".repeat(64)).expect("key");
        assert_eq!(store.load(&key, 50).await.expect("load"), Some(b"old".to_vec()), "the row survives");
        assert!(store.keys_with_index("i", 50).await.expect("index").is_empty(), "its index is NULL");
        let record = Record { blob: b"new".to_vec(), index: "i".into(), expires_at: 100, written_at: 0 };
        assert!(store.update(&key, record, None).await.expect("update"));
        assert_eq!(store.keys_with_index("i", 50).await.expect("index"), vec![key.clone()]);
        drop(store);
        // Opening again changes nothing.
        let store = SqliteStore::open(&db.0).expect("reopened");
        assert_eq!(store.load(&key, 50).await.expect("load"), Some(b"new".to_vec()));
        let conn = Connection::open(&db.0).expect("open");
        let indexes: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'sessions_account'",
                [],
                |r| r.get(0),
            )
            .expect("indexes");
        assert_eq!(indexes, 1);
    }

    #[tokio::test]
    async fn an_unopenable_path_is_an_error_without_secrets() {
        let db = TempDb::new("missing-dir");
        let err = SqliteStore::open(db.0.join("no").join("such.db")).expect_err("no such directory");
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }
}
