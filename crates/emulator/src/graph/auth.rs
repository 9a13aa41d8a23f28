//! Bearer tokens on Graph calls: signature, lifetime and audience checks, claims challenges for
//! `cp1` tokens (`challenges.rs`), and who the caller is (a signed-in user with delegated scopes,
//! or an application with roles).

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::Response;
use serde_json::Value;

use super::ME_NEEDS_DELEGATED;
use crate::Ctx;
use crate::errors::graph_error;

/// Audiences Graph accepts besides the emulator's own base URL.
const GRAPH_AUDIENCES: [&str; 2] = ["https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"];

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The tenant that issued the token (lower-case).
    pub(crate) tid: String,
    /// Delegated or app-only.
    pub(crate) kind: CallerKind,
}

/// A delegated (user) or app-only caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerKind {
    /// A signed-in user.
    Delegated {
        /// The user object in tenant `tid` (for a guest, the guest object).
        user_id: String,
        /// The `scp` claim's permissions.
        scopes: Vec<String>,
    },
    /// An application acting as itself.
    App {
        /// The application's client ID.
        client_id: String,
        /// The `roles` claim.
        roles: Vec<String>,
    },
}

impl Caller {
    /// Whether the caller is a user holding one of these delegated permissions (without regard to case).
    pub(crate) fn has_scope(&self, any_of: &[&str]) -> bool {
        match &self.kind {
            CallerKind::Delegated { scopes, .. } => {
                scopes.iter().any(|s| any_of.iter().any(|a| a.eq_ignore_ascii_case(s)))
            }
            CallerKind::App { .. } => false,
        }
    }

    /// Whether the caller is an application holding one of these roles (without regard to case).
    pub(crate) fn has_role(&self, any_of: &[&str]) -> bool {
        match &self.kind {
            CallerKind::App { roles, .. } => roles.iter().any(|r| any_of.iter().any(|a| a.eq_ignore_ascii_case(r))),
            CallerKind::Delegated { .. } => false,
        }
    }

    /// Whether the caller holds one of `scopes` (delegated) or one of `roles` (app-only).
    pub(crate) fn allowed(&self, scopes: &[&str], roles: &[&str]) -> bool {
        self.has_scope(scopes) || self.has_role(roles)
    }

    /// The signed-in user's object ID, or `None` for an application.
    pub(crate) fn user_id(&self) -> Option<&str> {
        match &self.kind {
            CallerKind::Delegated { user_id, .. } => Some(user_id),
            CallerKind::App { .. } => None,
        }
    }

    /// The signed-in user's object ID, or the 400 `BadRequest` Graph gives app-only tokens on `/me`.
    pub(crate) fn me(&self) -> Result<&str, Response> {
        self.user_id().ok_or_else(|| graph_error(400, "BadRequest", Some(ME_NEEDS_DELEGATED)))
    }
}

fn unauthorized(why: &str) -> Response {
    graph_error(401, "InvalidAuthenticationToken", Some(why))
}

