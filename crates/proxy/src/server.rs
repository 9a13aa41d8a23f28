//! Start-up: settings → state (credential, session store, upstream client), serving (the main
//! listener and the optional operations listener, `accept.rs`) with graceful shutdown on SIGTERM
//! or Ctrl-C.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::accept::{self, Rules};
use crate::api_keys::ApiKeys;
use crate::app::{ops_router, router};
use crate::clock::now_secs;
use crate::config::{Settings, StoreKind};
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::session::{MemoryStore, RedisStore, SessionManager, SessionStore, SqliteStore};
use crate::shared::Shared;
use crate::state::AppState;
use crate::tokens::TokenCache;
use crate::upstream::Upstream;

/// Builds the state from checked settings: reads the credential and the session keys, opens the
/// session store and pings it, and tries the keys on stored sessions (a bad store, or keys that
/// open none of the stored sessions, fail here, before any user arrives).
pub async fn build_state(settings: Settings) -> Result<Arc<AppState>, String> {
    let credential = Credential::load(&settings.credential)?;
    let session = &settings.session;
    let (keys, _) = session.keyring()?;
    let (store, shared, store_name): (Arc<dyn SessionStore>, _, _) = match &session.store {
        StoreKind::Memory => (Arc::new(MemoryStore::new()), None, "the session store".to_owned()),
        StoreKind::Sqlite(path) => (
            Arc::new(
                SqliteStore::open_with(path, session.sqlite_max_page_count)
                    .map_err(|e| format!("session.sqlite_path: {}: {e}", path.display()))?,
            ),
            None,
            format!("session.sqlite_path: {}", path.display()),
        ),
        StoreKind::Redis(redis) => {
            let store = Arc::new(RedisStore::open(&redis.options, redis.read_password()?.as_deref())?);
            let name = format!("the Redis session store ({})", store.place());
            (store.clone(), Some(Shared::new(store, redis.lock, redis.lock_wait)), name)
        }
    };
    store.ping().await.map_err(|e| format!("{store_name}: the session store does not answer: {e}"))?;
    let sessions = SessionManager::new(store, keys, session.absolute_lifetime, session.idle_timeout);
    check_keys(&sessions).await?;
    let metrics = Arc::new(Metrics::default());
    let upstream = Upstream::new(settings.entra.clone(), metrics.clone())?;
    let api_keys = ApiKeys::read(settings.invitations.api_keys.as_ref())?;
    let tokens = TokenCache::new(settings.session.token_cache_sessions);
    Ok(Arc::new(AppState {
        settings,
        upstream,
        credential: crate::swap::Swap::new(credential),
        sessions,
        tokens,
        metrics,
        clock: Default::default(),
        app_token: Default::default(),
        api_keys,
        rate: Default::default(),
        sign_ins: Default::default(),
        limits: Default::default(),
        shared,
    }))
}

/// Refuses to start when the store holds live sessions and none of a sample opens with the
/// configured keys: the key is wrong, and starting would sign everyone out. Nothing is changed.
async fn check_keys(sessions: &SessionManager) -> Result<(), String> {
    let found = sessions.check_keys(now_secs()).await.map_err(|e| format!("the session store cannot be read: {e}"))?;
    if found.none_open() {
        return Err(format!(
            "session.keys: the session key is wrong: none of the {} stored sessions tried opens with any configured key. \
             Nothing in the store was changed. Configure the key that sealed them (to rotate, list the new key first \
             and the old one after it in session.keys) and start again.",
            found.sampled
        ));
    }
    Ok(())
}

/// Serves until `shutdown` resolves, then lets requests in flight finish. With
/// `server.ops_listen`, binds it too and serves the operations routes there.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let ops = match state.settings.server.ops_listen {
        Some(address) => {
            let ops = TcpListener::bind(address).await.map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {address} (server.ops_listen): {e}"))
            })?;
            tracing::info!(address = %ops.local_addr()?, "operations routes listening");
            Some(ops)
        }
        None => None,
    };
    serve_with_ops(listener, ops, state, shutdown).await
}

/// [`serve`] on listeners bound already: `ops` serves `/metrics`, `/healthz` and `/readyz` (and
/// only when `server.ops_listen` is set do they leave `listener`).
pub async fn serve_with_ops(
    listener: TcpListener,
    ops: Option<TcpListener>,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let keepalive = crate::keepalive::spawn(state.clone());
    let rules = Rules::of(&state.settings);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let ops = ops.map(|ops| tokio::spawn(accept::run(ops, ops_router(state.clone()), rules.clone(), stopped.clone())));
    accept::run(listener, router(state), rules, stopped).await;
    if let Some(ops) = ops {
        let _ = ops.await;
    }
    signal.abort();
    if let Some(task) = keepalive {
        task.abort();
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
