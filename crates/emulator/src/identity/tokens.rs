//! Minting tokens: access tokens for Graph, ID tokens, refresh tokens and the token answer.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::sha2::{Digest, Sha256};
use serde_json::{Value, json};

use super::scopes::{OIDC, answer_scope};
use crate::Ctx;
use crate::ids::{guid, opaque};
use crate::state::{RefreshGrant, User, UserType, World};

/// Access-token lifetime, seconds.
pub(crate) const ACCESS_TOKEN_SECS: u64 = 3599;
/// The Graph audience put in access tokens.
pub(crate) const GRAPH_AUDIENCE: &str = "https://graph.microsoft.com";
/// Microsoft Graph's application ID, by which Entra's texts name the resource.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The pairwise `sub` of a user object for an application.
fn pairwise_sub(user_id: &str, client_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{user_id}|{client_id}").as_bytes()))
}

/// What a user token is issued for.
pub(crate) struct UserGrant<'a> {
    /// The application.
    pub client_id: &'a str,
    /// The user object in the issuing tenant.
    pub user: &'a User,
    /// The issuing tenant.
    pub tid: &'a str,
    /// The Graph permissions the access token carries.
    pub graph: &'a BTreeSet<String>,
    /// The OIDC scopes asked for.
    pub oidc: &'a [String],
    /// The nonce of the authorize request, for the ID token.
    pub nonce: Option<&'a str>,
    /// Whether the client asked for `client_info`.
    pub client_info: bool,
    /// The client capabilities declared (`xms_cc`, such as `cp1`).
    pub capabilities: &'a [String],
    /// The claims challenges (IDs) the token satisfies (see `challenges.rs`).
    pub satisfied: &'a BTreeSet<String>,
    /// When the grant began (the sign-in), which refreshing keeps.
    pub issued_at: u64,
    /// The fixed end of a single-page app's grant (see [`RefreshGrant::spa_expires_at`]).
    pub spa_expires_at: Option<u64>,
}

/// The token answer for a user: access token, and ID token / refresh token when `openid` /
/// `offline_access` were asked for. The refresh token is recorded in `world`.
pub(crate) fn user_answer(ctx: &Ctx, world: &mut World, g: &UserGrant<'_>) -> Value {
    let now = ctx.now();
    let home = world.home_of(g.user).clone();
    let scp: Vec<&str> = g.graph.iter().map(String::as_str).collect();
    let issuer = format!("{}/{}/v2.0", ctx.base, g.tid);
    let mut access = json!({
        "aud": GRAPH_AUDIENCE, "iss": issuer, "iat": now, "nbf": now, "exp": now + ACCESS_TOKEN_SECS,
        "tid": g.tid, "oid": g.user.id, "sub": pairwise_sub(&g.user.id, GRAPH_AUDIENCE), "idtyp": "user",
        "scp": scp.join(" "), "appid": g.client_id, "azp": g.client_id, "name": g.user.name,
        "preferred_username": g.user.mail.clone().unwrap_or_else(|| g.user.upn.clone()), "upn": g.user.upn,
        "uti": guid(), "ver": "2.0",
    });
    if !g.capabilities.is_empty() {
        // Entra's optional claim: the client can handle claims challenges.
        access["xms_cc"] = json!(g.capabilities);
    }
    if !g.satisfied.is_empty() {
        access[crate::challenges::SATISFIED_CLAIM] = json!(g.satisfied);
    }
    let access = ctx.keys.sign(&access);
    // The OIDC scopes as this request asked for them, not as consent recorded them.
    let permissions = g.graph.iter().filter(|p| !OIDC.iter().any(|o| o.eq_ignore_ascii_case(p)));
    let asked = permissions.chain(g.oidc.iter()).map(String::as_str);
    let mut answer = json!({
        "token_type": "Bearer",
        "scope": answer_scope(&ctx.base, asked, g.graph),
        "expires_in": ACCESS_TOKEN_SECS,
        "ext_expires_in": ACCESS_TOKEN_SECS,
        "access_token": access,
    });
    if g.oidc.iter().any(|o| o == "openid") {
        let mut claims = json!({
            "iss": issuer, "aud": g.client_id, "iat": now, "nbf": now, "exp": now + 3600,
            "sub": pairwise_sub(&g.user.id, g.client_id), "oid": g.user.id, "tid": g.tid,
            "name": g.user.name, "preferred_username": g.user.mail.clone().unwrap_or_else(|| g.user.upn.clone()),
            "ver": "2.0", "uti": guid(),
        });
        if let Some(mail) = &g.user.mail {
            claims["email"] = json!(mail);
        }
        if let Some(nonce) = g.nonce {
            claims["nonce"] = json!(nonce);
        }
        if g.user.user_type == UserType::Guest {
            claims["idp"] = json!(world.idp_of(&home));
        }
        answer["id_token"] = json!(ctx.keys.sign(&claims));
    }
    if g.oidc.iter().any(|o| o == "offline_access") {
        let rt = opaque("emr.");
        let epoch = world.revocations.get(&g.user.id).copied().unwrap_or(0);
        world.refresh_tokens.insert(
            rt.clone(),
            RefreshGrant {
                client_id: g.client_id.to_owned(),
                user_id: g.user.id.clone(),
                tid: g.tid.to_owned(),
                oidc: g.oidc.to_vec(),
                last_used: now,
                epoch,
                satisfied: g.satisfied.clone(),
                issued_at: g.issued_at,
                spa_expires_at: g.spa_expires_at,
            },
        );
        answer["refresh_token"] = json!(rt);
    }
    if g.client_info {
        let info = json!({"uid": home.id, "utid": home.tenant_id});
        answer["client_info"] = json!(URL_SAFE_NO_PAD.encode(info.to_string()));
    }
    answer
}

/// The token answer for an application (client credentials) in tenant `tid`.
pub(crate) fn app_answer(ctx: &Ctx, client_id: &str, tid: &str, roles: &[String]) -> Value {
    let now = ctx.now();
    let sp = URL_SAFE_NO_PAD.encode(&Sha256::digest(format!("{tid}|{client_id}").as_bytes())[..12]);
    let mut claims = json!({
        "aud": GRAPH_AUDIENCE, "iss": format!("{}/{tid}/v2.0", ctx.base), "iat": now, "nbf": now, "exp": now + ACCESS_TOKEN_SECS,
        "tid": tid, "oid": sp, "sub": sp, "idtyp": "app", "appid": client_id, "azp": client_id, "uti": guid(), "ver": "2.0",
    });
    if !roles.is_empty() {
        claims["roles"] = json!(roles);
    }
    json!({
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_SECS,
        "ext_expires_in": ACCESS_TOKEN_SECS,
        "access_token": ctx.keys.sign(&claims),
    })
}
