//! Operations against graphgate-emulator: the keep-alive task (due sessions refreshed once, the
//! 90-day inactivity window outlived, idle sessions not kept alive, dead grants ended, transient
//! failures retried, single flight with the browser, bounded concurrency) and the `check`
//! command (a good configuration, missing admin consent, a wrong secret, an unreachable host, a
//! broken session store, an invalid file, the binary configured by environment variables alone).

use std::time::{Duration, Instant};

use graphgate_emulator::{Fault, FaultKind};
use graphgate_proxy::check::{CheckReport, check};
use graphgate_proxy::config::{Config, Settings};
use graphgate_proxy::keepalive::{self, KeepaliveReport};

use crate::support::*;

const MEGAN: &str = "b2e6d4f3-1c5e-4d7f-9a2b-3c4d5e6f7081";
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

/// Signs `account` in through the proxy; returns the session cookie.
async fn signed_in_as(rig: &Rig, account: &str) -> String {
    let (code, state, sign_in) = rig.sign_in(CONTOSO, account).await;
    let (status, cookie, body) = rig.exchange(&code, &state, &sign_in).await;
    assert_eq!(status, 200, "{body}");
    cookie.expect("a session cookie")
}

fn report(refreshed: usize, failed: usize, ended: usize) -> KeepaliveReport {
    KeepaliveReport { refreshed, failed, ended }
}

fn token_path() -> String {
    format!("/{CONTOSO}/oauth2/v2.0/token")
}

#[tokio::test]
async fn due_sessions_are_refreshed_once_and_the_browser_gets_the_new_token() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\n").await;
    let (first, signed_in) = rig.signed_in().await;
    let (_second, _) = rig.signed_in().await;
    let signed_in_at = rig.proxy.clock.now();
    assert!(keepalive::spawn(rig.proxy.clone()).is_none(), "the background task runs only when enabled");
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(0, 0, 0), "nothing is due yet");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 0);

    rig.advance(25 * HOUR);
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(2, 0, 0));
    assert_eq!(rig.emu.call_count("token:refresh_token"), 2);
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(0, 0, 0), "refreshed sessions are not due again");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 2);

    // The stored sessions: refreshed now, but not "seen" (a background refresh is not use).
    let now = rig.proxy.clock.now();
    let sessions = rig.proxy.sessions.scan(now).await.unwrap();
    assert_eq!(sessions.len(), 2);
    for (_, s) in &sessions {
        // Refreshed during the pass above (the wall clock may have ticked since).
        assert!(s.refreshed_at >= signed_in_at + 25 * HOUR && s.refreshed_at <= now, "{} vs {now}", s.refreshed_at);
        assert!(s.last_seen < signed_in_at + 60, "last_seen stays at the sign-in");
    }

    // The browser is answered from the token the task put in the slot, without going upstream.
    let (status, token) = rig.token(&first).await;
    assert_eq!(status, 200, "{token}");
    assert_ne!(token["accessToken"], signed_in["accessToken"]);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 2);
}

#[tokio::test]
async fn the_enabled_background_task_runs_a_pass_at_once() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nenabled = true\nrefresh_after_hours = 24\n").await;
    rig.signed_in().await;
    rig.advance(25 * HOUR);
    let task = keepalive::spawn_with_jitter(rig.proxy.clone(), Duration::ZERO).expect("enabled");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.emu.call_count("token:refresh_token") < 1 {
        assert!(Instant::now() < deadline, "the first pass never refreshed the due session");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
}

