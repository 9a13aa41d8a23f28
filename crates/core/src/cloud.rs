//! Clouds, tenants and the endpoint URLs built from them.
//!
//! Every Microsoft host can be overridden ([`Endpoints::with_login_base`],
//! [`Endpoints::with_graph_base`]): national clouds differ, and tests point both at the emulator.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use core::fmt;
use core::str::FromStr;

use crate::encode::{has_ascii, percent_encode};
use crate::error::{Error, ErrorCode};
use crate::newtype::text_newtype;
use crate::url::{BaseUrl, is_guid};

/// The tenant ID Entra uses for personal Microsoft accounts.
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A Microsoft cloud: each has its own sign-in host and Graph host, and tokens do not cross them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cloud {
    /// The worldwide cloud (also serves US Gov GCC "moderate").
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// Every cloud, in a stable order.
    pub const ALL: [Cloud; 4] = [Cloud::Global, Cloud::UsGov, Cloud::UsGovDod, Cloud::China];

    /// The configuration name: `global`, `us-gov`, `us-gov-dod` or `china`.
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Global => "global",
            Cloud::UsGov => "us-gov",
            Cloud::UsGovDod => "us-gov-dod",
            Cloud::China => "china",
        }
    }

    /// The sign-in (authority) host.
    pub fn login_host(self) -> &'static str {
        match self {
            Cloud::Global => "login.microsoftonline.com",
            Cloud::UsGov | Cloud::UsGovDod => "login.microsoftonline.us",
            Cloud::China => "login.partner.microsoftonline.cn",
        }
    }

    /// Other host names the same sign-in service answers on (accepted as issuer hosts).
    pub fn login_host_aliases(self) -> &'static [&'static str] {
        match self {
            Cloud::Global => &["login.windows.net", "login.microsoft.com", "sts.windows.net"],
            Cloud::UsGov | Cloud::UsGovDod => &["login.usgovcloudapi.net"],
            Cloud::China => &["login.chinacloudapi.cn"],
        }
    }

    /// The Microsoft Graph host.
    pub fn graph_host(self) -> &'static str {
        match self {
            Cloud::Global => "graph.microsoft.com",
            Cloud::UsGov => "graph.microsoft.us",
            Cloud::UsGovDod => "dod-graph.microsoft.us",
            Cloud::China => "microsoftgraph.chinacloudapi.cn",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cloud {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Cloud::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            Error::new(
                ErrorCode::ConfigInvalid,
                ["unknown cloud '", s, "': use global, us-gov, us-gov-dod or china"].concat(),
            )
        })
    }
}

/// Who may sign in: the `{tenant}` path segment of every Entra endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tenant {
    /// Work or school accounts of any tenant, and personal Microsoft accounts.
    Common,
    /// Work or school accounts of any tenant.
    Organizations,
    /// Personal Microsoft accounts only.
    Consumers,
    /// One tenant, by its ID (a GUID, stored lower-case). Guests of the tenant sign in here.
    Id(String),
    /// One tenant, by one of its domain names (stored lower-case).
    Domain(String),
}

impl Tenant {
    /// Parses `common`, `organizations`, `consumers`, a tenant GUID or a domain name.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let s = input.trim();
        let lower = s.to_ascii_lowercase();
        match lower.as_str() {
            "common" => return Ok(Tenant::Common),
            "organizations" => return Ok(Tenant::Organizations),
            "consumers" => return Ok(Tenant::Consumers),
            _ => {}
        }
        if is_guid(&lower) {
            return Ok(Tenant::Id(lower));
        }
        if is_domain(&lower) {
            return Ok(Tenant::Domain(lower));
        }
        Err(Error::new(
            ErrorCode::InvalidTenant,
            ["'", input, "' is not common, organizations, consumers, a tenant ID or a domain name"].concat(),
        ))
    }

    /// The path segment.
    pub fn as_str(&self) -> &str {
        match self {
            Tenant::Common => "common",
            Tenant::Organizations => "organizations",
            Tenant::Consumers => "consumers",
            Tenant::Id(s) | Tenant::Domain(s) => s,
        }
    }

    /// Whether the tenant is one concrete directory (an ID or a domain) rather than a
    /// multi-tenant alias. Client credentials need a concrete tenant.
    pub fn is_concrete(&self) -> bool {
        matches!(self, Tenant::Id(_) | Tenant::Domain(_))
    }
}

/// Whether `s` looks like a DNS name with at least two labels.
pub(crate) fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && has_ascii(s, b'.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

text_newtype!(Tenant);

/// The Graph API versions a Graph base URL may end with.
const GRAPH_VERSIONS: [&str; 2] = ["v1.0", "beta"];

/// The sign-in and Graph endpoints of one cloud, with optional base-URL overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    cloud: Cloud,
    login: BaseUrl,
    /// Graph's root, without a version.
    graph: BaseUrl,
    /// `v1.0` or `beta`.
    graph_version: &'static str,
}

