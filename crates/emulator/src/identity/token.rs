//! `/{tenant}/oauth2/v2.0/token`: client authentication (secret in the body or Basic, or a
//! certificate assertion), and the authorization_code, refresh_token and client_credentials grants,
//! with the `claims` parameter of delegated grants (capabilities and claims challenges, see
//! `challenges.rs`).
//!
//! Single-page apps are public clients: a code redeemed through a `spa` redirect URI from the
//! browser (with `Origin`, no secret) gives a refresh token the page redeems the same way, for
//! Entra's fixed 24 hours from the sign-in (AADSTS700084 after them; rotation keeps the end).
//! Every error carries one text, the catalogue's, with the request's detail in its placeholders.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use graphgate_core::{JWT_BEARER_ASSERTION_TYPE, percent_decode_param};
use serde_json::Value;

use super::Authority;
use super::scopes::ScopeRequest;
use super::tokens::{GRAPH_APP_ID, UserGrant, app_answer, user_answer};
use crate::errors::{entra_body, entra_error};
use crate::jwt::verify_with;
use crate::state::{App, World};
use crate::{Ctx, challenges};

/// Authorization codes live ten minutes.
const CODE_LIFETIME_SECS: u64 = 600;
/// Refresh tokens lapse after 90 days unused.
const REFRESH_INACTIVITY_SECS: u64 = 90 * 24 * 3600;
/// A single-page app's grant ends 24 hours after the sign-in, however it is used.
pub(crate) const SPA_REFRESH_LIFETIME_SECS: u64 = 24 * 3600;

type Answer = Result<Value, Response>;

/// An error answer: AADSTS `code`'s text with `args` in its placeholders.
fn fail(status: u16, error: &str, code: u32, args: &[(&str, &str)]) -> Response {
    entra_error(status, error, code, args)
}

/// Entra's way of writing a span of time in its texts (.NET's `TimeSpan`): `1.00:00:00`.
fn timespan(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    format!("{d}.{h:02}:{m:02}:{s:02}")
}

/// Entra's way of writing an instant in its texts: `2022-03-18T11:17:54.0000000Z`.
fn instant(unix: u64) -> String {
    crate::ids::iso8601(unix).replace('Z', ".0000000Z")
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(super) async fn post(
    State(ctx): State<Arc<Ctx>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let mut form: HashMap<String, String> = HashMap::new();
    if is_form {
        for part in String::from_utf8_lossy(&body).split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if let (Some(k), Some(v)) = (percent_decode_param(k), percent_decode_param(v)) {
                form.insert(k, v);
            }
        }
    }
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    if !grant.is_empty() {
        ctx.faults.count(format!("token:{grant}"));
    }
    match token(&ctx, &tenant, &headers, &form, &grant) {
        Ok(answer) => {
            ([(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], Json(answer)).into_response()
        }
        Err(response) => response,
    }
}

fn token(ctx: &Ctx, tenant: &str, headers: &HeaderMap, form: &HashMap<String, String>, grant: &str) -> Answer {
    if grant.is_empty() {
        return Err(fail(400, "invalid_request", 900144, &[("parameter", "grant_type")]));
    }
    if !["authorization_code", "refresh_token", "client_credentials"].contains(&grant) {
        return Err(fail(400, "unsupported_grant_type", 70003, &[("grant_type", grant)]));
    }
    let mut world = ctx.world();
    let authority =
        Authority::resolve(&world, tenant).ok_or_else(|| fail(400, "invalid_request", 90002, &[("tenant", tenant)]))?;
    let basic = basic_credentials(headers);
    let client_id =
        form.get("client_id").cloned().or_else(|| basic.as_ref().map(|(id, _)| id.clone())).unwrap_or_default();
    if client_id.is_empty() {
        return Err(fail(400, "invalid_request", 900144, &[("parameter", "client_id")]));
    }
    let app = world
        .app(&client_id)
        .cloned()
        .ok_or_else(|| fail(400, "unauthorized_client", 700016, &[("client_id", &client_id), ("tenant", tenant)]))?;
    let origin = headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("").to_owned());
    let token_url = format!("{}/{tenant}/oauth2/v2.0/token", ctx.base);
    let authenticated =
        authenticate(ctx, &mut world, &app, form, basic.as_ref().map(|(_, s)| s.as_str()), &token_url, tenant)?;
    match grant {
        "authorization_code" => code_grant(ctx, &mut world, &app, form, origin.as_deref(), authenticated, &authority),
        "refresh_token" => refresh_grant(ctx, &mut world, &app, form, origin.as_deref(), authenticated),
        _ => {
            if let Some(origin) = &origin {
                return Err(cross_origin_refused(origin));
            }
            client_credentials(ctx, &world, &app, form, authenticated, &authority)
        }
    }
}

