//! Claims challenges (Continuous Access Evaluation and Conditional Access), as
//! https://learn.microsoft.com/entra/identity-platform/claims-challenge describes them:
//!
//! - A client declares the capability `cp1` with `claims={"access_token":{"xms_cc":{"values":["cp1"]}}}`
//!   on its authorize or token request; its access tokens then carry `xms_cc`.
//! - Graph sends claims challenges only to such tokens: 401 with `WWW-Authenticate: Bearer
//!   realm="", authorization_uri="…/common/oauth2/authorize", error="insufficient_claims",
//!   claims="<base64 JSON>"`. Tokens without `cp1` are not challenged.
//! - A token request (a refresh) whose `claims` contains the challenge's claims gets a token that
//!   satisfies it; when Entra needs the user (MFA), it answers `interaction_required` with the
//!   claims the next `/authorize` must carry, and that authorize satisfies it.
//!
//! The control API sets a challenge per user. Which challenges a token satisfies is the
//! emulator's own bookkeeping: the IDs go into the token's `emu_challenges` claim (Entra instead
//! re-evaluates its policies and issues a token with the claims asked for), and refresh tokens
//! remember them, as a grant obtained with MFA keeps its MFA claim.

use std::collections::BTreeSet;

use axum::http::HeaderValue;
use axum::http::header::WWW_AUTHENTICATE;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::errors::graph_error;
use crate::state::World;

/// The token claim listing the challenges (IDs) a token satisfies.
pub(crate) const SATISFIED_CLAIM: &str = "emu_challenges";
/// The capability that makes Graph send claims challenges.
const CP1: &str = "cp1";

/// A challenge Graph gives a user's `cp1` tokens.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClaimsChallenge {
    /// Identifies it in tokens and grants.
    pub id: String,
    /// The claims request Graph sends (base64 in the header) and a redemption must carry.
    pub claims: Value,
    /// Whether Entra needs the user to satisfy it (MFA): a refresh carrying the claims answers
    /// `interaction_required`, an interactive authorize carrying them succeeds.
    pub interaction: bool,
}

/// The claims Graph sends for a revocation event by default: Microsoft's CAE example, a fresh
/// `nbf` (a token issued after `now`).
pub(crate) fn default_claims(now: u64) -> Value {
    json!({"access_token": {"nbf": {"essential": true, "value": now.to_string()}}})
}

/// A request's `claims` parameter: `Ok(None)` when absent or empty, an error text when it is
/// not a JSON object.
pub(crate) fn parse_param(text: Option<&str>) -> Result<Option<Value>, &'static str> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        _ => Err("The claims parameter must be a JSON object."),
    }
}

/// The client capabilities a claims request declares (`access_token.xms_cc.values`).
pub(crate) fn capabilities(claims: Option<&Value>) -> Vec<String> {
    claims
        .and_then(|c| c.pointer("/access_token/xms_cc/values"))
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether `request` carries everything `wanted` asks for: every member of an object (at any
/// depth) present and equal, other members allowed.
pub(crate) fn contains(request: &Value, wanted: &Value) -> bool {
    match (request, wanted) {
        (Value::Object(have), Value::Object(want)) => {
            want.iter().all(|(k, w)| have.get(k).is_some_and(|h| contains(h, w)))
        }
        _ => request == wanted,
    }
}

/// The challenges (IDs) of `user_id` that `claims` answers; with `interactive` false, those
/// that need the user are left out.
pub(crate) fn answered(world: &World, user_id: &str, claims: Option<&Value>, interactive: bool) -> BTreeSet<String> {
    let (Some(claims), Some(challenge)) = (claims, world.claims_challenges.get(user_id)) else {
        return BTreeSet::new();
    };
    if (interactive || !challenge.interaction) && contains(claims, &challenge.claims) {
        BTreeSet::from([challenge.id.clone()])
    } else {
        BTreeSet::new()
    }
}

/// The challenge of `user_id` that `claims` asks to satisfy but only the user can, unless
/// `satisfied` already holds it: what a refresh must answer `interaction_required` for.
pub(crate) fn needs_interaction<'w>(
    world: &'w World,
    user_id: &str,
    claims: Option<&Value>,
    satisfied: &BTreeSet<String>,
) -> Option<&'w ClaimsChallenge> {
    let challenge = world.claims_challenges.get(user_id)?;
    (challenge.interaction && !satisfied.contains(&challenge.id) && contains(claims?, &challenge.claims))
        .then_some(challenge)
}

/// Graph's answer to a token its user's challenge applies to: `cp1` declared (`xms_cc`) and the
/// challenge not satisfied. `None` when the token may pass.
pub(crate) fn graph_check(ctx: &crate::Ctx, world: &World, user_id: &str, token: &Value) -> Option<Response> {
    let challenge = world.claims_challenges.get(user_id)?;
    let strings = |name: &str| -> Vec<String> {
        match token.get(name) {
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let capable = strings("xms_cc").iter().any(|c| c.eq_ignore_ascii_case(CP1));
    if !capable || strings(SATISFIED_CLAIM).contains(&challenge.id) {
        return None;
    }
    let mut response = graph_error(
        401,
        "InvalidAuthenticationToken",
        Some(
            "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp",
        ),
    );
    let header = format!(
        "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\", error=\"insufficient_claims\", claims=\"{}\"",
        ctx.base,
        STANDARD.encode(challenge.claims.to_string())
    );
    if let Ok(v) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_and_capabilities() {
        let challenge = default_claims(1_700_000_000);
        let merged: Value = serde_json::from_str(
            &graphgate_core::merge_client_capabilities(&challenge.to_string(), &["cp1"]).expect("merged"),
        )
        .expect("json");
        assert!(contains(&merged, &challenge));
        assert!(!contains(&challenge, &merged), "the cp1 declaration is not in the challenge");
        assert!(!contains(&default_claims(1), &challenge));
        assert_eq!(capabilities(Some(&merged)), ["cp1"]);
        assert!(capabilities(Some(&challenge)).is_empty() && capabilities(None).is_empty());
        assert_eq!(parse_param(None), Ok(None));
        assert_eq!(parse_param(Some(" ")), Ok(None));
        assert!(parse_param(Some("[1]")).is_err() && parse_param(Some("{")).is_err());
        assert_eq!(parse_param(Some("{}")), Ok(Some(json!({}))));
    }
}