impl Endpoints {
    /// The real endpoints of `cloud`.
    pub fn for_cloud(cloud: Cloud) -> Self {
        Self {
            cloud,
            login: BaseUrl::https_host(cloud.login_host()),
            graph: BaseUrl::https_host(cloud.graph_host()),
            graph_version: GRAPH_VERSIONS[0],
        }
    }

    /// Replaces the sign-in base URL (for example with the emulator's).
    pub fn with_login_base(mut self, base: BaseUrl) -> Self {
        self.login = base;
        self
    }

    /// Replaces the Graph base URL (for example with the emulator's). Written with its version,
    /// as Graph's URLs usually are (`https://graph.microsoft.com/v1.0`, `…/beta`), the version is
    /// kept and the root is what comes before it; without one (`https://graph.microsoft.com`),
    /// the version is `v1.0`.
    pub fn with_graph_base(mut self, base: BaseUrl) -> Self {
        let raw = base.as_str();
        let path_start = raw.len() - base.url().path_and_query().len();
        let version = raw.rsplit_once('/').filter(|(head, _)| head.len() >= path_start).and_then(|(head, last)| {
            let v = GRAPH_VERSIONS.into_iter().find(|v| v.eq_ignore_ascii_case(last))?;
            Some((head, v))
        });
        match version.and_then(|(head, v)| Some((BaseUrl::parse(head).ok()?, v))) {
            Some((root, v)) => {
                self.graph = root;
                self.graph_version = v;
            }
            None => {
                self.graph = base;
                self.graph_version = GRAPH_VERSIONS[0];
            }
        }
        self
    }

    /// The cloud these endpoints started from.
    pub fn cloud(&self) -> Cloud {
        self.cloud
    }

    /// The sign-in base URL, such as `https://login.microsoftonline.com`.
    pub fn login_base(&self) -> &BaseUrl {
        &self.login
    }

    /// The Graph base URL without a version, such as `https://graph.microsoft.com`.
    pub fn graph_root(&self) -> &BaseUrl {
        &self.graph
    }

