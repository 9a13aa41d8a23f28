//! Mail: `sendMail` (delivered to emulated mailboxes, kept in Sent Items) and message listing
//! with `$top`, `$skip`, `$select` and `@odata.nextLink`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use graphgate_core::mail::{BodyType, Recipient, SendMail};
use serde_json::{Value, json};

use super::{Answer, Query, Target, auth, collection, context_url, mailbox_owner, page, read_json};
use crate::Ctx;
use crate::errors::graph_error;
use crate::state::{User, World, message_json};

/// Delegated permission to send mail.
const SEND_SCOPES: &[&str] = &["Mail.Send"];
/// Application permission to send mail as anyone.
const SEND_ROLES: &[&str] = &["Mail.Send"];
/// Delegated permissions to read mail.
const READ_SCOPES: &[&str] = &["Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"];
/// Application permissions to read mail.
const READ_ROLES: &[&str] = &["Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"];
/// Permissions that include message bodies.
const FULL_READ: &[&str] = &["Mail.Read", "Mail.ReadWrite"];

/// `POST /me/sendMail`.
pub(crate) async fn send_as_me(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Body) -> Answer {
    send(&ctx, &headers, Target::Me, body).await
}

/// `POST /users/{id | userPrincipalName}/sendMail`.
pub(crate) async fn send_as_user(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    send(&ctx, &headers, Target::User(&id), body).await
}

