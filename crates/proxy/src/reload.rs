//! Reloading secrets without a restart: on SIGHUP the client credential (secret, or certificate
//! and key) and the session keys are read again from their sources. A new credential is tried
//! on Entra (a client-credentials request) and new session keys on the stored sessions before
//! either replaces the one in use; whatever is refused leaves the old one working, with a log
//! line saying why (never the value).

use std::sync::Arc;

use graphgate_core::{Error as CoreError, Grant};

use crate::clock::now_secs;
use crate::credential::Credential;
use crate::state::AppState;

/// What a reload did with each secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The credential: `Ok(())` replaced, `Err(why)` refused (the old one stays).
    pub credential: Result<(), String>,
    /// The session keys: `Ok(())` replaced, `Err(why)` refused (the old ones stay).
    pub keys: Result<(), String>,
}

/// Reads the credential and the session keys again, and replaces each one that is good.
pub async fn reload(state: &AppState) -> Outcome {
    let credential = reload_credential(state).await;
    match &credential {
        Ok(()) => tracing::info!("reload: the client credential was read again and is in use"),
        Err(why) => {
            tracing::warn!(error = %why, "reload: the new client credential is refused; the old one stays in use")
        }
    }
    let keys = reload_keys(state).await;
    match &keys {
        Ok(()) => tracing::info!("reload: the session keys were read again and are in use"),
        Err(why) => tracing::warn!(error = %why, "reload: the new session keys are refused; the old ones stay in use"),
    }
    Outcome { credential, keys }
}

async fn reload_credential(state: &AppState) -> Result<(), String> {
    let credential = Credential::load(&state.settings.credential)?;
    verify_credential(state, &credential).await?;
    state.credential.store(credential);
    // The app-only token was fetched with the old credential; it stays valid until it expires.
    Ok(())
}

/// Asks Entra for an app-only token with `credential`. Refused when Entra refuses the client
/// itself (`invalid_client`, `unauthorized_client`: a wrong or expired secret, a certificate it
/// does not know) and when Entra cannot be asked (unreachable, too slow, an unreadable answer):
/// the credential in use is known to work, the new one is not. Any other answer (a token, or an
/// error about something else) means the client authenticated.
async fn verify_credential(state: &AppState, credential: &Credential) -> Result<(), String> {
    let entra = &state.settings.entra;
    let tenant = entra.app_tenant.as_ref().unwrap_or(&entra.tenant);
    match state.upstream.token(credential, tenant, Grant::ClientCredentials, None, now_secs()).await {
        Err(CoreError::Entra(x)) if x.error == "invalid_client" || x.error == "unauthorized_client" => {
            let code = x.aadsts.map(|n| format!(" AADSTS{n}")).unwrap_or_default();
            Err(format!("Entra refuses the new credential: {}{code}", x.error))
        }
        Err(CoreError::Graphgate { code, .. }) => Err(format!(
            "the new credential could not be tried on Entra ({}); send SIGHUP again once Entra answers",
            code.as_str()
        )),
        _ => Ok(()),
    }
}

async fn reload_keys(state: &AppState) -> Result<(), String> {
    let (keys, _) = state.settings.session.keyring()?;
    let found = state
        .sessions
        .check_other_keys(&keys, state.clock.now())
        .await
        .map_err(|e| format!("the session store cannot be read: {e}"))?;
    if found.none_open() {
        return Err(format!(
            "session.keys: none of the {} stored sessions tried opens with the new keys (to rotate, list the new key \
             first and the old one after it)",
            found.sampled
        ));
    }
    state.sessions.replace_keys(keys);
    Ok(())
}

/// SIGHUPs, listened for from the start of the process: one that comes while the proxy starts
/// neither stops it (the default action) nor is lost — it is answered once the proxy runs.
pub struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

/// Starts listening for SIGHUP (Unix; elsewhere nothing). Call it first thing.
pub fn listen() -> Hangups {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signal = signal(SignalKind::hangup())
            .inspect_err(
                |e| tracing::warn!(error = %e, "SIGHUP cannot be listened for: secrets reload only with a restart"),
            )
            .ok();
        Hangups { signal }
    }
    #[cfg(not(unix))]
    Hangups {}
}

/// Reloads on every SIGHUP `hangups` hears, for as long as the process runs.
pub fn spawn_on_sighup(hangups: Hangups, state: Arc<AppState>) {
    #[cfg(unix)]
    if let Some(mut signal) = hangups.signal {
        tokio::spawn(async move {
            while signal.recv().await.is_some() {
                tracing::info!("SIGHUP: reading the client credential and the session keys again");
                reload(&state).await;
            }
        });
    }
    #[cfg(not(unix))]
    drop((hangups, state));
}