    /// The Graph API version: `v1.0` unless the Graph base URL named `beta`.
    pub fn graph_version(&self) -> &'static str {
        self.graph_version
    }

    fn login_url(&self, tenant: &Tenant, path: &str) -> String {
        self.login.join(&["/", &percent_encode(tenant.as_str()), path].concat())
    }

    /// `{login}/{tenant}/oauth2/v2.0/authorize`.
    pub fn authorize_url(&self, tenant: &Tenant) -> String {
        self.login_url(tenant, "/oauth2/v2.0/authorize")
    }

    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self, tenant: &Tenant) -> String {
        self.login_url(tenant, "/oauth2/v2.0/token")
    }

    /// `{login}/{tenant}/oauth2/v2.0/logout`, with `post_logout_redirect_uri` when given.
    pub fn logout_url(&self, tenant: &Tenant, post_logout_redirect_uri: Option<&str>) -> String {
        let base = self.login_url(tenant, "/oauth2/v2.0/logout");
        match post_logout_redirect_uri {
            Some(uri) => [&base, "?post_logout_redirect_uri=", &percent_encode(uri)].concat(),
            None => base,
        }
    }

    /// `{login}/{tenant}/v2.0/.well-known/openid-configuration`.
    pub fn discovery_url(&self, tenant: &Tenant) -> String {
        self.login_url(tenant, "/v2.0/.well-known/openid-configuration")
    }

    /// `{login}/{tenant}/discovery/v2.0/keys`.
    pub fn keys_url(&self, tenant: &Tenant) -> String {
        self.login_url(tenant, "/discovery/v2.0/keys")
    }

    /// The Graph base URL with its version, such as `https://graph.microsoft.com/v1.0`.
    pub fn graph_base(&self) -> String {
        self.graph.join(&["/", self.graph_version].concat())
    }

    /// The client-credentials scope for Graph: `{graph}/.default`.
    pub fn graph_default_scope(&self) -> String {
        self.graph.join("/.default")
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::for_cloud(Cloud::Global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_tenant() {
        assert_eq!(Tenant::parse("common").expect("ok"), Tenant::Common);
        assert_eq!(Tenant::parse("Organizations").expect("ok"), Tenant::Organizations);
        assert_eq!(Tenant::parse("consumers").expect("ok"), Tenant::Consumers);
        assert_eq!(
            Tenant::parse("8EAEF023-2B34-4DA1-9BAA-8BC8C9D6A490").expect("ok"),
            Tenant::Id("8eaef023-2b34-4da1-9baa-8bc8c9d6a490".into())
        );
        assert_eq!(
            Tenant::parse("contoso.onmicrosoft.com").expect("ok"),
            Tenant::Domain("contoso.onmicrosoft.com".into())
        );
        for bad in ["", "contoso", "a/b.com", "-x.com", "con toso.com"] {
            let err = Tenant::parse(bad).expect_err(bad);
            assert_eq!(err.code(), ErrorCode::InvalidTenant);
        }
        assert!(!Tenant::Common.is_concrete());
        assert!(Tenant::Domain("contoso.com".into()).is_concrete());
    }

    #[test]
    fn every_cloud_has_its_hosts() {
        let table = [
            (Cloud::Global, "https://login.microsoftonline.com", "https://graph.microsoft.com/v1.0"),
            (Cloud::UsGov, "https://login.microsoftonline.us", "https://graph.microsoft.us/v1.0"),
            (Cloud::UsGovDod, "https://login.microsoftonline.us", "https://dod-graph.microsoft.us/v1.0"),
            (Cloud::China, "https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn/v1.0"),
        ];
        for (cloud, login, graph) in table {
            let e = Endpoints::for_cloud(cloud);
            assert_eq!(e.login_base().as_str(), login);
            assert_eq!(e.graph_base(), graph);
            assert_eq!(cloud.name().parse::<Cloud>().expect("round trip"), cloud);
        }
        assert!("mars".parse::<Cloud>().is_err());
    }

    #[test]
    fn builds_every_endpoint() {
        let e = Endpoints::default();
        let t = Tenant::Common;
        assert_eq!(e.authorize_url(&t), "https://login.microsoftonline.com/common/oauth2/v2.0/authorize");
        assert_eq!(e.token_url(&t), "https://login.microsoftonline.com/common/oauth2/v2.0/token");
        assert_eq!(e.logout_url(&t, None), "https://login.microsoftonline.com/common/oauth2/v2.0/logout");
        assert_eq!(
            e.logout_url(&t, Some("http://localhost:5173/")),
            "https://login.microsoftonline.com/common/oauth2/v2.0/logout?post_logout_redirect_uri=http%3A%2F%2Flocalhost%3A5173%2F"
        );
        assert_eq!(
            e.discovery_url(&t),
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
        );
        assert_eq!(e.keys_url(&t), "https://login.microsoftonline.com/common/discovery/v2.0/keys");
        assert_eq!(e.graph_default_scope(), "https://graph.microsoft.com/.default");
    }

    #[test]
    fn base_urls_can_be_overridden() {
        let e = Endpoints::for_cloud(Cloud::China)
            .with_login_base(BaseUrl::parse("https://127.0.0.1:9443/").expect("valid"))
            .with_graph_base(BaseUrl::parse("https://127.0.0.1:9443").expect("valid"));
        assert_eq!(e.token_url(&Tenant::Organizations), "https://127.0.0.1:9443/organizations/oauth2/v2.0/token");
        assert_eq!(e.graph_base(), "https://127.0.0.1:9443/v1.0");
        assert_eq!(e.graph_default_scope(), "https://127.0.0.1:9443/.default");
        assert_eq!(e.cloud(), Cloud::China);
    }

    #[test]
    fn a_graph_base_may_be_written_with_its_version() {
        let graph = |url: &str| {
            let e = Endpoints::default().with_graph_base(BaseUrl::parse(url).expect(url));
            (e.graph_base(), e.graph_default_scope(), e.graph_version())
        };
        let v1 =
            ("https://graph.microsoft.com/v1.0".to_owned(), "https://graph.microsoft.com/.default".to_owned(), "v1.0");
        for url in [
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/",
            "https://graph.microsoft.com/v1.0",
            "https://graph.microsoft.com/v1.0/",
            "https://graph.microsoft.com/V1.0",
        ] {
            assert_eq!(graph(url), v1, "{url}");
        }
        let beta =
            ("https://graph.microsoft.com/beta".to_owned(), "https://graph.microsoft.com/.default".to_owned(), "beta");
        assert_eq!(graph("https://graph.microsoft.com/beta/"), beta);
        // A root with a path of its own keeps it; only a last segment naming a version is one.
        assert_eq!(graph("https://gw.example.com/graph/v1.0").0, "https://gw.example.com/graph/v1.0");
        assert_eq!(graph("https://gw.example.com/graph").0, "https://gw.example.com/graph/v1.0");
        assert_eq!(graph("https://gw.example.com/v1.0x").0, "https://gw.example.com/v1.0x/v1.0");
        assert_eq!(graph("https://127.0.0.1:9443/beta").1, "https://127.0.0.1:9443/.default");
    }
}
