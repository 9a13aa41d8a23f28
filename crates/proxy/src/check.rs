//! `graphgate-proxy check --config FILE`: checks a configuration against the real services
//! before the proxy is started, and says in plain words, in English and Simplified Chinese,
//! everything that is wrong or missing at once.
//!
//! What is checked, each on its own so one failure does not hide the next:
//!
//! - the configuration itself (every validation problem);
//! - the client credential (the secret or certificate can be read);
//! - the session keys and store (the store is opened and pinged, and the keys are tried on up to
//!   20 stored sessions, as start-up does);
//! - the invitation and keep-alive settings;
//! - the sign-in service (the authority's discovery document);
//! - an app-only token from `entra.app_tenant` (client credentials) and its roles:
//!   `User.Invite.All` for invitations, `User.Read.All` for the directory lookups.
//!
//! Upstream and catalogue texts are used for the fixes, so `check` says what the proxy would say
//! at run time; the report's own texts are the table in `check/texts.rs`. No line ever shows a
//! secret: the values read are removed from every line.

use std::sync::Arc;

use graphgate_core::{ErrorCode, Explanation, Grant};

use crate::api_keys::ApiKeys;
use crate::apponly::{INVITE_ROLES, READ_ROLES, holds, roles_of};
use crate::clock::now_secs;
use crate::config::{InvitePolicy, Settings, StoreKind};
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::session::{RedisStore, SessionManager, SessionStore, SqliteStore, StoreError};
use crate::upstream::Upstream;

mod texts;

use texts::Bilingual;

/// How long a web app's refresh token survives without use, hours (90 days).
const REFRESH_TOKEN_INACTIVITY_HOURS: u64 = 90 * 24;

/// What a failed check counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The proxy cannot work as configured: the check fails.
    Problem,
    /// A feature works less well or not at all; the check still passes.
    Warning,
}

/// One check's outcome, in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Whether the check passed.
    pub ok: bool,
    /// What a failure counts as (also set on passed checks: what it would have been).
    pub severity: Severity,
    /// English.
    pub en: String,
    /// Simplified Chinese.
    pub zh: String,
}

impl CheckLine {
    /// `ok`, `problem` or `warning`.
    fn mark(&self) -> &'static str {
        match (self.ok, self.severity) {
            (true, _) => "ok",
            (false, Severity::Problem) => "problem",
            (false, Severity::Warning) => "warning",
        }
    }
}

/// Every check's outcome, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// The lines.
    pub lines: Vec<CheckLine>,
}

impl CheckReport {
    /// Whether no check found a problem (warnings do not fail).
    pub fn passed(&self) -> bool {
        !self.lines.iter().any(|l| !l.ok && l.severity == Severity::Problem)
    }

    /// The failed checks that count as problems.
    pub fn problems(&self) -> impl Iterator<Item = &CheckLine> {
        self.lines.iter().filter(|l| !l.ok && l.severity == Severity::Problem)
    }

    /// The failed checks that count as warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &CheckLine> {
        self.lines.iter().filter(|l| !l.ok && l.severity == Severity::Warning)
    }

    /// One line per check (`ok`, `problem` or `warning`, then the English text, then the
    /// Chinese), and a closing summary in both languages.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(&format!("{:<8} {} | {}\n", line.mark(), one_line(&line.en), one_line(&line.zh)));
        }
        let (problems, warnings) = (self.problems().count(), self.warnings().count());
        let summary = if self.passed() {
            texts::PASSED.fill(&[("warnings", &warnings)])
        } else {
            texts::FAILED.fill(&[("problems", &problems), ("warnings", &warnings)])
        };
        out.push_str(&format!("{} | {}\n", summary.en, summary.zh));
        out
    }

    fn push(&mut self, ok: bool, severity: Severity, text: Bilingual) {
        self.lines.push(CheckLine { ok, severity, en: text.en, zh: text.zh });
    }

    fn pass(&mut self, severity: Severity, text: Bilingual) {
        self.push(true, severity, text);
    }

    fn problem(&mut self, text: Bilingual) {
        self.push(false, Severity::Problem, text);
    }

    fn warning(&mut self, text: Bilingual) {
        self.push(false, Severity::Warning, text);
    }

    /// Removes every secret value read during the check from every line.
    fn scrub(&mut self, secrets: &[String]) {
        for secret in secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= 4) {
            for line in &mut self.lines {
                if line.en.contains(secret) || line.zh.contains(secret) {
                    line.en = line.en.replace(secret, "<redacted>");
                    line.zh = line.zh.replace(secret, "<redacted>");
                }
            }
        }
    }
}

