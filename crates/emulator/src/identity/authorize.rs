//! `/{tenant}/oauth2/v2.0/authorize`: validation in Entra's order, the account picker (skipped
//! when `login_hint` names the account signed in on the session), the tenancy rules (members,
//! guests, personal accounts, AADSTS50020 / 50194), consent, claims (capabilities, and claims
//! challenges met by signing in), and the redirect carrying a code or an error.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use graphgate_core::{CONSUMERS_TENANT_ID, form_encode, percent_decode_param};
use serde_json::Value;

use super::scopes::{ScopeRequest, needs_admin};
use super::{Authority, open_session, pages};
use crate::errors::{EntraFields, entra_fields};
use crate::ids::opaque;
use crate::seed::Audience;
use crate::state::{CodeGrant, User, UserType, World, audience_allows};
use crate::{Ctx, challenges};

/// A validated authorize request.
#[derive(Debug, Clone)]
struct Request {
    authority: Authority,
    client_id: String,
    app_name: String,
    audience: Audience,
    home_tenant: String,
    redirect_uri: String,
    response_mode: String,
    state: Option<String>,
    nonce: Option<String>,
    scopes: ScopeRequest,
    challenge: Option<(String, String)>,
    prompt: Option<String>,
    login_hint: Option<String>,
    /// The `claims` parameter: capabilities and claims challenges answered (`challenges.rs`).
    claims: Option<Value>,
}

/// Why a request cannot go on.
enum Reject {
    /// Shown on the emulator's page: the redirect URI cannot be trusted (or is not known yet).
    Page(u16, EntraFields),
    /// Sent back to the redirect URI.
    Redirect(Box<Request>, EntraFields),
}

fn params(query: &str) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (Some(k), Some(v)) = (percent_decode_param(k), percent_decode_param(v)) else {
            return Err("The request is not properly encoded.".to_owned());
        };
        if map.insert(k.clone(), v).is_some()
            && ["client_id", "redirect_uri", "scope", "state", "response_type"].contains(&k.as_str())
        {
            return Err(format!("The parameter '{k}' appears more than once."));
        }
    }
    Ok(map)
}

/// Validates the query in the order Entra does: tenant, client, redirect URI (errors shown on the
/// page), then everything else (errors sent to the redirect URI).
fn validate(ctx: &Ctx, world: &World, tenant: &str, query: &str) -> Result<Request, Reject> {
    let page = |status, code, args: &[(&str, &str)]| Reject::Page(status, entra_fields("", code, args));
    let p = params(query).map_err(|_| page(400, 9002313, &[]))?;
    let authority = Authority::resolve(world, tenant).ok_or_else(|| page(400, 90002, &[("tenant", tenant)]))?;
    let client_id =
        p.get("client_id").filter(|c| !c.is_empty()).ok_or_else(|| page(400, 900144, &[("parameter", "client_id")]))?;
    let app = world
        .app(client_id)
        .ok_or_else(|| page(400, 700016, &[("client_id", client_id.as_str()), ("tenant", tenant)]))?;
    let redirect_uri = p.get("redirect_uri").cloned().unwrap_or_default();
    if app.redirect(&redirect_uri).is_none() {
        return Err(page(400, 50011, &[("redirect_uri", &redirect_uri), ("client_id", client_id)]));
    }
    let named = [("client_id", client_id.as_str()), ("app", app.seed.name.as_str())];
    match (&authority, app.seed.audience) {
        (a, Audience::SingleTenant) if a.is_alias() => return Err(page(400, 50194, &named)),
        (Authority::Tenant(t), Audience::SingleTenant) if *t != app.seed.home_tenant => {
            return Err(page(400, 700016, &[("client_id", client_id.as_str()), ("tenant", t.as_str())]));
        }
        (Authority::Consumers, Audience::SingleTenant | Audience::MultiTenant) => {
            return Err(page(400, 9002332, &named));
        }
        _ => {}
    }
    let mut req = Request {
        authority,
        client_id: app.seed.client_id.clone(),
        app_name: app.seed.name.clone(),
        audience: app.seed.audience,
        home_tenant: app.seed.home_tenant.clone(),
        redirect_uri,
        response_mode: p.get("response_mode").cloned().unwrap_or_else(|| "query".to_owned()),
        state: p.get("state").cloned(),
        nonce: p.get("nonce").cloned(),
        scopes: ScopeRequest::default(),
        challenge: None,
        prompt: p.get("prompt").cloned(),
        login_hint: p.get("login_hint").cloned(),
        claims: None,
    };
    if !["query", "fragment", "form_post"].contains(&req.response_mode.as_str()) {
        req.response_mode = "query".to_owned();
        return Err(Reject::Redirect(Box::new(req), entra_fields("invalid_request", 9002313, &[])));
    }
    let redirect = |req: &Request, error: &str, code, args: &[(&str, &str)]| {
        Reject::Redirect(Box::new(req.clone()), entra_fields(error, code, args))
    };
    match p.get("response_type").map(String::as_str) {
        None | Some("") => {
            return Err(redirect(&req, "invalid_request", 900144, &[("parameter", "response_type")]));
        }
        Some("code") => {}
        Some(other) if other.split(' ').any(|t| t == "id_token" || t == "token") => {
            return Err(redirect(&req, "unsupported_response_type", 700054, &[]));
        }
        Some(_) => return Err(redirect(&req, "unsupported_response_type", 9002313, &[])),
    }
    let scope = p.get("scope").map(String::as_str).unwrap_or("");
    if scope.trim().is_empty() {
        return Err(redirect(&req, "invalid_request", 900144, &[("parameter", "scope")]));
    }
    req.scopes = ScopeRequest::parse(&ctx.base, scope)
        .map_err(|bad| redirect(&req, "invalid_scope", 70011, &[("scope", &bad)]))?;
    match (p.get("code_challenge"), p.get("code_challenge_method").map(String::as_str)) {
        (None, None) => {}
        (None, Some(_)) => {
            return Err(redirect(&req, "invalid_request", 9002313, &[]));
        }
        (Some(c), method) => {
            let method = method.unwrap_or("plain");
            if method != "S256" && method != "plain" {
                return Err(redirect(&req, "invalid_request", 9002313, &[]));
            }
            if !(43..=128).contains(&c.len()) {
                return Err(redirect(&req, "invalid_request", 9002313, &[]));
            }
            req.challenge = Some((c.clone(), method.to_owned()));
        }
    }
    if let Some(prompt) = &req.prompt {
        if !["login", "none", "consent", "select_account"].contains(&prompt.as_str()) {
            return Err(redirect(&req, "invalid_request", 9002313, &[]));
        }
    }
    req.claims = challenges::parse_param(p.get("claims").map(String::as_str))
        .map_err(|_| redirect(&req, "invalid_request", 9002313, &[]))?;
    Ok(req)
}