/// `Authorization: Basic base64(urlenc(id):urlenc(secret))`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode_param(id)?, percent_decode_param(secret)?))
}

/// Checks the client credential, if one was sent. `Ok(true)` when the client proved itself,
/// `Ok(false)` when it sent none.
fn authenticate(
    ctx: &Ctx,
    world: &mut World,
    app: &App,
    form: &HashMap<String, String>,
    basic_secret: Option<&str>,
    token_url: &str,
    tenant: &str,
) -> Result<bool, Response> {
    let now = ctx.now();
    let secret = form.get("client_secret").map(String::as_str).or(basic_secret);
    if let Some(secret) = secret {
        let Some(found) = app
            .seed
            .secrets
            .iter()
            .find(|s| graphgate_core::secret::constant_time_eq(s.value.as_bytes(), secret.as_bytes()))
        else {
            // Entra's text says it: the value, not the secret's ID (the usual mistake).
            return Err(fail(401, "invalid_client", 7000215, &[("client_id", &app.seed.client_id)]));
        };
        if found.expires_at <= now {
            return Err(fail(401, "invalid_client", 7000222, &[("client_id", &app.seed.client_id)]));
        }
        // Which secret authenticated, by its ID (never its value): tests of a rotation read it.
        ctx.faults.count(format!("secret:{}", found.id));
        return Ok(true);
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER_ASSERTION_TYPE) {
            return Err(fail(400, "invalid_request", 9002313, &[]));
        }
        return check_assertion(ctx, world, app, assertion, token_url, tenant, now).map(|()| true);
    }
    Ok(false)
}

fn check_assertion(
    ctx: &Ctx,
    world: &mut World,
    app: &App,
    jws: &str,
    token_url: &str,
    tenant: &str,
    now: u64,
) -> Result<(), Response> {
    let bad = |why: &str| fail(401, "invalid_client", 700027, &[("reason", why)]);
    let mut parts = jws.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad("Client assertion is not a compact JWS."));
    };
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let (Some(header), Some(claims), Ok(sig)) = (decode(h), decode(c), URL_SAFE_NO_PAD.decode(s)) else {
        return Err(bad("Client assertion could not be decoded."));
    };
    let alg = header["alg"].as_str().unwrap_or("");
    let cert = match alg {
        "PS256" => app.certificates.iter().find(|k| Some(k.s256.as_str()) == header["x5t#S256"].as_str()),
        "RS256" => app.certificates.iter().find(|k| {
            Some(k.sha1.as_str()) == header["x5t"].as_str() || Some(k.s256.as_str()) == header["x5t#S256"].as_str()
        }),
        _ => return Err(bad("The signing algorithm is not PS256 or RS256.")),
    };
    let Some(cert) = cert else {
        return Err(bad("The key was not found."));
    };
    if !verify_with(&cert.key, alg, format!("{h}.{c}").as_bytes(), &sig) {
        return Err(bad("The provided signature value did not match the expected signature value."));
    }
    let client_id = &app.seed.client_id;
    let text = |k: &str| claims[k].as_str().unwrap_or("").to_owned();
    let aud_ok = {
        let aud = text("aud").to_ascii_lowercase();
        let tid = world.tenant(tenant).map(|t| t.id.clone());
        aud == token_url.to_ascii_lowercase()
            || tid.is_some_and(|t| aud == format!("{}/{t}/oauth2/v2.0/token", ctx.base).to_ascii_lowercase())
    };
    if !aud_ok {
        return Err(bad("The audience claim is not the token endpoint."));
    }
    if !text("iss").eq_ignore_ascii_case(client_id) || !text("sub").eq_ignore_ascii_case(client_id) {
        return Err(bad("The issuer and subject claims are not the client ID."));
    }
    let (nbf, exp) = (claims["nbf"].as_u64().unwrap_or(0), claims["exp"].as_u64().unwrap_or(0));
    if exp <= now || nbf > now + 300 {
        return Err(bad("The assertion is expired or not yet valid."));
    }
    let jti = text("jti");
    if jti.is_empty() || !world.used_jtis.insert(format!("{client_id}|{jti}")) {
        return Err(bad("The jti claim is missing or was already used."));
    }
    Ok(())
}

