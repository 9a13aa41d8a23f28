//! Tests of authorize URLs against hand-written expected URLs, for every cloud and tenant kind.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use super::*;
use crate::cloud::Cloud;
use crate::url::BaseUrl;

const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
/// RFC 7636 Appendix B: this verifier's S256 challenge is `E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM`.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn url_for(cloud: Cloud, tenant: &str, scopes: &[&str]) -> String {
    let endpoints = Endpoints::for_cloud(cloud);
    let tenant = Tenant::parse(tenant).expect("tenant");
    let client = ClientId::parse(CLIENT).expect("client");
    let redirect = RedirectUri::parse("http://localhost:5173").expect("redirect");
    let (url, _) = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
        .scopes(Scopes::parse_all(scopes).expect("scopes"))
        .with_state(State::new("st-1"))
        .with_nonce(Nonce::new("n-1"))
        .with_pkce_verifier(PkceVerifier::parse(VERIFIER).expect("verifier"))
        .build()
        .expect("url");
    url
}

/// The global cloud, `/common/`, [`CLIENT`] and a localhost redirect URI.
fn common_app() -> (Endpoints, Tenant, ClientId, RedirectUri) {
    (
        Endpoints::default(),
        Tenant::Common,
        ClientId::parse(CLIENT).expect("client"),
        RedirectUri::parse("http://localhost:5173").expect("redirect"),
    )
}

