//! Inviting external users with the app-only token: `POST /api/invitations` and
//! `GET /api/invitations/status?email=`. The address is looked up first (§8.5: is it already a
//! member or a guest of the tenant?), and only a stranger is invited. Who may call is the
//! configured policy: `admin` (bearer API keys), `self-service` (allowed domains, rate-limited)
//! or `signed-in` (sessions, optionally an allow-list of accounts).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header};
use graphgate_core::invitation::{DirectoryUser, Invitation, InvitationRequest, InviteStatus, user_lookup_path};
use graphgate_core::{AuthorizeRequest, Email, ErrorCode, Method};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apponly::{AppToken, graph};
use crate::config::InvitePolicy;
use crate::error::ApiError;
use crate::state::AppState;

use graphgate_core::invitation::INVITATION_RETURN_STATE as INVITE_STATE;

/// Checks the caller against the invitation policy.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    email: &Email,
) -> Result<(), ApiError> {
    let cfg = &state.settings.invitations;
    match cfg.policy {
        InvitePolicy::Admin => {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InviteForbidden,
                        "invitations need the site's API key (Authorization: Bearer …)",
                    )
                })?;
            if state.api_keys.accepts(presented) {
                Ok(())
            } else {
                Err(ApiError::new(ErrorCode::InviteForbidden, "the API key is not one of this proxy's"))
            }
        }
        InvitePolicy::SelfService => {
            let domain = email.domain();
            if !cfg.allowed_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
                return Err(ApiError::new(
                    ErrorCode::EmailDomainNotAllowed,
                    format!("{domain} is not among the domains open to self-service invitations"),
                ));
            }
            let now = state.clock.now();
            let ip = peer.map(|p| p.ip().to_string()).unwrap_or_else(|| "unknown".to_owned());
            let limit = cfg.rate_limit_per_minute;
            if !state.rate.allow(&format!("ip:{ip}"), limit, now)
                || !state.rate.allow(&format!("email:{}", email.as_str().to_ascii_lowercase()), limit, now)
            {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!("at most {limit} invitations a minute per client and per address"),
                ));
            }
            Ok(())
        }
        InvitePolicy::SignedIn => {
            let key = state
                .settings
                .cookie
                .session_key(headers)
                .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "sign in to invite"))?;
            let session = state
                .sessions
                .load(&key, state.clock.now())
                .await?
                .ok_or_else(|| ApiError::new(ErrorCode::NotSignedIn, "the session is unknown or expired"))?;
            let allowed = cfg.allowed_accounts.is_empty()
                || cfg.allowed_accounts.iter().any(|a| a.eq_ignore_ascii_case(&session.account.username));
            if allowed { Ok(()) } else { Err(ApiError::new(ErrorCode::InviteForbidden, "this account may not invite")) }
        }
    }
}

/// The authorize URL a redeemed invitation leads to by default: the app's own sign-in (core's
/// authorize request), with the invited address as `login_hint` (one-step onboarding). No page
/// keeps its PKCE verifier or nonce, so the page treats its return (`state=graphgate-invite`) as
/// "start signing in".
fn onboarding_url(state: &AppState, email: &Email) -> Result<String, ApiError> {
    let s = &state.settings.entra;
    let redirect = s
        .redirect_uris
        .first()
        .ok_or_else(|| ApiError::new(ErrorCode::ConfigInvalid, "entra.redirect_uris is empty"))?;
    let (url, _unused) = AuthorizeRequest::new(&s.endpoints, &s.tenant, &s.client_id, redirect)
        .scopes(s.scopes.clone())
        .login_hint(email.as_str())
        .with_state(graphgate_core::State::new(INVITE_STATE))
        .build()?;
    Ok(url)
}

/// A redemption link from a page may lead only to this app: its origins or redirect URIs. (An
/// admin's backend, holding an API key, may send guests anywhere.) Otherwise anyone allowed to
/// invite could make Microsoft's own invitation forward a guest to a site of their choosing.
fn own_page(state: &AppState, url: &str) -> Result<(), ApiError> {
    if state.settings.invitations.policy == InvitePolicy::Admin {
        return Ok(());
    }
    let origin = graphgate_core::HttpUrl::parse(url).map(|u| u.origin().to_owned()).unwrap_or_default();
    let ours = state.settings.server.origins.iter().map(String::as_str);
    let mut ours = ours.chain(state.settings.entra.redirect_uris.iter().map(|r| r.url().origin()));
    if !origin.is_empty() && ours.any(|o| o.eq_ignore_ascii_case(&origin)) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::InvalidInvitation,
        "redirectUrl must lead to this app (one of its origins or redirect URIs)",
    ))
}