/// A parameter the grant cannot do without (AADSTS900144 when missing).
fn required(form: &HashMap<String, String>, name: &str) -> Result<String, Response> {
    match form.get(name).filter(|v| !v.is_empty()) {
        Some(v) => Ok(v.clone()),
        None => Err(fail(400, "invalid_request", 900144, &[("parameter", name)])),
    }
}

fn requires_credential(authenticated: bool) -> Result<(), Response> {
    if authenticated { Ok(()) } else { Err(fail(401, "invalid_client", 7000218, &[])) }
}

/// AADSTS9002326: a browser (`Origin`) redeeming what only a server may redeem.
fn cross_origin_refused(origin: &str) -> Response {
    fail(400, "invalid_request", 9002326, &[("origin", origin)])
}

/// AADSTS9002327: what a single-page app was given, redeemed without `Origin`.
fn spa_only_cross_origin() -> Response {
    fail(400, "invalid_request", 9002327, &[])
}

/// AADSTS50034 for a user object that is gone.
fn account_gone(user_id: &str, tid: &str) -> Response {
    fail(400, "invalid_grant", 50034, &[("account", user_id), ("tenant", tid)])
}

fn code_grant(
    ctx: &Ctx,
    world: &mut World,
    app: &App,
    form: &HashMap<String, String>,
    origin: Option<&str>,
    authenticated: bool,
    authority: &Authority,
) -> Answer {
    let code = required(form, "code")?;
    let invalid_code = || fail(400, "invalid_grant", 70000, &[("parameter", "code")]);
    let Some(grant) = world.codes.get(&code).cloned() else {
        return Err(invalid_code());
    };
    if grant.client_id != app.seed.client_id {
        return Err(invalid_code());
    }
    if grant.redeemed {
        return Err(fail(400, "invalid_grant", 54005, &[]));
    }
    if ctx.now() > grant.issued_at + CODE_LIFETIME_SECS {
        return Err(fail(400, "invalid_grant", 70008, &[]));
    }
    let redirect = form.get("redirect_uri").cloned().unwrap_or_default();
    if redirect != grant.redirect_uri {
        return Err(fail(
            400,
            "invalid_grant",
            50011,
            &[("redirect_uri", &redirect), ("client_id", &app.seed.client_id)],
        ));
    }
    if let Authority::Tenant(t) = authority {
        if *t != grant.tid {
            return Err(fail(400, "invalid_grant", 700005, &[]));
        }
    }
    let spa = app.is_spa(&grant.redirect_uri);
    if spa {
        if origin.is_none() {
            return Err(spa_only_cross_origin());
        }
    } else {
        if let Some(origin) = origin {
            return Err(cross_origin_refused(origin));
        }
        requires_credential(authenticated)?;
    }
    if let Some((challenge, method)) = &grant.challenge {
        let Some(verifier) = form.get("code_verifier") else {
            return Err(fail(400, "invalid_grant", 501481, &[]));
        };
        let computed = if method == "S256" {
            graphgate_core::PkceChallenge::s256(&graphgate_core::PkceVerifier::new(verifier.clone()))
                .as_str()
                .to_owned()
        } else {
            verifier.clone()
        };
        if !graphgate_core::secret::constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
            return Err(fail(400, "invalid_grant", 501481, &[]));
        }
    }
    if let Some(g) = world.codes.get_mut(&code) {
        g.redeemed = true;
    }
    let Some(user) = world.user(&grant.user_id).cloned() else {
        return Err(account_gone(&grant.user_id, &grant.tid));
    };
    let graph = narrow(ctx, app, form, &grant.scopes)?;
    let requested = claims_param(form)?;
    // Capabilities count from the authorize request or the redemption, either may carry them.
    let mut capabilities = grant.capabilities.clone();
    for c in challenges::capabilities(requested.as_ref()) {
        if !capabilities.iter().any(|have| have.eq_ignore_ascii_case(&c)) {
            capabilities.push(c);
        }
    }
    let mut satisfied = grant.satisfied.clone();
    satisfied.extend(challenges::answered(world, &user.id, requested.as_ref(), false));
    Ok(user_answer(
        ctx,
        world,
        &UserGrant {
            client_id: &app.seed.client_id,
            user: &user,
            tid: &grant.tid,
            graph: &graph,
            oidc: &grant.requested,
            nonce: grant.nonce.as_deref(),
            client_info: form.get("client_info").map(String::as_str) == Some("1"),
            capabilities: &capabilities,
            satisfied: &satisfied,
            issued_at: grant.issued_at,
            spa_expires_at: spa.then_some(grant.issued_at + SPA_REFRESH_LIFETIME_SECS),
        },
    ))
}

