//! The session cookie and the sign-in cookie: their names and attributes, decided once from the
//! public origin and the allowed origins (whether each is on the same site), and reading them
//! from a request's `Cookie` headers.

use axum::http::{HeaderMap, header};
use cookie::{Cookie, SameSite};
use graphgate_core::SessionId;

use crate::session::SessionKey;

/// How the session cookie is written: `__Host-graphgate`, `Secure` when pages are served over
/// https (else `graphgate`), `HttpOnly`, `Path=/`; on https `SameSite=Strict` when every allowed
/// origin is on the public origin's site, `None` only when one is cross-site, and `Lax` when no
/// other origin is allowed or the public origin is plain http (local development).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionCookie {
    name: &'static str,
    /// The sign-in cookie's name: the browser-binding secret that every sign-in this browser
    /// began is kept under (`__Host-graphgate-signin` on https), with the same attributes.
    binding_name: &'static str,
    secure: bool,
    same_site: SameSite,
}

impl SessionCookie {
    /// The cookie for pages served from `public_origin`, with `cross_site` when other origins
    /// are allowed to call with credentials.
    pub(crate) fn for_origin(public_origin: &str, cross_site: bool) -> Self {
        let https = public_origin.starts_with("https://");
        Self {
            name: if https { "__Host-graphgate" } else { "graphgate" },
            binding_name: if https { "__Host-graphgate-signin" } else { "graphgate-signin" },
            secure: https,
            same_site: if https && cross_site { SameSite::None } else { SameSite::Lax },
        }
    }

    /// The cookie for pages served from `public_origin` and called from `allowed` origins too:
    /// `SameSite=None` when one of them is cross-site ([`same_site`]), `Strict` when there are
    /// some and all are same-site, on https; otherwise as [`Self::for_origin`].
    pub(crate) fn for_origins(public_origin: &str, allowed: &[String]) -> Self {
        let cross_site = allowed.iter().any(|o| !same_site(public_origin, o));
        let mut cookie = Self::for_origin(public_origin, cross_site);
        if cookie.secure && !allowed.is_empty() && !cross_site {
            cookie.same_site = SameSite::Strict;
        }
        cookie
    }