async fn send(ctx: &Ctx, headers: &HeaderMap, target: Target<'_>, body: Body) -> Answer {
    let caller = auth::caller(ctx, headers)?;
    // Check who may send before reading the body; the world is locked again to deliver.
    mailbox_owner(&ctx.world(), &caller, target, SEND_SCOPES, SEND_ROLES)?;
    let value = read_json(body, "invalidRequest").await?;
    let mail: SendMail = serde_json::from_value(value)
        .map_err(|e| graph_error(400, "invalidRequest", Some(&format!("The sendMail body is not valid: {e}."))))?;
    mail.message
        .validate()
        .map_err(|e| graph_error(400, "invalidRequest", Some(&format!("The message is not valid: {}.", e.detail()))))?;
    let mut world = ctx.world();
    let sender = mailbox_owner(&world, &caller, target, SEND_SCOPES, SEND_ROLES)?;
    deliver(&mut world, &sender, &mail, ctx.now());
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A user's sending address: `mail`, or the UPN when there is none.
fn address_of(user: &User) -> &str {
    user.mail.as_deref().unwrap_or(&user.upn)
}

/// A recipient as Graph shows it on a message: the name defaults to the address.
fn recipient_json(world: &World, r: &Recipient) -> Value {
    let address = r.email_address.address.as_str();
    let name = r
        .email_address
        .name
        .clone()
        .or_else(|| world.member_by_address(address).map(|u| u.name.clone()))
        .unwrap_or_else(|| address.to_owned());
    json!({"emailAddress": {"address": address, "name": name}})
}

/// Puts a copy in the Inbox of every emulated recipient with a mailbox and, unless
/// `saveToSentItems` is false, one in the sender's Sent Items.
fn deliver(world: &mut World, sender: &User, mail: &SendMail, now: u64) {
    let m = &mail.message;
    let from = json!({"emailAddress": {"address": address_of(sender), "name": sender.name}});
    let list = |rs: &[Recipient]| rs.iter().map(|r| recipient_json(world, r)).collect::<Vec<_>>();
    let (to, cc, bcc, reply_to) =
        (list(&m.to_recipients), list(&m.cc_recipients), list(&m.bcc_recipients), list(&m.reply_to));
    let content_type = match m.body.content_type {
        BodyType::Text => "text",
        BodyType::Html => "html",
    };
    let body = json!({"contentType": content_type, "content": m.body.content});
    let mut seen = HashSet::new();
    let recipients: Vec<String> = m
        .to_recipients
        .iter()
        .chain(&m.cc_recipients)
        .chain(&m.bcc_recipients)
        .filter_map(|r| world.member_by_address(r.email_address.address.as_str()))
        .filter(|u| world.has_mailbox(u) && seen.insert(u.id.clone()))
        .map(|u| u.id.clone())
        .collect();
    let extra = |folder_id: &str, bcc: &[Value], is_read: bool| {
        json!({
            "ccRecipients": cc,
            "bccRecipients": bcc,
            "replyTo": reply_to,
            "hasAttachments": !m.attachments.is_empty(),
            "isRead": is_read,
            "isDraft": false,
            "parentFolderId": folder_id,
        })
    };
    for id in recipients {
        if let Some(inbox) = world.mailboxes.get_mut(&id).and_then(|mb| mb.folder_mut("inbox")) {
            let msg = message_json(&from, &to, &m.subject, &body, now, &extra(&inbox.id, &[], false));
            inbox.messages.push(msg);
        }
    }
    if mail.save_to_sent_items {
        if let Some(sent) = world.mailboxes.get_mut(&sender.id).and_then(|mb| mb.folder_mut("sentitems")) {
            let msg = message_json(&from, &to, &m.subject, &body, now, &extra(&sent.id, &bcc, true));
            sent.messages.push(msg);
        }
    }
}

/// `GET /me/messages`.
pub(crate) async fn my_messages(
    State(ctx): State<Arc<Ctx>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    messages(&ctx, &headers, Target::Me, None, uri.path(), raw.as_deref())
}

/// `GET /users/{id | userPrincipalName}/messages`.
pub(crate) async fn user_messages(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    messages(&ctx, &headers, Target::User(&id), None, uri.path(), raw.as_deref())
}

/// `GET /me/mailFolders/{id | well-known name}/messages`.
pub(crate) async fn my_folder_messages(
    State(ctx): State<Arc<Ctx>>,
    Path(folder): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    messages(&ctx, &headers, Target::Me, Some(&folder), uri.path(), raw.as_deref())
}

/// `GET /users/{id | userPrincipalName}/mailFolders/{id | well-known name}/messages`.
pub(crate) async fn user_folder_messages(
    State(ctx): State<Arc<Ctx>>,
    Path((id, folder)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Answer {
    messages(&ctx, &headers, Target::User(&id), Some(&folder), uri.path(), raw.as_deref())
}

/// Messages newest first (by `receivedDateTime`; equal times keep folder and insertion order),
/// one page at a time.
fn messages(
    ctx: &Ctx,
    headers: &HeaderMap,
    target: Target<'_>,
    folder: Option<&str>,
    path: &str,
    raw: Option<&str>,
) -> Answer {
    let caller = auth::caller(ctx, headers)?;
    let query = Query::parse(raw);
    let (mut items, owner) = {
        let world = ctx.world();
        let owner = mailbox_owner(&world, &caller, target, READ_SCOPES, READ_ROLES)?;
        let Some(mailbox) = world.mailboxes.get(&owner.id) else {
            return Err(graph_error(404, "MailboxNotEnabledForRESTAPI", None));
        };
        let items: Vec<Value> = match folder {
            Some(f) => {
                let Some(found) = mailbox.folder(f) else {
                    return Err(graph_error(
                        404,
                        "ErrorItemNotFound",
                        Some("The specified folder could not be found in the store."),
                    ));
                };
                found.messages.clone()
            }
            None => mailbox.folders.iter().flat_map(|f| f.messages.iter().cloned()).collect(),
        };
        (items, owner)
    };
    let top = query.number("$top", 10, 1..=1000)?;
    let skip = query.number("$skip", 0, 0..=usize::MAX)?;
    let select = query.select();
    let received = |m: &Value| m.get("receivedDateTime").and_then(Value::as_str).unwrap_or("").to_owned();
    items.sort_by_key(|m| std::cmp::Reverse(received(m)));
    let basic_only = !caller.allowed(FULL_READ, FULL_READ);
    let items = items
        .into_iter()
        .map(|mut m| {
            if basic_only {
                if let Some(map) = m.as_object_mut() {
                    map.remove("body");
                    map.remove("bodyPreview");
                }
            }
            super::select(m, select.as_deref())
        })
        .collect();
    let (value, next) = page(ctx, path, &query, items, top, skip, "$skip");
    let fragment = match folder {
        Some(f) => format!("users('{}')/mailFolders('{f}')/messages", owner.id),
        None => format!("users('{}')/messages", owner.id),
    };
    let fragment = match &select {
        Some(fields) => format!("{fragment}({})", fields.join(",")),
        None => fragment,
    };
    Ok(Json(collection(context_url(ctx, &fragment), value, next)).into_response())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{app_token, ctx, graph, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const FABRIKAM: &str = "4c1b5f0e-9a7d-4e2b-8c3f-6d5a4b3c2d1e";
    const ADELE: &str = "adele@contoso.onmicrosoft.com";
    const MEGAN: &str = "megan@contoso.onmicrosoft.com";

    fn folder(ctx: &Ctx, address: &str, name: &str) -> Vec<Value> {
        let world = ctx.world();
        let id = world.member_by_address(address).expect("user").id.clone();
        world.mailboxes[&id].folder(name).expect("folder").messages.clone()
    }

    fn hello(to: &str) -> Value {
        json!({"message": {
            "subject": "Hello Megan",
            "body": {"contentType": "Text", "content": "Lunch?"},
            "toRecipients": [{"emailAddress": {"address": to}}],
            "ccRecipients": [{"emailAddress": {"address": "someone@elsewhere.example", "name": "Someone"}}],
        }})
    }

    #[tokio::test]
    async fn send_mail_delivers_and_keeps_a_copy() {
        let ctx = ctx();
        let token = user_token(&ctx, &user_id(&ctx, ADELE), CONTOSO, "Mail.Send");
        let (status, _, body) =
            graph(&ctx, "POST", "/v1.0/me/sendMail", &token, Some(hello("MEGAN@contoso.onmicrosoft.com"))).await;
        assert_eq!(status, 202);
        assert_eq!(body, Value::Null);
        let inbox = folder(&ctx, MEGAN, "inbox");
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0]["subject"], "Hello Megan");
        assert_eq!(inbox[0]["from"]["emailAddress"]["address"], ADELE);
        assert_eq!(inbox[0]["from"]["emailAddress"]["name"], "Adele Vance");
        assert_eq!(inbox[0]["toRecipients"][0]["emailAddress"]["name"], "Megan Bowen");
        assert_eq!(inbox[0]["ccRecipients"][0]["emailAddress"]["name"], "Someone");
        assert_eq!(inbox[0]["body"], json!({"contentType": "text", "content": "Lunch?"}));
        assert_eq!(inbox[0]["isRead"], false);
        let sent = folder(&ctx, ADELE, "sentitems");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["subject"], "Hello Megan");
        assert_ne!(sent[0]["id"], inbox[0]["id"]);
        assert_eq!(folder(&ctx, ADELE, "inbox").len(), 2, "nothing new for the sender");
    }

    #[tokio::test]
    async fn save_to_sent_items_false_keeps_no_copy() {
        let ctx = ctx();
        let token = user_token(&ctx, &user_id(&ctx, ADELE), CONTOSO, "Mail.Send");
        let mut body = hello(MEGAN);
        body["saveToSentItems"] = json!(false);
        assert_eq!(graph(&ctx, "POST", "/v1.0/me/sendMail", &token, Some(body)).await.0, 202);
        assert_eq!(folder(&ctx, MEGAN, "inbox").len(), 1);
        assert!(folder(&ctx, ADELE, "sentitems").is_empty());
    }

    #[tokio::test]
    async fn send_mail_refuses_invalid_bodies_and_missing_scopes() {
        let ctx = ctx();
        let token = user_token(&ctx, &user_id(&ctx, ADELE), CONTOSO, "Mail.Send");
        let cases = [
            json!({"message": {"subject": "no recipients"}}),
            json!({"message": {"toRecipients": [{"emailAddress": {"address": "not an address"}}]}}),
            json!({"subject": "no message"}),
            json!({"message": {"toRecipients": [{"emailAddress": {"address": MEGAN}}], "internetMessageHeaders": [{"name": "Subject", "value": "x"}]}}),
        ];
        for body in cases {
            let (status, _, answer) = graph(&ctx, "POST", "/v1.0/me/sendMail", &token, Some(body.clone())).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(answer["error"]["code"], "invalidRequest");
            assert!(answer["error"]["message"].as_str().expect("text").len() > 20);
        }
        let (status, _, answer) = crate::test_support::send(
            &ctx,
            "POST",
            "/v1.0/me/sendMail",
            &[("authorization", &format!("Bearer {token}"))],
            "{not json",
        )
        .await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalidRequest")));
        assert!(folder(&ctx, MEGAN, "inbox").is_empty());

        let read_only = user_token(&ctx, &user_id(&ctx, ADELE), CONTOSO, "Mail.Read User.Read");
        let (status, _, answer) = graph(&ctx, "POST", "/v1.0/me/sendMail", &read_only, Some(hello(MEGAN))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("ErrorAccessDenied")));
        let app = app_token(&ctx, CONTOSO, &["Mail.Send"]);
        let (status, _, answer) = graph(&ctx, "POST", "/v1.0/me/sendMail", &app, Some(hello(MEGAN))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("BadRequest")));
    }

    #[tokio::test]
    async fn users_send_mail_for_apps_and_for_oneself() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["Mail.Send"]);
        let (status, _, _) =
            graph(&ctx, "POST", &format!("/v1.0/users/{MEGAN}/sendMail"), &app, Some(hello(ADELE))).await;
        assert_eq!(status, 202);
        let inbox = folder(&ctx, ADELE, "inbox");
        assert_eq!(inbox.len(), 3);
        assert!(inbox.iter().any(|m| m["from"]["emailAddress"]["address"] == MEGAN));
        assert_eq!(folder(&ctx, MEGAN, "sentitems").len(), 1);

        let (status, _, answer) =
            graph(&ctx, "POST", "/v1.0/users/bob@fabrikam.onmicrosoft.com/sendMail", &app, Some(hello(ADELE))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("ErrorInvalidUser")));
        let no_role = app_token(&ctx, CONTOSO, &["User.Read.All"]);
        let (status, _, answer) =
            graph(&ctx, "POST", &format!("/v1.0/users/{MEGAN}/sendMail"), &no_role, Some(hello(ADELE))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("ErrorAccessDenied")));

        let adele = user_id(&ctx, ADELE);
        let token = user_token(&ctx, &adele, CONTOSO, "Mail.Send");
        assert_eq!(
            graph(&ctx, "POST", &format!("/v1.0/users/{adele}/sendMail"), &token, Some(hello(MEGAN))).await.0,
            202
        );
        let (status, _, answer) =
            graph(&ctx, "POST", &format!("/v1.0/users/{MEGAN}/sendMail"), &token, Some(hello(MEGAN))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("ErrorAccessDenied")));
    }

    #[tokio::test]
    async fn pages_through_messages_with_next_links() {
        let ctx = ctx();
        let adele = user_id(&ctx, ADELE);
        let token = user_token(&ctx, &adele, CONTOSO, "Mail.Read");
        let mut url = "/v1.0/me/messages?$top=1&$select=subject,from".to_owned();
        let mut subjects = Vec::new();
        for _ in 0..5 {
            let (status, _, body) = graph(&ctx, "GET", &url, &token, None).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body["@odata.context"],
                format!("https://emulator.test/v1.0/$metadata#users('{adele}')/messages(subject,from)")
            );
            let value = body["value"].as_array().expect("value");
            assert_eq!(value.len(), 1);
            let keys: Vec<&String> = value[0].as_object().expect("object").keys().collect();
            assert_eq!(keys.len(), 3, "id, subject and from: {keys:?}");
            subjects.push(value[0]["subject"].as_str().expect("subject").to_owned());
            match body["@odata.nextLink"].as_str() {
                Some(next) => {
                    assert!(next.starts_with("https://emulator.test/v1.0/me/messages?"), "{next}");
                    url = next.trim_start_matches("https://emulator.test").to_owned();
                }
                None => break,
            }
        }
        assert_eq!(subjects, ["Welcome to the graphgate sandbox", "Can you invite me?"]);
        assert_eq!(url, "/v1.0/me/messages?$top=1&$select=subject,from&$skip=1");
    }

    #[tokio::test]
    async fn lists_folders_newest_first() {
        let ctx = ctx();
        let adele = user_id(&ctx, ADELE);
        let send = user_token(&ctx, &adele, CONTOSO, "Mail.Send");
        ctx.advance(60).expect("a small step");
        assert_eq!(graph(&ctx, "POST", "/v1.0/me/sendMail", &send, Some(hello(ADELE))).await.0, 202);
        let token = user_token(&ctx, &adele, CONTOSO, "Mail.ReadBasic");
        let (_, _, body) = graph(&ctx, "GET", "/v1.0/me/messages", &token, None).await;
        let value = body["value"].as_array().expect("value");
        assert_eq!(value.len(), 4, "two seeded, the new one in the inbox and its sent copy");
        assert_eq!(value[0]["subject"], "Hello Megan");
        assert!(value[0].get("body").is_none(), "Mail.ReadBasic leaves out bodies");
        assert!(body.get("@odata.nextLink").is_none());
        let (_, _, body) = graph(&ctx, "GET", "/v1.0/me/mailFolders/Inbox/messages", &token, None).await;
        assert_eq!(body["value"].as_array().expect("value").len(), 3);
        let sent_id = ctx.world().mailboxes[&adele].folder("sentitems").expect("sent").id.clone();
        let (_, _, body) = graph(&ctx, "GET", &format!("/v1.0/me/mailFolders/{sent_id}/messages"), &token, None).await;
        assert_eq!(body["value"].as_array().expect("value").len(), 1);
        assert_eq!(body["value"][0]["parentFolderId"], sent_id.as_str());
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/mailFolders/archive/messages", &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("ErrorItemNotFound")));
        for bad in ["$top=0", "$top=1001", "$top=x", "$skip=-1"] {
            let (status, _, body) = graph(&ctx, "GET", &format!("/v1.0/me/messages?{bad}"), &token, None).await;
            assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalidRequest")), "{bad}");
        }
        let no_scope = user_token(&ctx, &adele, CONTOSO, "Mail.Send");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/messages", &no_scope, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (403, Some("ErrorAccessDenied")));
        let app = app_token(&ctx, CONTOSO, &["Mail.Read"]);
        assert_eq!(graph(&ctx, "GET", "/v1.0/me/messages", &app, None).await.0, 400);
        let (status, _, body) = graph(&ctx, "GET", &format!("/v1.0/users/{ADELE}/messages?$top=2"), &app, None).await;
        assert_eq!(status, 200);
        assert!(body["value"][0].get("body").is_some());
        assert_eq!(
            body["@odata.nextLink"],
            format!("https://emulator.test/v1.0/users/{ADELE}/messages?$top=2&$skip=2")
        );
    }

    /// Invites Bob to Contoso with an app token; returns the guest object's ID.
    async fn invite_bob(ctx: &Arc<Ctx>) -> String {
        let app = app_token(ctx, CONTOSO, &["User.Invite.All"]);
        let body = json!({"invitedUserEmailAddress": "bob@fabrikam.onmicrosoft.com", "inviteRedirectUrl": "https://app.example/"});
        let (status, _, answer) = graph(ctx, "POST", "/v1.0/invitations", &app, Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        answer["invitedUser"]["id"].as_str().expect("id").to_owned()
    }

    #[tokio::test]
    async fn guests_have_no_mailbox_in_the_resource_tenant() {
        let ctx = ctx();
        let guest = invite_bob(&ctx).await;
        let token = user_token(&ctx, &guest, CONTOSO, "Mail.Send Mail.Read Tasks.Read User.Read");
        let (status, _, body) = graph(&ctx, "POST", "/v1.0/me/sendMail", &token, Some(hello(ADELE))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("MailboxNotEnabledForRESTAPI")));
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/messages", &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("MailboxNotEnabledForRESTAPI")));
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/todo/lists", &token, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("MailboxNotEnabledForRESTAPI")));
        assert_eq!(folder(&ctx, ADELE, "inbox").len(), 2);
        // The guest can still read its own profile.
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me", &token, None).await;
        assert_eq!(status, 200);
        assert_eq!(body["userPrincipalName"], "bob_fabrikam.onmicrosoft.com#EXT#@contoso.onmicrosoft.com");

        // The same Bob, with a token from his home tenant, sends mail from his own mailbox.
        let home = user_token(&ctx, &user_id(&ctx, "bob@fabrikam.onmicrosoft.com"), FABRIKAM, "Mail.Send");
        assert_eq!(graph(&ctx, "POST", "/v1.0/me/sendMail", &home, Some(hello(ADELE))).await.0, 202);
        let inbox = folder(&ctx, ADELE, "inbox");
        assert_eq!(inbox.len(), 3);
        assert_eq!(inbox[2]["from"]["emailAddress"]["address"], "bob@fabrikam.onmicrosoft.com");
        assert_eq!(inbox[2]["from"]["emailAddress"]["name"], "Bob Kelly");
        assert_eq!(folder(&ctx, "bob@fabrikam.onmicrosoft.com", "sentitems").len(), 1);
    }

    #[tokio::test]
    async fn personal_accounts_send_and_tenants_without_exchange_do_not() {
        let ctx = ctx();
        let kim = user_id(&ctx, "kim@outlook.example");
        let token = user_token(&ctx, &kim, graphgate_core::CONSUMERS_TENANT_ID, "Mail.Send");
        assert_eq!(graph(&ctx, "POST", "/v1.0/me/sendMail", &token, Some(hello(MEGAN))).await.0, 202);
        assert_eq!(folder(&ctx, MEGAN, "inbox")[0]["from"]["emailAddress"]["address"], "kim@outlook.example");

        ctx.world().tenants.iter_mut().for_each(|t| t.exchange = t.id != FABRIKAM);
        let bob = user_token(&ctx, &user_id(&ctx, "bob@fabrikam.onmicrosoft.com"), FABRIKAM, "Mail.Send");
        let (status, _, body) = graph(&ctx, "POST", "/v1.0/me/sendMail", &bob, Some(hello(MEGAN))).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("OrganizationFromTenantGuidNotFound")));
        assert_eq!(body["error"]["message"], format!("The tenant for tenant guid '{FABRIKAM}' does not exist."));

        // Mail to a recipient without a mailbox is accepted but lands nowhere.
        let megan_id = user_id(&ctx, MEGAN);
        ctx.world().mailboxes.remove(&megan_id);
        let adele = user_token(&ctx, &user_id(&ctx, ADELE), CONTOSO, "Mail.Send Mail.Read");
        assert_eq!(graph(&ctx, "POST", "/v1.0/me/sendMail", &adele, Some(hello(MEGAN))).await.0, 202);
        let megan = user_token(&ctx, &user_id(&ctx, MEGAN), CONTOSO, "Mail.Read");
        let (status, _, body) = graph(&ctx, "GET", "/v1.0/me/messages", &megan, None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (404, Some("MailboxNotEnabledForRESTAPI")));
    }
}
