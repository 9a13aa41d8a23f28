//! Start-up: settings → state (credential, session store, upstream client), serving with
//! graceful shutdown on SIGTERM or Ctrl-C.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api_keys::ApiKeys;
use crate::app::router;
use crate::clock::now_secs;
use crate::config::{Settings, StoreKind};
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::session::{MemoryStore, SessionManager, SessionStore, SqliteStore};
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
    let store: Arc<dyn SessionStore> = match &session.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite(path) => Arc::new(
            SqliteStore::open_with(path, session.sqlite_max_page_count)
                .map_err(|e| format!("session.sqlite_path: {}: {e}", path.display()))?,
        ),
    };
    let store_name = match &session.store {
        StoreKind::Memory => "the session store".to_owned(),
        StoreKind::Sqlite(path) => format!("session.sqlite_path: {}", path.display()),
    };
    store.ping().await.map_err(|e| format!("{store_name}: the session store does not answer: {e}"))?;
    let sessions = SessionManager::new(store, keys, session.absolute_lifetime, session.idle_timeout);
    check_keys(&sessions).await?;
    let metrics = Arc::new(Metrics::default());
    let upstream = Upstream::new(settings.entra.clone(), metrics.clone())?;
    let api_keys = ApiKeys::read(settings.invitations.api_keys.as_ref())?;
    Ok(Arc::new(AppState {
        settings,
        upstream,
        credential: crate::swap::Swap::new(credential),
        sessions,
        tokens: TokenCache::default(),
        metrics,
        clock: Default::default(),
        app_token: Default::default(),
        api_keys,
        rate: Default::default(),
        sign_ins: Default::default(),
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

/// Serves until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let keepalive = crate::keepalive::spawn(state.clone());
    let result = axum::serve(listener, router(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(task) = keepalive {
        task.abort();
    }
    result
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