/// Runs every check. `settings_result` is the configuration as validated (a parse error is one
/// problem in the list).
pub async fn check(settings_result: Result<Settings, Vec<String>>) -> CheckReport {
    let mut report = CheckReport::default();
    let settings = match settings_result {
        Ok(s) => s,
        Err(problems) => {
            if problems.is_empty() {
                report.problem(texts::CONFIG_INVALID.plain());
            }
            for p in problems {
                report.problem(texts::CONFIG_PROBLEM.fill(&[("problem", &p)]));
            }
            report.warning(texts::NOTHING_ELSE_CHECKED.plain());
            return report;
        }
    };
    let mut secrets = Vec::new();
    configuration(&settings, &mut report);
    let credential = credential(&settings, &mut report, &mut secrets);
    sessions(&settings, &mut report, &mut secrets).await;
    invitations(&settings, &mut report, &mut secrets);
    keepalive(&settings, &mut report);
    upstream(&settings, credential.as_ref(), &mut report).await;
    report.scrub(&secrets);
    report
}

fn configuration(s: &Settings, r: &mut CheckReport) {
    let e = &s.entra;
    let app_tenant = match &e.app_tenant {
        Some(t) => texts::APP_TENANT.fill(&[("tenant", &t.as_str())]),
        None => Bilingual { en: String::new(), zh: String::new() },
    };
    let args: [(&str, &dyn std::fmt::Display); 3] =
        [("cloud", &e.endpoints.cloud().name()), ("tenant", &e.tenant.as_str()), ("client", &e.client_id.as_str())];
    r.pass(Severity::Problem, texts::CONFIG_VALID.fill_parts(&args, &[("app_tenant", &app_tenant)]));
    cross_site_pages(s, r);
}

/// Warns about each page origin (an allowed origin, or a redirect URI's) on another site than
/// the proxy's public origin: browsers that block third-party cookies would not send it the
/// session cookie.
fn cross_site_pages(s: &Settings, r: &mut CheckReport) {
    let Some((public, allowed)) = s.server.origins.split_first() else { return };
    let redirects = s.entra.redirect_uris.iter().filter_map(|u| url_origin(u.as_str()));
    let mut warned: Vec<String> = Vec::new();
    for origin in allowed.iter().cloned().chain(redirects) {
        if !crate::cookie::same_site(public, &origin) && !warned.contains(&origin) {
            r.warning(texts::CROSS_SITE_PAGE.fill(&[("origin", &origin), ("public", public)]));
            warned.push(origin);
        }
    }
}

/// The `scheme://host[:port]` of an absolute URL.
fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}

fn credential(s: &Settings, r: &mut CheckReport, secrets: &mut Vec<String>) -> Option<Credential> {
    match Credential::load(&s.credential) {
        Ok(c) => {
            let kind = match &c {
                Credential::Secret { secret, basic } => {
                    secrets.push(secret.expose_secret().to_owned());
                    if *basic { texts::SECRET_BASIC.plain() } else { texts::SECRET_POST.plain() }
                }
                Credential::Certificate { alg, .. } => texts::CERTIFICATE.fill(&[("alg", &alg.as_str())]),
            };
            r.pass(Severity::Problem, texts::CREDENTIAL_READ.fill_parts(&[], &[("kind", &kind)]));
            Some(c)
        }
        Err(e) => {
            r.problem(texts::CREDENTIAL_UNREADABLE.fill(&[("error", &e)]));
            None
        }
    }
}