#[tokio::test]
async fn a_kept_alive_session_outlives_the_90_day_inactivity_window() {
    let extra = "absolute_lifetime_hours = 8760\nidle_timeout_hours = 8760\n[keepalive]\nrefresh_after_hours = 336\n";
    let rig = rig(CONTOSO, Cred::Secret(SECRET), extra).await;
    let (cookie, _) = rig.signed_in().await;
    // 100 days in steps of 20 (each below Entra's 90-day window), the task running in between.
    for _ in 0..5 {
        rig.advance(20 * DAY);
        assert_eq!(keepalive::run_once(&rig.proxy).await, report(1, 0, 0));
    }
    assert_eq!(rig.emu.call_count("token:refresh_token"), 5);
    // Well past 90 days since the sign-in, the stored (rotated) refresh token still works.
    rig.advance(2 * HOUR);
    let (status, body) = rig.token(&cookie).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 6, "the browser's refresh went upstream");
    // Without the task, the same 90 days of inactivity end the grant.
    rig.advance(91 * DAY);
    let (status, err) = rig.token(&cookie).await;
    assert_eq!(
        (status, err["error"].as_str(), err["code"].as_str()),
        (401, Some("interaction_required"), Some("AADSTS700082"))
    );
}

#[tokio::test]
async fn a_background_refresh_does_not_keep_an_idle_session_alive() {
    let rig =
        rig(CONTOSO, Cred::Secret(SECRET), "idle_timeout_hours = 48\n[keepalive]\nrefresh_after_hours = 24\n").await;
    let (cookie, _) = rig.signed_in().await;
    rig.advance(25 * HOUR);
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(1, 0, 0));
    rig.advance(24 * HOUR);
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(0, 0, 0), "49 hours idle: the session has ended");
    assert_eq!(rig.get("/api/auth/session", Some(&cookie)).await.0, 401);
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
}

#[tokio::test]
async fn a_revoked_session_is_ended_and_a_transient_failure_is_not() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\n").await;
    let adele = signed_in_as(&rig, ADELE).await;
    let megan = signed_in_as(&rig, MEGAN).await;
    rig.advance(25 * HOUR);
    // One refresh meets a 503: that session is kept and tried again on the next pass.
    rig.emu.add_fault(Fault { path: token_path(), method: None, count: 1, kind: FaultKind::Status { status: 503 } });
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(1, 1, 0));
    assert_eq!(rig.get("/api/auth/session", Some(&adele)).await.0, 200);
    assert_eq!(rig.get("/api/auth/session", Some(&megan)).await.0, 200);
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(1, 0, 0), "the failed one is still due");

    // Megan's grant is revoked: the task ends her session and only hers.
    rig.emu.revoke("megan@contoso.onmicrosoft.com").unwrap();
    rig.advance(25 * HOUR);
    assert_eq!(keepalive::run_once(&rig.proxy).await, report(1, 0, 1));
    assert_eq!(rig.get("/api/auth/session", Some(&megan)).await.0, 401);
    let (status, err) = rig.token(&megan).await;
    assert_eq!(
        (status, err["error"].as_str(), err["code"].as_str()),
        (401, Some("interaction_required"), Some("not_signed_in"))
    );
    assert_eq!(rig.get("/api/auth/session", Some(&adele)).await.0, 200);
    assert_eq!(rig.token(&adele).await.0, 200);
}

/// Waits until the emulator has received `n` token requests (observing, not guessing a delay).
async fn token_requests_arrived(rig: &Rig, n: u64) {
    let arrivals = format!("POST {}", token_path());
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.emu.call_count(&arrivals) < n {
        assert!(Instant::now() < deadline, "the token request never arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn slow_token_endpoint(rig: &Rig) {
    rig.emu.reset_calls();
    rig.emu.add_fault(Fault { path: token_path(), method: None, count: 1, kind: FaultKind::Delay { ms: 300 } });
}

#[tokio::test]
async fn the_task_waits_for_the_browsers_refresh_and_skips_the_session() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\n").await;
    let (cookie, _) = rig.signed_in().await;
    // The access token has expired too, so the browser's call refreshes.
    rig.advance(25 * HOUR);
    slow_token_endpoint(&rig);
    // The browser's refresh is in flight (holding the session's slot) when the pass starts.
    let ((status, body), pass) = tokio::join!(rig.token(&cookie), async {
        token_requests_arrived(&rig, 1).await;
        keepalive::run_once(&rig.proxy).await
    });
    assert_eq!(status, 200, "{body}");
    assert_eq!(pass, report(0, 0, 0), "the session was refreshed while the pass waited for it");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1);
}