/// Why an account cannot sign in through an authority: the values of AADSTS50020's text (and of
/// AADSTS16000's, which words it the same when the refusal comes up silently).
#[derive(Debug, Clone)]
struct Denial {
    account: String,
    idp: String,
    tenant: String,
    client_id: String,
    app: String,
}

impl Denial {
    fn fields(&self, error: &str, code: u32) -> EntraFields {
        entra_fields(
            error,
            code,
            &[
                ("account", &self.account),
                ("idp", &self.idp),
                ("tenant", &self.tenant),
                ("client_id", &self.client_id),
                ("app", &self.app),
            ],
        )
    }
}

/// The tenant Entra names when an account is refused by a multi-tenant authority.
const MICROSOFT_SERVICES: &str = "Microsoft Services";

/// The user object an account signs in as through `authority`, and the issuing tenant.
fn principal<'w>(world: &'w World, req: &Request, home: &'w User) -> Result<(&'w User, String), Denial> {
    let personal = home.is_personal();
    let deny = |tenant: String| Denial {
        account: home.upn.clone(),
        idp: world.idp_of(home),
        tenant,
        client_id: req.client_id.clone(),
        app: req.app_name.clone(),
    };
    match &req.authority {
        Authority::Tenant(t) => {
            if !personal && home.tenant_id == *t {
                return Ok((home, t.clone()));
            }
            match world.guest_of(t, home) {
                // An invitation not yet redeemed makes no guest that can sign in.
                Some(g) if g.external_state.as_deref() == Some("Accepted") => Ok((g, t.clone())),
                Some(_) | None => Err(deny(world.tenant(t).map(|x| x.name.clone()).unwrap_or_default())),
            }
        }
        Authority::Common | Authority::Organizations | Authority::Consumers => {
            let allowed_here = match req.authority {
                Authority::Organizations => !personal,
                Authority::Consumers => personal,
                _ => true,
            };
            if !allowed_here {
                return Err(deny(MICROSOFT_SERVICES.to_owned()));
            }
            if !audience_allows(req.audience, personal, home.tenant_id == req.home_tenant) {
                return Err(deny(world.tenant(&req.home_tenant).map(|x| x.name.clone()).unwrap_or_default()));
            }
            Ok((home, if personal { CONSUMERS_TENANT_ID.to_owned() } else { home.tenant_id.clone() }))
        }
    }
}

fn action_url(tenant: &str) -> String {
    format!("/{tenant}/oauth2/v2.0/authorize")
}

