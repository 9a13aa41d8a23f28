//! Tests of the claims-challenge parser and the capability merge.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;

use super::*;

/// The claims of Microsoft's CAE example.
const NBF: &str = r#"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#;

fn graph_header(encoded: &str) -> String {
    [
        r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000", error="insufficient_claims", claims=""#,
        encoded,
        "\"",
    ]
    .concat()
}

#[test]
fn reads_graph_s_challenge() {
    let header = graph_header(&STANDARD.encode(NBF));
    assert_eq!(parse_claims_challenge(&header).as_deref(), Some(NBF));
    // Microsoft's documented example value, verbatim.
    let documented =
        graph_header("eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=");
    assert_eq!(parse_claims_challenge(&documented).as_deref(), Some(NBF));
}

#[test]
fn tolerates_spacing_case_order_and_base64_flavours() {
    let json = r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}},"x":"?>~"}"#;
    let padded = STANDARD.encode(json);
    let url_safe = URL_SAFE_NO_PAD.encode(json);
    assert!(padded.contains('=') || padded.contains('+') || padded.contains('/'), "{padded}");
    for header in [
        ["bearer claims=\"", &padded, "\" , ERROR = \"insufficient_claims\""].concat(),
        ["Bearer error=insufficient_claims, claims=", &padded].concat(),
        ["Bearer   realm=\"\",error=\"insufficient_claims\",claims=\"", &url_safe, "\""].concat(),
        ["Bearer error=\"insufficient_claims\", claims=\"", padded.trim_end_matches('='), "\""].concat(),
        // Another scheme first, then Graph's (PoP and Bearer challenges together).
        ["Basic realm=\"x\", Bearer error=\"insufficient_claims\", claims=\"", &padded, "\""].concat(),
        ["PoP nonce=\"abc\", error=\"insufficient_claims\", claims=\"", &padded, "\""].concat(),
        // Quoted-string escapes, and no scheme at all.
        ["error=\"insufficient\\_claims\", claims=\"", &padded, "\""].concat(),
        // The JSON itself instead of base64.
        ["Bearer error=\"insufficient_claims\", claims=\"", &json.replace('"', "\\\""), "\""].concat(),
    ] {
        assert_eq!(parse_claims_challenge(&header).as_deref(), Some(json), "{header}");
    }
}

#[test]
fn anything_else_is_none() {
    let claims = STANDARD.encode(NBF);
    for header in [
        String::new(),
        "Bearer".into(),
        r#"Bearer realm="", error="invalid_token""#.into(),
        ["Bearer error=\"invalid_token\", claims=\"", &claims, "\""].concat(),
        ["Basic error=\"insufficient_claims\", claims=\"", &claims, "\""].concat(),
        r#"Bearer error="insufficient_claims""#.into(),
        r#"Bearer error="insufficient_claims", claims="!!!""#.into(),
        r#"Bearer error="insufficient_claims", claims="A""#.into(),
        ["Bearer error=\"insufficient_claims\", claims=\"", &STANDARD.encode("[1,2]"), "\""].concat(),
        ["Bearer error=\"insufficient_claims\", claims=\"", &STANDARD.encode([0xff, 0xfe, b'{']), "\""].concat(),
        "Bearer error=\"insufficient_claims\", claims=\"eyJ".into(),
        "\"\\".into(),
        "=,=,\"".into(),
    ] {
        assert_eq!(parse_claims_challenge(&header), None, "{header}");
    }
}

proptest! {
    #[test]
    fn never_panics(header in ".*") {
        let _ = parse_claims_challenge(&header);
    }

    #[test]
    fn round_trips_any_object(key in "[a-z_]{1,12}", value in ".*") {
        let json = serde_json::json!({ "access_token": { key: { "essential": true, "value": value } } }).to_string();
        let header = graph_header(&STANDARD.encode(&json));
        prop_assert_eq!(parse_claims_challenge(&header), Some(json));
    }
}

fn parsed(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("json")
}

#[test]
fn merges_capabilities() {
    let cp1 = merge_client_capabilities("", &[CP1]).expect("merged");
    assert_eq!(parsed(&cp1), serde_json::json!({"access_token": {"xms_cc": {"values": ["cp1"]}}}));
    let merged = merge_client_capabilities(NBF, &[CP1]).expect("merged");
    assert_eq!(
        parsed(&merged),
        serde_json::json!({"access_token": {"nbf": {"essential": true, "value": "1604106651"}, "xms_cc": {"values": ["cp1"]}}})
    );
    // A union: present values stay (without regard to case), new ones are added.
    let both =
        merge_client_capabilities(r#"{"access_token":{"xms_cc":{"values":["CP1","x"]}},"id_token":{}}"#, &[CP1, "cp2"])
            .expect("merged");
    assert_eq!(
        parsed(&both),
        serde_json::json!({"access_token": {"xms_cc": {"values": ["CP1", "x", "cp2"]}}, "id_token": {}})
    );
    // Malformed capability entries are replaced.
    let fixed = merge_client_capabilities(r#"{"access_token":{"xms_cc":{"values":"cp1"}}}"#, &[CP1]).expect("merged");
    assert_eq!(parsed(&fixed), serde_json::json!({"access_token": {"xms_cc": {"values": ["cp1"]}}}));
    // No capabilities: the request as it was.
    assert_eq!(parsed(&merge_client_capabilities(NBF, &[]).expect("merged")), parsed(NBF));
    assert_eq!(merge_client_capabilities(" ", &[]).expect("merged"), "{}");
}

#[test]
fn refuses_what_is_not_a_claims_request() {
    for bad in ["[]", "\"x\"", "{", "null", "1"] {
        let e = merge_client_capabilities(bad, &[CP1]).expect_err(bad);
        assert_eq!(e.code(), ErrorCode::InvalidClaims, "{bad}");
    }
    let e = merge_client_capabilities(r#"{"access_token":[]}"#, &[CP1]).expect_err("not an object");
    assert_eq!(e.code(), ErrorCode::InvalidClaims);
    assert!(merge_client_capabilities(r#"{"access_token":[]}"#, &[]).is_ok(), "nothing to add, nothing checked");
}
