//! Inviting external users with the app-only token: `POST /api/invitations` and
//! `GET /api/invitations/status?email=`. The address is looked up first (§8.5: is it already a
//! member or a guest of the tenant?), and only a stranger is invited; a pending guest is mailed
//! again at most once a day. Who may call is the configured policy ([`caller`]); every policy is
//! rate-limited; only an admin (API key) sees the redemption link and the user's ID, others get
//! the status word; every invitation request writes one audit line ([`audit`]).

mod audit;
mod caller;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use graphgate_core::invitation::{DirectoryUser, Invitation, InvitationRequest, InviteStatus, user_lookup_path};
use graphgate_core::{AuthorizeRequest, Email, ErrorCode, Method};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::apponly::{AppToken, graph};
use crate::client_addr::ClientAddr;
use crate::config::InvitePolicy;
use crate::error::ApiError;
use crate::state::AppState;
use audit::{Audit, Outcome};
use caller::Caller;

use graphgate_core::invitation::INVITATION_RETURN_STATE as INVITE_STATE;

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
    let ring = state.sessions.keys();
    let shared = state.shared.as_ref().map(|s| (s, ring.as_ref()));
    Ok(state.app_token.get(&state.upstream, &state.credential.load(), tenant, &state.clock, shared).await?)
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

/// The answer: the status word; for an admin also the user's ID and the redemption link.
fn answer(caller: &Caller, status: InviteStatus, user_id: Option<&str>, redeem: Option<&str>) -> Json<Value> {
    let mut body = json!({"status": status});
    if caller.is_admin() {
        if let Some(id) = user_id {
            body["userId"] = json!(id);
        }
        if let Some(url) = redeem {
            body["redeemUrl"] = json!(url);
        }
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

/// The invitation Graph is sent, from the body and the policy. An anonymous (self-service)
/// caller may not choose the email's text, the display name or whether Microsoft mails: those
/// come from the configuration (`invitations.message`; always mailed, as the caller never sees
/// the link), and a body setting them is refused. A signed-in caller is mailed by default too
/// (it gets no link either); an admin's backend by default is not (it gets the link).
fn invitation_request(
    state: &AppState,
    caller: &Caller,
    body: InviteBody,
    email: &Email,
) -> Result<InvitationRequest, ApiError> {
    let cfg = &state.settings.invitations;
    if matches!(caller, Caller::Anonymous { .. }) {
        refuse_caller_fields(&body)?;
    }
    if let Some(url) = &body.redirect_url {
        own_page(state, url)?;
    }
    let redirect = body.redirect_url.clone().or_else(|| cfg.redirect_url.clone());
    let redirect = match redirect {
        Some(url) => url,
        None => onboarding_url(state, email)?,
    };
    build_request(body, email, &redirect, !caller.is_admin(), cfg.message.clone())
}

/// Refuses the fields a self-service caller may not set (the configuration decides them).
fn refuse_caller_fields(body: &InviteBody) -> Result<(), ApiError> {
    let set: Vec<&str> = [
        ("message", body.message.is_some()),
        ("displayName", body.display_name.is_some()),
        ("sendInvitationMessage", body.send_invitation_message.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, present)| present.then_some(name))
    .collect();
    if set.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::InvitationFieldNotAllowed,
        format!("self-service invitations take {} from the configuration, not the request", set.join(", ")),
    ))
}

/// The validated invitation from the body, once the redirect URL, whether Microsoft mails by
/// default and the configured message are known.
fn build_request(
    body: InviteBody,
    email: &Email,
    redirect: &str,
    send_by_default: bool,
    default_message: Option<String>,
) -> Result<InvitationRequest, ApiError> {
    let mut request = InvitationRequest::new(email.as_str(), redirect)?;
    request.display_name = body.display_name;
    request.send_message = body.send_invitation_message.unwrap_or(send_by_default);
    request.message = body.message.or(default_message);
    request.language = body.language;
    request.validate()?;
    Ok(request)
}

/// The body of `POST /api/invitations`, or `invalid_json_body` naming the fields it takes.
fn parse_invite_body(body: &str) -> Result<InviteBody, ApiError> {
    serde_json::from_str(body).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidJsonBody,
            "expected {email, displayName?, redirectUrl?, sendInvitationMessage?, message?, language?}",
        )
    })
}

