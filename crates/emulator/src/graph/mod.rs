//! Microsoft Graph v1.0, the subset graphgate uses: users, mail, To Do, invitations and `$batch`,
//! with the query options, paging and mailbox rules those calls share.

#![allow(clippy::result_large_err, reason = "handlers answer Result<Response, Response>, as axum's do")]

mod auth;
mod batch;
mod invitations;
mod mail;
mod todo;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::Method;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value};

use crate::Ctx;
use crate::errors::graph_error;
use crate::state::{User, UserType, World};

pub(crate) use auth::{Caller, CallerKind};

/// A handler's answer: both arms are complete responses, the error arm a Graph error.
pub(crate) type Answer = Result<Response, Response>;

/// The largest request body accepted (a message may reach 35 MB in Exchange Online).
const MAX_BODY: usize = 36 * 1024 * 1024;

/// The message Graph gives when `/me` is called with an app-only token.
pub(crate) const ME_NEEDS_DELEGATED: &str = "/me request is only valid with delegated authentication flow.";

/// Graph's routes, nested under `/v1.0`.
pub(crate) fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/me", get(users::me))
        .route("/users", get(users::list))
        .route("/users/{id}", get(users::get_user))
        .route("/me/sendMail", post(mail::send_as_me))
        .route("/users/{id}/sendMail", post(mail::send_as_user))
        .route("/me/messages", get(mail::my_messages))
        .route("/users/{id}/messages", get(mail::user_messages))
        .route("/me/mailFolders/{folder}/messages", get(mail::my_folder_messages))
        .route("/users/{id}/mailFolders/{folder}/messages", get(mail::user_folder_messages))
        .route("/me/todo/lists", get(todo::my_lists))
        .route("/users/{id}/todo/lists", get(todo::user_lists))
        .route("/me/todo/lists/{list}/tasks", get(todo::my_tasks))
        .route("/users/{id}/todo/lists/{list}/tasks", get(todo::user_tasks))
        .route("/invitations", post(invitations::create))
        .route("/$batch", post(batch::run))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed(method: Method) -> Response {
    graph_error(
        405,
        "Request_BadRequest",
        Some(&format!("The HTTP method {method} is not supported on this resource.")),
    )
}

/// Reads a JSON request body. Errors are Graph errors with `code` (413 when too large).
pub(crate) async fn read_json(body: Body, code: &str) -> Result<Value, Response> {
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return Err(graph_error(413, code, Some("The request body is larger than the service accepts.")));
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(graph_error(400, code, Some("The request body is empty; a JSON object is expected.")));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| graph_error(400, code, Some(&format!("The request body is not valid JSON: {e}."))))
}

/// `https://host/v1.0/$metadata#fragment`.
pub(crate) fn context_url(ctx: &Ctx, fragment: &str) -> String {
    format!("{}/v1.0/$metadata#{fragment}", ctx.base)
}

/// A query string as sent: the raw pairs (kept for `@odata.nextLink`) and their decoded form.
#[derive(Debug, Default)]
pub(crate) struct Query {
    /// (raw pair, decoded name, decoded value).
    pairs: Vec<(String, String, String)>,
}

