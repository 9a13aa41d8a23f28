//! B2B invitations (`POST /invitations`): guest user objects pending redemption, their redeem
//! links, and the refusals Entra gives for members and missing permissions.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use graphgate_core::invitation::{InvitationRequest, InvitedUserType};
use serde_json::{Map, Value, json};

use super::{Answer, auth, read_json};
use crate::Ctx;
use crate::errors::graph_error;
use crate::ids::{guid, opaque};
use crate::state::{InvitationRecord, User, UserType, World, message_json};

/// Delegated permissions that let a user invite guests.
const INVITE_SCOPES: &[&str] = &["User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];
/// Application permissions that let an application invite guests.
const INVITE_ROLES: &[&str] = &["User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];
/// Permissions that may invite members too.
const MEMBER_PERMISSIONS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];

fn bad_request(message: &str) -> Response {
    graph_error(400, "BadRequest", Some(message))
}

/// Reads the §8.1 fields and validates them.
fn parse(value: &Value) -> Result<InvitationRequest, String> {
    let Some(obj) = value.as_object() else { return Err("The request body must be a JSON object.".into()) };
    let text = |o: &Map<String, Value>, name: &str| -> Result<Option<String>, String> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{name} must be a string.")),
        }
    };
    let email = text(obj, "invitedUserEmailAddress")?.ok_or("invitedUserEmailAddress is required.")?;
    let redirect = text(obj, "inviteRedirectUrl")?.ok_or("inviteRedirectUrl is required.")?;
    let mut request = InvitationRequest::new(email.trim(), redirect.trim()).map_err(|e| e.detail().to_owned())?;
    request.display_name = text(obj, "invitedUserDisplayName")?;
    request.user_type = match text(obj, "invitedUserType")? {
        None => InvitedUserType::Guest,
        Some(t) if t.eq_ignore_ascii_case("Guest") => InvitedUserType::Guest,
        Some(t) if t.eq_ignore_ascii_case("Member") => InvitedUserType::Member,
        Some(_) => return Err("invitedUserType must be Guest or Member.".into()),
    };
    request.send_message = match obj.get("sendInvitationMessage") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("sendInvitationMessage must be true or false.".into()),
    };
    match obj.get("invitedUserMessageInfo") {
        None | Some(Value::Null) => {}
        Some(Value::Object(info)) => {
            request.message = text(info, "customizedMessageBody")?;
            request.language = text(info, "messageLanguage")?;
        }
        Some(_) => return Err("invitedUserMessageInfo must be an object.".into()),
    }
    if obj.get("resetRedemption").and_then(Value::as_bool) == Some(true) {
        return Err("resetRedemption is not supported by graphgate-emulator.".into());
    }
    request.validate().map_err(|e| e.detail().to_owned())?;
    Ok(request)
}

