//! The write-up's whole journey as one test: the external user is refused with AADSTS50020; the
//! app invites them; they redeem; they sign in; as a guest through the tenant authority their
//! sendMail fails with MailboxNotEnabledForRESTAPI; through /common/ it succeeds and arrives.

use crate::support::*;
use reqwest::Method;
use serde_json::json;

const SCOPE: &str = "openid offline_access email Mail.ReadWrite Mail.Send";

fn mail_to_adele(subject: &str) -> serde_json::Value {
    json!({"message": {
        "subject": subject,
        "body": {"contentType": "Text", "content": "Sent from the write-up's journey."},
        "toRecipients": [{"emailAddress": {"address": "adele@contoso.onmicrosoft.com"}}]
    }})
}

#[tokio::test]
async fn the_write_ups_journey() {
    let emu = start().await;

    // 1. Bob of Fabrikam signs in through the Contoso authority: AADSTS50020.
    let (_, challenge) = pkce();
    let query = authorize_query(SCOPE, &challenge, &[]);
    let (status, location, _) = post_step(&emu, CONTOSO, &query, BOB, "select").await;
    assert_eq!(status, 303);
    let refused = redirect_params(&location.unwrap());
    assert_eq!(refused["error"], "access_denied");
    assert!(refused["error_description"].starts_with("AADSTS50020:"), "{}", refused["error_description"]);

    // 2. The app invites him with an app-only token (client credentials, User.Invite.All).
    let app = app_token(&emu).await;
    let (status, invitation) = graph(
        &emu,
        Method::POST,
        "/invitations",
        &app,
        Some(json!({
            "invitedUserEmailAddress": "bob@fabrikam.onmicrosoft.com",
            "inviteRedirectUrl": "http://localhost:5173/",
            "invitedUserType": "Guest",
            "sendInvitationMessage": true
        })),
    )
    .await;
    assert_eq!(status, 201, "{invitation}");
    assert_eq!(invitation["status"], "PendingAcceptance");

    // 3. He redeems the invitation and lands on the redirect URL.
    let redeem = invitation["inviteRedeemUrl"].as_str().unwrap();
    assert_eq!(emu.http.get(redeem).send().await.unwrap().status(), 200);
    let rd = redeem.split("rd=").nth(1).unwrap();
    let res = emu.http.post(format!("{}/redeem", emu.base())).form(&[("rd", rd)]).send().await.unwrap();
    assert_eq!(res.headers().get("location").unwrap(), "http://localhost:5173/");
    assert_eq!(emu.handle.invitations()[0]["externalUserState"], "Accepted");

    // 4. He signs in through the Contoso authority, now as a guest.
    let guest = sign_in_and_redeem(&emu, CONTOSO, SCOPE, BOB).await;
    let id = claims(guest["id_token"].as_str().unwrap());
    assert_eq!(id["tid"], CONTOSO);
    assert!(id["idp"].is_string());

    // 5. As a guest, the mailbox lives elsewhere: MailboxNotEnabledForRESTAPI.
    let (status, body) = graph(
        &emu,
        Method::POST,
        "/me/sendMail",
        guest["access_token"].as_str().unwrap(),
        Some(mail_to_adele("as a guest")),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "MailboxNotEnabledForRESTAPI");

    // 6. Through /common/ the token comes from his home tenant, and the mail goes out.
    let home = sign_in_and_redeem(&emu, "common", SCOPE, BOB).await;
    assert_eq!(claims(home["id_token"].as_str().unwrap())["tid"], FABRIKAM);
    let (status, body) = graph(
        &emu,
        Method::POST,
        "/me/sendMail",
        home["access_token"].as_str().unwrap(),
        Some(mail_to_adele("through common")),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let inbox = emu.handle.mailbox("adele@contoso.onmicrosoft.com").unwrap();
    let arrived = inbox.iter().find(|m| m["subject"] == "through common").expect("the message arrived");
    assert_eq!(arrived["parentFolder"], "inbox");
    assert_eq!(arrived["from"]["emailAddress"]["address"], "bob@fabrikam.onmicrosoft.com");
    assert!(!inbox.iter().any(|m| m["subject"] == "as a guest"));
}