async fn sessions(s: &Settings, r: &mut CheckReport, secrets: &mut Vec<String>) {
    let cfg = &s.session;
    let keys = match cfg.keyring() {
        Err(e) => {
            // Whatever was read stays out of the report.
            for (id, source) in &cfg.keys {
                if let Ok(text) = source.read(&cfg.key_name(id)) {
                    secrets.push(text);
                }
            }
            r.problem(texts::SESSION_KEY_UNREADABLE.fill(&[("error", &e)]));
            None
        }
        Ok((keys, texts)) => {
            secrets.extend(texts);
            let sealing = keys.sealing().id().to_owned();
            r.pass(Severity::Problem, texts::SESSION_KEY_VALID.fill(&[("n", &cfg.keys.len()), ("id", &sealing)]));
            Some(keys)
        }
    };
    let (opened, shown): (Result<Arc<dyn SessionStore>, StoreError>, String) = match &cfg.store {
        StoreKind::Memory => {
            r.warning(texts::MEMORY_STORE.plain());
            return;
        }
        StoreKind::Sqlite(path) => (
            SqliteStore::open_with(path, cfg.sqlite_max_page_count).map(|s| Arc::new(s) as Arc<dyn SessionStore>),
            path.display().to_string(),
        ),
        StoreKind::Redis(redis) => {
            let password = redis.read_password();
            if let Ok(Some(password)) = &password {
                secrets.push(password.clone());
            }
            match password.and_then(|p| RedisStore::open(&redis.options, p.as_deref())) {
                Ok(store) => {
                    let place = format!("Redis, {}", store.place());
                    (Ok(Arc::new(store) as Arc<dyn SessionStore>), place)
                }
                Err(e) => (Err(StoreError::Unavailable(e)), "Redis".to_owned()),
            }
        }
    };
    let answer = match &opened {
        Ok(store) => store.ping().await,
        Err(e) => Err(e.clone()),
    };
    match answer {
        Ok(()) => r.pass(Severity::Problem, texts::STORE_ANSWERS.fill(&[("path", &shown)])),
        Err(e) => {
            let fix = ErrorCode::StoreUnavailable.entry().fix;
            let fix = Bilingual { en: fix.en.to_owned(), zh: fix.zh.to_owned() };
            r.problem(texts::STORE_UNUSABLE.fill_parts(&[("path", &shown), ("error", &e)], &[("fix", &fix)]));
            return;
        }
    }
    let (Ok(store), Some(keys)) = (opened, keys) else { return };
    let manager = SessionManager::new(store, keys, cfg.absolute_lifetime, cfg.idle_timeout);
    match manager.check_keys(now_secs()).await {
        Ok(found) if found.none_open() => r.problem(texts::KEYS_OPEN_NONE.fill(&[("n", &found.sampled)])),
        Ok(found) => {
            r.pass(Severity::Problem, texts::KEYS_OPEN.fill(&[("opened", &found.opened), ("n", &found.sampled)]))
        }
        Err(e) => r.problem(texts::STORE_UNUSABLE.fill_parts(
            &[("path", &shown), ("error", &e)],
            &[("fix", &Bilingual { en: String::new(), zh: String::new() })],
        )),
    }
}

fn invitations(s: &Settings, r: &mut CheckReport, secrets: &mut Vec<String>) {
    let cfg = &s.invitations;
    match cfg.policy {
        InvitePolicy::Admin => {
            if cfg.api_keys.is_none() {
                r.warning(texts::ADMIN_WITHOUT_KEYS.plain());
                return;
            }
            match ApiKeys::read(cfg.api_keys.as_ref()) {
                Err(e) => r.problem(texts::API_KEYS_UNREADABLE.fill(&[("error", &e)])),
                Ok(keys) => {
                    secrets.extend(keys.expose_secrets().map(str::to_owned));
                    match keys.len() {
                        0 => r.warning(texts::API_KEYS_EMPTY.plain()),
                        n => r.pass(Severity::Warning, texts::ADMIN_POLICY.fill(&[("n", &n)])),
                    }
                }
            }
        }
        InvitePolicy::SelfService => {
            let domains = cfg.allowed_domains.join(", ");
            let args: [(&str, &dyn std::fmt::Display); 2] =
                [("domains", &domains), ("rate", &cfg.rate_limit_per_minute)];
            r.pass(Severity::Warning, texts::SELF_SERVICE_POLICY.fill(&args));
        }
        InvitePolicy::SignedIn => {
            let who = match cfg.allowed_object_ids.len() {
                0 => texts::EVERY_ACCOUNT.plain(),
                n => texts::SOME_ACCOUNTS.fill(&[("n", &n)]),
            };
            r.pass(Severity::Warning, texts::SIGNED_IN_POLICY.fill_parts(&[], &[("who", &who)]));
        }
    }
}