/// Sends fields to the redirect URI in the requested response mode.
fn respond(req: &Request, fields: &[(&str, &str)]) -> Response {
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    if let Some(s) = &req.state {
        all.push(("state", s));
    }
    match req.response_mode.as_str() {
        "form_post" => pages::form_post(&req.redirect_uri, &all).into_response(),
        "fragment" => Redirect::to(&format!("{}#{}", req.redirect_uri, form_encode(all))).into_response(),
        _ => {
            let sep = if req.redirect_uri.contains('?') { '&' } else { '?' };
            Redirect::to(&format!("{}{sep}{}", req.redirect_uri, form_encode(all))).into_response()
        }
    }
}

fn error_redirect(req: &Request, f: &EntraFields) -> Response {
    respond(req, &[("error", &f.error), ("error_description", &f.description), ("error_uri", &f.error_uri)])
}

fn reject(r: Reject) -> Response {
    match r {
        Reject::Page(status, f) => pages::error_page(status, &f.description),
        Reject::Redirect(req, f) => error_redirect(&req, &f),
    }
}

/// Issues a code for `user` (in `tid`), remembers the sign-in session, and redirects.
fn issue_code(
    ctx: &Ctx,
    world: &mut World,
    req: &Request,
    user_id: &str,
    tid: &str,
    home_id: &str,
    granted: BTreeSet<String>,
) -> Response {
    let code = opaque("emc.");
    // Signing in interactively is how a challenge that needs the user is met.
    let satisfied = challenges::answered(world, user_id, req.claims.as_ref(), true);
    world.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: req.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            user_id: user_id.to_owned(),
            tid: tid.to_owned(),
            scopes: granted,
            requested: req.scopes.oidc.clone(),
            nonce: req.nonce.clone(),
            challenge: req.challenge.clone(),
            capabilities: challenges::capabilities(req.claims.as_ref()),
            satisfied,
            issued_at: ctx.now(),
            redeemed: false,
        },
    );
    let session_state = crate::ids::guid();
    let mut response = respond(req, &[("code", &code), ("session_state", &session_state)]);
    add_session(world, &mut response, home_id);
    response
}

