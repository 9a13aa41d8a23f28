//! ID token claims, decoded without checking the signature (the proxy verifies signatures),
//! and the account they describe: a member, a guest or a personal account.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::cloud::CONSUMERS_TENANT_ID;
use crate::error::{Error, ErrorCode};
use crate::graph::parse_json_object;
use crate::secret::{IdToken, Nonce};

/// The claims of a v2.0 ID token that graphgate reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer: `{login}/{tid}/v2.0`.
    pub iss: String,
    /// Audience: the client ID (a string or a one-element array in JSON).
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    #[serde(default)]
    pub iat: Option<u64>,
    /// Not before, Unix seconds.
    #[serde(default)]
    pub nbf: Option<u64>,
    /// Subject: pairwise per application.
    pub sub: String,
    /// The user's object ID in the tenant that issued the token.
    #[serde(default)]
    pub oid: Option<String>,
    /// The tenant that issued the token.
    #[serde(default)]
    pub tid: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The username to show (an email, UPN or phone number); never use it to authorize.
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Email address, when the account has one.
    #[serde(default)]
    pub email: Option<String>,
    /// The nonce of the authorize request.
    #[serde(default)]
    pub nonce: Option<String>,
    /// The identity provider, present when it differs from the issuer (guests).
    #[serde(default)]
    pub idp: Option<String>,
    /// Token version, `2.0`.
    #[serde(default)]
    pub ver: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// Decodes the payload of a compact JWT without verifying it.
pub fn decode_jwt_payload(token: &str) -> Result<Vec<u8>, Error> {
    let bad = |why: &str| Error::new(ErrorCode::MalformedIdToken, why.to_owned());
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_sig), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("a JWT has three dot-separated parts"));
    };
    URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| bad("the JWT payload is not base64url"))
}

impl IdTokenClaims {
    /// Decodes the claims **without** checking the signature, issuer, audience or expiry.
    /// Use it only for display, or after the token was verified.
    pub fn decode_unverified(token: &IdToken) -> Result<Self, Error> {
        let payload = decode_jwt_payload(token.expose_secret())?;
        let text = core::str::from_utf8(&payload)
            .map_err(|_| Error::new(ErrorCode::MalformedIdToken, "the JWT payload is not UTF-8"))?;
        parse_json_object(text, "ID token claims")
            .map_err(|e| Error::new(ErrorCode::MalformedIdToken, e.detail().to_owned()))
    }

    /// Checks the nonce against the one sent on the authorize request (constant time).
    pub fn check_nonce(&self, expected: &Nonce) -> Result<(), Error> {
        match &self.nonce {
            Some(n) if Nonce::new(n.clone()) == *expected => Ok(()),
            Some(_) => {
                Err(Error::new(ErrorCode::NonceMismatch, "the ID token's nonce is not the one this sign-in sent"))
            }
            None => Err(Error::new(ErrorCode::NonceMismatch, "the ID token carries no nonce")),
        }
    }

    /// Whether the account is a member of the issuing tenant, a guest in it, or a personal account.
    pub fn account_type(&self) -> AccountType {
        if self.tid.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(CONSUMERS_TENANT_ID)) {
            return AccountType::Personal;
        }
        let home_elsewhere = self.idp.as_deref().is_some_and(|idp| {
            let idp = idp.trim_end_matches('/');
            idp != self.iss.trim_end_matches('/') && !self.tid.as_deref().is_some_and(|t| idp.contains(t))
        });
        if home_elsewhere { AccountType::Guest } else { AccountType::Member }
    }

    /// The account these claims describe.
    pub fn account(&self) -> Account {
        let tenant_id = self.tid.clone().unwrap_or_default();
        let object_id = self.oid.clone().unwrap_or_else(|| self.sub.clone());
        Account {
            home_account_id: format!("{object_id}.{tenant_id}"),
            tenant_id,
            object_id,
            username: self.preferred_username.clone().or_else(|| self.email.clone()).unwrap_or_default(),
            name: self.name.clone(),
            email: self.email.clone(),
            account_type: self.account_type(),
            idp: self.idp.clone(),
        }
    }
}

