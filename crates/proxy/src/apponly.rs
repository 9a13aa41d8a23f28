//! The app-only (client credentials) token for Graph, cached until `REFRESH_MARGIN_SECS` (five
//! minutes) before it expires, with one fetch shared by concurrent callers; and Graph calls made with it.

use graphgate_core::{
    AccessToken, Error as CoreError, ErrorCode, Grant, GraphError, HttpRequest, Method, REFRESH_MARGIN_SECS,
};
use serde_json::Value;

use crate::app::AppState;

/// The cached token and what it may do.
#[derive(Debug, Clone)]
pub struct AppToken {
    /// The token.
    pub token: AccessToken,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
    /// Its application permissions (`roles`), when the token is a readable JWT.
    pub roles: Vec<String>,
}

/// The cache; its lock is held during a fetch, so concurrent callers share one.
#[derive(Debug, Default)]
pub struct AppTokenCache {
    slot: tokio::sync::Mutex<Option<AppToken>>,
}

/// The `roles` claim of a JWT access token, if it can be read (Graph's tokens are JWTs today, but
/// nothing promises it, so an unreadable token simply has no known roles).
pub fn roles_of(token: &AccessToken) -> Option<Vec<String>> {
    use base64::Engine as _;
    let payload = token.expose_secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    )
}

impl AppTokenCache {
    /// A valid app-only token, fetched when the cached one is missing or about to expire.
    pub async fn get(&self, state: &AppState) -> Result<AppToken, CoreError> {
        let mut slot = self.slot.lock().await;
        let now = state.clock.now();
        if let Some(t) = slot.as_ref().filter(|t| now + REFRESH_MARGIN_SECS < t.expires_at) {
            return Ok(t.clone());
        }
        let s = &state.settings;
        let tenant = s.app_tenant.as_ref().ok_or_else(|| {
            CoreError::new(
                ErrorCode::ConfigInvalid,
                "app-only calls need entra.app_tenant (the application's home tenant ID or domain)",
            )
        })?;
        // Client credentials are safe to repeat: `Upstream::token` retries them on 5xx and 429.
        let tokens = state.upstream.token(&state.credential, tenant, Grant::ClientCredentials, None, now).await?;
        let roles = roles_of(&tokens.access_token).unwrap_or_default();
        let fresh = AppToken { token: tokens.access_token, expires_at: now + tokens.expires_in, roles };
        *slot = Some(fresh.clone());
        Ok(fresh)
    }
}

/// Calls Graph (`{graph}/v1.0{path}`) with a bearer token; a Graph error becomes [`CoreError::Graph`].
pub async fn graph(
    state: &AppState,
    token: &AccessToken,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, CoreError> {
    let mut headers =
        vec![("Authorization", format!("Bearer {}", token.expose_secret())), ("Accept", "application/json".to_owned())];
    if body.is_some() {
        headers.push(("Content-Type", "application/json".to_owned()));
    }
    let req = HttpRequest {
        method,
        url: format!("{}{path}", state.settings.endpoints.graph_base()),
        headers,
        body: body.map(Value::to_string).unwrap_or_default(),
    };
    let answer = state.upstream.send(&req, "graph").await?;
    if (200..300).contains(&answer.status) {
        if answer.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_str(&answer.body)
            .map_err(|_| CoreError::new(ErrorCode::MalformedResponse, "Graph answered something that is not JSON"));
    }
    Err(GraphError::parse(answer.status, &answer.body).into_error())
}
