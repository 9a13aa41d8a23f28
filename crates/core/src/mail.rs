//! Mail messages for Graph's `sendMail`: validated recipients, body, attachments and headers.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::email::Email;
use crate::error::{Error, ErrorCode};

/// The largest attachment sent inline (3 MB); larger ones need an upload session.
pub const MAX_INLINE_ATTACHMENT_BYTES: usize = 3 * 1024 * 1024;
/// The most recipients graphgate accepts in one message (to, cc and bcc together).
pub const MAX_RECIPIENTS: usize = 500;

/// `{"emailAddress": {"address", "name"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// The address and optional name.
    pub email_address: EmailAddress,
}

/// An address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// The address.
    pub address: Email,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Recipient {
    /// A recipient from an address.
    pub fn new(address: &str) -> Result<Self, Error> {
        Ok(Self { email_address: EmailAddress { address: Email::parse(address)?, name: None } })
    }
}

/// `Text` or `HTML`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BodyType {
    /// Plain text.
    #[default]
    #[serde(rename = "Text", alias = "text")]
    Text,
    /// HTML.
    #[serde(rename = "HTML", alias = "html", alias = "Html")]
    Html,
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    /// `Text` or `HTML`.
    pub content_type: BodyType,
    /// The content.
    pub content: String,
}

/// A file attachment (`#microsoft.graph.fileAttachment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Always `#microsoft.graph.fileAttachment`.
    #[serde(rename = "@odata.type", default = "file_attachment_type")]
    pub odata_type: String,
    /// The file name.
    pub name: String,
    /// The MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The content, base64-encoded.
    pub content_bytes: String,
}

fn file_attachment_type() -> String {
    "#microsoft.graph.fileAttachment".to_owned()
}

/// A custom Internet message header (`x-` prefixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageHeader {
    /// The name, starting `x-` or `X-`.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A mail message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The subject.
    #[serde(default)]
    pub subject: String,
    /// The body.
    #[serde(default)]
    pub body: ItemBody,
    /// To.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to_recipients: Vec<Recipient>,
    /// Cc.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc_recipients: Vec<Recipient>,
    /// Bcc.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bcc_recipients: Vec<Recipient>,
    /// Reply-To.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<Recipient>,
    /// File attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Custom headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub internet_message_headers: Vec<MessageHeader>,
}

impl Message {
    /// Checks the message: at least one and at most [`MAX_RECIPIENTS`] recipients; attachments
    /// with a name, valid base64 and at most [`MAX_INLINE_ATTACHMENT_BYTES`] each; header names
    /// starting with `x-`. (Addresses were checked when they were parsed.)
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: String| Err(Error::new(ErrorCode::InvalidMail, why));
        let count = self.to_recipients.len() + self.cc_recipients.len() + self.bcc_recipients.len();
        if count == 0 {
            return bad("a message needs at least one recipient in toRecipients, ccRecipients or bccRecipients".into());
        }
        if count > MAX_RECIPIENTS {
            return bad(format!("a message may have at most {MAX_RECIPIENTS} recipients, not {count}"));
        }
        for a in &self.attachments {
            if a.name.trim().is_empty() {
                return bad("every attachment needs a name".into());
            }
            if a.odata_type != file_attachment_type() {
                return bad(format!("attachment '{}': only #microsoft.graph.fileAttachment is supported", a.name));
            }
            let bytes = STANDARD.decode(a.content_bytes.as_bytes()).map_err(|_| {
                Error::new(ErrorCode::InvalidMail, format!("attachment '{}': contentBytes is not valid base64", a.name))
            })?;
            if bytes.len() > MAX_INLINE_ATTACHMENT_BYTES {
                return bad(format!(
                    "attachment '{}' is {} bytes; inline attachments may be at most {MAX_INLINE_ATTACHMENT_BYTES}",
                    a.name,
                    bytes.len()
                ));
            }
        }
        for h in &self.internet_message_headers {
            let name = h.name.to_ascii_lowercase();
            if !name.starts_with("x-")
                || name.len() < 3
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return bad(format!("header '{}': custom headers must be named x-something", h.name));
            }
        }
        Ok(())
    }
}

/// The body of `POST /me/sendMail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMail {
    /// The message.
    pub message: Message,
    /// Whether to keep a copy in Sent Items (default true).
    #[serde(default = "yes")]
    pub save_to_sent_items: bool,
}

fn yes() -> bool {
    true
}

impl SendMail {
    /// Validates the message and builds the request body.
    pub fn new(message: Message, save_to_sent_items: bool) -> Result<Self, Error> {
        message.validate()?;
        Ok(Self { message, save_to_sent_items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message() -> Message {
        Message {
            subject: "Hello".into(),
            body: ItemBody { content_type: BodyType::Text, content: "Hi".into() },
            to_recipients: vec![Recipient::new("ada@contoso.com").expect("valid")],
            ..Message::default()
        }
    }

    #[test]
    fn builds_the_send_mail_body() {
        let mut m = message();
        m.attachments.push(Attachment {
            odata_type: file_attachment_type(),
            name: "a.txt".into(),
            content_type: Some("text/plain".into()),
            content_bytes: STANDARD.encode("hello"),
        });
        m.internet_message_headers.push(MessageHeader { name: "x-graphgate-demo".into(), value: "1".into() });
        let body = serde_json::to_value(SendMail::new(m, false).expect("valid")).expect("json");
        assert_eq!(
            body,
            json!({
                "message": {
                    "subject": "Hello",
                    "body": {"contentType": "Text", "content": "Hi"},
                    "toRecipients": [{"emailAddress": {"address": "ada@contoso.com"}}],
                    "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "a.txt", "contentType": "text/plain", "contentBytes": "aGVsbG8="}],
                    "internetMessageHeaders": [{"name": "x-graphgate-demo", "value": "1"}]
                },
                "saveToSentItems": false
            })
        );
    }

    #[test]
    fn parses_graph_shaped_input() {
        let s: SendMail = serde_json::from_value(json!({
            "message": {"subject": "s", "body": {"contentType": "html", "content": "<b>x</b>"},
                        "toRecipients": [{"emailAddress": {"address": "a@b.com", "name": "A"}}]}
        }))
        .expect("parse");
        assert!(s.save_to_sent_items);
        assert_eq!(s.message.body.content_type, BodyType::Html);
        s.message.validate().expect("valid");
        let bad: Result<SendMail, _> =
            serde_json::from_value(json!({"message": {"toRecipients": [{"emailAddress": {"address": "a!b@c.com"}}]}}));
        assert!(bad.is_err());
    }

    #[test]
    fn refuses_invalid_messages() {
        let code = |m: Message| m.validate().expect_err("invalid").code();
        assert_eq!(code(Message::default()), ErrorCode::InvalidMail);
        let mut m = message();
        m.attachments.push(Attachment {
            odata_type: file_attachment_type(),
            name: "a".into(),
            content_type: None,
            content_bytes: "!!".into(),
        });
        assert_eq!(code(m), ErrorCode::InvalidMail);
        let mut m = message();
        m.attachments.push(Attachment {
            odata_type: file_attachment_type(),
            name: "big".into(),
            content_type: None,
            content_bytes: STANDARD.encode(vec![0u8; MAX_INLINE_ATTACHMENT_BYTES + 1]),
        });
        assert_eq!(code(m), ErrorCode::InvalidMail);
        let mut m = message();
        m.internet_message_headers.push(MessageHeader { name: "Subject".into(), value: "x".into() });
        assert_eq!(code(m), ErrorCode::InvalidMail);
    }
}