impl Query {
    /// Splits a raw query string; undecodable parts are kept as written.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                let decode = |s: &str| graphgate_core::percent_decode_param(s).unwrap_or_else(|| s.to_owned());
                (p.to_owned(), decode(name), decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// Whether a decoded name is the system query option `option` (`$top`; the `$` is optional).
    fn is(name: &str, option: &str) -> bool {
        let bare = option.trim_start_matches('$');
        let name = name.trim();
        name.eq_ignore_ascii_case(option) || name.eq_ignore_ascii_case(bare)
    }

    /// The decoded value of query option `option` (such as `$filter`).
    pub(crate) fn get(&self, option: &str) -> Option<&str> {
        self.pairs.iter().find(|(_, n, _)| Self::is(n, option)).map(|(_, _, v)| v.as_str())
    }

    /// The raw query string with `option` set to `value` (replacing it, or added at the end).
    pub(crate) fn with(&self, option: &str, value: &str) -> String {
        let mut parts = Vec::with_capacity(self.pairs.len() + 1);
        let mut placed = false;
        for (raw, name, _) in &self.pairs {
            if Self::is(name, option) {
                if !placed {
                    parts.push(format!("{option}={value}"));
                    placed = true;
                }
            } else {
                parts.push(raw.clone());
            }
        }
        if !placed {
            parts.push(format!("{option}={value}"));
        }
        parts.join("&")
    }

    /// `$select` as a list of property names.
    pub(crate) fn select(&self) -> Option<Vec<String>> {
        let fields: Vec<String> =
            self.get("$select")?.split(',').map(|f| f.trim().to_owned()).filter(|f| !f.is_empty()).collect();
        (!fields.is_empty()).then_some(fields)
    }

    /// A non-negative integer option (`$skip`), `default` when absent.
    pub(crate) fn number(
        &self,
        option: &str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<usize, Response> {
        let Some(text) = self.get(option) else { return Ok(default) };
        match text.trim().parse::<usize>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(graph_error(
                400,
                "invalidRequest",
                Some(&format!(
                    "Invalid value for {option}: it must be an integer from {} to {}.",
                    range.start(),
                    range.end()
                )),
            )),
        }
    }
}

/// Keeps `id` and the `fields` of a resource (compared without regard to case), or everything
/// when no `$select` was given.
pub(crate) fn select(resource: Value, fields: Option<&[String]>) -> Value {
    let (Some(fields), Value::Object(map)) = (fields, &resource) else { return resource };
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| k.as_str() == "id" || fields.iter().any(|f| f.eq_ignore_ascii_case(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// One page of `items` and, when more remain, the absolute `@odata.nextLink` that continues
/// with `skip_option` advanced (`path` is the request's path, `/v1.0/...`).
pub(crate) fn page(
    ctx: &Ctx,
    path: &str,
    query: &Query,
    items: Vec<Value>,
    top: usize,
    skip: usize,
    skip_option: &str,
) -> (Vec<Value>, Option<String>) {
    let total = items.len();
    let end = skip.saturating_add(top);
    let page: Vec<Value> = items.into_iter().skip(skip).take(top).collect();
    let next = (end < total).then(|| format!("{}{path}?{}", ctx.base, query.with(skip_option, &end.to_string())));
    (page, next)
}

/// The collection answer `{"@odata.context", "value", "@odata.nextLink"?}`.
pub(crate) fn collection(context: String, value: Vec<Value>, next: Option<String>) -> Value {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(context));
    body.insert("value".into(), Value::Array(value));
    if let Some(next) = next {
        body.insert("@odata.nextLink".into(), Value::String(next));
    }
    Value::Object(body)
}

/// Whose data a call addresses: `/me/...` or `/users/{id | userPrincipalName}/...`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// The signed-in user.
    Me,
    /// A user named by object ID or UPN.
    User(&'a str),
}

/// The user object with this ID or UPN in `tid` (without regard to case).
pub(crate) fn find_user<'a>(world: &'a World, tid: &'a str, key: &str) -> Option<&'a User> {
    let key = key.trim();
    world.users_in(tid).find(|u| u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
}

/// The user object a delegated caller signed in as.
pub(crate) fn signed_in<'a>(world: &'a World, caller: &Caller, user_id: &str) -> Option<&'a User> {
    world.user(user_id).filter(|u| u.tenant_id == caller.tid)
}

/// The owner of the mailbox a call addresses, after the permission checks (delegated `scopes`
/// for oneself, application `roles` for anyone in the token's tenant; otherwise 403
/// `ErrorAccessDenied`) and the mailbox rule (see [`mailbox_rule`]).
pub(crate) fn mailbox_owner(
    world: &World,
    caller: &Caller,
    target: Target<'_>,
    scopes: &[&str],
    roles: &[&str],
) -> Result<User, Response> {
    let denied = || graph_error(403, "ErrorAccessDenied", Some("Access is denied. Check credentials and try again."));
    let user = match (&caller.kind, target) {
        (CallerKind::App { .. }, Target::Me) => return Err(graph_error(400, "BadRequest", Some(ME_NEEDS_DELEGATED))),
        (CallerKind::Delegated { user_id, .. }, Target::Me) => {
            if !caller.has_scope(scopes) {
                return Err(denied());
            }
            signed_in(world, caller, user_id).ok_or_else(|| graph_error(404, "MailboxNotEnabledForRESTAPI", None))?
        }
        (CallerKind::App { .. }, Target::User(key)) => {
            if !caller.has_role(roles) {
                return Err(denied());
            }
            if world.tenant(&caller.tid).is_none() {
                return Err(organization_not_found(&caller.tid));
            }
            find_user(world, &caller.tid, key).ok_or_else(|| invalid_user(key))?
        }
        (CallerKind::Delegated { user_id, .. }, Target::User(key)) => {
            if !caller.has_scope(scopes) {
                return Err(denied());
            }
            let user = find_user(world, &caller.tid, key).ok_or_else(|| invalid_user(key))?;
            if !user.id.eq_ignore_ascii_case(user_id) {
                return Err(denied());
            }
            user
        }
    };
    mailbox_rule(world, user)?;
    Ok(user.clone())
}

fn invalid_user(key: &str) -> Response {
    let shown: String = key.chars().take(256).collect();
    graph_error(404, "ErrorInvalidUser", Some(&format!("The requested user '{shown}' is invalid.")))
}

fn organization_not_found(tid: &str) -> Response {
    graph_error(
        401,
        "OrganizationFromTenantGuidNotFound",
        Some(&format!("The tenant for tenant guid '{tid}' does not exist.")),
    )
}

/// Exchange's view of a user object: a guest has no mailbox in the resource tenant (404
/// `MailboxNotEnabledForRESTAPI`); a member of a tenant without Exchange Online belongs to no
/// organization Exchange knows (401 `OrganizationFromTenantGuidNotFound`); a member without a
/// mailbox gets 404 `MailboxNotEnabledForRESTAPI`.
pub(crate) fn mailbox_rule(world: &World, user: &User) -> Result<(), Response> {
    if user.user_type == UserType::Guest {
        return Err(graph_error(404, "MailboxNotEnabledForRESTAPI", None));
    }
    if !user.is_personal() && world.tenant(&user.tenant_id).is_some_and(|t| !t.exchange) {
        return Err(organization_not_found(&user.tenant_id));
    }
    if !world.has_mailbox(user) {
        return Err(graph_error(404, "MailboxNotEnabledForRESTAPI", None));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{ctx, graph, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";

    #[test]
    fn query_options_are_decoded_and_replaced() {
        let q = Query::parse(Some("%24top=2&$filter=mail%20eq%20%27a%27&skip=4&x"));
        assert_eq!(q.get("$top"), Some("2"));
        assert_eq!(q.get("$filter"), Some("mail eq 'a'"));
        assert_eq!(q.get("$skip"), Some("4"));
        assert_eq!(q.with("$skip", "6"), "%24top=2&$filter=mail%20eq%20%27a%27&$skip=6&x");
        assert_eq!(Query::parse(None).with("$skip", "1"), "$skip=1");
        assert_eq!(q.number("$top", 10, 1..=1000).ok(), Some(2));
        assert_eq!(
            Query::parse(Some("$top=0")).number("$top", 10, 1..=1000).map_err(|r| r.status().as_u16()).err(),
            Some(400)
        );
        assert_eq!(
            Query::parse(Some("$select=mail,%20displayName,")).select(),
            Some(vec!["mail".into(), "displayName".into()])
        );
    }

    #[test]
    fn select_keeps_id_and_named_fields() {
        let v = select(json!({"id": "1", "mail": "m", "displayName": "d"}), Some(&["DISPLAYNAME".to_owned()]));
        assert_eq!(v, json!({"id": "1", "displayName": "d"}));
        assert_eq!(select(json!({"a": 1}), None), json!({"a": 1}));
    }

    #[tokio::test]
    async fn wrong_methods_get_a_graph_error() {
        let ctx = ctx();
        let token = user_token(&ctx, &user_id(&ctx, "adele@contoso.onmicrosoft.com"), CONTOSO, "User.Read");
        let (status, _, body) = graph(&ctx, "DELETE", "/v1.0/me", &token, None).await;
        assert_eq!(status, 405);
        assert_eq!(body["error"]["code"], "Request_BadRequest");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/nothing-here", &token, None).await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "UnknownRoute");
    }
}