#[tokio::test]
async fn the_browser_waits_for_the_tasks_refresh_and_uses_its_token() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\n").await;
    let (cookie, _) = rig.signed_in().await;
    rig.advance(25 * HOUR);
    slow_token_endpoint(&rig);
    // The pass's refresh is in flight when the browser asks.
    let (pass, (status, body)) = tokio::join!(keepalive::run_once(&rig.proxy), async {
        token_requests_arrived(&rig, 1).await;
        rig.token(&cookie).await
    });
    assert_eq!(pass, report(1, 0, 0));
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.emu.call_count("token:refresh_token"), 1, "the browser got the pass's token");
}

#[tokio::test]
async fn refreshes_run_at_most_concurrency_at_once() {
    const DELAY_MS: u64 = 300;
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "[keepalive]\nrefresh_after_hours = 24\nconcurrency = 2\n").await;
    for _ in 0..4 {
        rig.signed_in().await;
    }
    rig.advance(25 * HOUR);
    rig.emu.reset_calls();
    rig.emu.add_fault(Fault { path: token_path(), method: None, count: 4, kind: FaultKind::Delay { ms: DELAY_MS } });
    // The emulator counts a request when it arrives (before the delay) and its grant when it is
    // handled (after): the difference is the number of refreshes in flight. It is sampled while
    // the pass runs; the sampling only observes, the pass synchronises on nothing but itself.
    let arrivals = format!("POST {}", token_path());
    let started = Instant::now();
    let pass = keepalive::run_once(&rig.proxy);
    tokio::pin!(pass);
    let mut sampler = tokio::time::interval(Duration::from_millis(5));
    let mut most_in_flight = 0;
    let outcome = loop {
        tokio::select! {
            outcome = &mut pass => break outcome,
            _ = sampler.tick() => {
                let arrived = rig.emu.call_count(&arrivals);
                let handled = rig.emu.call_count("token:refresh_token");
                most_in_flight = most_in_flight.max(arrived.saturating_sub(handled));
            }
        }
    };
    let elapsed = started.elapsed();
    assert_eq!(outcome, report(4, 0, 0));
    assert_eq!(rig.emu.call_count("token:refresh_token"), 4);
    assert_eq!(most_in_flight, 2, "two refreshes at once, never more");
    assert!(elapsed >= Duration::from_millis(2 * DELAY_MS), "four delayed refreshes two at a time take two rounds");
}

/// The rig's configuration, read and validated as `graphgate-proxy check` does.
fn settings_of(toml: &str) -> Result<Settings, Vec<String>> {
    Config::from_toml_and_env(toml, []).map_err(|e| vec![e])?.validate()
}

fn shown(report: &CheckReport) -> String {
    let text = report.render();
    eprintln!("{text}");
    text
}

fn problem_text(report: &CheckReport) -> (String, String) {
    let en = report.problems().map(|l| l.en.as_str()).collect::<Vec<_>>().join("\n");
    let zh = report.problems().map(|l| l.zh.as_str()).collect::<Vec<_>>().join("\n");
    (en, zh)
}