fn keepalive(s: &Settings, r: &mut CheckReport) {
    let k = &s.keepalive;
    let refresh_after_hours = k.refresh_after.as_secs() / 3600;
    if k.enabled {
        let interval_minutes = k.interval.as_secs() / 60;
        let worst = refresh_after_hours.saturating_add(interval_minutes.div_ceil(60));
        if worst >= REFRESH_TOKEN_INACTIVITY_HOURS {
            let args: [(&str, &dyn std::fmt::Display); 3] =
                [("hours", &refresh_after_hours), ("minutes", &interval_minutes), ("worst", &worst)];
            r.problem(texts::REFRESH_AFTER_TOO_LONG.fill(&args));
        } else {
            let args: [(&str, &dyn std::fmt::Display); 3] =
                [("hours", &refresh_after_hours), ("minutes", &interval_minutes), ("concurrency", &k.concurrency)];
            r.pass(Severity::Problem, texts::KEEPALIVE_RUNS.fill(&args));
        }
    } else {
        let session = &s.session;
        let longest_idle = session.idle_timeout.min(session.absolute_lifetime).as_secs() / 3600;
        if longest_idle > REFRESH_TOKEN_INACTIVITY_HOURS {
            r.warning(texts::IDLE_OUTLIVES_REFRESH_TOKEN.fill(&[("hours", &longest_idle)]));
        }
    }
}

async fn upstream(s: &Settings, credential: Option<&Credential>, r: &mut CheckReport) {
    let upstream = match Upstream::new(s.entra.clone(), Arc::new(Metrics::default())) {
        Ok(u) => u,
        Err(e) => {
            r.problem(texts::CLIENT_UNBUILDABLE.fill(&[("error", &e)]));
            r.warning(texts::UPSTREAM_NOT_CHECKED.plain());
            return;
        }
    };
    let e = &s.entra;
    let url = e.endpoints.discovery_url(&e.tenant);
    let reachable = match upstream.discovery().await {
        Ok(_) => {
            r.pass(Severity::Problem, texts::DISCOVERY_FETCHED.fill(&[("url", &url)]));
            true
        }
        Err(err) => {
            let why = explained(&err.explain());
            r.problem(texts::DISCOVERY_FAILED.fill_parts(&[("url", &url)], &[("why", &why)]));
            !matches!(err.code(), ErrorCode::UpstreamUnreachable | ErrorCode::UpstreamTimeout)
        }
    };
    let Some(tenant) = &e.app_tenant else {
        r.warning(texts::NO_APP_TENANT.fill(&[("tenant", &e.tenant.as_str())]));
        return;
    };
    let Some(credential) = credential else {
        r.warning(texts::APP_TOKEN_WITHOUT_CREDENTIAL.plain());
        return;
    };
    if !reachable {
        r.warning(texts::APP_TOKEN_WITHOUT_SIGN_IN_SERVICE.plain());
        return;
    }
    let tokens = match upstream.token(credential, tenant, Grant::ClientCredentials, None, now_secs()).await {
        Ok(t) => {
            r.pass(Severity::Problem, texts::APP_TOKEN_ISSUED.fill(&[("tenant", &tenant.as_str())]));
            t
        }
        Err(err) => {
            let why = explained(&err.explain());
            r.problem(texts::APP_TOKEN_REFUSED.fill_parts(&[("tenant", &tenant.as_str())], &[("why", &why)]));
            return;
        }
    };
    let Some(roles) = roles_of(&tokens.access_token) else {
        r.warning(texts::ROLES_UNREADABLE.plain());
        return;
    };
    roles_check(&roles, r);
}

