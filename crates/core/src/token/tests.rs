//! Tests of token requests (exact form bodies) and of token answers parsed from fixtures.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use super::*;
use crate::cloud::Cloud;
use crate::url::BaseUrl;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/token/", $name))
    };
}

fn client() -> ClientId {
    ClientId::parse("6731de76-14a6-49ae-97bc-6eba6914391e").expect("guid")
}

#[test]
fn authorization_code_request_with_pkce_and_secret_in_body() {
    let endpoints = Endpoints::default();
    let tenant = Tenant::Common;
    let id = client();
    let code = AuthorizationCode::new("OAAABAAAA code/+=");
    let redirect = RedirectUri::parse("http://localhost:5173").expect("valid");
    let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").expect("valid");
    let scopes = Scopes::parse_all(["openid", "offline_access", "Mail.Send"]).expect("valid");
    let auth = ClientAuth::SecretPost(ClientSecret::new("s~e&c=r+e t"));
    let req = TokenRequest {
        endpoints: &endpoints,
        tenant: &tenant,
        client_id: &id,
        grant: Grant::AuthorizationCode { code: &code, redirect_uri: &redirect, verifier: Some(&verifier) },
        scopes: Some(&scopes),
        auth: &auth,
    }
    .to_http()
    .expect("request");
    assert_eq!(req.method, Method::Post);
    assert_eq!(req.url, "https://login.microsoftonline.com/common/oauth2/v2.0/token");
    assert_eq!(
        req.body,
        "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&grant_type=authorization_code\
         &code=OAAABAAAA%20code%2F%2B%3D&redirect_uri=http%3A%2F%2Flocalhost%3A5173\
         &code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\
         &scope=openid%20offline_access%20Mail.Send&client_secret=s~e%26c%3Dr%2Be%20t"
    );
    assert_eq!(req.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(req.header("Origin"), None, "a server-side redemption must not carry Origin");
    let debug = format!("{req:?}");
    assert!(!debug.contains("s~e") && !debug.contains("OAAAB") && !debug.contains("dBjft"), "{debug}");
}

#[test]
fn refresh_request_with_basic_authentication() {
    let endpoints = Endpoints::default();
    let tenant = Tenant::Organizations;
    let id = client();
    let rt = RefreshToken::new("rt-1");
    let auth = ClientAuth::SecretBasic(ClientSecret::new("a:b"));
    let req = TokenRequest {
        endpoints: &endpoints,
        tenant: &tenant,
        client_id: &id,
        grant: Grant::RefreshToken(&rt),
        scopes: None,
        auth: &auth,
    }
    .to_http()
    .expect("request");
    assert_eq!(req.body, "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&grant_type=refresh_token&refresh_token=rt-1");
    // base64("6731de76-14a6-49ae-97bc-6eba6914391e:a%3Ab")
    let expected = format!("Basic {}", STANDARD.encode("6731de76-14a6-49ae-97bc-6eba6914391e:a%3Ab"));
    assert_eq!(req.header("authorization"), Some(expected.as_str()));
    assert_eq!(req.header("Origin"), None);
}

#[test]
fn client_credentials_use_the_clouds_default_scope_and_an_assertion() {
    let endpoints = Endpoints::for_cloud(Cloud::UsGov);
    let tenant = Tenant::parse("contoso.onmicrosoft.us").expect("domain");
    let id = client();
    let auth = ClientAuth::Assertion(ClientAssertion::new("h.p.s"));
    let req = TokenRequest {
        endpoints: &endpoints,
        tenant: &tenant,
        client_id: &id,
        grant: Grant::ClientCredentials,
        scopes: None,
        auth: &auth,
    }
    .to_http()
    .expect("request");
    assert_eq!(req.url, "https://login.microsoftonline.us/contoso.onmicrosoft.us/oauth2/v2.0/token");
    assert_eq!(
        req.body,
        "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&grant_type=client_credentials\
         &scope=https%3A%2F%2Fgraph.microsoft.us%2F.default\
         &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=h.p.s"
    );
    let emulated = Endpoints::default().with_graph_base(BaseUrl::parse("https://127.0.0.1:9443").expect("valid"));
    let req = TokenRequest {
        endpoints: &emulated,
        tenant: &tenant,
        client_id: &id,
        grant: Grant::ClientCredentials,
        scopes: None,
        auth: &auth,
    }
    .to_http()
    .expect("request");
    assert!(req.body.contains("scope=https%3A%2F%2F127.0.0.1%3A9443%2F.default"), "{}", req.body);
}

#[test]
fn delegated_requests_may_carry_claims_and_client_credentials_never_do() {
    let endpoints = Endpoints::default();
    let tenant = Tenant::Organizations;
    let id = client();
    let rt = RefreshToken::new("rt-1");
    let auth = ClientAuth::None;
    let request = |grant| TokenRequest {
        endpoints: &endpoints,
        tenant: &tenant,
        client_id: &id,
        grant,
        scopes: None,
        auth: &auth,
    };
    let claims = crate::merge_client_capabilities("", &[crate::CP1]).expect("claims");
    let req = request(Grant::RefreshToken(&rt)).to_http_with_claims(Some(&claims)).expect("request");
    assert_eq!(
        req.body,
        "client_id=6731de76-14a6-49ae-97bc-6eba6914391e&grant_type=refresh_token&refresh_token=rt-1\
         &claims=%7B%22access_token%22%3A%7B%22xms_cc%22%3A%7B%22values%22%3A%5B%22cp1%22%5D%7D%7D%7D"
    );
    let plain = request(Grant::RefreshToken(&rt)).to_http_with_claims(Some("")).expect("request");
    assert!(!plain.body.contains("claims"), "empty claims are not sent");
    let tenant = Tenant::parse("contoso.onmicrosoft.com").expect("domain");
    let app = TokenRequest {
        endpoints: &endpoints,
        tenant: &tenant,
        client_id: &id,
        grant: Grant::ClientCredentials,
        scopes: None,
        auth: &auth,
    }
    .to_http_with_claims(Some(&claims))
    .expect("request");
    assert!(!app.body.contains("claims"), "{}", app.body);
}

#[test]
fn client_credentials_refuse_multi_tenant_aliases() {
    let endpoints = Endpoints::default();
    let id = client();
    let auth = ClientAuth::None;
    let err = TokenRequest {
        endpoints: &endpoints,
        tenant: &Tenant::Common,
        client_id: &id,
        grant: Grant::ClientCredentials,
        scopes: None,
        auth: &auth,
    }
    .to_http()
    .expect_err("common");
    assert_eq!(err.code(), ErrorCode::InvalidTenant);
}

#[test]
fn parses_a_code_redemption_answer() {
    let t = parse_token_response(200, fixture!("code_success.json")).expect("success");
    assert_eq!(t.expires_in, 3736);
    assert_eq!(t.ext_expires_in, Some(3736));
    assert!(t.scope.as_deref().expect("scope").contains("Mail.Send.Shared"));
    assert!(t.refresh_token.is_some());
    assert!(t.id_token.is_some());
    assert!(!format!("{t:?}").contains("refresh-token-fixture"));
}

#[test]
fn parses_expiry_given_as_a_string() {
    let t = parse_token_response(200, fixture!("refresh_success_string_expiry.json")).expect("success");
    assert_eq!(t.expires_in, 3599);
    assert_eq!(t.ext_expires_in, Some(3599));
    assert_eq!(t.refresh_token.expect("rt").expose_secret(), "rt-2");
}

#[test]
fn client_credentials_and_no_offline_access_answers_have_no_refresh_token() {
    let t = parse_token_response(200, fixture!("client_credentials.json")).expect("success");
    assert!(t.refresh_token.is_none() && t.id_token.is_none() && t.scope.is_none());
    let t = parse_token_response(200, fixture!("no_offline_access.json")).expect("success");
    assert!(t.refresh_token.is_none());
    assert!(t.id_token.is_some());
}

fn entra(status: u16, body: &str) -> EntraError {
    match parse_token_response(status, body) {
        Err(Error::Entra(e)) => *e,
        other => panic!("expected an Entra error, got {other:?}"),
    }
}

#[test]
fn parses_a_revoked_grant_error() {
    let e = entra(400, fixture!("error_revoked_50173.json"));
    assert_eq!(e.error, "invalid_grant");
    assert_eq!(e.aadsts, Some(50173));
    assert_eq!(e.error_codes, vec![50173]);
    assert_eq!(e.trace_id.as_deref(), Some("0b5c2f5e-7e6b-4c21-9d0b-1b2c3d4e5f60"));
    assert_eq!(e.correlation_id.as_deref(), Some("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"));
    assert_eq!(e.timestamp.as_deref(), Some("2026-11-25 04:10:00Z"));
    assert_eq!(e.error_uri.as_deref(), Some("https://login.microsoftonline.com/error?code=50173"));
    assert_eq!(e.http_status, Some(400));
    let x = Error::Entra(Box::new(e)).explain();
    assert_eq!(x.status, 401, "a revoked grant means signing in again");
    assert!(!x.retryable);
}

#[test]
fn parses_an_invalid_client_error() {
    let e = entra(401, fixture!("error_invalid_client_7000215.json"));
    assert_eq!(e.error, "invalid_client");
    assert_eq!(e.aadsts, Some(7000215));
    assert_eq!(
        e.summary(),
        Some(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."
        )
    );
    let x = Error::Entra(Box::new(e)).explain();
    assert_eq!(x.status, 502, "a wrong secret is the server's configuration at fault");
}

#[test]
fn parses_suberror_and_claims() {
    let e = entra(400, fixture!("error_consent_required_65001.json"));
    assert_eq!(e.suberror.as_deref(), Some("consent_required"));
    assert!(e.claims.as_deref().expect("claims").contains("capolids"));
    assert_eq!(e.aadsts, Some(65001));
}

#[test]
fn takes_codes_and_ids_from_the_description_when_fields_are_missing() {
    let e = entra(400, fixture!("error_description_only.json"));
    assert_eq!(e.aadsts, Some(70011));
    assert!(e.error_codes.is_empty());
    assert_eq!(e.trace_id.as_deref(), Some("t3"));
    assert_eq!(e.correlation_id.as_deref(), Some("c3"));
    assert_eq!(e.timestamp.as_deref(), Some("2026-11-25 04:10:03Z"));
}

#[test]
fn malformed_answers_are_typed_errors_without_the_body() {
    let secret_body = r#"{"token_type":"Bearer","expires_in":"soon","access_token":"SECRET-AT"}"#;
    let err = parse_token_response(200, secret_body).expect_err("bad expiry");
    assert_eq!(err.code(), ErrorCode::MalformedResponse);
    assert!(!err.to_string().contains("SECRET"), "{err}");
    let err = parse_token_response(200, r#"{"token_type":"Bearer","expires_in":1}"#).expect_err("no token");
    assert!(err.to_string().contains("access_token"), "{err}");
    let err =
        parse_token_response(200, r#"{"token_type":"MAC","expires_in":1,"access_token":"x"}"#).expect_err("not bearer");
    assert_eq!(err.code(), ErrorCode::MalformedResponse);
    let err = parse_token_response(502, "<html>Bad gateway</html>").expect_err("html");
    assert_eq!(err.code(), ErrorCode::MalformedResponse);
    let err = parse_token_response(200, r#"{"token_type":"Bearer","expires_in":1,"access_token":77777}"#)
        .expect_err("wrong type");
    assert!(!err.to_string().contains("77777"), "{err}");
}

#[test]
fn arrays_and_error_answers_without_an_error_are_malformed() {
    // Found by fuzzing: serde reads a struct from an array of its fields, so `[""]` was an Entra
    // error with an empty code, and an array of the fields a token.
    let err = parse_token_response(400, r#" [""  ]"#).expect_err("an array");
    assert_eq!(err.code(), ErrorCode::MalformedResponse);
    let err = parse_token_response(200, r#"["Bearer", null, 3600, null, "at-1"]"#).expect_err("an array");
    assert_eq!(
        (err.code(), err.detail()),
        (ErrorCode::MalformedResponse, "token answer: the body is not a JSON object")
    );
    for body in [r#"{"error":""}"#, r#"{"error":"  ","error_description":"AADSTS70011: x"}"#] {
        let err = parse_token_response(400, body).expect_err("no error code");
        assert_eq!(err.code(), ErrorCode::MalformedResponse, "{body}");
        assert_eq!(err.detail(), "token error (HTTP 400): the error field is empty");
    }
}