    /// The `Set-Cookie` value carrying `session_id` for `max_age_secs`.
    pub(crate) fn set(&self, session_id: SessionId, max_age_secs: i64) -> String {
        self.build(session_id.into_exposed_secret(), max_age_secs)
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub(crate) fn clear(&self) -> String {
        self.build(String::new(), 0)
    }

    /// The key of the session the browser's cookie names, if it sent one.
    pub(crate) fn session_key(&self, headers: &HeaderMap) -> Option<SessionKey> {
        value_of(headers, self.name).map(|v| SessionKey::of(&SessionId::new(v)))
    }

    /// The `Set-Cookie` value carrying the browser-binding secret for `max_age_secs`.
    pub(crate) fn set_binding(&self, secret: &str, max_age_secs: i64) -> String {
        self.build_named(self.binding_name, secret.to_owned(), max_age_secs)
    }

    /// The browser-binding secret the browser sent, if it is one this proxy could have made
    /// (43 characters of base64url: 256 random bits).
    pub(crate) fn binding(&self, headers: &HeaderMap) -> Option<String> {
        value_of(headers, self.binding_name)
            .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    }

    fn build(&self, value: String, max_age_secs: i64) -> String {
        self.build_named(self.name, value, max_age_secs)
    }

    fn build_named(&self, name: &'static str, value: String, max_age_secs: i64) -> String {
        Cookie::build((name, value))
            .http_only(true)
            .secure(self.secure)
            .path("/")
            .same_site(self.same_site)
            .max_age(cookie::time::Duration::seconds(max_age_secs))
            .build()
            .to_string()
    }
}

/// The value of the first non-empty cookie called `name` in any `Cookie` header.
fn value_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Whether two origins are on the same site, by a simple rule that needs no public-suffix list:
/// the same scheme, and either the same last two DNS labels (`app.example.com` and
/// `admin.example.com`), or, for IP addresses and `localhost` names, the identical host. Ports do
/// not count. Under a multi-label public suffix (`a.co.uk`, `b.co.uk`) the rule says same-site
/// where browsers do not; the cookie is then `Strict` and such an origin's calls go without it
/// (they fail closed, never open).
pub(crate) fn same_site(a: &str, b: &str) -> bool {
    match (site_of(a), site_of(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The scheme and the site part of an origin's host (see [`same_site`]), lowercase.
fn site_of(origin: &str) -> Option<(String, String)> {
    let (scheme, rest) = origin.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host =
        if let Some(v6) = authority.strip_prefix('[') { v6.split(']').next()? } else { authority.split(':').next()? };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let exact = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost" || host.ends_with(".localhost");
    let site = if exact {
        host
    } else {
        let labels: Vec<&str> = host.rsplitn(3, '.').collect();
        match labels.as_slice() {
            [tld, domain, ..] => format!("{domain}.{tld}"),
            _ => host,
        }
    };
    Some((scheme.to_ascii_lowercase(), site))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attributes_follow_the_public_origin() {
        let local = SessionCookie::for_origin("http://localhost:8080", true);
        let set = local.set(SessionId::new("abc"), 60);
        assert!(set.starts_with("graphgate=abc;") && !set.contains("Secure") && set.contains("SameSite=Lax"), "{set}");
        let site = SessionCookie::for_origin("https://app.example", false);
        let set = site.set(SessionId::new("abc"), 60);
        assert!(set.starts_with("__Host-graphgate=abc;") && set.contains("Secure") && set.contains("SameSite=Lax"));
        let cross = SessionCookie::for_origin("https://app.example", true);
        assert!(cross.clear().contains("SameSite=None") && cross.clear().contains("Max-Age=0"), "{}", cross.clear());
    }

    #[test]
    fn sites_are_the_scheme_and_the_last_two_labels_or_the_exact_host() {
        assert!(same_site("https://app.example.com", "https://admin.example.com:8443"));
        assert!(same_site("https://Example.com", "https://a.b.example.com/"));
        assert!(!same_site("https://app.example.com", "https://app.example.org"));
        assert!(!same_site("https://app.example.com", "http://app.example.com"));
        assert!(same_site("http://localhost:8080", "http://localhost:5173"));
        assert!(!same_site("http://localhost:8080", "http://app.localhost:5173"));
        assert!(same_site("https://10.0.0.1:1", "https://10.0.0.1:2"));
        assert!(!same_site("https://10.0.0.1", "https://11.0.0.1"), "no label rule for addresses");
        assert!(same_site("https://[::1]:1", "https://[::1]:2"));
        assert!(!same_site("https://[::1]", "https://[::2]"));
        assert!(!same_site("not an origin", "not an origin"));
    }

    #[test]
    fn the_session_is_read_from_any_cookie_header() {
        let c = SessionCookie::for_origin("https://app.example", false);
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "other=1".parse().expect("header"));
        assert_eq!(c.session_key(&headers), None);
        headers.append(header::COOKIE, "graphgate=wrong-name; __Host-graphgate=abc".parse().expect("header"));
        assert_eq!(c.session_key(&headers), Some(SessionKey::of(&SessionId::new("abc"))));
        let empty: HeaderMap = [(header::COOKIE, "__Host-graphgate=".parse().expect("header"))].into_iter().collect();
        assert_eq!(c.session_key(&empty), None, "an empty value names no session");
    }

    #[test]
    fn the_sign_in_cookie_is_named_like_the_session_cookie_and_read_only_when_well_formed() {
        let secret = "a".repeat(43);
        let https = SessionCookie::for_origins("https://app.example.com", &["https://www.example.com".to_owned()]);
        let set = https.set_binding(&secret, 600);
        assert!(set.starts_with(&format!("__Host-graphgate-signin={secret};")), "{set}");
        for attribute in ["HttpOnly", "Secure", "Path=/", "SameSite=Strict", "Max-Age=600"] {
            assert!(set.contains(attribute), "{attribute}: {set}");
        }
        let local = SessionCookie::for_origin("http://localhost:8080", false);
        assert!(local.set_binding(&secret, 600).starts_with("graphgate-signin="));
        let with = |value: &str| -> HeaderMap {
            [(header::COOKIE, format!("__Host-graphgate=x; __Host-graphgate-signin={value}").parse().expect("header"))]
                .into_iter()
                .collect()
        };
        assert_eq!(https.binding(&with(&secret)), Some(secret.clone()));
        assert_eq!(https.session_key(&with(&secret)), Some(SessionKey::of(&SessionId::new("x"))));
        for bad in ["short", &"a".repeat(44), &format!("{}!", "a".repeat(42))] {
            assert_eq!(https.binding(&with(bad)), None, "{bad}");
        }
        assert_eq!(local.binding(&with(&secret)), None, "another name");
    }
}
