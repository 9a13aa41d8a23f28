//! Directory users: `GET /me`, `GET /users/{id | userPrincipalName}` and `GET /users?$filter=`
//! with the address filters graphgate uses to ask whether an email already belongs to a tenant.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{Map, Value};

use super::{Answer, Query, auth, collection, context_url, find_user, page, signed_in};
use crate::Ctx;
use crate::errors::graph_error;
use crate::state::{User, UserType};

/// Delegated permissions that let a user read their own profile.
const ME_SCOPES: &[&str] = &[
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
/// Delegated permissions that let a user read other users.
const READ_ALL_SCOPES: &[&str] =
    &["User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];
/// Application permissions that let an application read users.
const READ_ALL_ROLES: &[&str] =
    &["User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];

/// The properties Graph returns for a user when no `$select` is given.
const DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

fn denied() -> axum::response::Response {
    graph_error(403, "Authorization_RequestDenied", Some("Insufficient privileges to complete the operation."))
}

/// A user's JSON: the default properties, or `id` and the `$select`ed ones.
fn user_json(user: &User, select: Option<&[String]>) -> Value {
    let Value::Object(all) = user.to_graph() else { return Value::Null };
    let keep = |k: &str| match select {
        Some(fields) => k == "id" || fields.iter().any(|f| f.eq_ignore_ascii_case(k)),
        None => DEFAULT_PROPERTIES.contains(&k),
    };
    Value::Object(all.into_iter().filter(|(k, _)| keep(k)).collect())
}

/// `users/$entity`, or `users(a,b)/$entity` with `$select`.
fn entity_context(ctx: &Ctx, select: Option<&[String]>) -> String {
    match select {
        Some(fields) => context_url(ctx, &format!("users({})/$entity", fields.join(","))),
        None => context_url(ctx, "users/$entity"),
    }
}

fn entity(ctx: &Ctx, user: &User, select: Option<&[String]>) -> Answer {
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(entity_context(ctx, select)));
    if let Value::Object(props) = user_json(user, select) {
        body.extend(props);
    }
    Ok(Json(Value::Object(body)).into_response())
}

/// `GET /me`.
pub(crate) async fn me(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Answer {
    let caller = auth::caller(&ctx, &headers)?;
    let user_id = caller.me()?;
    if !caller.has_scope(ME_SCOPES) {
        return Err(denied());
    }
    let query = Query::parse(raw.as_deref());
    let select = query.select();
    let world = ctx.world();
    let Some(user) = signed_in(&world, &caller, user_id) else {
        return Err(graph_error(404, "Request_ResourceNotFound", Some("The signed-in user no longer exists.")));
    };
    entity(&ctx, user, select.as_deref())
}

/// `GET /users/{id | userPrincipalName}`.
pub(crate) async fn get_user(
    State(ctx): State<Arc<Ctx>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let caller = auth::caller(&ctx, &headers)?;
    let broad = caller.allowed(READ_ALL_SCOPES, READ_ALL_ROLES);
    let self_only = caller.has_scope(ME_SCOPES);
    if !broad && !self_only {
        return Err(denied());
    }
    let query = Query::parse(raw.as_deref());
    let select = query.select();
    let world = ctx.world();
    let found = find_user(&world, &caller.tid, &key);
    let is_self = |u: &User| caller.user_id().is_some_and(|me| me.eq_ignore_ascii_case(&u.id));
    match found {
        Some(user) if broad || is_self(user) => entity(&ctx, user, select.as_deref()),
        _ if !broad => Err(denied()),
        _ => {
            let shown: String = key.chars().take(256).collect();
            Err(graph_error(
                404,
                "Request_ResourceNotFound",
                Some(&format!(
                    "Resource '{shown}' does not exist or one of its queried reference-property objects are not present."
                )),
            ))
        }
    }
}

/// `GET /users`, optionally with the address `$filter` and `$select`.
pub(crate) async fn list(
    State(ctx): State<Arc<Ctx>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    let caller = auth::caller(&ctx, &headers)?;
    if !caller.allowed(READ_ALL_SCOPES, READ_ALL_ROLES) {
        return Err(denied());
    }
    let query = Query::parse(raw.as_deref());
    let filter = match query.get("$filter") {
        Some(text) => Some(parse_filter(text).ok_or_else(|| {
            graph_error(
                400,
                "Request_UnsupportedQuery",
                Some(
                    "Unsupported query. The emulator accepts clauses joined by 'or', each one of: mail eq '...', \
                     userPrincipalName eq '...', otherMails/any(x:x eq '...'), proxyAddresses/any(x:x eq 'SMTP:...').",
                ),
            )
        })?),
        None => None,
    };
    let top = query.number("$top", 100, 1..=999)?;
    let skip = query.number("$skiptoken", 0, 0..=usize::MAX)?;
    let select = query.select();
    let users: Vec<Value> = {
        let world = ctx.world();
        if let Some(me) = caller.user_id().and_then(|id| signed_in(&world, &caller, id)) {
            if me.user_type == UserType::Guest {
                return Err(denied());
            }
        }
        world
            .users_in(&caller.tid)
            .filter(|u| filter.as_ref().is_none_or(|clauses| clauses.iter().any(|c| c.matches(u))))
            .map(|u| user_json(u, select.as_deref()))
            .collect()
    };
    let context = match &select {
        Some(fields) => context_url(&ctx, &format!("users({})", fields.join(","))),
        None => context_url(&ctx, "users"),
    };
    let (value, next) = page(&ctx, uri.path(), &query, users, top, skip, "$skiptoken");
    Ok(Json(collection(context, value, next)).into_response())
}

/// The user property a filter clause tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Property {
    Mail,
    UserPrincipalName,
    OtherMails,
    ProxyAddresses,
}

/// One `property eq 'value'` test.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    property: Property,
    value: String,
}

impl Clause {
    fn matches(&self, u: &User) -> bool {
        let v = self.value.as_str();
        match self.property {
            Property::Mail => u.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(v)),
            Property::UserPrincipalName => u.upn.eq_ignore_ascii_case(v),
            Property::OtherMails => u.other_mails.iter().any(|m| m.eq_ignore_ascii_case(v)),
            Property::ProxyAddresses => u.mail.as_deref().is_some_and(|m| format!("SMTP:{m}").eq_ignore_ascii_case(v)),
        }
    }
}

