//! Validated URL and identifier newtypes: [`HttpUrl`], [`BaseUrl`], [`RedirectUri`], [`ClientId`].
//!
//! Each keeps the caller's original string, because Entra compares redirect URIs exactly
//! (case, trailing slash and scheme all matter), and checks its shape once, when built.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use crate::encode::has_ascii;
use crate::error::{Error, ErrorCode};
use crate::newtype::text_newtype;

/// An absolute `http` or `https` URL, checked for shape and kept exactly as given.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    raw: String,
    https: bool,
    host: String,
    port: Option<u16>,
    /// Byte offset of the path (or of `?`/`#`, or the end) in `raw`.
    path_start: usize,
}

impl HttpUrl {
    /// Parses an absolute `http://` or `https://` URL without user information.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::new(ErrorCode::InvalidUrl, [why, ": '", input, "'"].concat());
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("a URL may not contain spaces or control characters"));
        }
        let (https, rest) = if let Some(rest) = strip_prefix_ci(input, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(input, "http://") {
            (false, rest)
        } else {
            return Err(bad("the URL must start with https:// or http://"));
        };
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = rest.get(..authority_len).unwrap_or(rest);
        if has_ascii(authority, b'@') {
            return Err(bad("the URL may not carry user information"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("the URL has no valid host"))?;
        Ok(Self {
            raw: input.to_owned(),
            https,
            host: host.to_ascii_lowercase(),
            port,
            path_start: input.len() - rest.len() + authority_len,
        })
    }

    /// The URL exactly as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The host, lower-cased (an IPv6 literal keeps its brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The explicit port, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The scheme, host and port: `https://example.com:8443`.
    pub fn origin(&self) -> &str {
        self.raw.get(..self.path_start).unwrap_or(&self.raw)
    }

    /// Everything after the origin: path, query and fragment.
    pub fn path_and_query(&self) -> &str {
        self.raw.get(self.path_start..).unwrap_or_default()
    }

    /// Whether the host is `localhost`, a `127.0.0.0/8` address or `[::1]`.
    pub fn is_loopback(&self) -> bool {
        let h = self.host.as_str();
        h == "localhost"
            || h == "[::1]"
            || h.strip_prefix("127.")
                .is_some_and(|rest| rest.split('.').count() == 3 && rest.split('.').all(|o| o.parse::<u8>().is_ok()))
    }

    /// Whether the URL has a `#fragment`.
    pub fn has_fragment(&self) -> bool {
        has_ascii(&self.raw, b'#')
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { s.get(prefix.len()..) } else { None }
}

fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at_checked(end + 1)?;
        let inner = host.get(1..end)?;
        if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return None;
        }
        (host, after.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if !host.starts_with('[') {
        let ok = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%'));
        if !ok {
            return None;
        }
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.parse().ok()?),
        Some(_) => return None,
    };
    Some((host, port))
}

/// A service base URL such as `https://login.microsoftonline.com`: no query or fragment,
/// stored without a trailing slash so paths can be appended.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl(HttpUrl);

impl BaseUrl {
    /// Parses a base URL; a trailing slash is dropped.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let trimmed = input.trim_end_matches('/');
        let url = HttpUrl::parse(trimmed)?;
        if url.path_and_query().contains(['?', '#']) {
            return Err(Error::new(
                ErrorCode::InvalidUrl,
                ["a base URL may not have a query or fragment: '", input, "'"].concat(),
            ));
        }
        Ok(Self(url))
    }

    /// `https://{host}` for a well-known host name.
    pub(crate) fn https_host(host: &str) -> Self {
        Self::parse(&["https://", host].concat()).unwrap_or_else(|_| unreachable!("built-in hosts are valid"))
    }

    /// The base URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &HttpUrl {
        &self.0
    }

    /// The base followed by `path` (which should start with `/`).
    pub fn join(&self, path: &str) -> String {
        [self.0.as_str(), path].concat()
    }
}

/// A redirect URI as registered with the application: `https`, or `http` on loopback only,
/// and no fragment. Compared exactly as written.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedirectUri(HttpUrl);