/// The app-only token (cached).
async fn app_token(state: &AppState) -> Result<AppToken, ApiError> {
    let tenant = state.settings.entra.app_tenant.as_ref();
    Ok(state.app_token.get(&state.upstream, &state.credential, tenant, &state.clock).await?)
}

/// Who owns `email` in the tenant, if anyone.
async fn lookup(state: &AppState, email: &Email) -> Result<Option<DirectoryUser>, ApiError> {
    let app = app_token(state).await?;
    let found = graph(&state.upstream, &app.token, Method::Get, &user_lookup_path(email), None).await?;
    let users: Vec<DirectoryUser> =
        serde_json::from_value(found.get("value").cloned().unwrap_or(Value::Null)).unwrap_or_default();
    Ok(users.into_iter().next())
}

/// The body of `POST /api/invitations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InviteBody {
    email: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    redirect_url: Option<String>,
    #[serde(default)]
    send_invitation_message: Option<bool>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

fn answer(status: InviteStatus, user_id: Option<&str>, redeem: Option<&str>) -> Json<Value> {
    let mut body = json!({"status": status});
    if let Some(id) = user_id {
        body["userId"] = json!(id);
    }
    if let Some(url) = redeem {
        body["redeemUrl"] = json!(url);
    }
    Json(body)
}

async fn send_invitation(state: &AppState, request: &InvitationRequest) -> Result<Invitation, ApiError> {
    let app = app_token(state).await?;
    if !app.may_invite() {
        return Err(ApiError::new(
            ErrorCode::AdminConsentMissing,
            "the app-only token carries no User.Invite.All role",
        ));
    }
    let body = request.to_graph_json()?;
    let created = graph(&state.upstream, &app.token, Method::Post, "/invitations", Some(&body)).await?;
    serde_json::from_value(created).map_err(|_| {
        ApiError::new(ErrorCode::MalformedResponse, "Graph's invitation answer lacks inviteRedeemUrl or status")
    })
}

/// `POST /api/invitations`.
pub(crate) async fn invite(
    State(state): State<Arc<AppState>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let body: InviteBody = serde_json::from_str(&body).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidJsonBody,
            "expected {email, displayName?, redirectUrl?, sendInvitationMessage?, message?, language?}",
        )
    })?;
    let email = Email::parse(body.email.trim())?;
    authorize(&state, &headers, peer.map(|c| c.0.0), &email).await?;
    if let Some(url) = &body.redirect_url {
        own_page(&state, url)?;
    }
    let redirect = body.redirect_url.clone().or_else(|| state.settings.invitations.redirect_url.clone());
    let redirect = match redirect {
        Some(url) => url,
        None => onboarding_url(&state, &email)?,
    };
    let mut request = InvitationRequest::new(email.as_str(), &redirect)?;
    request.display_name = body.display_name;
    request.send_message = body.send_invitation_message.unwrap_or(false);
    request.message = body.message;
    request.language = body.language;
    request.validate()?;
    match lookup(&state, &email).await? {
        Some(user) => match user.status() {
            InviteStatus::GuestPending => {
                // Asking again for a pending guest returns a fresh redemption link for the same user.
                let inv = send_invitation(&state, &request).await?;
                Ok(answer(InviteStatus::GuestPending, Some(&user.id), Some(&inv.invite_redeem_url)))
            }
            status => Ok(answer(status, Some(&user.id), None)),
        },
        None => {
            let inv = send_invitation(&state, &request).await?;
            let user_id = inv.invited_user.as_ref().map(|u| u.id.as_str());
            Ok(answer(InviteStatus::Invited, user_id, Some(&inv.invite_redeem_url)))
        }
    }
}

/// `GET /api/invitations/status?email=`.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let email = Email::parse(q.get("email").map(|e| e.trim()).unwrap_or_default())?;
    authorize(&state, &headers, peer.map(|c| c.0.0), &email).await?;
    Ok(match lookup(&state, &email).await? {
        Some(user) => answer(user.status(), Some(&user.id), None),
        None => Json(json!({"status": "not-invited"})),
    })
}
