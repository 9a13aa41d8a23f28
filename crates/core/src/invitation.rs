//! Invitations (Graph `POST /invitations`) and the "does this address already belong to the
//! tenant?" query that should come before one.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::email::Email;
use crate::encode::percent_encode;
use crate::error::{Error, ErrorCode};
use crate::url::HttpUrl;

/// The `state` an invitation's onboarding URL carries: the proxy builds that URL with it, and the
/// browser module treats a redirect returning with it as "start signing in".
pub const INVITATION_RETURN_STATE: &str = "graphgate-invite";

/// `invitedUserType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum InvitedUserType {
    /// A guest (B2B collaboration user). `User.Invite.All` can invite only guests.
    #[default]
    Guest,
    /// A member; needs more than `User.Invite.All`.
    Member,
}

/// A validated invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRequest {
    /// `invitedUserEmailAddress`.
    pub email: Email,
    /// `invitedUserDisplayName`.
    pub display_name: Option<String>,
    /// `inviteRedirectUrl`: where the user lands after redeeming.
    pub redirect_url: HttpUrl,
    /// `invitedUserType`.
    pub user_type: InvitedUserType,
    /// `sendInvitationMessage`: whether Microsoft emails the invitation.
    pub send_message: bool,
    /// `invitedUserMessageInfo.customizedMessageBody`.
    pub message: Option<String>,
    /// `invitedUserMessageInfo.messageLanguage`, such as `en-US` or `zh-CN`.
    pub language: Option<String>,
}

impl InvitationRequest {
    /// Validates an invitation: the email's syntax and characters, and an absolute redirect URL
    /// that uses https unless it points at loopback.
    pub fn new(email: &str, redirect_url: &str) -> Result<Self, Error> {
        let email = Email::parse(email)?;
        let redirect_url = HttpUrl::parse(redirect_url)
            .map_err(|e| Error::new(ErrorCode::InvalidInvitation, format!("inviteRedirectUrl: {}", e.detail())))?;
        if !redirect_url.is_https() && !redirect_url.is_loopback() {
            return Err(Error::new(
                ErrorCode::InvalidInvitation,
                format!("inviteRedirectUrl must use https unless it points at localhost: '{}'", redirect_url.as_str()),
            ));
        }
        Ok(Self {
            email,
            display_name: None,
            redirect_url,
            user_type: InvitedUserType::Guest,
            send_message: false,
            message: None,
            language: None,
        })
    }

    /// Checks the optional fields: a display name of at most 256 characters, a message of at most
    /// 10,000 characters, and a language tag such as `en` or `zh-CN`.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::new(ErrorCode::InvalidInvitation, why.to_owned()));
        if self.display_name.as_deref().is_some_and(|n| n.chars().count() > 256 || n.trim().is_empty()) {
            return bad("invitedUserDisplayName must be 1 to 256 characters");
        }
        if self.message.as_deref().is_some_and(|m| m.chars().count() > 10_000) {
            return bad("the invitation message may have at most 10,000 characters");
        }
        if let Some(lang) = &self.language {
            let ok = lang.split('-').enumerate().all(|(i, part)| {
                (if i == 0 { (2..=3).contains(&part.len()) } else { (2..=8).contains(&part.len()) })
                    && part.bytes().all(|b| b.is_ascii_alphanumeric())
            });
            if !ok {
                return bad("messageLanguage must be a language tag such as en-US or zh-CN");
            }
        }
        Ok(())
    }

    /// The JSON body for `POST /v1.0/invitations`.
    pub fn to_graph_json(&self) -> Result<Value, Error> {
        self.validate()?;
        let mut body = json!({
            "invitedUserEmailAddress": self.email.as_str(),
            "inviteRedirectUrl": self.redirect_url.as_str(),
            "invitedUserType": self.user_type,
            "sendInvitationMessage": self.send_message,
        });
        if let Some(name) = &self.display_name {
            body["invitedUserDisplayName"] = json!(name);
        }
        if self.message.is_some() || self.language.is_some() {
            let mut info = json!({});
            if let Some(m) = &self.message {
                info["customizedMessageBody"] = json!(m);
            }
            if let Some(l) = &self.language {
                info["messageLanguage"] = json!(l);
            }
            body["invitedUserMessageInfo"] = info;
        }
        Ok(body)
    }
}

/// Graph's answer to `POST /invitations` (the fields graphgate reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    /// The invitation's ID.
    #[serde(default)]
    pub id: Option<String>,
    /// The link that redeems the invitation.
    pub invite_redeem_url: String,
    /// Where the user lands after redeeming.
    #[serde(default)]
    pub invite_redirect_url: Option<String>,
    /// The invited address.
    pub invited_user_email_address: String,
    /// `Guest` or `Member`.
    #[serde(default)]
    pub invited_user_type: Option<String>,
    /// `PendingAcceptance`, `Completed`, `InProgress` or `Error`.
    pub status: String,
    /// The created (or existing) user.
    #[serde(default)]
    pub invited_user: Option<InvitedUser>,
}