impl RedirectUri {
    /// Validates a redirect URI.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let url =
            HttpUrl::parse(input).map_err(|e| Error::new(ErrorCode::InvalidRedirectUri, e.detail().to_owned()))?;
        if !url.is_https() && !url.is_loopback() {
            return Err(Error::new(
                ErrorCode::InvalidRedirectUri,
                ["a redirect URI must use https unless it points at localhost: '", input, "'"].concat(),
            ));
        }
        if url.has_fragment() {
            return Err(Error::new(
                ErrorCode::InvalidRedirectUri,
                ["a redirect URI may not contain a fragment: '", input, "'"].concat(),
            ));
        }
        Ok(Self(url))
    }

    /// The URI exactly as given.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &HttpUrl {
        &self.0
    }
}

/// An application (client) ID: a GUID, stored lower-case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Validates an application ID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits).
    pub fn parse(input: &str) -> Result<Self, Error> {
        if is_guid(input) {
            Ok(Self(input.to_ascii_lowercase()))
        } else {
            Err(Error::new(
                ErrorCode::InvalidClientId,
                ["an application (client) ID is a GUID like 00000000-0000-0000-0000-000000000000, not '", input, "'"]
                    .concat(),
            ))
        }
    }

    /// The ID, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(debug: HttpUrl, BaseUrl, RedirectUri, ClientId);

/// Whether `s` has the 8-4-4-4-12 hexadecimal shape of a GUID.
pub(crate) fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_origin_host_port_and_path() {
        let u = HttpUrl::parse("https://Login.Example.com:8443/a/b?c=d#e").expect("valid");
        assert_eq!(u.host(), "login.example.com");
        assert_eq!(u.port(), Some(8443));
        assert_eq!(u.origin(), "https://Login.Example.com:8443");
        assert_eq!(u.path_and_query(), "/a/b?c=d#e");
        assert!(u.is_https());
        assert!(!u.is_loopback());
    }

    #[test]
    fn recognises_loopback() {
        for ok in ["http://localhost:5173", "http://127.0.0.1/x", "http://[::1]:80/", "http://127.1.2.3"] {
            assert!(HttpUrl::parse(ok).expect(ok).is_loopback(), "{ok}");
        }
        for not in ["http://localhost.evil.com", "http://127.0.0.1.evil.com", "http://10.0.0.1"] {
            assert!(!HttpUrl::parse(not).expect(not).is_loopback(), "{not}");
        }
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "",
            "ftp://x",
            "https://",
            "https://a b",
            "https://user@host/",
            "https://h:port",
            "https://[zz]/",
            "//x",
            "https://h:99999",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_need_https_except_on_loopback() {
        assert!(RedirectUri::parse("http://localhost:5173").is_ok());
        assert!(RedirectUri::parse("https://app.example.com/auth").is_ok());
        let err = RedirectUri::parse("http://app.example.com/auth").expect_err("plain http");
        assert_eq!(err.code(), ErrorCode::InvalidRedirectUri);
        assert!(RedirectUri::parse("https://app.example.com/#x").is_err());
        // Exact: a trailing slash is a different URI.
        assert_ne!(
            RedirectUri::parse("https://a.example/").expect("valid"),
            RedirectUri::parse("https://a.example").expect("valid")
        );
    }

    #[test]
    fn base_urls_drop_the_trailing_slash() {
        let b = BaseUrl::parse("https://127.0.0.1:8443/").expect("valid");
        assert_eq!(b.join("/common/oauth2/v2.0/token"), "https://127.0.0.1:8443/common/oauth2/v2.0/token");
        assert!(BaseUrl::parse("https://x/?a").is_err());
    }

    #[test]
    fn client_ids_are_guids() {
        let id = ClientId::parse("6731DE76-14A6-49AE-97BC-6EBA6914391E").expect("guid");
        assert_eq!(id.as_str(), "6731de76-14a6-49ae-97bc-6eba6914391e");
        assert!(ClientId::parse("my-app").is_err());
        assert!(ClientId::parse("6731de76-14a6-49ae-97bc-6eba6914391").is_err());
    }
}
