//! The OpenID configuration document, the signing keys, and sign-out.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use graphgate_core::CONSUMERS_TENANT_ID;
use serde_json::json;

use super::{Authority, pages};
use crate::{Ctx, errors};

fn issuer_for(ctx: &Ctx, authority: &Authority) -> String {
    match authority {
        Authority::Tenant(id) => format!("{}/{id}/v2.0", ctx.base),
        Authority::Consumers => format!("{}/{CONSUMERS_TENANT_ID}/v2.0", ctx.base),
        Authority::Common | Authority::Organizations => format!("{}/{{tenantid}}/v2.0", ctx.base),
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(super) async fn openid_configuration(State(ctx): State<Arc<Ctx>>, Path(tenant): Path<String>) -> Response {
    let Some(authority) = Authority::resolve(&ctx.world(), &tenant) else {
        return errors::entra_error(400, "invalid_tenant", 90002, &[("tenant", &tenant)]);
    };
    let seg = tenant.to_ascii_lowercase();
    let b = &ctx.base;
    let host = b.split("://").nth(1).unwrap_or(b);
    Json(json!({
        "issuer": issuer_for(&ctx, &authority),
        "authorization_endpoint": format!("{b}/{seg}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{b}/{seg}/oauth2/v2.0/token"),
        "end_session_endpoint": format!("{b}/{seg}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{b}/{seg}/discovery/v2.0/keys"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "nonce", "name", "preferred_username", "email", "oid", "tid", "ver", "idp"],
        "request_uri_parameter_supported": false,
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "tenant_region_scope": null,
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
    }))
    .into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(super) async fn keys(State(ctx): State<Arc<Ctx>>, Path(tenant): Path<String>) -> Response {
    let Some(authority) = Authority::resolve(&ctx.world(), &tenant) else {
        return errors::entra_error(400, "invalid_tenant", 90002, &[("tenant", &tenant)]);
    };
    ([(header::CACHE_CONTROL, "max-age=86400")], Json(ctx.keys.jwks(&issuer_for(&ctx, &authority)))).into_response()
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout`: ends the emulator's sign-in session and returns to
/// `post_logout_redirect_uri` when it is registered for some application.
pub(super) async fn logout(
    State(ctx): State<Arc<Ctx>>,
    Query(q): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let mut world = ctx.world();
    if let Some(cookie) = pages::session_cookie(&headers) {
        world.sessions.remove(&cookie);
    }
    let target =
        q.get("post_logout_redirect_uri").filter(|uri| world.apps.iter().any(|a| a.redirect(uri).is_some())).cloned();
    drop(world);
    let clear = (header::SET_COOKIE, format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax", pages::SESSION_COOKIE));
    match target {
        Some(uri) => ([clear], Redirect::to(&uri)).into_response(),
        None => (
            [clear],
            pages::message_page("Signed out", "You have signed out of graphgate-emulator. You can close this window."),
        )
            .into_response(),
    }
}