/// `invitedUser`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InvitedUser {
    /// The user's object ID.
    pub id: String,
}

/// The path and query of `GET /users` that finds users owning `email` (by mail, other mails,
/// UPN or proxy address), selecting what the invitation status needs. Quotes are doubled and
/// the filter is percent-encoded.
pub fn user_lookup_path(email: &Email) -> String {
    let q = email.as_str().replace('\'', "''");
    let filter = format!(
        "mail eq '{q}' or otherMails/any(a:a eq '{q}') or userPrincipalName eq '{q}' or proxyAddresses/any(p:p eq 'SMTP:{q}')"
    );
    format!(
        "/users?$filter={}&$select=id,displayName,mail,otherMails,userPrincipalName,userType,externalUserState",
        percent_encode(&filter)
    )
}

/// What graphgate knows of an address in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InviteStatus {
    /// A member of the tenant: never invite.
    Member,
    /// A guest who has not redeemed the invitation yet.
    GuestPending,
    /// A guest who has redeemed it.
    GuestAccepted,
    /// Just invited now.
    Invited,
}

/// A user found by [`user_lookup_path`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    /// Object ID.
    pub id: String,
    /// `Member` or `Guest`.
    #[serde(default)]
    pub user_type: Option<String>,
    /// `PendingAcceptance`, `Accepted`, or absent.
    #[serde(default)]
    pub external_user_state: Option<String>,
}

impl DirectoryUser {
    /// The invitation status this user stands for.
    pub fn status(&self) -> InviteStatus {
        let guest = self.user_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Guest"));
        match (guest, self.external_user_state.as_deref()) {
            (false, _) => InviteStatus::Member,
            (true, Some(s)) if s.eq_ignore_ascii_case("Accepted") => InviteStatus::GuestAccepted,
            (true, _) => InviteStatus::GuestPending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_graph_body() {
        let mut inv = InvitationRequest::new("bob@fabrikam.com", "http://localhost:5173").expect("valid");
        inv.display_name = Some("Bob".into());
        inv.message = Some("Welcome".into());
        inv.language = Some("zh-CN".into());
        let body = inv.to_graph_json().expect("json");
        assert_eq!(
            body,
            json!({
                "invitedUserEmailAddress": "bob@fabrikam.com",
                "inviteRedirectUrl": "http://localhost:5173",
                "invitedUserType": "Guest",
                "sendInvitationMessage": false,
                "invitedUserDisplayName": "Bob",
                "invitedUserMessageInfo": {"customizedMessageBody": "Welcome", "messageLanguage": "zh-CN"},
            })
        );
    }

    #[test]
    fn refuses_bad_addresses_and_urls() {
        assert_eq!(
            InvitationRequest::new("b!ob@fabrikam.com", "https://a.example").expect_err("!").code(),
            ErrorCode::InvalidEmail
        );
        assert_eq!(
            InvitationRequest::new("bob@fabrikam.com", "/relative").expect_err("relative").code(),
            ErrorCode::InvalidInvitation
        );
        assert_eq!(
            InvitationRequest::new("bob@fabrikam.com", "http://app.example.com").expect_err("http").code(),
            ErrorCode::InvalidInvitation
        );
        let mut inv = InvitationRequest::new("bob@fabrikam.com", "https://app.example.com").expect("valid");
        inv.language = Some("not a tag".into());
        assert!(inv.to_graph_json().is_err());
        inv.language = None;
        inv.display_name = Some(" ".into());
        assert!(inv.validate().is_err());
    }

    #[test]
    fn lookup_query_escapes_quotes() {
        let e = Email::parse("o'neil@contoso.com").expect("valid");
        let path = user_lookup_path(&e);
        assert!(
            path.starts_with("/users?$filter=mail%20eq%20%27o%27%27neil%40contoso.com%27%20or%20otherMails%2Fany"),
            "{path}"
        );
        assert!(path.contains("SMTP%3Ao%27%27neil%40contoso.com"), "{path}");
        assert!(path.ends_with("&$select=id,displayName,mail,otherMails,userPrincipalName,userType,externalUserState"));
    }

    #[test]
    fn classifies_directory_users() {
        let u = |t: Option<&str>, s: Option<&str>| DirectoryUser {
            id: "x".into(),
            user_type: t.map(Into::into),
            external_user_state: s.map(Into::into),
        };
        assert_eq!(u(Some("Member"), None).status(), InviteStatus::Member);
        assert_eq!(u(Some("Guest"), Some("PendingAcceptance")).status(), InviteStatus::GuestPending);
        assert_eq!(u(Some("Guest"), Some("Accepted")).status(), InviteStatus::GuestAccepted);
        assert_eq!(serde_json::to_value(InviteStatus::GuestPending).expect("json"), "guest-pending");
        let inv: Invitation = serde_json::from_str(r#"{"id":"i","inviteRedeemUrl":"https://r","invitedUserEmailAddress":"b@f.com","status":"PendingAcceptance","invitedUser":{"id":"u"}}"#).expect("parse");
        assert_eq!(inv.invited_user.expect("user").id, "u");
    }
}
