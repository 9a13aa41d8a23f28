//! Fuzz target: core's URL and identifier types, `HttpUrl`, `BaseUrl`, `RedirectUri` and `ClientId`.
//!
//! Input: the text to parse. Checks: no panic; origin and path make the URL; each value parses
//! again to itself; a redirect URI is https or loopback without a fragment; a client ID is a
//! lower-case GUID whatever the input's case.

#![no_main]

use graphgate_core::{BaseUrl, ClientId, HttpUrl, RedirectUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };

    if let Ok(url) = HttpUrl::parse(input) {
        assert_eq!(url.as_str(), input);
        assert_eq!([url.origin(), url.path_and_query()].concat(), input);
        assert_eq!(HttpUrl::parse(url.as_str()).as_ref(), Ok(&url));
        let origin = HttpUrl::parse(url.origin()).expect("an origin parses");
        assert_eq!((origin.host(), origin.port(), origin.is_https()), (url.host(), url.port(), url.is_https()));
        assert_eq!(url.host(), url.host().to_ascii_lowercase());
        assert_eq!(url.is_https(), input.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")));
        let _ = (url.is_loopback(), url.has_fragment());
    }

    if let Ok(base) = BaseUrl::parse(input) {
        assert!(!base.as_str().ends_with('/'));
        assert!(!base.url().path_and_query().contains(['?', '#']));
        assert_eq!(BaseUrl::parse(base.as_str()).as_ref(), Ok(&base));
        assert!(base.join("/x").starts_with(base.as_str()));
    }

    match RedirectUri::parse(input) {
        Ok(redirect) => {
            let url = redirect.url();
            assert!(url.is_https() || url.is_loopback());
            assert!(!url.has_fragment());
            assert_eq!(redirect.as_str(), input);
            assert_eq!(RedirectUri::parse(redirect.as_str()).as_ref(), Ok(&redirect));
        }
        Err(e) => assert_eq!(e.code(), graphgate_core::ErrorCode::InvalidRedirectUri),
    }

    match ClientId::parse(input) {
        Ok(id) => {
            assert_eq!(id.as_str(), input.to_ascii_lowercase());
            assert_eq!(id.as_str().len(), 36);
            assert_eq!(ClientId::parse(&input.to_ascii_uppercase()).as_ref(), Ok(&id));
        }
        Err(e) => assert_eq!(e.code(), graphgate_core::ErrorCode::InvalidClientId),
    }
});