#[test]
fn each_cloud_and_each_kind_of_tenant() {
    let cases = [
        (
            Cloud::Global,
            "common",
            "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
        (
            Cloud::Global,
            "contoso.onmicrosoft.com",
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
        (
            Cloud::UsGov,
            "organizations",
            "https://login.microsoftonline.us/organizations/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
        (
            Cloud::UsGovDod,
            "consumers",
            "https://login.microsoftonline.us/consumers/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
        (
            Cloud::China,
            "8EAEF023-2B34-4DA1-9BAA-8BC8C9D6A490",
            "https://login.partner.microsoftonline.cn/8eaef023-2b34-4da1-9baa-8bc8c9d6a490/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
        (
            Cloud::China,
            "contoso.partner.onmschina.cn",
            "https://login.partner.microsoftonline.cn/contoso.partner.onmschina.cn/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
        (
            Cloud::UsGov,
            "8eaef023-2b34-4da1-9baa-8bc8c9d6a490",
            "https://login.microsoftonline.us/8eaef023-2b34-4da1-9baa-8bc8c9d6a490/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20Mail.Send&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        ),
    ];
    for (cloud, tenant, expected) in cases {
        assert_eq!(url_for(cloud, tenant, &["Mail.Send"]), expected, "{cloud} {tenant}");
    }
}

#[test]
fn the_write_ups_common_url_shape() {
    // The write-up's working URL: /common/, response_mode=query and
    // scope "openid offline_access email Mail.ReadWrite Mail.Send.Shared" with %20 for spaces.
    let url = url_for(Cloud::Global, "common", &["email", "Mail.ReadWrite", "Mail.Send.Shared"]);
    assert_eq!(
        url,
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A5173&response_mode=query&scope=openid%20offline_access%20email%20Mail.ReadWrite%20Mail.Send.Shared&state=st-1&nonce=n-1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    );
}

#[test]
fn optional_parameters_and_left_out_defaults() {
    let endpoints = Endpoints::default().with_login_base(BaseUrl::parse("https://127.0.0.1:9443").expect("base"));
    let tenant = Tenant::Organizations;
    let client = ClientId::parse(CLIENT).expect("client");
    let redirect = RedirectUri::parse("https://app.example.com/auth/callback").expect("redirect");
    let (url, pending) = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
        .scopes(Scopes::parse_all(["User.Read"]).expect("scopes"))
        .without_openid()
        .without_offline_access()
        .response_mode(ResponseMode::Fragment)
        .prompt(Prompt::SelectAccount)
        .login_hint("ada@contoso.com")
        .domain_hint("contoso.com")
        .claims(r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#)
        .with_state(State::new("s"))
        .with_pkce_verifier(PkceVerifier::parse(VERIFIER).expect("verifier"))
        .build()
        .expect("url");
    assert_eq!(
        url,
        "https://127.0.0.1:9443/organizations/oauth2/v2.0/authorize?client_id=6731de76-14a6-49ae-97bc-6eba6914391e&response_type=code&redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fcallback&response_mode=fragment&scope=User.Read&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=select_account&login_hint=ada%40contoso.com&domain_hint=contoso.com&claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22cp1%22%5D%7D%7D%7D"
    );
    assert_eq!(pending.scopes.to_string(), "User.Read");
    assert_eq!(pending.response_mode, ResponseMode::Fragment);
    assert_eq!(pending.redirect_uri, redirect);
}

#[test]
fn random_values_are_fresh_and_kept_for_the_redirect() {
    let (endpoints, tenant, client, redirect) = common_app();
    let build = || AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect).build().expect("url");
    let (url_a, a) = build();
    let (_, b) = build();
    assert_ne!(a.state, b.state);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.verifier, b.verifier);
    assert!(a.state.expose_secret().len() >= 22, "at least 128 bits");
    assert!(url_a.contains(&format!("state={}", a.state.expose_secret())));
    assert!(url_a.contains(&format!("nonce={}", a.nonce.expose_secret())));
    let verifier_a = a.verifier.as_ref().expect("a verifier made here");
    assert!(url_a.contains(&format!("code_challenge={}", verifier_a.challenge().as_str())));
    assert!(!url_a.contains(verifier_a.expose_secret()), "the verifier itself never travels");
    assert!(url_a.contains("scope=openid%20offline_access&"));
}

#[test]
fn a_challenge_computed_elsewhere_is_used_as_given() {
    let (endpoints, tenant, client, redirect) = common_app();
    let verifier = PkceVerifier::parse(VERIFIER).expect("verifier");
    let challenge = crate::PkceChallenge::from_sha256_digest(&[0u8; 32]);
    let (url, pending) = AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect)
        .with_pkce(verifier, challenge)
        .build()
        .expect("url");
    assert!(
        url.contains("code_challenge=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code_challenge_method=S256"),
        "{url}"
    );
    assert_eq!(pending.verifier.expect("the verifier given").expose_secret(), VERIFIER);
}

#[test]
fn a_challenge_whose_verifier_is_kept_elsewhere_leaves_none_pending() {
    let (endpoints, tenant, client, redirect) = common_app();
    let challenge = crate::PkceChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").expect("challenge");
    let (url, pending) =
        AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect).with_challenge(challenge).build().expect("url");
    assert!(url.contains("code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&"), "{url}");
    assert!(pending.verifier.is_none());
    for bad in ["", "short", &"a".repeat(44), &format!("{}=", "a".repeat(42)), &format!("{}+", "a".repeat(42))] {
        assert!(crate::PkceChallenge::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_sign_in_begun_elsewhere_is_built_from_its_own_values() {
    let (endpoints, tenant, client, redirect) = common_app();
    let challenge = || crate::PkceChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").expect("challenge");
    let request = || AuthorizeRequest::new(&endpoints, &tenant, &client, &redirect).login_hint("ada@contoso.com");
    let (begun, pending) =
        request().with_state(State::new("not-this")).build_begun(State::new("st-1"), Nonce::new("n-1"), challenge());
    let (built, _) = request()
        .with_state(State::new("st-1"))
        .with_nonce(Nonce::new("n-1"))
        .with_challenge(challenge())
        .build()
        .expect("url");
    assert_eq!(begun, built, "one URL, however the values arrive");
    assert!(begun.contains("&state=st-1&nonce=n-1&"), "{begun}");
    assert_eq!(pending.state.expose_secret(), "st-1");
    assert!(pending.verifier.is_none(), "the verifier stays where the sign-in was begun");
}

#[test]
fn prompt_and_mode_names_round_trip() {
    for p in [Prompt::Login, Prompt::None, Prompt::Consent, Prompt::SelectAccount] {
        assert_eq!(Prompt::parse(p.as_str()), Some(p));
    }
    for m in [ResponseMode::Query, ResponseMode::Fragment, ResponseMode::FormPost] {
        assert_eq!(ResponseMode::parse(m.as_str()), Some(m));
    }
    assert_eq!(Prompt::parse("always"), None);
}
