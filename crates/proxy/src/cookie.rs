//! The session cookie: its name and attributes, decided once from the public origin, and reading
//! the session's key from a request's `Cookie` headers.

use axum::http::{HeaderMap, header};
use cookie::{Cookie, SameSite};
use graphgate_core::SessionId;

use crate::session::SessionKey;

/// How the session cookie is written: `__Host-graphgate`, `Secure` when pages are served over
/// https (else `graphgate`), `HttpOnly`, `Path=/`, and `SameSite=None` only when other https
/// origins call with credentials (else `Lax`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionCookie {
    name: &'static str,
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
            secure: https,
            same_site: if https && cross_site { SameSite::None } else { SameSite::Lax },
        }
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
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == self.name && !c.value().is_empty())
            .map(|c| SessionKey::of(&SessionId::new(c.value())))
    }

    fn build(&self, value: String, max_age_secs: i64) -> String {
        Cookie::build((self.name, value))
            .http_only(true)
            .secure(self.secure)
            .path("/")
            .same_site(self.same_site)
            .max_age(cookie::time::Duration::seconds(max_age_secs))
            .build()
            .to_string()
    }
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
}
