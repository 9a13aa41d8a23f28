//! The browser module's API (this crate's exports under `js/graphgate.js`) in headless Chromium, against
//! graphgate-emulator and graphgate-proxy started by the harness (`tests/harness/with-stack.mjs`,
//! which `cargo xtask test` runs this under). Each test runs one scenario of `tests/js/scenarios.js`.

#![cfg(target_arch = "wasm32")]

use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/js/graphgate.js")]
extern "C" {
    /// Starts loading the module, as the npm package's entry does on import.
    fn preload();
}

#[wasm_bindgen(module = "/tests/js/scenarios.js")]
extern "C" {
    fn boot(emulator: &str, proxy: &str);
    #[wasm_bindgen(js_name = sessionStorageHandling)]
    fn session_storage_handling() -> js_sys::Promise;
    #[wasm_bindgen(js_name = redirectRoundTrip)]
    fn redirect_round_trip() -> js_sys::Promise;
    #[wasm_bindgen(js_name = popupSignIn)]
    fn popup_sign_in() -> js_sys::Promise;
    #[wasm_bindgen(js_name = errorRedirectIsExplained)]
    fn error_redirect_is_explained() -> js_sys::Promise;
    #[wasm_bindgen(js_name = tokenCacheAndSingleFlight)]
    fn token_cache_and_single_flight() -> js_sys::Promise;
    #[wasm_bindgen(js_name = unauthorizedRefreshesOnce)]
    fn unauthorized_refreshes_once() -> js_sys::Promise;
    #[wasm_bindgen(js_name = throttlingHonoursRetryAfter)]
    fn throttling_honours_retry_after() -> js_sys::Promise;
    #[wasm_bindgen(js_name = pagingFollowsNextLink)]
    fn paging_follows_next_link() -> js_sys::Promise;
    #[wasm_bindgen(js_name = batchSplitsAtTwenty)]
    fn batch_splits_at_twenty() -> js_sys::Promise;
    #[wasm_bindgen(js_name = sendMailAndGraphErrors)]
    fn send_mail_and_graph_errors() -> js_sys::Promise;
    #[wasm_bindgen(js_name = inviteReturnSignsInSilently)]
    fn invite_return_signs_in_silently() -> js_sys::Promise;
    #[wasm_bindgen(js_name = signingInAgainReplacesTheAccount)]
    fn signing_in_again_replaces_the_account() -> js_sys::Promise;
    #[wasm_bindgen(js_name = guardsAgainstMisuse)]
    fn guards_against_misuse() -> js_sys::Promise;
    #[wasm_bindgen(js_name = throttlingWithHiddenRetryAfter)]
    fn throttling_with_hidden_retry_after() -> js_sys::Promise;
    #[wasm_bindgen(js_name = batchResendsThrottledRequests)]
    fn batch_resends_throttled_requests() -> js_sys::Promise;
    #[wasm_bindgen(js_name = twoTabsRedeemOnce)]
    fn two_tabs_redeem_once() -> js_sys::Promise;
    #[wasm_bindgen(js_name = twoTabsSignInAtOnce)]
    fn two_tabs_sign_in_at_once() -> js_sys::Promise;
    #[wasm_bindgen(js_name = signOutReachesOtherTabs)]
    fn sign_out_reaches_other_tabs() -> js_sys::Promise;
    #[wasm_bindgen(js_name = claimsChallengeAnsweredSilently)]
    fn claims_challenge_answered_silently() -> js_sys::Promise;
    #[wasm_bindgen(js_name = claimsChallengeNeedsTheUser)]
    fn claims_challenge_needs_the_user() -> js_sys::Promise;
    #[wasm_bindgen(js_name = errorsCarryRequestIds)]
    fn errors_carry_request_ids() -> js_sys::Promise;
}

/// The harness's URLs, fixed when the test is compiled (the harness sets them for cargo).
const EMULATOR: Option<&str> = option_env!("GRAPHGATE_TEST_EMULATOR");
const PROXY: Option<&str> = option_env!("GRAPHGATE_TEST_PROXY");

