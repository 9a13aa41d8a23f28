//! Start-up: settings → state (credential, session store, upstream client), serving with
//! graceful shutdown on SIGTERM or Ctrl-C.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::api_keys::ApiKeys;
use crate::app::router;
use crate::config::{Settings, StoreKind};
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::session::{Cipher, MemoryStore, SessionManager, SessionStore, SqliteStore};
use crate::state::AppState;
use crate::tokens::TokenCache;
use crate::upstream::Upstream;

/// Builds the state from checked settings: reads the credential and the session key, opens the
/// session store and pings it (a bad store fails here, before any user arrives).
pub async fn build_state(settings: Settings) -> Result<Arc<AppState>, String> {
    let credential = Credential::load(&settings.credential)?;
    let session = &settings.session;
    let key = session.key.read("session.key")?;
    let cipher = Cipher::from_base64(&key).map_err(|e| format!("session.key: {e}"))?;
    let store: Arc<dyn SessionStore> = match &session.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite(path) => Arc::new(SqliteStore::open(path).map_err(|e| format!("session.sqlite_path: {e}"))?),
    };
    store.ping().await.map_err(|e| format!("the session store does not answer: {e}"))?;
    let sessions = SessionManager::new(store, cipher, session.absolute_lifetime, session.idle_timeout);
    let metrics = Arc::new(Metrics::default());
    let upstream = Upstream::new(settings.entra.clone(), metrics.clone())?;
    let api_keys = ApiKeys::read(settings.invitations.api_keys.as_ref())?;
    Ok(Arc::new(AppState {
        settings,
        upstream,
        credential,
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
