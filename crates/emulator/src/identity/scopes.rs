//! Delegated permissions the emulator knows, and how requested scope strings map onto them.

use std::collections::BTreeSet;

/// The OpenID Connect scopes.
pub(crate) const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// Graph delegated permissions: (name, needs admin consent).
const GRAPH: &[(&str, bool)] = &[
    ("User.Read", false),
    ("User.ReadWrite", false),
    ("User.ReadBasic.All", false),
    ("User.Read.All", true),
    ("User.ReadWrite.All", true),
    ("User.Invite.All", true),
    ("Directory.Read.All", true),
    ("Mail.ReadBasic", false),
    ("Mail.Read", false),
    ("Mail.ReadWrite", false),
    ("Mail.Send", false),
    ("Mail.Send.Shared", false),
    ("Mail.Read.Shared", false),
    ("Mail.ReadWrite.Shared", false),
    ("Tasks.Read", false),
    ("Tasks.ReadWrite", false),
    ("Calendars.Read", false),
    ("Contacts.Read", false),
];

/// A requested scope, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requested {
    /// `openid`, `profile`, `email` or `offline_access` (lower-case).
    Oidc(&'static str),
    /// A Graph permission, canonical spelling.
    Graph(&'static str),
    /// `{graph}/.default`: whatever is already granted (or `User.Read` when nothing is).
    Default,
}

/// The Graph resource prefixes accepted in front of a permission name.
fn strip_resource<'a>(base: &str, scope: &'a str) -> &'a str {
    for prefix in ["https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000/"] {
        if let Some(rest) =
            scope.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &scope[prefix.len()..])
        {
            return rest;
        }
    }
    let own = format!("{base}/");
    scope.get(..own.len()).filter(|p| p.eq_ignore_ascii_case(&own)).map(|_| &scope[own.len()..]).unwrap_or(scope)
}

/// Understands one scope string, or `None` when Entra would refuse it (AADSTS70011).
pub(crate) fn understand(base: &str, scope: &str) -> Option<Requested> {
    if let Some(o) = OIDC.iter().find(|o| o.eq_ignore_ascii_case(scope)) {
        return Some(Requested::Oidc(o));
    }
    let name = strip_resource(base, scope);
    if name == ".default" && name.len() < scope.len() {
        return Some(Requested::Default);
    }
    GRAPH.iter().find(|(g, _)| g.eq_ignore_ascii_case(name)).map(|(g, _)| Requested::Graph(g))
}

/// Whether a Graph permission needs an administrator's consent.
pub(crate) fn needs_admin(name: &str) -> bool {
    GRAPH.iter().any(|(g, admin)| *admin && g.eq_ignore_ascii_case(name))
}

/// A parsed `scope` parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScopeRequest {
    /// The OIDC scopes asked for.
    pub oidc: Vec<String>,
    /// The Graph permissions asked for.
    pub graph: BTreeSet<String>,
    /// Whether `/.default` was asked for.
    pub default: bool,
}

impl ScopeRequest {
    /// Parses a space-separated scope parameter; `Err` names the first scope Entra would refuse.
    pub(crate) fn parse(base: &str, text: &str) -> Result<Self, String> {
        let mut r = ScopeRequest::default();
        for s in text.split(' ').filter(|s| !s.is_empty()) {
            match understand(base, s) {
                Some(Requested::Oidc(o)) => {
                    if !r.oidc.iter().any(|x| x == o) {
                        r.oidc.push(o.to_owned());
                    }
                }
                Some(Requested::Graph(g)) => {
                    r.graph.insert(g.to_owned());
                }
                Some(Requested::Default) => r.default = true,
                None => return Err(format!("The scope '{s}' is not valid.")),
            }
        }
        if r.default && !r.graph.is_empty() {
            return Err("A '/.default' scope cannot be combined with other resource scopes.".to_owned());
        }
        Ok(r)
    }

    /// The Graph permissions this request needs, given what is already granted.
    pub(crate) fn needed(&self, granted: &BTreeSet<String>) -> BTreeSet<String> {
        if self.default && granted.is_empty() {
            return BTreeSet::from(["User.Read".to_owned()]);
        }
        self.graph.clone()
    }

    /// Whether `name` was asked for.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.oidc.iter().any(|o| o == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn understands_bare_prefixed_and_default_scopes() {
        let b = "https://127.0.0.1:9";
        assert_eq!(understand(b, "mail.send"), Some(Requested::Graph("Mail.Send")));
        assert_eq!(
            understand(b, "https://graph.microsoft.com/Mail.Send.Shared"),
            Some(Requested::Graph("Mail.Send.Shared"))
        );
        assert_eq!(understand(b, "https://127.0.0.1:9/User.Read"), Some(Requested::Graph("User.Read")));
        assert_eq!(understand(b, "https://127.0.0.1:9/.default"), Some(Requested::Default));
        assert_eq!(understand(b, "OFFLINE_ACCESS"), Some(Requested::Oidc("offline_access")));
        assert_eq!(understand(b, "Mail.Fly"), None);
        assert_eq!(understand(b, ".default"), None);
        assert!(needs_admin("user.invite.all"));
        assert!(!needs_admin("Mail.Send"));
    }

    #[test]
    fn parses_a_scope_parameter() {
        let r = ScopeRequest::parse("https://e", "openid offline_access email Mail.ReadWrite Mail.Send.Shared")
            .expect("valid");
        assert_eq!(r.oidc, vec!["openid", "offline_access", "email"]);
        assert_eq!(r.graph.len(), 2);
        assert!(ScopeRequest::parse("https://e", "openid Nope.Nope").is_err());
        assert!(ScopeRequest::parse("https://e", "https://graph.microsoft.com/.default Mail.Read").is_err());
        let d = ScopeRequest::parse("https://e", "https://graph.microsoft.com/.default").expect("valid");
        assert_eq!(d.needed(&BTreeSet::new()), BTreeSet::from(["User.Read".to_owned()]));
    }
}
