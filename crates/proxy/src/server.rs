//! Start-up: configuration → state (credential, session store, upstream client), serving with
//! graceful shutdown on SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::{AppState, router};
use crate::config::Settings;
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::session::{Cipher, MemoryStore, SessionManager, SessionStore, SqliteStore};
use crate::tokens::TokenCache;
use crate::upstream::Upstream;

/// Builds the state from checked settings: reads the credential and the session key, opens the
/// session store and pings it (a bad store fails here, before any user arrives).
pub async fn build_state(settings: Settings) -> Result<Arc<AppState>, String> {
    let credential = Credential::load(&settings)?;
    let key = settings.raw.session.key.read("session.key")?;
    let cipher = Cipher::from_base64(&key).map_err(|e| format!("session.key: {e}"))?;
    let store: Arc<dyn SessionStore> = match settings.raw.session.store.as_str() {
        "memory" => Arc::new(MemoryStore::new()),
        _ => Arc::new(
            SqliteStore::open(&settings.raw.session.sqlite_path).map_err(|e| format!("session.sqlite_path: {e}"))?,
        ),
    };
    store.ping().await.map_err(|e| format!("the session store does not answer: {e}"))?;
    let sessions = SessionManager::new(
        store.clone(),
        cipher,
        Duration::from_secs(settings.raw.session.absolute_lifetime_hours.saturating_mul(3600)),
        Duration::from_secs(settings.raw.session.idle_timeout_hours.saturating_mul(3600)),
    );
    let metrics = Arc::new(Metrics::default());
    let upstream = Upstream::new(settings.clone(), metrics.clone())?;
    let keys = &settings.raw.invitations.api_keys;
    let api_keys = if keys.env.is_some() || keys.file.is_some() {
        keys.read("invitations.api_keys")?.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect()
    } else {
        Vec::new()
    };
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
