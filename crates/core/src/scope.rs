//! Scopes: validated scope values and an ordered, duplicate-free set of them.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;

use crate::error::{Error, ErrorCode};
use crate::newtype::text_newtype;

/// The delegated scopes asked for when none are configured (the proxy) or given (the browser
/// module): the signed-in user's profile.
pub const DEFAULT_SCOPES: &[&str] = &["User.Read"];

/// Microsoft Graph's resource, the one a bare permission such as `User.Read` is for.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The spellings of Microsoft Graph's resource in front of a permission: its URL in each cloud,
/// and its application ID.
const GRAPH_ALIASES: [&str; 5] = [
    GRAPH_RESOURCE,
    "00000003-0000-0000-c000-000000000000",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
];

/// One scope value, such as `Mail.Send`, `openid` or `https://graph.microsoft.com/.default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope(String);

impl Scope {
    /// `openid`: asks for an ID token.
    pub const OPENID: &'static str = "openid";
    /// `offline_access`: asks for a refresh token. Without it there is none.
    pub const OFFLINE_ACCESS: &'static str = "offline_access";
    /// `profile`: name and username claims.
    pub const PROFILE: &'static str = "profile";
    /// `email`: the email claim.
    pub const EMAIL: &'static str = "email";

    /// Validates one scope token (RFC 6749 §3.3: printable ASCII, no space, `"` or `\`).
    pub fn parse(input: &str) -> Result<Self, Error> {
        let ok = !input.is_empty()
            && input.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(Error::new(
                ErrorCode::InvalidScope,
                ["'", input, "' is not a scope: scopes are printable ASCII without spaces, quotes or backslashes"]
                    .concat(),
            ))
        }
    }

    /// The scope value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of the OpenID Connect scopes (`openid`, `profile`, `email`, `offline_access`).
    pub fn is_oidc(&self) -> bool {
        [Self::OPENID, Self::OFFLINE_ACCESS, Self::PROFILE, Self::EMAIL].iter().any(|s| s.eq_ignore_ascii_case(&self.0))
    }

    /// Whether this is a `{resource}/.default` scope.
    pub fn is_default(&self) -> bool {
        self.0.ends_with("/.default")
    }

    /// The resource this scope is for: `None` for an OpenID Connect scope; Microsoft Graph
    /// ([`GRAPH_RESOURCE`]) for a bare permission (`User.Read`) and for one behind Graph's URL or
    /// application ID; else what precedes the last `/` (`api://x` for `api://x/Read`).
    pub fn resource(&self) -> Option<&str> {
        if self.is_oidc() {
            return None;
        }
        match self.0.rsplit_once('/') {
            None => Some(GRAPH_RESOURCE),
            Some((r, _)) if GRAPH_ALIASES.iter().any(|g| g.eq_ignore_ascii_case(r.trim_end_matches('/'))) => {
                Some(GRAPH_RESOURCE)
            }
            Some((r, _)) => Some(r),
        }
    }

    /// The permission without its resource: `Read` for `api://x/Read`, `User.Read` for
    /// `https://graph.microsoft.com/User.Read` and for `User.Read`.
    pub fn permission(&self) -> &str {
        self.0.rsplit_once('/').map_or(self.0.as_str(), |(_, p)| p)
    }

    /// Whether `other` names the same permission of the same resource (without regard to case):
    /// `User.Read` and `https://graph.microsoft.com/user.read` do.
    pub fn same_permission(&self, other: &Scope) -> bool {
        let same_resource = match (self.resource(), other.resource()) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (None, None) => true,
            _ => false,
        };
        same_resource && self.permission().eq_ignore_ascii_case(other.permission())
    }

    fn same(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

text_newtype!(Scope);

/// An ordered set of scopes: insertion order is kept, duplicates (compared without case, as
/// Entra does) are dropped, and a `/.default` scope cannot be mixed with other resource scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// The scopes separated by single spaces, as the `scope` parameter wants them (also what
    /// `Display` writes).
    pub fn space_separated(&self) -> String {
        self.0.iter().map(Scope::as_str).collect::<Vec<_>>().join(" ")
    }

    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from scope strings, validating each.
    pub fn parse_all<I, S>(items: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::new();
        for item in items {
            set.insert(Scope::parse(item.as_ref())?)?;
        }
        Ok(set)
    }

    /// Parses a space-separated scope string, as found in `scope` parameters and token answers.
    pub fn parse_space_separated(input: &str) -> Result<Self, Error> {
        Self::parse_all(input.split(' ').filter(|s| !s.is_empty()))
    }

    /// Adds a scope unless an equal one is present.
    pub fn insert(&mut self, scope: Scope) -> Result<(), Error> {
        if self.contains(scope.as_str()) {
            return Ok(());
        }
        let mixes_default = if scope.is_default() {
            self.0.iter().any(|s| !s.is_oidc())
        } else {
            !scope.is_oidc() && self.0.iter().any(Scope::is_default)
        };
        if mixes_default {
            return Err(Error::new(
                ErrorCode::InvalidScope,
                [scope.as_str(), " cannot be combined: a /.default scope stands alone with the OpenID scopes"].concat(),
            ));
        }
        self.0.push(scope);
        Ok(())
    }

    /// Inserts `value` at `position` (or at the end, if shorter) unless it is already present;
    /// used to put `openid` and `offline_access` in front.
    pub fn ensure_first(&mut self, value: &str, position: usize) {
        if !self.contains(value) {
            let at = position.min(self.0.len());
            self.0.insert(at, Scope(value.to_owned()));
        }
    }

    /// Removes a scope, if present.
    pub fn remove(&mut self, value: &str) {
        self.0.retain(|s| !s.same(value));
    }

    /// Whether the set holds `value` (without regard to case).
    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|s| s.same(value))
    }

    /// Whether every scope of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s.as_str()))
    }

    /// The scopes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The number of scopes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The resource a token for these scopes is for: that of the first resource scope (Entra
    /// issues a token for one resource at a time); `None` when there are only OpenID scopes.
    pub fn resource(&self) -> Option<&str> {
        self.0.iter().find_map(Scope::resource)
    }

    /// The scopes that are not OpenID Connect scopes (the resource scopes).
    pub fn resource_scopes(&self) -> Scopes {
        Scopes(self.0.iter().filter(|s| !s.is_oidc()).cloned().collect())
    }
}