#[tokio::test]
async fn check_passes_a_good_configuration_in_both_languages() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let report = check(settings_of(&rig.config_toml)).await;
    let text = shown(&report);
    assert!(report.passed(), "{text}");
    assert!(report.lines.iter().all(|l| !l.en.is_empty() && !l.zh.is_empty()));
    for expected in [
        "the configuration is valid",
        "配置有效",
        "the client credential was read",
        "the session store",
        "discovery document",
        "an app-only token was issued",
        "应用专用令牌",
        "carries User.Invite.All",
        "carries User.Read.All",
        "passed",
        "通过",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from\n{text}");
    }
    // No API keys under the admin policy is a warning, not a failure.
    assert!(text.contains("warning  invitations.policy is admin"), "{text}");
    assert!(!text.contains(SECRET), "the secret must never be shown");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_runs_from_environment_variables_alone() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let key = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
    let vars = [
        ("GRAPHGATE_ENTRA_CLIENT_ID", APP.to_owned()),
        ("GRAPHGATE_ENTRA_TENANT", CONTOSO.to_owned()),
        ("GRAPHGATE_ENTRA_REDIRECT_URIS", REDIRECT.to_owned()),
        ("GRAPHGATE_ENTRA_LOGIN_BASE", rig.emu.base_url().to_owned()),
        ("GRAPHGATE_ENTRA_GRAPH_BASE", rig.emu.base_url().to_owned()),
        ("GRAPHGATE_ENTRA_EXTRA_CA_FILE", rig.emu.ca_file().unwrap().display().to_string()),
        ("GRAPHGATE_SESSION_STORE", "memory".to_owned()),
        ("GRAPHGATE_CLIENT_SECRET", SECRET.to_owned()),
        ("GRAPHGATE_SESSION_KEY", key.to_owned()),
    ];
    let run = move |vars: Vec<(&'static str, String)>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_graphgate-proxy")).arg("check").env_clear().envs(vars).output()
    };
    let all = vars.to_vec();
    let out = tokio::task::spawn_blocking(move || run(all)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("an app-only token was issued"), "{text}");
    assert!(!text.contains(SECRET) && !text.contains(key), "no secret shown: {text}");

    // Without the secret's variable the same run names what is missing.
    let without_secret: Vec<_> = vars.into_iter().filter(|(k, _)| *k != "GRAPHGATE_CLIENT_SECRET").collect();
    let out = tokio::task::spawn_blocking(move || run(without_secret)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("GRAPHGATE_CLIENT_SECRET"), "{text}");
}

#[tokio::test]
async fn check_names_the_missing_admin_consent_in_both_languages() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let mut seed = graphgate_emulator::Seed::sandbox();
    seed.apps[0].application_permissions.clear();
    rig.emu.reseed(&seed).unwrap();
    let report = check(settings_of(&rig.config_toml)).await;
    let text = shown(&report);
    assert!(!report.passed(), "{text}");
    let (en, zh) = problem_text(&report);
    assert!(en.contains("User.Invite.All") && en.to_lowercase().contains("admin consent"), "{en}");
    assert!(zh.contains("User.Invite.All") && zh.contains("管理员同意"), "{zh}");
    assert_eq!(report.problems().count(), 1, "only the role is missing: {text}");
    let warning = report.warnings().find(|l| l.en.contains("User.Read.All")).expect("a User.Read.All warning");
    assert!(warning.zh.contains("User.Read.All"));
}

#[tokio::test]
async fn check_explains_a_wrong_secret() {
    let rig = rig(CONTOSO, Cred::Secret("not-the-sandbox-secret"), "").await;
    let report = check(settings_of(&rig.config_toml)).await;
    let text = shown(&report);
    assert!(!report.passed(), "{text}");
    let (en, zh) = problem_text(&report);
    assert!(en.contains("AADSTS7000215") && en.contains("Certificates & secrets"), "{en}");
    assert!(zh.contains("AADSTS7000215") && zh.contains("证书和密码"), "{zh}");
    assert!(text.contains("the configuration is valid") && text.contains("discovery document"), "the rest still ran");
    assert!(!text.contains("not-the-sandbox-secret"));
}