/// How an account relates to the tenant that issued its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    /// A member of the issuing tenant: its mailbox, if any, is there.
    Member,
    /// A guest (B2B) in the issuing tenant: it has no mailbox there.
    Guest,
    /// A personal Microsoft account.
    Personal,
}

/// The signed-in account, as the browser module and the proxy present it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// `{oid}.{tid}`: stable for this user in this tenant.
    pub home_account_id: String,
    /// The issuing tenant's ID.
    pub tenant_id: String,
    /// The user's object ID in that tenant (Graph `user.id`).
    pub object_id: String,
    /// The username to show.
    pub username: String,
    /// The display name.
    pub name: Option<String>,
    /// The email address, when known.
    pub email: Option<String>,
    /// Member, guest or personal.
    pub account_type: AccountType,
    /// The home identity provider of a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: &str) -> IdToken {
        IdToken::new(format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims)))
    }

    const HOME: &str = "aaaaaaaa-0000-0000-0000-000000000001";

    #[test]
    fn decodes_a_members_claims() {
        let t = token(&format!(
            r#"{{"iss":"https://login.microsoftonline.com/{HOME}/v2.0","aud":"6731de76-14a6-49ae-97bc-6eba6914391e","exp":2000000000,"iat":1,"nbf":1,"sub":"s","oid":"o-1","tid":"{HOME}","name":"Ada","preferred_username":"ada@contoso.com","email":"ada@contoso.com","nonce":"n-1","ver":"2.0"}}"#
        ));
        let c = IdTokenClaims::decode_unverified(&t).expect("claims");
        assert_eq!(c.aud, vec!["6731de76-14a6-49ae-97bc-6eba6914391e"]);
        assert_eq!(c.account_type(), AccountType::Member);
        c.check_nonce(&Nonce::new("n-1")).expect("nonce");
        assert_eq!(c.check_nonce(&Nonce::new("n-2")).expect_err("mismatch").code(), ErrorCode::NonceMismatch);
        let a = c.account();
        assert_eq!(a.home_account_id, format!("o-1.{HOME}"));
        assert_eq!(a.username, "ada@contoso.com");
        let json = serde_json::to_value(&a).expect("json");
        assert_eq!(json["accountType"], "member");
        assert_eq!(json["homeAccountId"], format!("o-1.{HOME}"));
    }

    #[test]
    fn recognises_guests_and_personal_accounts() {
        let guest = token(&format!(
            r#"{{"iss":"https://login.microsoftonline.com/{HOME}/v2.0","aud":["a"],"exp":1,"sub":"s","tid":"{HOME}","idp":"https://sts.windows.net/bbbbbbbb-0000-0000-0000-000000000002/"}}"#
        ));
        assert_eq!(IdTokenClaims::decode_unverified(&guest).expect("claims").account_type(), AccountType::Guest);
        let msa_guest = token(&format!(r#"{{"iss":"x","aud":"a","exp":1,"sub":"s","tid":"{HOME}","idp":"live.com"}}"#));
        assert_eq!(IdTokenClaims::decode_unverified(&msa_guest).expect("claims").account_type(), AccountType::Guest);
        let personal = token(&format!(r#"{{"iss":"x","aud":"a","exp":1,"sub":"s","tid":"{CONSUMERS_TENANT_ID}"}}"#));
        assert_eq!(IdTokenClaims::decode_unverified(&personal).expect("claims").account_type(), AccountType::Personal);
        let own_idp = token(&format!(
            r#"{{"iss":"https://login.microsoftonline.com/{HOME}/v2.0","aud":"a","exp":1,"sub":"s","tid":"{HOME}","idp":"https://sts.windows.net/{HOME}/"}}"#
        ));
        assert_eq!(IdTokenClaims::decode_unverified(&own_idp).expect("claims").account_type(), AccountType::Member);
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        for bad in ["", "a.b", "a.b.c.d", "a.!!!.c", "a.bm90IGpzb24.c", "a.e30.c"] {
            let err = IdTokenClaims::decode_unverified(&IdToken::new(bad)).expect_err(bad);
            assert_eq!(err.code(), ErrorCode::MalformedIdToken, "{bad}");
        }
    }
}
