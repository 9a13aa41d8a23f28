//! ID token claims, decoded without checking the signature (the proxy verifies signatures),
//! the issuer rule, and the account they describe: a member, a guest or a personal account of
//! Entra, or an account of any other OpenID provider.

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
    /// Issuer: the authority's (Entra's is `{login}/{tid}/v2.0`).
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
    /// The user's object ID in the tenant that issued the token (Entra's; other providers
    /// usually send none).
    #[serde(default)]
    pub oid: Option<String>,
    /// The tenant that issued the token (Entra's; other providers usually send none).
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

    /// Checks `iss` against `issuer`, the `issuer` of the authority's discovery document, compared
    /// exactly. Entra's multi-tenant documents (`common`, `organizations`) give a template,
    /// `https://login.microsoftonline.com/{tenantid}/v2.0`: the token's own `tid` stands in for
    /// `{tenantid}` (then a token without `tid`, or with one that is not a single path segment
    /// of letters, digits, `-` and `.`, is refused). No path shape is assumed, so Entra External
    /// ID (`{tenant}.ciamlogin.com`), national clouds and any OpenID provider check the same way.
    pub fn check_issuer(&self, issuer: &str) -> Result<(), Error> {
        let invalid = |why: &str| Error::new(ErrorCode::IdTokenInvalid, why.to_owned());
        let expected = match find_ignore_case(issuer, TENANT_ID_TEMPLATE) {
            Some(at) => {
                let tid = self.tid.as_deref().unwrap_or_default();
                let segment = !tid.is_empty()
                    && tid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    && tid.bytes().any(|b| b != b'.');
                if !segment {
                    return Err(invalid(
                        "the authority's issuer is a template for the token's tenant, and the ID token carries no usable tid",
                    ));
                }
                let head = issuer.get(..at).unwrap_or_default();
                let tail = issuer.get(at + TENANT_ID_TEMPLATE.len()..).unwrap_or_default();
                [head, tid, tail].concat()
            }
            None => issuer.to_owned(),
        };
        if self.iss == expected {
            Ok(())
        } else {
            Err(invalid("the ID token's issuer is not the one the authority's discovery document names"))
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

    /// The account these claims describe. An Entra account (`oid` and `tid`) is `{oid}.{tid}`;
    /// any other account is keyed on what OpenID Connect makes unique, `iss` and `sub`:
    /// `{sub}.{iss}`, with the object ID `oid` (else `sub`) and the tenant ID `tid` (else empty).
    pub fn account(&self) -> Account {
        let tenant_id = self.tid.clone().unwrap_or_default();
        let object_id = self.oid.clone().unwrap_or_else(|| self.sub.clone());
        let home_account_id = match (&self.oid, &self.tid) {
            (Some(oid), Some(tid)) if !oid.is_empty() && !tid.is_empty() => [oid.as_str(), ".", tid].concat(),
            _ => [self.sub.as_str(), ".", &self.iss].concat(),
        };
        Account {
            home_account_id,
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

/// What Entra's multi-tenant discovery documents put where the tenant ID goes in `issuer`.
const TENANT_ID_TEMPLATE: &str = "{tenantid}";

/// The byte offset of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)))
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
    /// `{oid}.{tid}`: stable for this user in this tenant; `{sub}.{iss}` for an account of an
    /// OpenID provider that sends no `oid` and `tid`.
    pub home_account_id: String,
    /// The issuing tenant's ID (empty when the token names none).
    pub tenant_id: String,
    /// The user's object ID in that tenant (Graph `user.id`); `sub` when the token has no `oid`.
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
    fn the_issuer_is_the_discovery_documents_with_the_tokens_tid_for_the_template() {
        let claims = |iss: &str, tid: Option<&str>| IdTokenClaims {
            iss: iss.to_owned(),
            tid: tid.map(str::to_owned),
            sub: "s".into(),
            ..IdTokenClaims::default()
        };
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let member = claims(&format!("https://login.microsoftonline.com/{HOME}/v2.0"), Some(HOME));
        member.check_issuer(template).expect("template");
        member.check_issuer("https://login.microsoftonline.com/{TenantId}/v2.0").expect("the template's case");
        member.check_issuer(&format!("https://login.microsoftonline.com/{HOME}/v2.0")).expect("one tenant");
        let refused = |c: &IdTokenClaims, issuer: &str| c.check_issuer(issuer).expect_err(issuer).code();
        // The token's iss must name its own tid: another tenant's issuer is refused.
        let other = claims(&format!("https://login.microsoftonline.com/{HOME}/v2.0"), Some(CONSUMERS_TENANT_ID));
        assert_eq!(refused(&other, template), ErrorCode::IdTokenInvalid);
        assert_eq!(
            refused(&member, &format!("https://login.microsoftonline.com/{CONSUMERS_TENANT_ID}/v2.0")),
            ErrorCode::IdTokenInvalid
        );
        // No tid, or one that would reach outside its path segment, cannot fill a template.
        let no_tid = claims("https://login.microsoftonline.com//v2.0", None);
        assert_eq!(refused(&no_tid, template), ErrorCode::IdTokenInvalid);
        for bad in ["a/b", "..", "", "a?b"] {
            let c = claims(&format!("https://login.microsoftonline.com/{bad}/v2.0"), Some(bad));
            assert_eq!(refused(&c, template), ErrorCode::IdTokenInvalid, "{bad}");
        }
        // No path shape is assumed: External ID (CIAM), a national cloud, any OpenID provider.
        let ciam = format!("https://{HOME}.ciamlogin.com/{HOME}/v2.0");
        claims(&ciam, Some(HOME)).check_issuer(&ciam).expect("CIAM");
        let china = format!("https://login.partner.microsoftonline.cn/{HOME}/v2.0");
        claims(&china, Some(HOME))
            .check_issuer("https://login.partner.microsoftonline.cn/{tenantid}/v2.0")
            .expect("China");
        let oidc = claims("https://127.0.0.1:9443/contoso", None);
        oidc.check_issuer("https://127.0.0.1:9443/contoso").expect("an OpenID provider's own issuer");
        // Compared exactly: Entra's shape is not the provider's, nor is a trailing slash.
        assert_eq!(refused(&oidc, "https://127.0.0.1:9443/contoso/v2.0"), ErrorCode::IdTokenInvalid);
        assert_eq!(refused(&oidc, "https://127.0.0.1:9443/contoso/"), ErrorCode::IdTokenInvalid);
        assert_eq!(refused(&oidc, "https://127.0.0.1:9443/{tenantid}"), ErrorCode::IdTokenInvalid);
    }

    #[test]
    fn an_account_without_oid_and_tid_is_keyed_on_iss_and_sub() {
        let t = token(
            r#"{"iss":"https://id.example.com/contoso","aud":"a","exp":1,"sub":"ada-1","email":"ada@example.com","name":"Ada"}"#,
        );
        let a = IdTokenClaims::decode_unverified(&t).expect("claims").account();
        assert_eq!(a.home_account_id, "ada-1.https://id.example.com/contoso");
        assert_eq!((a.object_id.as_str(), a.tenant_id.as_str()), ("ada-1", ""));
        assert_eq!((a.username.as_str(), a.name.as_deref()), ("ada@example.com", Some("Ada")));
        assert_eq!(a.account_type, AccountType::Member);
        // The same sub from another issuer is another account.
        let elsewhere = token(r#"{"iss":"https://other.example.com/","aud":"a","exp":1,"sub":"ada-1"}"#);
        let b = IdTokenClaims::decode_unverified(&elsewhere).expect("claims").account();
        assert_ne!(a.home_account_id, b.home_account_id);
        // One of the two is not enough for Entra's form.
        let oid_only = token(r#"{"iss":"https://id.example.com/contoso","aud":"a","exp":1,"sub":"s","oid":"o-1"}"#);
        let c = IdTokenClaims::decode_unverified(&oid_only).expect("claims").account();
        assert_eq!((c.home_account_id.as_str(), c.object_id.as_str()), ("s.https://id.example.com/contoso", "o-1"));
    }

    #[test]
    fn malformed_tokens_are_typed_errors() {
        for bad in ["", "a.b", "a.b.c.d", "a.!!!.c", "a.bm90IGpzb24.c", "a.e30.c"] {
            let err = IdTokenClaims::decode_unverified(&IdToken::new(bad)).expect_err(bad);
            assert_eq!(err.code(), ErrorCode::MalformedIdToken, "{bad}");
        }
    }

    #[test]
    fn claims_in_an_array_are_refused() {
        let t = token(r#"["https://issuer.example.com", "aud", 2000000000, null, null, "sub"]"#);
        let err = IdTokenClaims::decode_unverified(&t).expect_err("an array");
        assert_eq!(err.code(), ErrorCode::MalformedIdToken);
        assert_eq!(err.detail(), "ID token claims: the body is not a JSON object");
    }
}