/// The caller of a Graph request, from its `Authorization: Bearer` token; 401
/// `InvalidAuthenticationToken` saying what is wrong (never repeating the token) otherwise.
pub(crate) fn caller(ctx: &Ctx, headers: &HeaderMap) -> Result<Caller, Response> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(unauthorized("Access token is empty."));
    };
    let text = value.to_str().unwrap_or("").trim();
    let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorized("The Authorization header must use the Bearer scheme."));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    if token.split('.').count() != 3 {
        return Err(unauthorized(
            "Invalid JWT token. The token is not in JWS compact format (header.payload.signature).",
        ));
    }
    let Some(claims) = ctx.keys.verify(token) else {
        return Err(unauthorized(
            "Access token validation failure. The token is malformed or its signature does not match any signing key.",
        ));
    };
    let now = ctx.now();
    let Some(exp) = claims.get("exp").and_then(Value::as_u64) else {
        return Err(unauthorized("Access token validation failure. The token has no exp claim."));
    };
    if now >= exp {
        return Err(unauthorized("Lifetime validation failed, the token is expired."));
    }
    if claims.get("nbf").and_then(Value::as_u64).is_some_and(|nbf| now < nbf) {
        return Err(unauthorized("Lifetime validation failed, the token is not yet valid (nbf)."));
    }
    let audience_ok = |a: &str| {
        let a = a.trim_end_matches('/');
        GRAPH_AUDIENCES.iter().any(|g| a.eq_ignore_ascii_case(g))
            || a.eq_ignore_ascii_case(ctx.base.trim_end_matches('/'))
    };
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audience_ok(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(audience_ok),
        _ => false,
    };
    if !aud_ok {
        return Err(unauthorized("Access token validation failure. Invalid audience."));
    }
    let claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let Some(tid) = claim("tid") else {
        return Err(unauthorized("Access token validation failure. The token has no tid claim."));
    };
    let tid = tid.to_ascii_lowercase();
    let scp = claim("scp");
    let delegated = match claim("idtyp") {
        Some(t) if t.eq_ignore_ascii_case("user") => true,
        Some(t) if t.eq_ignore_ascii_case("app") => false,
        _ => scp.is_some(),
    };
    let kind = if delegated {
        let Some(oid) = claim("oid") else {
            return Err(unauthorized("Access token validation failure. The token has no oid claim."));
        };
        let scopes = scp
            .unwrap_or("")
            .split_whitespace()
            .map(|s| s.strip_prefix("https://graph.microsoft.com/").unwrap_or(s).to_owned())
            .collect();
        CallerKind::Delegated { user_id: oid.to_ascii_lowercase(), scopes }
    } else {
        let client_id = claim("appid").or_else(|| claim("azp")).unwrap_or("").to_ascii_lowercase();
        let roles = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        CallerKind::App { client_id, roles }
    };
    if let CallerKind::Delegated { user_id, .. } = &kind {
        if let Some(challenge) = crate::challenges::graph_check(ctx, &ctx.world(), user_id, &claims) {
            return Err(challenge);
        }
    }
    Ok(Caller { tid, kind })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{app_token, ctx, graph, send, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().expect("header"));
        h
    }

    async fn message_of(response: Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn reads_delegated_and_app_callers() {
        let ctx = ctx();
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "User.Read mail.send");
        let c = caller(&ctx, &headers(&format!("bearer {token}"))).expect("valid");
        assert_eq!(c.tid, CONTOSO);
        assert_eq!(c.user_id(), Some(adele.as_str()));
        assert!(c.has_scope(&["Mail.Send"]));
        assert!(!c.has_scope(&["Mail.Read"]));
        assert!(!c.has_role(&["Mail.Send"]));
        let app =
            caller(&ctx, &headers(&format!("Bearer {}", app_token(&ctx, CONTOSO, &["User.Read.All"])))).expect("valid");
        assert!(
            matches!(&app.kind, CallerKind::App { client_id, .. } if client_id == "6731de76-14a6-49ae-97bc-6eba6914391e")
        );
        assert!(app.allowed(&[], &["user.read.all"]));
        assert_eq!(app.me().expect_err("app").status().as_u16(), 400);
    }

    #[tokio::test]
    async fn refuses_bad_tokens_without_echoing_them() {
        let ctx = ctx();
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "User.Read");
        let missing = caller(&ctx, &HeaderMap::new()).expect_err("missing");
        let (status, body) = message_of(missing).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
        assert_eq!(body["error"]["message"], "Access token is empty.");
        let (_, body) = message_of(caller(&ctx, &headers(&format!("Basic {token}"))).expect_err("scheme")).await;
        assert!(body["error"]["message"].as_str().expect("text").contains("Bearer"));
        let (_, body) = message_of(caller(&ctx, &headers("Bearer not-a-jwt")).expect_err("malformed")).await;
        assert!(body["error"]["message"].as_str().expect("text").contains("JWS"));
        let (_, body) = message_of(caller(&ctx, &headers(&format!("Bearer {token}x"))).expect_err("signature")).await;
        let text = body["error"]["message"].as_str().expect("text");
        assert!(text.contains("signature") && !text.contains(&token[..20]));
        let future = ctx.keys.sign(&json!({"aud": "https://graph.microsoft.com", "tid": CONTOSO, "oid": adele, "idtyp": "user", "scp": "User.Read", "nbf": ctx.now() + 600, "exp": ctx.now() + 3600}));
        let (_, body) = message_of(caller(&ctx, &headers(&format!("Bearer {future}"))).expect_err("nbf")).await;
        assert!(body["error"]["message"].as_str().expect("text").contains("not yet valid"));
        let no_tid = ctx.keys.sign(&json!({"aud": "00000003-0000-0000-c000-000000000000", "oid": adele, "idtyp": "user", "scp": "User.Read", "exp": ctx.now() + 3600}));
        let (_, body) = message_of(caller(&ctx, &headers(&format!("Bearer {no_tid}"))).expect_err("tid")).await;
        assert!(body["error"]["message"].as_str().expect("text").contains("tid"));
    }

    #[tokio::test]
    async fn me_needs_a_valid_token() {
        let ctx = ctx();
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "User.Read");

        let (status, _, body) = send(&ctx, "GET", "/v1.0/me", &[], "").await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")));

        let mut tampered = token.clone();
        let at = tampered.find('.').expect("dot") + 3;
        let c = if &tampered[at..=at] == "A" { "B" } else { "A" };
        tampered.replace_range(at..=at, c);
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me", &tampered, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")));
        assert!(!body.to_string().contains(&tampered));

        let other_aud = ctx.keys.sign(&json!({
            "aud": "api://some-other-api", "tid": CONTOSO, "oid": adele, "idtyp": "user", "scp": "User.Read",
            "nbf": ctx.now(), "exp": ctx.now() + 3600,
        }));
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me", &other_aud, None).await;
        assert_eq!(status, 401);
        assert!(body["error"]["message"].as_str().expect("text").contains("audience"));

        let own_base = ctx.keys.sign(&json!({
            "aud": ctx.base, "tid": CONTOSO, "oid": adele, "idtyp": "user", "scp": "User.Read",
            "nbf": ctx.now(), "exp": ctx.now() + 3600,
        }));
        assert_eq!(graph(&ctx, "GET", "/v1.0/me", &own_base, None).await.0, 200);

        assert_eq!(graph(&ctx, "GET", "/v1.0/me", &token, None).await.0, 200);
        ctx.advance(7200).expect("a small step");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me", &token, None).await;
        assert_eq!(status, 401);
        assert!(body["error"]["message"].as_str().expect("text").contains("expired"));
    }
}
