//! The app-only (client credentials) token for Graph, cached while it is fresh (core's refresh
//! margin), with one fetch shared by concurrent callers; what its application permissions allow;
//! and Graph calls made with it.

use graphgate_core::{
    AccessToken, Error as CoreError, ErrorCode, Grant, GraphError, HttpRequest, Method, Tenant, decode_jwt_payload,
};
use serde_json::Value;

use crate::clock::{Clock, expiry, is_fresh};
use crate::credential::Credential;
use crate::session::{Keyring, StoreError};
use crate::shared::{LeaseError, Shared};
use crate::upstream::Upstream;

/// Application permissions that allow `POST /invitations` (least privileged first).
pub(crate) const INVITE_ROLES: [&str; 3] = ["User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];

/// Application permissions that allow reading users (least privileged first).
pub(crate) const READ_ROLES: [&str; 4] =
    ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];

/// The cached token and what it may do.
#[derive(Debug, Clone)]
pub(crate) struct AppToken {
    /// The token.
    pub(crate) token: AccessToken,
    /// Expiry, Unix seconds.
    expires_at: u64,
    /// Its application permissions (`roles`), when the token is a readable JWT.
    roles: Option<Vec<String>>,
    /// The tenant ID it was issued in (`tid`), when the token is a readable JWT.
    tenant_id: Option<String>,
}

impl AppToken {
    /// Whether the token may send invitations: it carries one of [`INVITE_ROLES`], or its roles
    /// cannot be read (then Graph decides).
    pub(crate) fn may_invite(&self) -> bool {
        self.roles.as_deref().is_none_or(|roles| holds(roles, &INVITE_ROLES).is_some())
    }

    /// The ID of the tenant the token was issued in, when the token can be read.
    pub(crate) fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }
}

/// The first of `wanted` among `roles` (ignoring case), if any.
pub(crate) fn holds(roles: &[String], wanted: &[&'static str]) -> Option<&'static str> {
    wanted.iter().copied().find(|w| roles.iter().any(|g| g.eq_ignore_ascii_case(w)))
}

/// The `roles` claim of a JWT access token, if it can be read (Graph's tokens are JWTs today, but
/// nothing promises it, so an unreadable token simply has no known roles).
pub(crate) fn roles_of(token: &AccessToken) -> Option<Vec<String>> {
    let payload = decode_jwt_payload(token.expose_secret()).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    Some(
        claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
    )
}

/// The `tid` claim of a JWT access token, if it can be read.
pub(crate) fn tenant_of(token: &AccessToken) -> Option<String> {
    let payload = decode_jwt_payload(token.expose_secret()).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    claims.get("tid").and_then(Value::as_str).map(str::to_ascii_lowercase)
}

/// The cache; its lock is held during a fetch, so concurrent callers share one.
#[derive(Debug, Default)]
pub(crate) struct AppTokenCache {
    slot: tokio::sync::Mutex<Option<AppToken>>,
}

impl AppTokenCache {
    /// A valid app-only token from `tenant` (the application's home tenant), fetched with
    /// `credential` when the cached one is missing or about to expire. With a store `shared` by
    /// several instances, one of them fetches it (under the app token's lease) and the others
    /// take it from the store, sealed with the session keys of `ring`.
    pub(crate) async fn get(
        &self,
        upstream: &Upstream,
        credential: &Credential,
        tenant: Option<&Tenant>,
        clock: &Clock,
        shared: Option<(&Shared, &Keyring)>,
    ) -> Result<AppToken, CoreError> {
        let mut slot = self.slot.lock().await;
        let now = clock.now();
        if let Some(t) = slot.as_ref().filter(|t| is_fresh(t.expires_at, now)) {
            return Ok(t.clone());
        }
        let Some((shared, ring)) = shared else {
            let fresh = fetch(upstream, credential, tenant, now).await?;
            *slot = Some(fresh.clone());
            return Ok(fresh);
        };
        let lease = shared.lease_app().await.map_err(|e| match e {
            LeaseError::Busy => {
                CoreError::new(ErrorCode::SessionBusy, "another instance is fetching the app-only token")
            }
            LeaseError::Store(e) => store_failed(&e),
        })?;
        let now = clock.now();
        let stored = shared
            .app_token(ring)
            .await
            .map_err(|e| store_failed(&e))?
            .and_then(|plain| decode_app(&plain))
            .filter(|t| is_fresh(t.expires_at, now));
        let token = match stored {
            Some(t) => t,
            None => {
                let fresh = fetch(upstream, credential, tenant, now).await?;
                let ttl = std::time::Duration::from_secs(fresh.expires_at.saturating_sub(now).max(1));
                if let Err(e) = shared.put_app_token(ring, &encode_app(&fresh), ttl).await {
                    tracing::warn!(error = %e, "the app-only token could not be shared; each instance fetches its own");
                }
                fresh
            }
        };
        lease.release().await;
        *slot = Some(token.clone());
        Ok(token)
    }
}

/// A failure of the shared store as the invitation routes answer it.
fn store_failed(e: &StoreError) -> CoreError {
    CoreError::new(ErrorCode::StoreUnavailable, e.to_string())
}

/// The app-only token as instances share it: the token and its expiry.
fn encode_app(token: &AppToken) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"a": token.token.expose_secret(), "e": token.expires_at}))
        .unwrap_or_default()
}

