//! Microsoft To Do: a user's task lists and the tasks of one list (they live in the mailbox, so
//! the mailbox rule applies).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::Value;

use super::{Answer, Query, Target, auth, collection, context_url, mailbox_owner, select};
use crate::Ctx;
use crate::errors::graph_error;

/// Delegated permissions to read To Do.
const SCOPES: &[&str] = &["Tasks.Read", "Tasks.ReadWrite"];
/// Application permissions to read To Do.
const ROLES: &[&str] = &["Tasks.Read.All", "Tasks.ReadWrite.All"];

/// `GET /me/todo/lists`.
pub(crate) async fn my_lists(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Answer {
    lists(&ctx, &headers, Target::Me, raw.as_deref())
}

/// `GET /users/{id | userPrincipalName}/todo/lists`.
pub(crate) async fn user_lists(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    lists(&ctx, &headers, Target::User(&id), raw.as_deref())
}

/// `GET /me/todo/lists/{id}/tasks`.
pub(crate) async fn my_tasks(
    State(ctx): State<Arc<Ctx>>,
    Path(list): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    tasks(&ctx, &headers, Target::Me, &list, raw.as_deref())
}

/// `GET /users/{id | userPrincipalName}/todo/lists/{id}/tasks`.
pub(crate) async fn user_tasks(
    State(ctx): State<Arc<Ctx>>,
    Path((id, list)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    tasks(&ctx, &headers, Target::User(&id), &list, raw.as_deref())
}

fn lists(ctx: &Ctx, headers: &HeaderMap, target: Target<'_>, raw: Option<&str>) -> Answer {
    let caller = auth::caller(ctx, headers)?;
    let fields = Query::parse(raw).select();
    let world = ctx.world();
    let owner = mailbox_owner(&world, &caller, target, SCOPES, ROLES)?;
    let value: Vec<Value> = world
        .todo
        .get(&owner.id)
        .map(|lists| lists.iter().map(|l| select(l.list.clone(), fields.as_deref())).collect())
        .unwrap_or_default();
    let context = context_url(ctx, &format!("users('{}')/todo/lists", owner.id));
    Ok(Json(collection(context, value, None)).into_response())
}

fn tasks(ctx: &Ctx, headers: &HeaderMap, target: Target<'_>, list_id: &str, raw: Option<&str>) -> Answer {
    let caller = auth::caller(ctx, headers)?;
    let fields = Query::parse(raw).select();
    let world = ctx.world();
    let owner = mailbox_owner(&world, &caller, target, SCOPES, ROLES)?;
    let list = world
        .todo
        .get(&owner.id)
        .and_then(|lists| lists.iter().find(|l| l.list.get("id").and_then(Value::as_str) == Some(list_id)));
    let Some(list) = list else {
        return Err(graph_error(404, "ErrorItemNotFound", Some("The specified list could not be found.")));
    };
    let value = list.tasks.iter().map(|t| select(t.clone(), fields.as_deref())).collect();
    let context = context_url(ctx, &format!("users('{}')/todo/lists('{list_id}')/tasks", owner.id));
    Ok(Json(collection(context, value, None)).into_response())
}

#[cfg(test)]
mod tests {
    use crate::test_support::{app_token, ctx, graph, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";

    #[tokio::test]
    async fn lists_and_tasks() {
        let ctx = ctx();
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "Tasks.Read");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/todo/lists", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["@odata.context"], format!("https://emulator.test/v1.0/$metadata#users('{adele}')/todo/lists"));
        let lists = body["value"].as_array().expect("value");
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0]["displayName"], "Tasks");
        assert_eq!(lists[0]["wellknownListName"], "defaultList");
        let list_id = lists[0]["id"].as_str().expect("id");
        let (status, _, body) =
            graph(&ctx, "GET", &format!("/v1.0/me/todo/lists/{list_id}/tasks?$select=title,status"), &token, None)
                .await;
        assert_eq!(status, 200);
        let tasks = body["value"].as_array().expect("value");
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0]["title"], "Register the application");
        assert_eq!(tasks[0]["status"], "completed");
        assert!(tasks[0].get("importance").is_none());

        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/todo/lists/nope/tasks", &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ErrorItemNotFound")));

        let megan = user_token(&ctx, &user_id(&ctx, "megan@contoso.onmicrosoft.com"), CONTOSO, "Tasks.ReadWrite");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/todo/lists", &megan, None).await;
        assert_eq!((status, body["value"].as_array().map(Vec::len)), (200, Some(0)));
        let (status, _, _) = graph(&ctx, "GET", &format!("/v1.0/me/todo/lists/{list_id}/tasks"), &megan, None).await;
        assert_eq!(status, 404, "another user's list is not found");

        let app = app_token(&ctx, CONTOSO, &["Tasks.Read.All"]);
        let (status, _, body) =
            graph(&ctx, "GET", "/v1.0/users/adele@contoso.onmicrosoft.com/todo/lists", &app, None).await;
        assert_eq!((status, body["value"].as_array().map(Vec::len)), (200, Some(1)));
    }

    #[tokio::test]
    async fn needs_tasks_permissions() {
        let ctx = ctx();
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let token = user_token(&ctx, &adele, CONTOSO, "Mail.Read");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/todo/lists", &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("ErrorAccessDenied")));
        let app = app_token(&ctx, CONTOSO, &["Tasks.Read.All"]);
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/todo/lists", &app, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("BadRequest")));
        let (status, _, _) = graph(&ctx, "GET", "/v1.0/me/todo/lists/x/tasks", &app, None).await;
        assert_eq!(status, 400);
    }
}