fn roles_check(roles: &[String], r: &mut CheckReport) {
    let none = if roles.is_empty() {
        texts::NO_ROLE_AT_ALL.plain()
    } else {
        Bilingual { en: String::new(), zh: String::new() }
    };
    match holds(roles, &INVITE_ROLES) {
        Some(role) => r.pass(Severity::Problem, texts::INVITE_ROLE.fill(&[("role", &role)])),
        None => {
            let fix = ErrorCode::AdminConsentMissing.entry().fix;
            let fix = Bilingual { en: fix.en.to_owned(), zh: fix.zh.to_owned() };
            r.problem(texts::NO_INVITE_ROLE.fill_parts(&[], &[("none", &none), ("fix", &fix)]));
        }
    }
    match holds(roles, &READ_ROLES) {
        Some(role) => r.pass(Severity::Warning, texts::READ_ROLE.fill(&[("role", &role)])),
        None => r.warning(texts::NO_READ_ROLE.plain()),
    }
}

/// A text on one line (some upstream and parser messages span several).
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// An explanation as `detail. What to do: fix`, in both languages.
fn explained(x: &Explanation) -> Bilingual {
    let message = x.message.trim().trim_end_matches('.');
    let detail = if message.contains(&x.code) { message.to_owned() } else { format!("{message} ({})", x.code) };
    let link = x.lookup_url.as_deref().filter(|u| !x.hint.contains(u)).map(|u| format!(" ({u})")).unwrap_or_default();
    let hint = Bilingual { en: x.hint.clone(), zh: x.hint_zh.clone() };
    texts::EXPLAINED.fill_parts(&[("detail", &detail), ("link", &link)], &[("hint", &hint)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ok: bool, severity: Severity) -> CheckLine {
        CheckLine { ok, severity, en: "english".into(), zh: "中文".into() }
    }

    #[test]
    fn warnings_do_not_fail_and_problems_do() {
        let mut r = CheckReport { lines: vec![line(true, Severity::Problem), line(false, Severity::Warning)] };
        assert!(r.passed());
        assert!(r.render().contains("warning  english | 中文"), "{}", r.render());
        assert!(r.render().contains("passed"));
        r.lines.push(line(false, Severity::Problem));
        assert!(!r.passed());
        let text = r.render();
        assert!(text.starts_with("ok       english | 中文\n"), "{text}");
        assert!(text.contains("problem  english | 中文"), "{text}");
        assert!(text.contains("failed: 1 problem(s), 1 warning(s) | 未通过：1 个问题，1 条警告"), "{text}");
        r.problem(Bilingual {
            en: "unknown field `colour`\nin `entra`\n".into(),
            zh: "配置错误：unknown field `colour`\nin `entra`".into(),
        });
        assert!(
            r.render()
                .contains("problem  unknown field `colour` in `entra` | 配置错误：unknown field `colour` in `entra`\n")
        );
        assert_eq!(r.render().lines().count(), r.lines.len() + 1, "one line per check and a summary");
    }

    #[test]
    fn secrets_are_scrubbed_from_every_line() {
        let mut r = CheckReport::default();
        r.problem(Bilingual { en: "the value s3cret-value leaked".into(), zh: "泄露了 s3cret-value".into() });
        r.scrub(&["s3cret-value".to_owned(), "x".to_owned()]);
        assert_eq!(r.lines[0].en, "the value <redacted> leaked");
        assert_eq!(r.lines[0].zh, "泄露了 <redacted>");
    }

    #[test]
    fn roles_are_read_with_their_higher_equivalents() {
        let mut r = CheckReport::default();
        roles_check(&["Directory.ReadWrite.All".to_owned()], &mut r);
        assert!(r.passed() && r.lines.iter().all(|l| l.ok), "{}", r.render());
        let mut r = CheckReport::default();
        roles_check(&["User.Invite.All".to_owned()], &mut r);
        assert!(r.passed());
        assert_eq!(r.warnings().count(), 1, "User.Read.All missing is a warning");
        let mut r = CheckReport::default();
        roles_check(&[], &mut r);
        assert!(!r.passed());
        let text = r.render();
        assert!(text.contains("User.Invite.All") && text.contains("admin consent") && text.contains("管理员同意"));
    }
}
