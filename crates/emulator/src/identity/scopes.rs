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
    /// Parses a space-separated scope parameter; `Err` is the first scope Entra would refuse (the
    /// whole text when `/.default` is mixed with other Graph scopes), for AADSTS70011's `{scope}`.
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
                None => return Err(s.to_owned()),
            }
        }
        if r.default && !r.graph.is_empty() {
            return Err(text.trim().to_owned());
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

/// What kind of scope a request names, as far as a token answer's `scope` is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A Microsoft Graph permission by its bare name: `User.Read`.
    GraphBare,
    /// A Graph permission behind Graph's resource: `https://graph.microsoft.com/User.Read` (also
    /// Graph's application ID, or the emulator's own base URL, in front).
    GraphPrefixed,
    /// `{graph}/.default`: whatever the user has granted.
    GraphDefault,
    /// A permission of another resource: `api://x/Read`.
    OtherResource,
    /// `openid`, `profile` or `email`.
    Oidc,
    /// `offline_access`.
    OfflineAccess,
}

/// How a token answer writes a scope of a [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// The permission's short name, Graph's resource left off: `User.Read`.
    Short,
    /// Every Graph permission granted, each by its short name.
    GrantedShort,
    /// As asked for, resource and all: `api://x/Read`.
    Long,
    /// By name, after the resource's permissions, in Entra's order `profile openid email`;
    /// `openid` brings `email` along.
    Listed,
    /// Not written at all.
    Omitted,
}

/// How Entra writes a token answer's `scope`, one row per kind of scope asked for:
///
/// | asked for | written | based on |
/// |---|---|---|
/// | `User.Read` | `User.Read` | the token answer quoted in the write-up (`"scope": "Mail.Read User.Read"`); answers logged by MSAL for Python users (`"User.Read profile openid email"`) |
/// | `https://graph.microsoft.com/User.Read` | `User.Read` | the same write-up: its request asks for `https://graph.microsoft.com/mail.Send` and the answer lists short names only |
/// | `https://graph.microsoft.com/.default` | the granted permissions, short | `.default` is "everything granted" (the protocol reference §3.7), written like any Graph permission |
/// | `api://x/Read` | `api://x/Read` | Entra shortens Microsoft Graph's scopes only: Azure CLI's cache (azure-cli issue 32931) keeps `https://management.core.windows.net//user_impersonation` long in the answer's scope |
/// | `openid`, `profile`, `email` | listed, `profile openid email`, `email` with `openid` | the MSAL for Python answer above (asked `openid profile offline_access User.Read`, answered `User.Read profile openid email`); OneDrive answers end `profile openid email` too |
/// | `offline_access` | left out | Microsoft Q&A 806413 and MSAL for Go PR 445 (never returned); MSAL.js drops the OIDC scopes before its cache look-ups "to prevent cache misses if the default scopes are not returned from the server" |
///
/// MSAL keys its access tokens on the answer's scopes and looks them up by the scopes asked for
/// (without the OIDC ones), so an answer in the long form misses the cache on every call.
/// The emulator serves Graph alone, so no answer of its carries another resource's scope; the
/// row is here so the rule is whole, and is tested directly.
pub(crate) const ANSWER_SCOPE: [(Kind, Written); 6] = [
    (Kind::GraphBare, Written::Short),
    (Kind::GraphPrefixed, Written::Short),
    (Kind::GraphDefault, Written::GrantedShort),
    (Kind::OtherResource, Written::Long),
    (Kind::Oidc, Written::Listed),
    (Kind::OfflineAccess, Written::Omitted),
];

/// The OIDC scopes an answer lists, in Entra's order.
const LISTED_ORDER: [&str; 3] = ["profile", "openid", "email"];

/// The kind of a scope string; `None` for one Entra would refuse.
pub(crate) fn kind(base: &str, scope: &str) -> Option<Kind> {
    if scope.eq_ignore_ascii_case("offline_access") {
        return Some(Kind::OfflineAccess);
    }
    if OIDC.iter().any(|o| o.eq_ignore_ascii_case(scope)) {
        return Some(Kind::Oidc);
    }
    let name = strip_resource(base, scope);
    let prefixed = name.len() < scope.len();
    match understand(base, scope) {
        Some(Requested::Default) => Some(Kind::GraphDefault),
        Some(Requested::Graph(_)) => Some(if prefixed { Kind::GraphPrefixed } else { Kind::GraphBare }),
        Some(Requested::Oidc(_)) => Some(Kind::Oidc),
        None if !prefixed && scope.contains('/') => Some(Kind::OtherResource),
        None => None,
    }
}

/// How a scope of `kind` is written (the [`ANSWER_SCOPE`] table).
pub(crate) fn written(kind: Kind) -> Written {
    ANSWER_SCOPE.iter().find(|(k, _)| *k == kind).map_or(Written::Long, |(_, w)| *w)
}

