//! Mail messages for Graph's `sendMail`: validated recipients, body, attachments and headers.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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
        self.check_recipients()?;
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

    /// The recipients' part of [`Message::validate`].
    fn check_recipients(&self) -> Result<(), Error> {
        check_recipient_count([&self.to_recipients, &self.cc_recipients, &self.bcc_recipients])
    }
}

/// At least one recipient in to, cc and bcc together, at most [`MAX_RECIPIENTS`].
fn check_recipient_count(lists: [&[Recipient]; 3]) -> Result<(), Error> {
    let count: usize = lists.iter().map(|l| l.len()).sum();
    let why = if count == 0 {
        "a message needs at least one recipient in toRecipients, ccRecipients or bccRecipients".into()
    } else if count > MAX_RECIPIENTS {
        format!("a message may have at most {MAX_RECIPIENTS} recipients, not {count}")
    } else {
        return Ok(());
    };
    Err(Error::new(ErrorCode::InvalidMail, why))
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

/// A message in the short form the JavaScript API accepts: `{to, cc, bcc, subject, text | html}`,
/// where each address list is one entry or an array of them and each entry an address, `{address,
/// name}` or Graph's `{emailAddress: {address, name}}`. (A message in Graph's own shape, with
/// `toRecipients`, is sent as it is.) The addresses are read by hand-written visitors, which
/// cost the browser module far fewer bytes than serde's untagged enums.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct MailInput {
    #[serde(default)]
    to: Option<Addresses>,
    #[serde(default)]
    cc: Option<Addresses>,
    #[serde(default)]
    bcc: Option<Addresses>,
    #[serde(default)]
    subject: Option<String>,
    /// A plain-text body (`Text`), unless `html` is given.
    #[serde(default)]
    text: Option<String>,
    /// An HTML body (`HTML`).
    #[serde(default)]
    html: Option<String>,
}

/// One address entry, or an array of them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Addresses(Vec<NamedAddress>);

/// An address as given, checked when the message is made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct NamedAddress {
    address: String,
    name: Option<String>,
}

/// Reads `"ada@contoso.com"`, `{"address", "name"}` or `{"emailAddress": {"address", "name"}}`.
struct AddressVisitor;

