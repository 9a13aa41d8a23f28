//! Email addresses, checked against the rules Graph applies to invitations.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use serde::{Deserialize, Serialize};

use crate::cloud::is_domain;
use crate::error::{Error, ErrorCode};
use crate::newtype::text_newtype;

/// Characters Graph refuses in an invited address.
pub const FORBIDDEN_EMAIL_CHARS: &str = "~!#$%^&*()+=[]{}\\/|;:\"<>?,";

/// A validated email address (`local@domain`), kept as written.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates an address: one `@`; a local part of 1–64 characters without whitespace or the
    /// forbidden characters `~ ! # $ % ^ & * ( ) + = [ ] { } \ / | ; : " < > ? ,`, not starting or
    /// ending with `.` or `-` and without `..`; and a domain name with at least two labels.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::new(ErrorCode::InvalidEmail, why);
        let (local, domain) = input
            .split_once('@')
            .filter(|(_, d)| !d.contains('@'))
            .ok_or_else(|| bad(format!("'{input}' is not an email address: it needs exactly one @")))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad(format!("the part before @ in '{input}' must be 1 to 64 characters")));
        }
        if let Some(c) =
            local.chars().find(|c| FORBIDDEN_EMAIL_CHARS.contains(*c) || c.is_whitespace() || c.is_control())
        {
            return Err(bad(format!(
                "'{input}' contains '{c}', which email addresses here may not use ({FORBIDDEN_EMAIL_CHARS})"
            )));
        }
        if local.starts_with(['.', '-']) || local.ends_with(['.', '-']) || local.contains("..") {
            return Err(bad(format!("in '{input}', the part before @ may not start or end with . or - or contain ..")));
        }
        if !is_domain(&domain.to_ascii_lowercase()) {
            return Err(bad(format!("'{domain}' in '{input}' is not a domain name")));
        }
        Ok(Self(input.to_owned()))
    }

    /// The address as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain part, lower-cased.
    pub fn domain(&self) -> String {
        self.0.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
    }
}

text_newtype!(debug: Email);

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(|e| serde::de::Error::custom(e.detail()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["ada@contoso.com", "first.last@sub.example.org", "a_b-c@x.io", "bob_fabrikam.com@x.com"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Email::parse("Ada@Contoso.COM").expect("valid").domain(), "contoso.com");
    }

    #[test]
    fn refuses_each_forbidden_character() {
        for c in FORBIDDEN_EMAIL_CHARS.chars() {
            let addr = format!("a{c}b@contoso.com");
            let err = Email::parse(&addr).expect_err(&addr);
            assert_eq!(err.code(), ErrorCode::InvalidEmail);
        }
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "@contoso.com",
            "ada@",
            "a@b@c.com",
            "ada@localhost",
            ".ada@x.com",
            "ada.@x.com",
            "-a@x.com",
            "a..b@x.com",
            "a b@x.com",
            &format!("{}@x.com", "a".repeat(65)),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Email>("\"x@y\"").is_err());
    }
}