/// A cursor over a filter expression.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start();
    }

    /// Consumes `token` (without regard to case).
    fn eat(&mut self, token: &str) -> Option<()> {
        self.skip_ws();
        let head = self.rest.get(..token.len())?;
        head.eq_ignore_ascii_case(token).then(|| self.rest = &self.rest[token.len()..])
    }

    /// Consumes a keyword that must be followed by whitespace or `'`.
    fn keyword(&mut self, word: &str) -> Option<()> {
        let before = self.rest;
        self.eat(word)?;
        if self.rest.starts_with(|c: char| c.is_whitespace() || c == '\'') {
            Some(())
        } else {
            self.rest = before;
            None
        }
    }

    /// Consumes a name: letters, digits, `_` and `/`.
    fn name(&mut self) -> Option<&'a str> {
        self.skip_ws();
        let end =
            self.rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '/')).unwrap_or(self.rest.len());
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        (!name.is_empty()).then_some(name)
    }

    /// Consumes a quoted string literal, where `''` stands for one quote.
    fn literal(&mut self) -> Option<String> {
        self.eat("'")?;
        let mut out = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if self.rest[i + 1..].starts_with('\'') {
                    out.push('\'');
                    chars.next();
                } else {
                    self.rest = &self.rest[i + 1..];
                    return Some(out);
                }
            } else {
                out.push(c);
            }
        }
        None
    }

    fn clause(&mut self) -> Option<Clause> {
        let name = self.name()?;
        let lambda_of =
            name.len().checked_sub(4).filter(|&at| name[at..].eq_ignore_ascii_case("/any")).map(|at| &name[..at]);
        let (property, lambda) = if let Some(collection) = lambda_of {
            let property = match collection {
                c if c.eq_ignore_ascii_case("otherMails") => Property::OtherMails,
                c if c.eq_ignore_ascii_case("proxyAddresses") => Property::ProxyAddresses,
                _ => return None,
            };
            (property, true)
        } else {
            let property = match name {
                n if n.eq_ignore_ascii_case("mail") => Property::Mail,
                n if n.eq_ignore_ascii_case("userPrincipalName") => Property::UserPrincipalName,
                _ => return None,
            };
            (property, false)
        };
        if lambda {
            self.eat("(")?;
            let var = self.name()?;
            self.eat(":")?;
            let used = self.name()?;
            if var != used || var.contains('/') {
                return None;
            }
        }
        self.keyword("eq")?;
        let value = self.literal()?;
        if lambda {
            self.eat(")")?;
        }
        Some(Clause { property, value })
    }
}

/// Parses clauses joined by `or`; `None` for anything else.
fn parse_filter(text: &str) -> Option<Vec<Clause>> {
    let mut cursor = Cursor { rest: text };
    let mut clauses = vec![cursor.clause()?];
    loop {
        cursor.skip_ws();
        if cursor.rest.is_empty() {
            return Some(clauses);
        }
        cursor.keyword("or")?;
        clauses.push(cursor.clause()?);
    }
}

#[cfg(test)]
mod tests {
    use graphgate_core::percent_encode;
    use serde_json::json;

