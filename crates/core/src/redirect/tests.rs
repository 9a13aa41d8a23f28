//! Tests of redirect parsing, including a property test that no input makes it panic.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use proptest::prelude::*;

use super::*;

fn parse(url: &str) -> Result<RedirectResponse, Error> {
    parse_redirect(redirect_params(url, None))
}

#[test]
fn a_success_in_the_query() {
    let r = parse("http://localhost:5173/?code=0.AXo%2Bcode&state=st-1&session_state=ss-9").expect("parsed");
    let s = r.verify(&State::new("st-1")).expect("state matches");
    assert_eq!(s.code.expose_secret(), "0.AXo+code");
    assert_eq!(s.session_state.as_deref(), Some("ss-9"));
}

#[test]
fn a_success_in_the_fragment() {
    let url = "https://app.example.com/cb#code=abc&state=st-2";
    let r = parse_redirect(redirect_params(url, Some(ResponseMode::Fragment))).expect("parsed");
    assert!(matches!(r, RedirectResponse::Success(_)));
    assert!(matches!(parse(url), Ok(RedirectResponse::Success(_))), "auto-detects the fragment");
    // A form_post body is parsed as is.
    assert!(matches!(parse_redirect("code=abc&state=s"), Ok(RedirectResponse::Success(_))));
}

#[test]
fn an_error_redirect_with_aadsts_and_ids() {
    let url = "http://localhost:5173/?error=access_denied&error_description=AADSTS50020%3a+User+account+%27bob%40fabrikam.com%27+from+identity+provider+%27https%3a%2f%2fsts.windows.net%2fx%2f%27+does+not+exist+in+tenant+%27Contoso%27.%0d%0aTrace+ID%3a+tr-1%0d%0aCorrelation+ID%3a+co-1%0d%0aTimestamp%3a+2026-11-25+04%3a00%3a00Z&error_uri=https%3a%2f%2flogin.microsoftonline.com%2ferror%3fcode%3d50020&state=st-1";
    let err = parse(url).expect("parsed").verify(&State::new("st-1")).expect_err("an error redirect");
    let Error::Entra(e) = &err else { panic!("expected an Entra error: {err:?}") };
    assert_eq!(e.error, "access_denied");
    assert_eq!(e.aadsts, Some(50020));
    assert_eq!(e.trace_id.as_deref(), Some("tr-1"));
    assert_eq!(e.correlation_id.as_deref(), Some("co-1"));
    assert_eq!(e.timestamp.as_deref(), Some("2026-11-25 04:00:00Z"));
    assert_eq!(e.error_uri.as_deref(), Some("https://login.microsoftonline.com/error?code=50020"));
    let x = err.explain();
    assert_eq!(x.code, "AADSTS50020");
    assert_eq!(x.correlation_id.as_deref(), Some("co-1"));
}

#[test]
fn state_mismatch_is_typed_for_success_and_error() {
    let err = parse("/?code=c&state=evil").expect("parsed").verify(&State::new("good")).expect_err("mismatch");
    assert_eq!(err.code(), ErrorCode::StateMismatch);
    let err =
        parse("/?error=access_denied&state=evil").expect("parsed").verify(&State::new("good")).expect_err("mismatch");
    assert_eq!(err.code(), ErrorCode::StateMismatch);
    // An error redirect without a state is still reported as the Entra error.
    let err = parse("/?error=server_error").expect("parsed").verify(&State::new("good")).expect_err("error");
    assert!(matches!(err, Error::Entra(_)));
}

#[test]
fn missing_and_repeated_parameters_are_typed() {
    let code = |url: &str| parse(url).expect_err(url).code();
    assert_eq!(code("/?state=s"), ErrorCode::MissingCode);
    assert_eq!(code("/?code=c"), ErrorCode::MissingState);
    assert_eq!(code("/?code=c&state="), ErrorCode::MissingState);
    assert_eq!(code("/?code=&state=s"), ErrorCode::MissingCode);
    assert_eq!(code("/?code=a&code=b&state=s"), ErrorCode::RepeatedParameter);
    assert_eq!(code("/?code=a&state=s&state=s"), ErrorCode::RepeatedParameter);
    assert_eq!(code("/?error=a&error=b"), ErrorCode::RepeatedParameter);
    assert_eq!(code("/"), ErrorCode::NotARedirect);
    assert_eq!(code("/?page=2"), ErrorCode::NotARedirect);
    assert_eq!(code("/?code=%FF&state=s"), ErrorCode::InvalidUrl);
    // Unrelated parameters may repeat.
    assert!(parse("/?x=1&x=2&code=c&state=s").is_ok());
}

#[test]
fn errors_never_echo_the_code() {
    let err = parse("/?code=SECRET-CODE&code=SECRET-CODE&state=s").expect_err("repeated");
    assert!(!format!("{err} {err:?}").contains("SECRET"));
    let ok = parse("/?code=SECRET-CODE&state=s").expect("parsed");
    assert!(!format!("{ok:?}").contains("SECRET"));
}

/// Pieces that make up plausible and implausible redirect URLs.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("code=".to_owned()),
        Just("state=".to_owned()),
        Just("error=".to_owned()),
        Just("error_description=AADSTS".to_owned()),
        Just("session_state=".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("%".to_owned()),
        Just("%2".to_owned()),
        Just("%FF".to_owned()),
        Just("%0d%0aTrace+ID%3a".to_owned()),
        Just("+".to_owned()),
        "[a-zA-Z0-9._~-]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn no_input_makes_the_parser_panic(pieces in prop::collection::vec(piece(), 0..24), raw in any::<String>()) {
        let url = format!("http://localhost:5173/{}", pieces.concat());
        for input in [url.as_str(), raw.as_str()] {
            for mode in [None, Some(ResponseMode::Query), Some(ResponseMode::Fragment), Some(ResponseMode::FormPost)] {
                if let Ok(r) = parse_redirect(redirect_params(input, mode)) {
                    if let RedirectResponse::Success(s) = &r {
                        prop_assert!(!s.code.expose_secret().is_empty());
                        prop_assert!(!s.state.expose_secret().is_empty());
                    }
                    let expected = State::new("expected");
                    match r.verify(&expected) {
                        Ok(s) => prop_assert_eq!(s.state, expected),
                        Err(e) => { let _ = e.explain(); }
                    }
                }
            }
        }
    }
}