#[tokio::test]
async fn check_explains_an_unreachable_host() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let toml = rig.config_toml.replace(
        &format!("login_base = \"{}\"", rig.emu.base_url()),
        &format!("login_base = \"https://127.0.0.1:{closed}\""),
    );
    assert_ne!(toml, rig.config_toml);
    let report = check(settings_of(&toml)).await;
    let text = shown(&report);
    assert!(!report.passed(), "{text}");
    let (en, zh) = problem_text(&report);
    let fix = graphgate_core::ErrorCode::UpstreamUnreachable.entry().fix;
    assert!(en.contains("upstream_unreachable") && en.contains(fix.en), "{en}");
    assert!(zh.contains(fix.zh), "{zh}");
    assert!(text.contains("warning  the app-only token was not requested"), "{text}");
}

#[tokio::test]
async fn check_reports_a_broken_session_store_and_goes_on() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let db = rig.scratch.0.join("sessions.db");
    let toml = rig.config_toml.replace(&format!("{db:?}"), "\"/nonexistent-graphgate-dir/sessions.db\"");
    assert_ne!(toml, rig.config_toml);
    let report = check(settings_of(&toml)).await;
    let text = shown(&report);
    assert!(!report.passed(), "{text}");
    let (en, zh) = problem_text(&report);
    assert!(en.contains("the session store /nonexistent-graphgate-dir/sessions.db cannot be used"), "{en}");
    assert!(zh.contains("会话存储"), "{zh}");
    assert_eq!(report.problems().count(), 1, "{text}");
    assert!(text.contains("an app-only token was issued"), "the upstream checks still ran: {text}");
}

#[tokio::test]
async fn check_lists_every_problem_of_an_invalid_file() {
    let bad = r#"
        [entra]
        cloud = "mars"
        tenant = "not a tenant"
        client_id = "my-app"
        redirect_uris = ["http://app.example.com/"]
        [session]
        store = "postgres"
        [invitations]
        policy = "self-service"
    "#;
    let problems = settings_of(bad).expect_err("invalid");
    assert!(problems.len() >= 6, "{problems:?}");
    let report = check(Err(problems.clone())).await;
    let text = shown(&report);
    assert!(!report.passed());
    assert_eq!(report.problems().count(), problems.len());
    for p in &problems {
        assert!(text.contains(p.as_str()), "{p:?} missing from\n{text}");
    }
    for field in ["entra.cloud", "entra.tenant", "entra.client_id", "entra.credential", "session.store", "session.key"]
    {
        assert!(text.contains(field), "{field} missing from\n{text}");
    }
    assert!(text.contains("配置错误") && text.contains("were not checked"), "{text}");
    // A file that does not even parse is one problem.
    let report = check(settings_of("[entra]\ncolour = 1")).await;
    assert!(!report.passed());
    assert!(shown(&report).contains("colour"));
}

#[tokio::test]
async fn check_warns_about_pages_on_another_site() {
    let rig = rig(CONTOSO, Cred::Secret(SECRET), "").await;
    let same_site = rig.config_toml.replace(
        &format!("public_origin = \"{ORIGIN}\""),
        "public_origin = \"https://auth.example.com\"\nallowed_origins = [\"https://app.example.com\"]",
    );
    let report = check(settings_of(&same_site)).await;
    let text = shown(&report);
    assert!(!text.contains("https://app.example.com is on another site"), "a subdomain of the same site: {text}");
    let cross_site =
        same_site.replace("https://app.example.com\"]", "https://app.example.com\", \"https://shop.example.org\"]");
    let report = check(settings_of(&cross_site)).await;
    let text = shown(&report);
    assert!(report.passed(), "a warning, not a failure: {text}");
    let warning = report.warnings().find(|l| l.en.contains("another site")).expect("a cross-site warning");
    assert!(
        warning.en.contains("https://shop.example.org") && warning.en.contains("third-party cookies"),
        "{}",
        warning.en
    );
    assert!(warning.zh.contains("第三方 Cookie"));
    // The redirect URI's page (http://localhost:5173) is on another site too.
    assert!(text.contains("http://localhost:5173 is on another site"), "{text}");
}