impl<'de> Visitor<'de> for AddressVisitor {
    type Value = NamedAddress;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an address, {address, name} or {emailAddress: {address, name}}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NamedAddress, E> {
        Ok(NamedAddress { address: v.to_owned(), name: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NamedAddress, A::Error> {
        let mut out = NamedAddress::default();
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "address" => {
                    out.address = map.next_value()?;
                    seen = true;
                }
                "name" => out.name = map.next_value()?,
                "emailAddress" => {
                    out = map.next_value_seed(AddressSeed)?;
                    seen = true;
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        if seen { Ok(out) } else { Err(de::Error::missing_field("address")) }
    }
}

/// [`AddressVisitor`] as a seed, for the nested `emailAddress`.
struct AddressSeed;

impl<'de> DeserializeSeed<'de> for AddressSeed {
    type Value = NamedAddress;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<NamedAddress, D::Error> {
        d.deserialize_any(AddressVisitor)
    }
}

impl<'de> Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = Addresses;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address entry or an array of them")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Addresses, E> {
                AddressVisitor.visit_str(v).map(|a| Addresses(vec![a]))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Addresses, A::Error> {
                AddressVisitor.visit_map(map).map(|a| Addresses(vec![a]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Addresses, A::Error> {
                let mut out = Vec::new();
                while let Some(a) = seq.next_element_seed(AddressSeed)? {
                    out.push(a);
                }
                Ok(Addresses(out))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

/// The message the short form makes: Graph's message with a subject, a body and recipients,
/// which is all the short form can give. Serializing it writes what the same [`Message`]
/// writes, without the code for attachments and headers, which the browser module never sends
/// from the short form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShortMessage {
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: ItemBody,
    /// To.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to_recipients: Vec<Recipient>,
    /// Cc.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cc_recipients: Vec<Recipient>,
    /// Bcc.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bcc_recipients: Vec<Recipient>,
}

impl From<ShortMessage> for Message {
    fn from(m: ShortMessage) -> Message {
        Message {
            subject: m.subject,
            body: m.body,
            to_recipients: m.to_recipients,
            cc_recipients: m.cc_recipients,
            bcc_recipients: m.bcc_recipients,
            ..Message::default()
        }
    }
}

impl MailInput {
    /// Graph's message for this input, its recipients checked as [`Message::validate`] checks them.
    pub fn into_message(self) -> Result<ShortMessage, Error> {
        let message = ShortMessage {
            subject: self.subject.unwrap_or_default(),
            body: match self.html {
                Some(content) => ItemBody { content_type: BodyType::Html, content },
                None => ItemBody { content_type: BodyType::Text, content: self.text.unwrap_or_default() },
            },
            to_recipients: recipients(self.to)?,
            cc_recipients: recipients(self.cc)?,
            bcc_recipients: recipients(self.bcc)?,
        };
        // The short form has neither attachments nor headers: of `validate`, only the recipients'
        // rule applies, and the browser module carries no base64 decoder for the rest.
        check_recipient_count([&message.to_recipients, &message.cc_recipients, &message.bcc_recipients])?;
        Ok(message)
    }
}

fn recipients(list: Option<Addresses>) -> Result<Vec<Recipient>, Error> {
    list.unwrap_or_default()
        .0
        .into_iter()
        .map(|a| Ok(Recipient { email_address: EmailAddress { address: Email::parse(&a.address)?, name: a.name } }))
        .collect()
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

    fn simple(value: serde_json::Value) -> Result<ShortMessage, Error> {
        serde_json::from_value::<MailInput>(value).expect("deserializes").into_message()
    }

    #[test]
    fn the_simple_form_becomes_graphs_message() {
        let m = simple(json!({
            "to": "ada@contoso.com",
            "cc": ["bob@contoso.com", {"address": "cy@contoso.com", "name": "Cy"}],
            "bcc": {"emailAddress": {"address": "di@contoso.com", "name": "Di"}},
            "subject": "Hello",
            "text": "Hi"
        }))
        .expect("valid");
        // into_message checks only the recipients: what it makes passes the whole check too, and
        // is written as the same Message would be.
        let whole = Message::from(m.clone());
        whole.validate().expect("the short form's message is valid");
        assert_eq!(serde_json::to_value(&m).expect("json"), serde_json::to_value(&whole).expect("json"));
        assert_eq!(
            serde_json::to_value(&m).expect("json"),
            json!({
                "subject": "Hello",
                "body": {"contentType": "Text", "content": "Hi"},
                "toRecipients": [{"emailAddress": {"address": "ada@contoso.com"}}],
                "ccRecipients": [
                    {"emailAddress": {"address": "bob@contoso.com"}},
                    {"emailAddress": {"address": "cy@contoso.com", "name": "Cy"}}
                ],
                "bccRecipients": [{"emailAddress": {"address": "di@contoso.com", "name": "Di"}}]
            })
        );
    }

    #[test]
    fn html_wins_over_text_and_missing_parts_default() {
        let m = simple(json!({"to": ["a@b.com"], "text": "t", "html": "<b>h</b>"})).expect("valid");
        assert_eq!(m.body, ItemBody { content_type: BodyType::Html, content: "<b>h</b>".into() });
        assert_eq!(m.subject, "");
        let m = simple(json!({"cc": "a@b.com", "to": null, "bcc": []})).expect("valid");
        assert_eq!(m.body, ItemBody { content_type: BodyType::Text, content: String::new() });
        assert!(m.to_recipients.is_empty() && m.bcc_recipients.is_empty());
        let body = serde_json::to_value(&m).expect("json");
        assert!(body.get("toRecipients").is_none() && body.get("bccRecipients").is_none(), "{body}");
    }

    #[test]
    fn the_simple_form_is_validated() {
        assert_eq!(
            simple(json!({"subject": "x", "text": "y"})).expect_err("no recipient").code(),
            ErrorCode::InvalidMail
        );
        assert_eq!(simple(json!({"to": "not-an-address"})).expect_err("bad").code(), ErrorCode::InvalidEmail);
        assert_eq!(
            simple(json!({"to": ["a@b.com", {"address": "x!y@b.com"}]})).expect_err("bad").code(),
            ErrorCode::InvalidEmail
        );
        let many: Vec<String> = (0..=MAX_RECIPIENTS).map(|i| format!("u{i}@b.com")).collect();
        assert_eq!(simple(json!({"bcc": many})).expect_err("too many").code(), ErrorCode::InvalidMail);
        assert!(serde_json::from_value::<MailInput>(json!({"to": 5})).is_err());
        assert!(serde_json::from_value::<MailInput>(json!({"to": [{"name": "no address"}]})).is_err());
    }
}