/// `POST /invitations`.
pub(crate) async fn create(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Body) -> Answer {
    let caller = auth::caller(&ctx, &headers)?;
    if !caller.allowed(INVITE_SCOPES, INVITE_ROLES) {
        return Err(graph_error(
            403,
            "Authorization_RequestDenied",
            Some("Insufficient privileges to complete the operation."),
        ));
    }
    let value = read_json(body, "BadRequest").await?;
    let request = parse(&value).map_err(|why| bad_request(&why))?;
    if request.user_type == InvitedUserType::Member && !caller.allowed(MEMBER_PERMISSIONS, MEMBER_PERMISSIONS) {
        return Err(graph_error(
            403,
            "Authorization_RequestDenied",
            Some(
                "Insufficient privileges to complete the operation. Inviting users as Member needs User.ReadWrite.All \
                 or Directory.ReadWrite.All; User.Invite.All invites guests only.",
            ),
        ));
    }
    let mut world = ctx.world();
    let Some(tenant) = world.tenant(&caller.tid).cloned() else {
        return Err(graph_error(
            403,
            "Authorization_RequestDenied",
            Some("Invitations are sent from an organization's directory; this token's tenant has none."),
        ));
    };
    let address = request.email.as_str().to_owned();
    let owners: Vec<&User> = world.users_in(&tenant.id).filter(|u| u.owns_address(&address)).collect();
    if owners.iter().any(|u| u.user_type == UserType::Member) {
        return Err(bad_request("Non-external user already exists with the given mail address and can't be invited"));
    }
    let existing = owners.iter().find(|u| u.user_type == UserType::Guest).map(|u| (*u).clone());
    let now = ctx.now();
    let (guest, status) = match existing {
        Some(guest) => {
            let accepted = guest.external_state.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("Accepted"));
            (guest, if accepted { "Completed" } else { "PendingAcceptance" })
        }
        None => {
            let local = address.split('@').next().unwrap_or(&address).to_owned();
            let domain = tenant.domains.first().cloned().unwrap_or_else(|| format!("{}.onmicrosoft.com", tenant.id));
            let guest = User {
                id: guid(),
                tenant_id: tenant.id.clone(),
                upn: format!("{}#EXT#@{domain}", address.replace('@', "_")),
                name: request.display_name.clone().unwrap_or(local),
                mail: Some(address.clone()),
                other_mails: vec![address.clone()],
                mailbox: false,
                admin: false,
                user_type: UserType::Guest,
                external_state: Some("PendingAcceptance".into()),
                home_user: world.member_by_address(&address).map(|u| u.id.clone()),
            };
            world.users.push(guest.clone());
            (guest, "PendingAcceptance")
        }
    };
    let record = InvitationRecord {
        id: guid(),
        tenant_id: tenant.id.clone(),
        email: address.clone(),
        user_id: guest.id.clone(),
        redeem_token: opaque("inv."),
        redirect_url: request.redirect_url.as_str().to_owned(),
        created_at: now,
    };
    let redeem_url = format!("{}/redeem?rd={}", ctx.base, record.redeem_token);
    if request.send_message {
        notify(&mut world, &tenant.name, &request, &redeem_url, now);
    }
    let answer = json!({
        "id": record.id,
        "inviteRedeemUrl": redeem_url,
        "inviteRedirectUrl": record.redirect_url,
        "invitedUserDisplayName": request.display_name,
        "invitedUserEmailAddress": address,
        "invitedUserType": request.user_type,
        "sendInvitationMessage": request.send_message,
        "resetRedemption": false,
        "status": status,
        "invitedUser": {"id": guest.id},
        "invitedUserMessageInfo": {
            "messageLanguage": request.language,
            "ccRecipients": [],
            "customizedMessageBody": request.message,
        },
    });
    world.invitations.push(record);
    drop(world);
    let mut body = Map::new();
    body.insert("@odata.context".into(), Value::String(super::context_url(&ctx, "invitations/$entity")));
    if let Value::Object(fields) = answer {
        body.extend(fields);
    }
    Ok((StatusCode::CREATED, Json(Value::Object(body))).into_response())
}