/// Opens a sign-in session for the member account `home_id` and sets its cookie on `response`.
fn add_session(world: &mut World, response: &mut Response, home_id: &str) {
    let session = open_session(world, home_id);
    if let Ok(v) = pages::set_session_cookie(&session).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The scopes granted so far and those still needing consent.
fn consent_state(world: &World, req: &Request, user_id: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let granted = world.consents.get(&(req.client_id.clone(), user_id.to_owned())).cloned().unwrap_or_default();
    let needed = req.scopes.needed(&granted);
    let missing = needed.difference(&granted).cloned().collect();
    (granted, missing)
}

/// Continues after an account was chosen: tenancy rules, consent, code.
fn after_account(
    ctx: &Ctx,
    world: &mut World,
    tenant: &str,
    query: &str,
    req: &Request,
    home_id: &str,
    silent: bool,
) -> Response {
    let Some(home) = world.user(home_id).filter(|u| u.user_type == UserType::Member).cloned() else {
        return error_redirect(req, &no_such_account(world, req, home_id));
    };
    let (user, tid) = match principal(world, req, &home) {
        Ok((u, t)) => (u.clone(), t),
        // Silently, the account on the session cannot be used here: the user must pick another.
        Err(d) if silent => return error_redirect(req, &d.fields("interaction_required", 16000)),
        Err(d) => return error_redirect(req, &d.fields("access_denied", 50020)),
    };
    let (granted, missing) = consent_state(world, req, &user.id);
    if !missing.is_empty() || (req.prompt.as_deref() == Some("consent") && !silent) {
        if silent {
            let named = [("client_id", req.client_id.as_str()), ("app", req.app_name.as_str())];
            return error_redirect(req, &entra_fields("consent_required", 65001, &named));
        }
        let mut list: Vec<String> = req.scopes.oidc.iter().map(|o| oidc_label(o).to_owned()).collect();
        list.extend(missing.iter().chain(granted.iter()).map(|p| format!("{p} (Microsoft Graph)")));
        return pages::consent(&action_url(tenant), query, &user.id, &req.app_name, &user.upn, &list).into_response();
    }
    if silent && challenges::needs_interaction(world, &user.id, req.claims.as_ref(), &BTreeSet::new()).is_some() {
        let resource = [("resource", super::tokens::GRAPH_APP_ID)];
        return error_redirect(req, &entra_fields("interaction_required", 50076, &resource));
    }
    let scopes = req.scopes.needed(&granted).union(&granted).cloned().collect();
    issue_code(ctx, world, req, &user.id, &tid, &home.id, scopes)
}

/// AADSTS50034 for an account the form names but the directory does not hold.
fn no_such_account(world: &World, req: &Request, account: &str) -> EntraFields {
    let tenant = match &req.authority {
        Authority::Tenant(t) => world.tenant(t).map(|x| x.name.clone()).unwrap_or_default(),
        _ => MICROSOFT_SERVICES.to_owned(),
    };
    entra_fields("invalid_request", 50034, &[("account", account), ("tenant", &tenant)])
}

fn oidc_label(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in",
        "profile" => "View your basic profile",
        "email" => "View your email address",
        _ => "Maintain access to data you have given it access to",
    }
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub(super) async fn get(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = query.unwrap_or_default();
    let mut world = ctx.world();
    let req = match validate(&ctx, &world, &tenant, &query) {
        Ok(r) => r,
        Err(r) => return reject(r),
    };
    let session = pages::session_cookie(&headers).and_then(|c| world.sessions.get(&c).cloned());
    if req.prompt.as_deref() == Some("none") {
        let Some(home_id) = session else {
            return error_redirect(&req, &entra_fields("login_required", 50058, &[]));
        };
        return after_account(&ctx, &mut world, &tenant, &query, &req, &home_id, true);
    }
    let hint = req.login_hint.clone().unwrap_or_default();
    // Single sign-on: the hinted account is signed in on the session, so there is nothing to pick
    // (unless the app asked for the picker or a fresh sign-in).
    let picker_asked = matches!(req.prompt.as_deref(), Some("login" | "select_account"));
    if let Some(home_id) = session.filter(|id| {
        !picker_asked
            && !hint.is_empty()
            && world.user(id).is_some_and(|u| u.user_type == UserType::Member && u.owns_address(&hint))
    }) {
        return after_account(&ctx, &mut world, &tenant, &query, &req, &home_id, false);
    }
    let mut accounts: Vec<pages::AccountChoice> = world
        .users
        .iter()
        .filter(|u| u.user_type == UserType::Member)
        .map(|u| pages::AccountChoice {
            id: u.id.clone(),
            name: u.name.clone(),
            upn: u.upn.clone(),
            org: if u.is_personal() {
                "Personal Microsoft account".to_owned()
            } else {
                world.tenant(&u.tenant_id).map(|t| t.name.clone()).unwrap_or_default()
            },
            hinted: !hint.is_empty() && u.owns_address(&hint),
        })
        .collect();
    accounts.sort_by_key(|a| !a.hinted);
    pages::account_picker(&action_url(&tenant), &query, &req.app_name, &accounts).into_response()
}

/// What the emulator's own pages post back.
#[derive(Debug, serde::Deserialize)]
pub(super) struct PageForm {
    q: String,
    step: String,
    account: String,
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: an account chosen, or consent given or refused.
pub(super) async fn post(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
    Form(form): Form<PageForm>,
) -> Response {
    let mut world = ctx.world();
    let req = match validate(&ctx, &world, &tenant, &form.q) {
        Ok(r) => r,
        Err(r) => return reject(r),
    };
    match form.step.as_str() {
        "select" => {
            let mut response = after_account(&ctx, &mut world, &tenant, &form.q, &req, &form.account, false);
            // Choosing an account signs it in, even when consent or the tenancy rules come next.
            let member = world.user(&form.account).is_some_and(|u| u.user_type == UserType::Member);
            if member && !response.headers().contains_key(header::SET_COOKIE) {
                add_session(&mut world, &mut response, &form.account);
            }
            response
        }
        "cancel" => error_redirect(&req, &entra_fields("access_denied", 65004, &[])),
        "accept" => {
            let Some(user) = world.user(&form.account).cloned() else {
                return error_redirect(&req, &no_such_account(&world, &req, &form.account));
            };
            let (mut granted, missing) = consent_state(&world, &req, &user.id);
            if !user.admin && missing.iter().any(|p| needs_admin(p)) {
                return error_redirect(&req, &entra_fields("", 90094, &[]));
            }
            granted.extend(missing);
            world.consents.insert((req.client_id.clone(), user.id.clone()), granted.clone());
            let home_id = world.home_of(&user).id.clone();
            // The account was checked when it was selected; check again, the form is untrusted.
            let tid = match principal(&world, &req, &world.home_of(&user).clone()) {
                Ok((u, t)) if u.id == user.id => t,
                Ok(_) => return error_redirect(&req, &no_such_account(&world, &req, &user.upn)),
                Err(d) => return error_redirect(&req, &d.fields("access_denied", 50020)),
            };
            issue_code(&ctx, &mut world, &req, &user.id, &tid, &home_id, granted)
        }
        _ => pages::error_page(400, "Unknown step."),
    }
}