    use super::*;
    use crate::test_support::{app_token, ctx, graph, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const FABRIKAM: &str = "4c1b5f0e-9a7d-4e2b-8c3f-6d5a4b3c2d1e";

    #[test]
    fn parses_the_supported_filters() {
        let text = "mail eq 'o''neil@x.com' or otherMails/any(a:a eq 'b@x.com') \
                    or userPrincipalName eq 'c@x.com' or proxyAddresses/any(p: p eq 'SMTP:d@x.com')";
        let c = parse_filter(text).expect("parse");
        assert_eq!(c.len(), 4);
        assert_eq!(c[0], Clause { property: Property::Mail, value: "o'neil@x.com".into() });
        assert_eq!(c[1].property, Property::OtherMails);
        assert_eq!(c[2].property, Property::UserPrincipalName);
        assert_eq!(c[3], Clause { property: Property::ProxyAddresses, value: "SMTP:d@x.com".into() });
        assert_eq!(parse_filter("mail eq 'a or b'").expect("parse")[0].value, "a or b");
        for bad in [
            "",
            "mail eq 'x",
            "mail ne 'x'",
            "displayName eq 'x'",
            "startswith(mail,'x')",
            "mail eq 'x' and userPrincipalName eq 'y'",
            "otherMails/any(a:b eq 'x')",
            "mail eq 'x' or",
            "mailx eq 'x'",
            "mail eqx 'x'",
            "identities/any(c:c/issuerAssignedId eq 'x')",
        ] {
            assert!(parse_filter(bad).is_none(), "{bad}");
        }
    }

    fn filter_path(filter: &str) -> String {
        format!("/v1.0/users?$filter={}&$select=id,mail,userType", percent_encode(filter))
    }

    #[tokio::test]
    async fn me_answers_the_signed_in_user() {
        let ctx = ctx();
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "User.Read");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["id"], adele.as_str());
        assert_eq!(body["userPrincipalName"], "adele@contoso.onmicrosoft.com");
        assert_eq!(body["displayName"], "Adele Vance");
        assert_eq!(body["@odata.context"], "https://emulator.test/v1.0/$metadata#users/$entity");
        assert!(body.get("userType").is_none(), "not a default property");
        let (_, _, body) = graph(&ctx, "GET", "/v1.0/me?$select=displayName,userType", &token, None).await;
        assert_eq!(body["userType"], "Member");
        assert!(body.get("mail").is_none());
        assert_eq!(body["id"], adele.as_str());
    }

    #[tokio::test]
    async fn me_refuses_app_tokens_and_missing_scopes() {
        let ctx = ctx();
        let (status, _, body) =
            graph(&ctx, "GET", "/v1.0/me", &app_token(&ctx, CONTOSO, &["User.Read.All"]), None).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "BadRequest");
        assert_eq!(body["error"]["message"], "/me request is only valid with delegated authentication flow.");
        let token = user_token(&ctx, &user_id(&ctx, "adele@contoso.onmicrosoft.com"), CONTOSO, "Mail.Send");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me", &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
    }

    #[tokio::test]
    async fn looks_users_up_by_id_and_upn() {
        let ctx = ctx();
        let megan = user_id(&ctx, "megan@contoso.onmicrosoft.com");
        let app = app_token(&ctx, CONTOSO, &["User.Read.All"]);
        let (status, _, body) = graph(&ctx, "GET", &format!("/v1.0/users/{megan}"), &app, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["mail"], "megan@contoso.onmicrosoft.com");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/users/MEGAN@contoso.onmicrosoft.com", &app, None).await;
        assert_eq!((status, body["id"].as_str()), (200, Some(megan.as_str())));
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/users/nobody@contoso.onmicrosoft.com", &app, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
        // Bob lives in Fabrikam: not visible from a Contoso token.
        let (status, _, _) = graph(&ctx, "GET", "/v1.0/users/bob@fabrikam.onmicrosoft.com", &app, None).await;
        assert_eq!(status, 404);

        // A delegated caller with User.Read may read itself only.
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "User.Read");
        assert_eq!(graph(&ctx, "GET", &format!("/v1.0/users/{adele}"), &token, None).await.0, 200);
        let (status, _, body) = graph(&ctx, "GET", &format!("/v1.0/users/{megan}"), &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
        let token = user_token(&ctx, &adele, CONTOSO, "User.ReadBasic.All");
        assert_eq!(graph(&ctx, "GET", &format!("/v1.0/users/{megan}"), &token, None).await.0, 200);
        let (status, _, _) =
            graph(&ctx, "GET", &format!("/v1.0/users/{megan}"), &app_token(&ctx, CONTOSO, &["Mail.Send"]), None).await;
        assert_eq!(status, 403);
    }

    #[tokio::test]
    async fn finds_guests_by_percent_encoded_upn() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Invite.All", "User.Read.All"]);
        let body = json!({"invitedUserEmailAddress": "bob@fabrikam.onmicrosoft.com", "inviteRedirectUrl": "https://app.example/"});
        let (status, _, invitation) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(body)).await;
        assert_eq!(status, 201);
        let path = "/v1.0/users/bob_fabrikam.onmicrosoft.com%23EXT%23@contoso.onmicrosoft.com?$select=userType,externalUserState";
        let (status, _, body) = graph(&ctx, "GET", path, &app, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], invitation["invitedUser"]["id"]);
        assert_eq!(body["userType"], "Guest");
        assert_eq!(body["externalUserState"], "PendingAcceptance");
    }

    #[tokio::test]
    async fn filters_users_by_address() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Read.All"]);
        let megan = user_id(&ctx, "megan@contoso.onmicrosoft.com");
        for filter in [
            "mail eq 'Megan@contoso.onmicrosoft.com'",
            "userPrincipalName eq 'megan@contoso.onmicrosoft.com'",
            "proxyAddresses/any(p:p eq 'smtp:megan@contoso.onmicrosoft.com')",
            "mail eq 'nobody@x.com' or proxyAddresses/any(x:x eq 'SMTP:megan@contoso.onmicrosoft.com')",
        ] {
            let (status, _, body) = graph(&ctx, "GET", &filter_path(filter), &app, None).await;
            assert_eq!(status, 200, "{filter}: {body}");
            assert_eq!(body["value"].as_array().expect("value").len(), 1, "{filter}");
            assert_eq!(body["value"][0]["id"], megan.as_str());
            assert_eq!(body["value"][0]["userType"], "Member");
            assert!(body["value"][0].get("displayName").is_none());
            assert_eq!(body["@odata.context"], "https://emulator.test/v1.0/$metadata#users(id,mail,userType)");
        }
        // otherMails: invite an address, whose guest carries it in otherMails.
        let inviter = app_token(&ctx, CONTOSO, &["User.Invite.All", "User.Read.All"]);
        let body =
            json!({"invitedUserEmailAddress": "kim@outlook.example", "inviteRedirectUrl": "https://app.example/"});
        assert_eq!(graph(&ctx, "POST", "/v1.0/invitations", &inviter, Some(body)).await.0, 201);
        let (_, _, body) =
            graph(&ctx, "GET", &filter_path("otherMails/any(a:a eq 'KIM@outlook.example')"), &app, None).await;
        assert_eq!(body["value"].as_array().expect("value").len(), 1);
        assert_eq!(body["value"][0]["userType"], "Guest");
        // The user lookup graphgate-core builds works as sent.
        let email = graphgate_core::Email::parse("bob@fabrikam.onmicrosoft.com").expect("email");
        let path = format!("/v1.0{}", graphgate_core::invitation::user_lookup_path(&email));
        let (status, _, body) = graph(&ctx, "GET", &path, &app, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["value"], json!([]), "Bob lives in Fabrikam");
        let fabrikam = app_token(&ctx, FABRIKAM, &["User.Read.All"]);
        let (_, _, body) = graph(&ctx, "GET", &path, &fabrikam, None).await;
        assert_eq!(body["value"][0]["userPrincipalName"], "bob@fabrikam.onmicrosoft.com");
        // No filter: every user of the tenant, nobody else.
        let (_, _, body) = graph(&ctx, "GET", "/v1.0/users", &app, None).await;
        assert_eq!(body["value"].as_array().expect("value").len(), 3, "adele, megan and the guest");
        let (_, _, body) = graph(&ctx, "GET", "/v1.0/users?$top=2", &app, None).await;
        assert_eq!(body["value"].as_array().expect("value").len(), 2);
        assert_eq!(body["@odata.nextLink"], "https://emulator.test/v1.0/users?$top=2&$skiptoken=2");
    }

    #[tokio::test]
    async fn refuses_unsupported_filters_and_missing_permissions() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Read.All"]);
        let (status, _, body) = graph(&ctx, "GET", &filter_path("startswith(mail,'meg')"), &app, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")));
        let (status, _, body) = graph(&ctx, "GET", &filter_path("mail eq 'a' and mail eq 'b'"), &app, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")));
        let no_role = app_token(&ctx, CONTOSO, &["User.Invite.All"]);
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/users", &no_role, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
        let user = user_token(&ctx, &user_id(&ctx, "adele@contoso.onmicrosoft.com"), CONTOSO, "User.Read");
        assert_eq!(graph(&ctx, "GET", "/v1.0/users", &user, None).await.0, 403);
        let user = user_token(&ctx, &user_id(&ctx, "adele@contoso.onmicrosoft.com"), CONTOSO, "User.ReadBasic.All");
        assert_eq!(
            graph(&ctx, "GET", &filter_path("mail eq 'megan@contoso.onmicrosoft.com'"), &user, None).await.0,
            200
        );
    }
}