/// The app-only token [`encode_app`] gave (its roles and tenant read from it again).
fn decode_app(text: &[u8]) -> Option<AppToken> {
    let value: Value = serde_json::from_slice(text).ok()?;
    let token = AccessToken::new(value.get("a")?.as_str()?);
    let expires_at = value.get("e")?.as_u64()?;
    Some(AppToken { roles: roles_of(&token), tenant_id: tenant_of(&token), token, expires_at })
}

/// Fetches an app-only token from `tenant` with the client credentials grant.
async fn fetch(
    upstream: &Upstream,
    credential: &Credential,
    tenant: Option<&Tenant>,
    now: u64,
) -> Result<AppToken, CoreError> {
    let tenant = tenant.ok_or_else(|| {
        CoreError::new(
            ErrorCode::ConfigInvalid,
            "app-only calls need entra.app_tenant (the application's home tenant ID or domain)",
        )
    })?;
    // Client credentials are safe to repeat: `Upstream::token` retries them on 5xx and 429.
    let tokens = upstream.token(credential, tenant, Grant::ClientCredentials, None, now).await?;
    let roles = roles_of(&tokens.access_token);
    let tenant_id = tenant_of(&tokens.access_token);
    let expires_at = expiry(now, tokens.expires_in);
    Ok(AppToken { token: tokens.access_token, expires_at, roles, tenant_id })
}

/// Calls Graph (`{graph}/v1.0{path}`) with a bearer token; a Graph error becomes [`CoreError::Graph`].
pub(crate) async fn graph(
    upstream: &Upstream,
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
        url: format!("{}{path}", upstream.endpoints().graph_base()),
        headers,
        body: body.map(Value::to_string).unwrap_or_default(),
    };
    let answer = upstream.send(&req, "graph").await?;
    if (200..300).contains(&answer.status) {
        if answer.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_str(&answer.body)
            .map_err(|_| CoreError::new(ErrorCode::MalformedResponse, "Graph answered something that is not JSON"));
    }
    Err(GraphError::parse(answer.status, &answer.body).into_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> AccessToken {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        AccessToken::new([b64(r#"{"alg":"RS256"}"#), b64(payload), "sig".to_owned()].join("."))
    }

    #[test]
    fn roles_are_read_from_a_jwt_and_unknown_otherwise() {
        assert_eq!(roles_of(&jwt(r#"{"roles":["User.Invite.All",1]}"#)), Some(vec!["User.Invite.All".to_owned()]));
        assert_eq!(roles_of(&jwt(r#"{"aud":"x"}"#)), Some(Vec::new()));
        assert_eq!(roles_of(&AccessToken::new("opaque")), None);
        assert_eq!(roles_of(&jwt("not json")), None);
        assert_eq!(
            tenant_of(&jwt(r#"{"tid":"8EAEF023-2b34-4da1-9baa-8bc8c9d6a490"}"#)).as_deref(),
            Some("8eaef023-2b34-4da1-9baa-8bc8c9d6a490")
        );
        assert_eq!(tenant_of(&AccessToken::new("opaque")), None);
    }

    #[test]
    fn invitations_need_an_invite_role_when_the_roles_are_known() {
        let token = |roles: Option<Vec<String>>| AppToken {
            token: AccessToken::new("x"),
            expires_at: 0,
            roles,
            tenant_id: None,
        };
        assert!(token(None).may_invite(), "unreadable roles: Graph decides");
        assert!(!token(Some(Vec::new())).may_invite());
        assert!(token(Some(vec!["directory.readwrite.all".to_owned()])).may_invite());
        assert_eq!(holds(&["User.ReadWrite.All".to_owned()], &READ_ROLES), Some("User.ReadWrite.All"));
    }

    #[tokio::test]
    async fn an_absurd_lifetime_from_the_token_endpoint_does_not_overflow() {
        use axum::routing::post;
        const HOME: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let body = format!(
            r#"{{"token_type":"Bearer","expires_in":{max},"ext_expires_in":{max},"refresh_token_expires_in":{max},"access_token":"opaque"}}"#,
            max = u64::MAX
        );
        let app = axum::Router::new().route(&format!("/{HOME}/oauth2/v2.0/token"), post(move || async move { body }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let upstream = crate::upstream::test_upstream(&base, HOME, "6731de76-14a6-49ae-97bc-6eba6914391e");
        let tenant = graphgate_core::Tenant::parse(HOME).expect("tenant");
        let credential = Credential::Secret { secret: graphgate_core::ClientSecret::new("s"), basic: false };
        let clock = Clock::default();
        let cache = AppTokenCache::default();
        let token = cache.get(&upstream, &credential, Some(&tenant), &clock, None).await.expect("a token");
        let now = clock.now();
        assert!(token.expires_at > now && token.expires_at <= now + 2 * 24 * 3600, "clamped: {}", token.expires_at);
        assert!(is_fresh(token.expires_at, now), "and still usable");
    }
}