/// Runs one scenario; a rejection fails the test with its message.
async fn run(scenario: fn() -> js_sys::Promise) {
    let (Some(emulator), Some(proxy)) = (EMULATOR, PROXY) else {
        panic!("run these tests through `cargo xtask test`: they need the emulator and proxy its harness starts");
    };
    // Linked in, so the test module exports the crate's functions as the npm package does.
    std::hint::black_box((
        graphgate_wasm::create_client as *const (),
        graphgate_wasm::create_client_from_proxy as *const (),
        graphgate_wasm::use_error_class as *const (),
        graphgate_wasm::in_sign_in_popup as *const (),
    ));
    boot(emulator, proxy);
    preload();
    if let Err(e) = JsFuture::from(scenario()).await {
        let message = js_sys::Reflect::get(&e, &"message".into()).ok().and_then(|m| m.as_string());
        panic!("{}", message.unwrap_or_else(|| format!("{e:?}")));
    }
}

#[wasm_bindgen_test]
async fn session_storage_keeps_the_pending_sign_in() {
    run(session_storage_handling).await;
}

#[wasm_bindgen_test]
async fn redirect_round_trip_through_emulator_and_proxy() {
    run(redirect_round_trip).await;
}

#[wasm_bindgen_test]
async fn popup_sign_in_and_its_failures() {
    run(popup_sign_in).await;
}

#[wasm_bindgen_test]
async fn an_error_redirect_is_explained() {
    run(error_redirect_is_explained).await;
}

#[wasm_bindgen_test]
async fn tokens_are_cached_and_requested_once() {
    run(token_cache_and_single_flight).await;
}

#[wasm_bindgen_test]
async fn a_401_refreshes_once_and_retries() {
    run(unauthorized_refreshes_once).await;
}

#[wasm_bindgen_test]
async fn a_429_waits_for_retry_after() {
    run(throttling_honours_retry_after).await;
}

#[wasm_bindgen_test]
async fn pages_follow_next_links() {
    run(paging_follows_next_link).await;
}

#[wasm_bindgen_test]
async fn batches_split_at_twenty() {
    run(batch_splits_at_twenty).await;
}

#[wasm_bindgen_test]
async fn mail_is_sent_and_graph_errors_explained() {
    run(send_mail_and_graph_errors).await;
}

#[wasm_bindgen_test]
async fn an_invitation_return_signs_in_silently_first() {
    run(invite_return_signs_in_silently).await;
}

#[wasm_bindgen_test]
async fn a_second_sign_in_replaces_the_first_account() {
    run(signing_in_again_replaces_the_account).await;
}

#[wasm_bindgen_test]
async fn the_client_refuses_what_it_must() {
    run(guards_against_misuse).await;
}

#[wasm_bindgen_test]
async fn a_hidden_retry_after_backs_off_within_bounds() {
    run(throttling_with_hidden_retry_after).await;
}

#[wasm_bindgen_test]
async fn a_throttled_batch_request_is_resent_alone() {
    run(batch_resends_throttled_requests).await;
}

#[wasm_bindgen_test]
async fn two_tabs_with_one_redirect_redeem_once() {
    run(two_tabs_redeem_once).await;
}

#[wasm_bindgen_test]
async fn signing_out_in_one_tab_reaches_the_others() {
    run(sign_out_reaches_other_tabs).await;
}

#[wasm_bindgen_test]
async fn a_claims_challenge_is_answered_silently() {
    run(claims_challenge_answered_silently).await;
}

#[wasm_bindgen_test]
async fn a_claims_challenge_that_needs_the_user_goes_to_the_next_sign_in() {
    run(claims_challenge_needs_the_user).await;
}

#[wasm_bindgen_test]
async fn graph_errors_carry_request_ids() {
    run(errors_carry_request_ids).await;
}

#[wasm_bindgen_test]
async fn two_tabs_signing_in_at_once_each_redeem_their_own() {
    run(two_tabs_sign_in_at_once).await;
}