/// With `sendInvitationMessage`, the invitation email lands in the invitee's home mailbox when
/// the emulator holds one.
fn notify(world: &mut World, tenant_name: &str, request: &InvitationRequest, redeem_url: &str, now: u64) {
    let address = request.email.as_str();
    let Some(home) = world.member_by_address(address).filter(|u| world.has_mailbox(u)).map(|u| u.id.clone()) else {
        return;
    };
    let sender = format!("Microsoft Invitations on behalf of {tenant_name}");
    let from = json!({"emailAddress": {"address": "invites@microsoft.com", "name": sender}});
    let to = json!({"emailAddress": {"address": address, "name": request.display_name.as_deref().unwrap_or(address)}});
    let personal = request.message.as_deref().map(|m| format!("{m}\n\n")).unwrap_or_default();
    let content = format!(
        "{personal}You're invited to access applications within {tenant_name}.\n\nAccept invitation: {redeem_url}"
    );
    let body = json!({"contentType": "text", "content": content});
    let subject = format!("You're invited to the {tenant_name} organization");
    if let Some(inbox) = world.mailboxes.get_mut(&home).and_then(|mb| mb.folder_mut("inbox")) {
        let extra = json!({"parentFolderId": inbox.id});
        inbox.messages.push(message_json(&from, &[to], &subject, &body, now, &extra));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{app_token, ctx, graph, user_id, user_token};

    const CONTOSO: &str = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490";
    const BOB: &str = "bob@fabrikam.onmicrosoft.com";

    fn invite(address: &str) -> Value {
        json!({"invitedUserEmailAddress": address, "inviteRedirectUrl": "https://app.example/after"})
    }

    #[tokio::test]
    async fn creates_a_pending_guest() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Invite.All"]);
        let mut body = invite(BOB);
        body["invitedUserDisplayName"] = json!("Bob from Fabrikam");
        body["invitedUserMessageInfo"] = json!({"customizedMessageBody": "Welcome!", "messageLanguage": "en-US"});
        let (status, _, answer) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(body)).await;
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer["status"], "PendingAcceptance");
        assert_eq!(answer["invitedUserEmailAddress"], BOB);
        assert_eq!(answer["invitedUserDisplayName"], "Bob from Fabrikam");
        assert_eq!(answer["invitedUserType"], "Guest");
        assert_eq!(answer["inviteRedirectUrl"], "https://app.example/after");
        assert_eq!(answer["sendInvitationMessage"], false);
        assert_eq!(answer["invitedUserMessageInfo"]["customizedMessageBody"], "Welcome!");
        let redeem = answer["inviteRedeemUrl"].as_str().expect("url");
        let token = redeem.strip_prefix("https://emulator.test/redeem?rd=").expect("redeem url");
        assert!(token.starts_with("inv."));

        let world = ctx.world();
        let guest = world.user(answer["invitedUser"]["id"].as_str().expect("id")).expect("guest");
        assert_eq!(guest.tenant_id, CONTOSO);
        assert_eq!(guest.user_type, UserType::Guest);
        assert_eq!(guest.upn, "bob_fabrikam.onmicrosoft.com#EXT#@contoso.onmicrosoft.com");
        assert_eq!(guest.mail.as_deref(), Some(BOB));
        assert_eq!(guest.name, "Bob from Fabrikam");
        assert_eq!(guest.external_state.as_deref(), Some("PendingAcceptance"));
        assert_eq!(guest.home_user, world.member_by_address(BOB).map(|u| u.id.clone()));
        assert!(!guest.mailbox);
        let record = world.invitations.iter().find(|r| r.redeem_token == token).expect("record");
        assert_eq!(
            (record.user_id.as_str(), record.id.as_str()),
            (guest.id.as_str(), answer["id"].as_str().expect("id"))
        );
        assert_eq!(record.redirect_url, "https://app.example/after");
        assert_eq!(
            world.mailboxes[&guest.home_user.clone().expect("home")].folder("inbox").expect("inbox").messages.len(),
            0
        );
    }

    #[tokio::test]
    async fn answers_an_existing_guest_with_a_fresh_link() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Invite.All"]);
        let (_, _, first) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(invite(BOB))).await;
        let mut again = invite("BOB@fabrikam.onmicrosoft.com");
        again["sendInvitationMessage"] = json!(true);
        let (status, _, second) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(again)).await;
        assert_eq!(status, 201);
        assert_eq!(second["invitedUser"]["id"], first["invitedUser"]["id"]);
        assert_eq!(second["status"], "PendingAcceptance");
        assert_ne!(second["inviteRedeemUrl"], first["inviteRedeemUrl"]);
        let guest_id = first["invitedUser"]["id"].as_str().expect("id").to_owned();
        {
            let world = ctx.world();
            assert_eq!(world.users.iter().filter(|u| u.user_type == UserType::Guest).count(), 1);
            assert_eq!(world.invitations.len(), 2);
            assert!(world.invitations.iter().all(|r| r.user_id == guest_id));
            // sendInvitationMessage put the invitation in Bob's home mailbox.
            let bob = world.member_by_address(BOB).expect("bob");
            let inbox = &world.mailboxes[&bob.id].folder("inbox").expect("inbox").messages;
            assert_eq!(inbox.len(), 1);
            let content = inbox[0]["body"]["content"].as_str().expect("content");
            assert!(content.contains(second["inviteRedeemUrl"].as_str().expect("url")));
        }
        ctx.world().user_mut(&guest_id).expect("guest").external_state = Some("Accepted".into());
        let (status, _, third) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(invite(BOB))).await;
        assert_eq!((status, third["status"].as_str()), (201, Some("Completed")));
    }

    #[tokio::test]
    async fn refuses_member_addresses_and_member_type() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Invite.All"]);
        let (status, _, answer) =
            graph(&ctx, "POST", "/v1.0/invitations", &app, Some(invite("Megan@contoso.onmicrosoft.com"))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("BadRequest")));
        assert_eq!(
            answer["error"]["message"],
            "Non-external user already exists with the given mail address and can't be invited"
        );

        let mut member = invite(BOB);
        member["invitedUserType"] = json!("Member");
        let (status, _, answer) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(member.clone())).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
        assert!(answer["error"]["message"].as_str().expect("text").contains("User.ReadWrite.All"));
        let admin = app_token(&ctx, CONTOSO, &["User.ReadWrite.All"]);
        let (status, _, answer) = graph(&ctx, "POST", "/v1.0/invitations", &admin, Some(member)).await;
        assert_eq!((status, answer["invitedUserType"].as_str()), (201, Some("Member")));
        assert_eq!(ctx.world().invitations.len(), 1);
    }

    #[tokio::test]
    async fn needs_a_permission() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Read.All"]);
        let (status, _, answer) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(invite(BOB))).await;
        assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("Authorization_RequestDenied")));
        let adele = user_id(&ctx, "adele@contoso.onmicrosoft.com");
        let user = user_token(&ctx, &adele, CONTOSO, "User.Read");
        assert_eq!(graph(&ctx, "POST", "/v1.0/invitations", &user, Some(invite(BOB))).await.0, 403);
        let inviter = user_token(&ctx, &adele, CONTOSO, "User.Invite.All");
        assert_eq!(graph(&ctx, "POST", "/v1.0/invitations", &inviter, Some(invite(BOB))).await.0, 201);
        let kim = user_token(
            &ctx,
            &user_id(&ctx, "kim@outlook.example"),
            graphgate_core::CONSUMERS_TENANT_ID,
            "User.Invite.All",
        );
        assert_eq!(graph(&ctx, "POST", "/v1.0/invitations", &kim, Some(invite(BOB))).await.0, 403);
    }

    #[tokio::test]
    async fn refuses_invalid_requests() {
        let ctx = ctx();
        let app = app_token(&ctx, CONTOSO, &["User.Invite.All"]);
        let cases = [
            invite("b!ob@fabrikam.onmicrosoft.com"),
            invite("not-an-address"),
            json!({"invitedUserEmailAddress": BOB}),
            json!({"inviteRedirectUrl": "https://app.example/"}),
            json!({"invitedUserEmailAddress": BOB, "inviteRedirectUrl": "http://app.example/"}),
            json!({"invitedUserEmailAddress": BOB, "inviteRedirectUrl": "https://app.example/", "invitedUserType": "Owner"}),
            json!({"invitedUserEmailAddress": BOB, "inviteRedirectUrl": "https://app.example/", "sendInvitationMessage": "yes"}),
            json!({"invitedUserEmailAddress": BOB, "inviteRedirectUrl": "https://app.example/", "invitedUserMessageInfo": {"messageLanguage": "not a tag"}}),
            json!([1, 2]),
        ];
        for body in cases {
            let (status, _, answer) = graph(&ctx, "POST", "/v1.0/invitations", &app, Some(body.clone())).await;
            assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("BadRequest")), "{body}");
        }
        let (status, _, answer) =
            graph(&ctx, "POST", "/v1.0/invitations", &app, Some(invite("b!ob@fabrikam.onmicrosoft.com"))).await;
        assert_eq!(status, 400);
        assert!(answer["error"]["message"].as_str().expect("text").contains('!'));
        assert!(ctx.world().invitations.is_empty());
    }
}