/// The request's `claims` (a JSON object), if any; AADSTS9002313 when it is not one.
fn claims_param(form: &HashMap<String, String>) -> Result<Option<Value>, Response> {
    challenges::parse_param(form.get("claims").map(String::as_str))
        .map_err(|_| fail(400, "invalid_request", 9002313, &[]))
}

/// Entra's answer to a refresh whose claims only the user can satisfy (a challenge asking for
/// MFA): `interaction_required` with AADSTS50076, `suberror=basic_action` and the `claims` the
/// next `/authorize` must carry (the fields as the protocol reference lists them for Entra and
/// MSAL reads them).
fn interaction_required(claims: &Value) -> Response {
    let mut body = entra_body("interaction_required", 50076, &[("resource", GRAPH_APP_ID)]);
    body["suberror"] = Value::from("basic_action");
    body["claims"] = Value::from(claims.to_string());
    (axum::http::StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// The Graph permissions a token carries: those asked for in `scope` (which must all be granted),
/// or everything granted when `scope` names none.
fn narrow(
    ctx: &Ctx,
    app: &App,
    form: &HashMap<String, String>,
    granted: &BTreeSet<String>,
) -> Result<BTreeSet<String>, Response> {
    let asked = ScopeRequest::parse(&ctx.base, form.get("scope").map(String::as_str).unwrap_or(""))
        .map_err(|scope| fail(400, "invalid_scope", 70011, &[("scope", &scope)]))?;
    if asked.graph.is_empty() {
        return Ok(granted.clone());
    }
    if asked.graph.iter().any(|p| !granted.contains(p)) {
        let args = [("client_id", app.seed.client_id.as_str()), ("app", app.seed.name.as_str())];
        let mut body = entra_body("invalid_grant", 65001, &args);
        body["suberror"] = Value::from("consent_required");
        return Err((axum::http::StatusCode::BAD_REQUEST, Json(body)).into_response());
    }
    Ok(granted.clone())
}

fn refresh_grant(
    ctx: &Ctx,
    world: &mut World,
    app: &App,
    form: &HashMap<String, String>,
    origin: Option<&str>,
    authenticated: bool,
) -> Answer {
    let rt = required(form, "refresh_token")?;
    let invalid_token = || fail(400, "invalid_grant", 70000, &[("parameter", "refresh_token")]);
    let Some(grant) = world.refresh_tokens.get(&rt).cloned() else {
        return Err(invalid_token());
    };
    if grant.client_id != app.seed.client_id {
        return Err(invalid_token());
    }
    // A single-page app's grant is redeemed from the page, as its code was: no secret, with
    // Origin. Any other grant belongs to a confidential client, never to a browser.
    match (grant.spa_expires_at, origin) {
        (Some(_), None) => return Err(spa_only_cross_origin()),
        (None, Some(origin)) => return Err(cross_origin_refused(origin)),
        (Some(_), Some(_)) => {}
        (None, None) => requires_credential(authenticated)?,
    }
    let now = ctx.now();
    let Some(user) = world.user(&grant.user_id).cloned() else {
        return Err(account_gone(&grant.user_id, &grant.tid));
    };
    if grant.epoch < world.revocations.get(&user.id).copied().unwrap_or(0) {
        return Err(fail(400, "invalid_grant", 50173, &[]));
    }
    if let Some(end) = grant.spa_expires_at.filter(|end| now >= *end) {
        let (lifetime, issued) = (timespan(end.saturating_sub(grant.issued_at)), instant(grant.issued_at));
        return Err(fail(400, "invalid_grant", 700084, &[("lifetime", &lifetime), ("issued", &issued)]));
    }
    if now > grant.last_used + REFRESH_INACTIVITY_SECS {
        let (issued, inactive) = (instant(grant.issued_at), timespan(now - grant.last_used));
        return Err(fail(400, "invalid_grant", 700082, &[("issued", &issued), ("inactive", &inactive)]));
    }
    let requested = claims_param(form)?;
    let mut satisfied = grant.satisfied.clone();
    if let Some(challenge) = challenges::needs_interaction(world, &user.id, requested.as_ref(), &satisfied) {
        return Err(interaction_required(&challenge.claims));
    }
    satisfied.extend(challenges::answered(world, &user.id, requested.as_ref(), false));
    let capabilities = challenges::capabilities(requested.as_ref());
    if let Some(g) = world.refresh_tokens.get_mut(&rt) {
        g.last_used = now;
    }
    let granted = world.consents.get(&(app.seed.client_id.clone(), user.id.clone())).cloned().unwrap_or_default();
    let graph = narrow(ctx, app, form, &granted)?;
    let asked = ScopeRequest::parse(&ctx.base, form.get("scope").map(String::as_str).unwrap_or("")).unwrap_or_default();
    let mut oidc = grant.oidc.clone();
    oidc.retain(|o| o == "offline_access" || asked.oidc.is_empty() || asked.has(o));
    if !oidc.iter().any(|o| o == "offline_access") {
        oidc.push("offline_access".to_owned());
    }
    Ok(user_answer(
        ctx,
        world,
        &UserGrant {
            client_id: &app.seed.client_id,
            user: &user,
            tid: &grant.tid,
            graph: &graph,
            oidc: &oidc,
            nonce: None,
            client_info: form.get("client_info").map(String::as_str) == Some("1"),
            capabilities: &capabilities,
            satisfied: &satisfied,
            issued_at: grant.issued_at,
            spa_expires_at: grant.spa_expires_at,
        },
    ))
}

fn client_credentials(
    ctx: &Ctx,
    world: &World,
    app: &App,
    form: &HashMap<String, String>,
    authenticated: bool,
    authority: &Authority,
) -> Answer {
    requires_credential(authenticated)?;
    let Authority::Tenant(tid) = authority else {
        return Err(fail(400, "invalid_request", 9001023, &[]));
    };
    let scope = form.get("scope").cloned().unwrap_or_default();
    let valid = [
        format!("{}/.default", ctx.base),
        "https://graph.microsoft.com/.default".to_owned(),
        "00000003-0000-0000-c000-000000000000/.default".to_owned(),
    ];
    if !valid.iter().any(|v| v.eq_ignore_ascii_case(scope.trim())) {
        return Err(fail(400, "invalid_scope", 70011, &[("scope", scope.trim())]));
    }
    if *tid != app.seed.home_tenant
        && !app.roles.contains_key(tid)
        && world.tenant(tid).is_some()
        && app.seed.audience == crate::seed::Audience::SingleTenant
    {
        return Err(fail(400, "unauthorized_client", 700016, &[("client_id", &app.seed.client_id), ("tenant", tid)]));
    }
    let roles = app.roles.get(tid).cloned().unwrap_or_default();
    Ok(app_answer(ctx, &app.seed.client_id, tid, &roles))
}