/// What one scope asked for becomes in the answer's `scope`, given the Graph permissions granted.
pub(crate) fn written_scope(base: &str, scope: &str, granted: &BTreeSet<String>) -> Vec<String> {
    let Some(k) = kind(base, scope) else {
        return vec![scope.to_owned()];
    };
    match written(k) {
        Written::Short => match understand(base, scope) {
            Some(Requested::Graph(g)) => vec![g.to_owned()],
            _ => vec![strip_resource(base, scope).to_owned()],
        },
        Written::GrantedShort => {
            granted.iter().filter(|p| !OIDC.iter().any(|o| o.eq_ignore_ascii_case(p))).cloned().collect()
        }
        Written::Long => vec![scope.to_owned()],
        Written::Listed => {
            let name = scope.to_ascii_lowercase();
            if name == "openid" { vec![name, "email".to_owned()] } else { vec![name] }
        }
        Written::Omitted => Vec::new(),
    }
}

/// A token answer's `scope` for the scopes a token is issued for: the resource's permissions
/// first, then the OIDC scopes in Entra's order, each written by [`ANSWER_SCOPE`].
pub(crate) fn answer_scope<'a>(
    base: &str,
    scopes: impl IntoIterator<Item = &'a str>,
    granted: &BTreeSet<String>,
) -> String {
    let mut resource: Vec<String> = Vec::new();
    let mut oidc: Vec<String> = Vec::new();
    for scope in scopes {
        for w in written_scope(base, scope, granted) {
            let list = if LISTED_ORDER.contains(&w.as_str()) { &mut oidc } else { &mut resource };
            if !list.contains(&w) {
                list.push(w);
            }
        }
    }
    oidc.sort_by_key(|o| LISTED_ORDER.iter().position(|x| x == o));
    resource.extend(oidc);
    resource.join(" ")
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

#[cfg(test)]
mod answer_scope_tests {
    //! One test per row of [`ANSWER_SCOPE`].

    use super::*;

    const BASE: &str = "https://127.0.0.1:9";

    fn granted() -> BTreeSet<String> {
        BTreeSet::from(["Mail.Read".to_owned(), "User.Read".to_owned(), "openid".to_owned()])
    }

    #[test]
    fn a_bare_graph_scope_is_written_short() {
        assert_eq!(kind(BASE, "User.Read"), Some(Kind::GraphBare));
        assert_eq!(written_scope(BASE, "user.read", &granted()), ["User.Read"]);
    }

    #[test]
    fn a_prefixed_graph_scope_is_written_short() {
        for s in [
            "https://graph.microsoft.com/User.Read",
            "00000003-0000-0000-c000-000000000000/User.Read",
            "https://127.0.0.1:9/User.Read",
        ] {
            assert_eq!(kind(BASE, s), Some(Kind::GraphPrefixed), "{s}");
            assert_eq!(written_scope(BASE, s, &granted()), ["User.Read"], "{s}");
        }
    }

    #[test]
    fn graph_default_is_written_as_the_granted_scopes_short() {
        let s = "https://graph.microsoft.com/.default";
        assert_eq!(kind(BASE, s), Some(Kind::GraphDefault));
        assert_eq!(written_scope(BASE, s, &granted()), ["Mail.Read", "User.Read"]);
    }

    #[test]
    fn another_resources_scope_stays_long() {
        assert_eq!(kind(BASE, "api://x/Read"), Some(Kind::OtherResource));
        assert_eq!(written_scope(BASE, "api://x/Read", &granted()), ["api://x/Read"]);
        assert_eq!(kind(BASE, "Nope.Nope"), None, "an unknown bare name is no other resource's");
    }

    #[test]
    fn the_oidc_scopes_are_listed_as_entra_lists_them() {
        assert_eq!(kind(BASE, "OpenID"), Some(Kind::Oidc));
        assert_eq!(written_scope(BASE, "openid", &granted()), ["openid", "email"]);
        assert_eq!(written_scope(BASE, "profile", &granted()), ["profile"]);
        assert_eq!(
            answer_scope(BASE, ["openid", "offline_access", "profile", "User.Read", "Mail.Read"], &granted()),
            "User.Read Mail.Read profile openid email"
        );
    }

    #[test]
    fn offline_access_is_left_out() {
        assert_eq!(kind(BASE, "offline_access"), Some(Kind::OfflineAccess));
        assert!(written_scope(BASE, "offline_access", &granted()).is_empty());
        assert_eq!(
            answer_scope(BASE, ["offline_access", "https://graph.microsoft.com/User.Read"], &granted()),
            "User.Read"
        );
    }

    #[test]
    fn every_kind_has_one_row() {
        for (k, _) in ANSWER_SCOPE {
            assert_eq!(ANSWER_SCOPE.iter().filter(|(x, _)| *x == k).count(), 1, "{k:?}");
        }
    }
}