impl fmt::Display for Scopes {
    /// Space-separated, as the `scope` parameter wants it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.space_separated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_drops_duplicates_without_case() {
        let s = Scopes::parse_all(["Mail.Send", "openid", "mail.send", "User.Read"]).expect("valid");
        assert_eq!(s.to_string(), "Mail.Send openid User.Read");
        assert!(s.contains("MAIL.SEND"));
        assert_eq!(s.resource_scopes().to_string(), "Mail.Send User.Read");
    }

    #[test]
    fn parses_space_separated_strings() {
        let s = Scopes::parse_space_separated("openid  offline_access Mail.Read").expect("valid");
        assert_eq!(s.len(), 3);
        let sub = Scopes::parse_space_separated("mail.read").expect("valid");
        assert!(sub.is_subset_of(&s));
        assert!(!s.is_subset_of(&sub));
    }

    #[test]
    fn knows_the_resource_a_scope_is_for() {
        let scope = |s: &str| Scope::parse(s).expect("valid");
        assert_eq!(scope("User.Read").resource(), Some(GRAPH_RESOURCE));
        assert_eq!(scope("https://graph.microsoft.com/Mail.Send").resource(), Some(GRAPH_RESOURCE));
        assert_eq!(scope("00000003-0000-0000-c000-000000000000/Mail.Send").resource(), Some(GRAPH_RESOURCE));
        assert_eq!(scope("https://graph.microsoft.com/.default").resource(), Some(GRAPH_RESOURCE));
        assert_eq!(scope("api://x/Read").resource(), Some("api://x"));
        assert_eq!(scope("api://x/Read").permission(), "Read");
        assert_eq!(scope("openid").resource(), None);
        assert!(scope("User.Read").same_permission(&scope("https://graph.microsoft.com/user.read")));
        assert!(!scope("User.Read").same_permission(&scope("api://x/User.Read")));
        let set = Scopes::parse_all(["openid", "api://x/Read"]).expect("valid");
        assert_eq!(set.resource(), Some("api://x"));
        assert_eq!(Scopes::parse_all(["openid"]).expect("valid").resource(), None);
    }

    #[test]
    fn rejects_bad_scope_tokens() {
        for bad in ["", "a b", "a\"b", "a\\b", "é"] {
            assert_eq!(Scope::parse(bad).expect_err(bad).code(), ErrorCode::InvalidScope);
        }
    }

    #[test]
    fn default_scope_stands_alone() {
        assert!(Scopes::parse_all(["https://graph.microsoft.com/.default", "openid"]).is_ok());
        assert!(Scopes::parse_all(["https://graph.microsoft.com/.default", "Mail.Read"]).is_err());
        assert!(Scopes::parse_all(["Mail.Read", "https://graph.microsoft.com/.default"]).is_err());
    }

    #[test]
    fn ensure_first_and_remove() {
        let mut s = Scopes::parse_all(["Mail.Send"]).expect("valid");
        s.ensure_first(Scope::OPENID, 0);
        s.ensure_first(Scope::OFFLINE_ACCESS, 1);
        s.ensure_first(Scope::OPENID, 0);
        assert_eq!(s.to_string(), "openid offline_access Mail.Send");
        s.remove("OFFLINE_ACCESS");
        assert_eq!(s.to_string(), "openid Mail.Send");
        assert!(!s.is_empty());
    }
}