/// The invitation itself, once the caller is known and within its limits.
async fn invite_as(
    state: &AppState,
    caller: &Caller,
    request: &InvitationRequest,
) -> Result<(Outcome, Json<Value>), ApiError> {
    let email = &request.email;
    let resend = &state.rate.resend;
    let address = email.as_str().to_ascii_lowercase();
    let now = state.clock.now();
    match lookup(state, email).await? {
        Some(user) => match user.status() {
            InviteStatus::GuestPending => {
                // Inviting a pending guest again mails the invitation again: at most once a day
                // per address. An admin asking for a fresh link without a mail is not held back.
                let fresh_link_only = caller.is_admin() && !request.send_message;
                if !fresh_link_only && !resend.allow(&address, 1, now) {
                    let body = answer(caller, InviteStatus::GuestPending, Some(&user.id), None);
                    return Ok((Outcome::PendingNotRemailed, body));
                }
                let inv = send_invitation(state, request).await.inspect_err(|_| {
                    if !fresh_link_only {
                        resend.forget(&address);
                    }
                })?;
                let body = answer(caller, InviteStatus::GuestPending, Some(&user.id), Some(&inv.invite_redeem_url));
                Ok((Outcome::Reinvited, body))
            }
            InviteStatus::Member => Ok((Outcome::Member, answer(caller, InviteStatus::Member, Some(&user.id), None))),
            status => Ok((Outcome::GuestAccepted, answer(caller, status, Some(&user.id), None))),
        },
        None => {
            let inv = send_invitation(state, request).await?;
            if request.send_message {
                // The first mail starts the address's day.
                resend.allow(&address, 1, now);
            }
            let user_id = inv.invited_user.as_ref().map(|u| u.id.as_str());
            Ok((Outcome::Invited, answer(caller, InviteStatus::Invited, user_id, Some(&inv.invite_redeem_url))))
        }
    }
}

/// `POST /api/invitations`: writes one audit line whatever the outcome.
pub(crate) async fn invite(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let mut audit = Audit::new(state.settings.invitations.policy, client.to_string());
    let result = invite_checked(&state, client, &headers, &body, &mut audit).await;
    let outcome = result.as_ref().map(|(o, _)| *o).map_err(Clone::clone);
    audit.write(&outcome, state.clock.now());
    result.map(|(_, body)| body)
}

async fn invite_checked(
    state: &AppState,
    client: ClientAddr,
    headers: &HeaderMap,
    body: &str,
    audit: &mut Audit,
) -> Result<(Outcome, Json<Value>), ApiError> {
    let body = parse_invite_body(body)?;
    let email = Email::parse(body.email.trim())?;
    audit.whom = Some(email.as_str().to_owned());
    let caller = caller::authorize(state, headers, client, &email).await?;
    audit.caller(&caller);
    let request = invitation_request(state, &caller, body, &email)?;
    caller::limit(state, &caller, &email, false)?;
    invite_as(state, &caller, &request).await
}

/// `GET /api/invitations/status?email=`: the status word (an admin also gets the user's ID).
/// Anyone the policy lets in learns whether an address is a member or a guest; the status limit
/// per caller (and, under `self-service`, the allowed domains) bound how many addresses one
/// caller can try.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    client: ClientAddr,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let email = Email::parse(q.get("email").map(|e| e.trim()).unwrap_or_default())?;
    let caller = caller::authorize(&state, &headers, client, &email).await?;
    caller::limit(&state, &caller, &email, true)?;
    Ok(match lookup(&state, &email).await? {
        Some(user) => answer(&caller, user.status(), Some(&user.id), None),
        None => Json(json!({"status": "not-invited"})),
    })
}

/// The body's parsing and the checks that need no proxy state, in the order the handler runs
/// them; `crate::fuzzing` hands them to the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    use graphgate_core::Email;

    use super::{build_request, parse_invite_body, refuse_caller_fields};
    use crate::error::ApiError;

    /// Where an invitation without `redirectUrl` leads, standing in for the configured one.
    const DEFAULT_REDIRECT: &str = "https://app.example.com/";

    /// `POST /api/invitations`: the body, its address, the self-service field rule when
    /// `anonymous`, and the invitation Graph would be sent.
    pub(crate) fn invite(body: &str, anonymous: bool) -> Result<(), ApiError> {
        let body = parse_invite_body(body)?;
        let email = Email::parse(body.email.trim())?;
        if anonymous {
            refuse_caller_fields(&body)?;
        }
        let redirect = body.redirect_url.clone().unwrap_or_else(|| DEFAULT_REDIRECT.to_owned());
        let request = build_request(body, &email, &redirect, anonymous, None)?;
        request.to_graph_json()?;
        Ok(())
    }
}
