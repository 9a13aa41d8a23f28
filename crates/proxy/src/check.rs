//! `graphgate-proxy check --config FILE`: checks a configuration against the real services
//! before the proxy is started, and says in plain words, in English and Simplified Chinese,
//! everything that is wrong or missing at once.
//!
//! What is checked, each on its own so one failure does not hide the next:
//!
//! - the configuration itself (every validation problem);
//! - the client credential (the secret or certificate can be read);
//! - the session key and store (the store is opened and pinged, as start-up would);
//! - the invitation and keep-alive settings;
//! - the sign-in service (the authority's discovery document);
//! - an app-only token from `entra.app_tenant` (client credentials) and its roles:
//!   `User.Invite.All` for invitations, `User.Read.All` for the directory lookups.
//!
//! Upstream and catalogue texts are used for the fixes, so `check` says what the proxy would say
//! at run time. No line ever shows a secret: the values read are removed from every line.

use std::sync::Arc;

use graphgate_core::{ErrorCode, Explanation, Grant};

use crate::apponly::roles_of;
use crate::config::{InvitePolicy, Settings};
use crate::credential::Credential;
use crate::metrics::Metrics;
use crate::session::{Cipher, SessionStore, SqliteStore};
use crate::upstream::{Upstream, now_secs};

/// How long a web app's refresh token survives without use, hours (90 days).
const REFRESH_TOKEN_INACTIVITY_HOURS: u64 = 90 * 24;

/// Application permissions that allow `POST /invitations` (least privileged first).
const INVITE_ROLES: [&str; 3] = ["User.Invite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"];

/// Application permissions that allow reading users (least privileged first).
const READ_ROLES: [&str; 4] = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"];

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
    pub fn mark(&self) -> &'static str {
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
        if self.passed() {
            out.push_str(&format!(
                "passed: the proxy can start with this configuration ({warnings} warning(s)) | \
                 通过：代理可以使用此配置启动（{warnings} 条警告）\n"
            ));
        } else {
            out.push_str(&format!(
                "failed: {problems} problem(s), {warnings} warning(s) | 未通过：{problems} 个问题，{warnings} 条警告\n"
            ));
        }
        out
    }

    fn push(&mut self, ok: bool, severity: Severity, en: impl Into<String>, zh: impl Into<String>) {
        self.lines.push(CheckLine { ok, severity, en: en.into(), zh: zh.into() });
    }

    fn pass(&mut self, severity: Severity, en: impl Into<String>, zh: impl Into<String>) {
        self.push(true, severity, en, zh);
    }

    fn problem(&mut self, en: impl Into<String>, zh: impl Into<String>) {
        self.push(false, Severity::Problem, en, zh);
    }

    fn warning(&mut self, en: impl Into<String>, zh: impl Into<String>) {
        self.push(false, Severity::Warning, en, zh);
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
                report.problem("configuration: it is not valid", "配置错误：配置无效");
            }
            for p in problems {
                report.problem(format!("configuration: {p}"), format!("配置错误：{p}"));
            }
            report.warning(
                "the credential, the session store, the sign-in service and the app-only token were not checked: correct the configuration first",
                "尚未检查客户端凭据、会话存储、登录服务和应用专用令牌：请先修正配置",
            );
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
    let app_tenant_en = s.app_tenant.as_ref().map(|t| format!(", app-only tenant {}", t.as_str())).unwrap_or_default();
    let app_tenant_zh = s.app_tenant.as_ref().map(|t| format!("，应用专用调用租户 {}", t.as_str())).unwrap_or_default();
    r.pass(
        Severity::Problem,
        format!(
            "the configuration is valid: {} cloud, sign-in authority {}, application {}{app_tenant_en}",
            s.endpoints.cloud().name(),
            s.tenant.as_str(),
            s.client_id.as_str()
        ),
        format!(
            "配置有效：{} 云，登录颁发机构 {}，应用程序 {}{app_tenant_zh}",
            s.endpoints.cloud().name(),
            s.tenant.as_str(),
            s.client_id.as_str()
        ),
    );
}

fn credential(s: &Settings, r: &mut CheckReport, secrets: &mut Vec<String>) -> Option<Credential> {
    match Credential::load(s) {
        Ok(c) => {
            let (en, zh) = match &c {
                Credential::Secret { secret, basic } => {
                    secrets.push(secret.expose_secret().to_owned());
                    if *basic {
                        (
                            "a client secret, sent with HTTP Basic".to_owned(),
                            "客户端密码，通过 HTTP Basic 发送".to_owned(),
                        )
                    } else {
                        (
                            "a client secret, sent in the form body".to_owned(),
                            "客户端密码，放在表单正文中发送".to_owned(),
                        )
                    }
                }
                Credential::Certificate { alg, .. } => (
                    format!("a certificate, client assertions signed with {}", alg.as_str()),
                    format!("证书，客户端断言使用 {} 签名", alg.as_str()),
                ),
            };
            r.pass(
                Severity::Problem,
                format!("the client credential was read: {en}"),
                format!("已读取客户端凭据：{zh}"),
            );
            Some(c)
        }
        Err(e) => {
            r.problem(format!("the client credential cannot be read: {e}"), format!("无法读取客户端凭据：{e}"));
            None
        }
    }
}

async fn sessions(s: &Settings, r: &mut CheckReport, secrets: &mut Vec<String>) {
    let cfg = &s.raw.session;
    match cfg.key.read("session.key") {
        Err(e) => {
            r.problem(format!("the session encryption key cannot be read: {e}"), format!("无法读取会话加密密钥：{e}"));
        }
        Ok(key) => {
            let valid = Cipher::from_base64(&key);
            secrets.push(key);
            match valid {
                Ok(_) => r.pass(
                    Severity::Problem,
                    "the session encryption key is a valid 32-byte key",
                    "会话加密密钥有效（32 字节）",
                ),
                Err(e) => r.problem(
                    format!("session.key: {e}"),
                    "session.key：会话加密密钥必须是 32 个随机字节的 base64 编码（例如 `openssl rand -base64 32` 的输出）",
                ),
            }
        }
    }
    if cfg.store == "memory" {
        r.warning(
            "sessions are kept in memory (session.store = \"memory\"): every restart signs everyone out and instances do not share sessions; use sqlite in production",
            "会话仅保存在内存中（session.store = \"memory\"）：每次重启都会让所有用户退出登录，多个实例之间也不共享会话；生产环境请使用 sqlite",
        );
        return;
    }
    let path = cfg.sqlite_path.display();
    let answer = match SqliteStore::open(&cfg.sqlite_path) {
        Ok(store) => store.ping().await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(()) => r.pass(
            Severity::Problem,
            format!("the session store {path} opens and answers"),
            format!("会话存储 {path} 可以打开并正常响应"),
        ),
        Err(e) => {
            let fix = ErrorCode::StoreUnavailable.entry().fix;
            r.problem(
                format!("the session store {path} cannot be used: {e}. What to do: {}", fix.en),
                format!("会话存储 {path} 无法使用：{e}。处理方法：{}", fix.zh),
            );
        }
    }
}

fn invitations(s: &Settings, r: &mut CheckReport, secrets: &mut Vec<String>) {
    let cfg = &s.raw.invitations;
    match s.invite_policy {
        InvitePolicy::Admin => {
            if cfg.api_keys.env.is_none() && cfg.api_keys.file.is_none() {
                r.warning(
                    "invitations.policy is admin but no invitations.api_keys are set: nobody can send invitations",
                    "invitations.policy 为 admin，但未设置 invitations.api_keys：没有人能发送邀请",
                );
                return;
            }
            match cfg.api_keys.read("invitations.api_keys") {
                Err(e) => r.problem(
                    format!("the invitation API keys cannot be read (the proxy would not start): {e}"),
                    format!("无法读取邀请 API 密钥（代理将无法启动）：{e}"),
                ),
                Ok(text) => {
                    let keys: Vec<String> =
                        text.split(',').map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()).collect();
                    let n = keys.len();
                    secrets.extend(keys);
                    if n == 0 {
                        r.warning(
                            "invitations.api_keys holds no key: nobody can send invitations",
                            "invitations.api_keys 中没有任何密钥：没有人能发送邀请",
                        );
                    } else {
                        r.pass(
                            Severity::Warning,
                            format!("invitations: admin policy, {n} API key(s) read"),
                            format!("邀请：admin 策略，已读取 {n} 个 API 密钥"),
                        );
                    }
                }
            }
        }
        InvitePolicy::SelfService => r.pass(
            Severity::Warning,
            format!(
                "invitations: self-service for {}, {} per minute per address",
                cfg.allowed_domains.join(", "),
                cfg.rate_limit_per_minute
            ),
            format!(
                "邀请：自助策略，允许的域 {}，每个地址每分钟 {} 次",
                cfg.allowed_domains.join(", "),
                cfg.rate_limit_per_minute
            ),
        ),
        InvitePolicy::SignedIn => {
            let (who_en, who_zh) = if cfg.allowed_accounts.is_empty() {
                ("every signed-in account".to_owned(), "所有已登录账户".to_owned())
            } else {
                (format!("{} account(s)", cfg.allowed_accounts.len()), format!("{} 个账户", cfg.allowed_accounts.len()))
            };
            r.pass(
                Severity::Warning,
                format!("invitations: signed-in policy, {who_en} may invite"),
                format!("邀请：signed-in 策略，{who_zh}可以发送邀请"),
            );
        }
    }
}

fn keepalive(s: &Settings, r: &mut CheckReport) {
    let k = &s.raw.keepalive;
    let session = &s.raw.session;
    if k.enabled {
        let interval_minutes = k.interval_minutes.max(1);
        let worst = k.refresh_after_hours.saturating_add(interval_minutes.div_ceil(60));
        if worst >= REFRESH_TOKEN_INACTIVITY_HOURS {
            r.problem(
                format!(
                    "keepalive.refresh_after_hours is {}: with a pass every {interval_minutes} minute(s) a refresh token may go {worst} hours unused, but it lapses after 90 days (2160 hours) without use; set it well below, for example 336 (14 days)",
                    k.refresh_after_hours
                ),
                format!(
                    "keepalive.refresh_after_hours 为 {}：每 {interval_minutes} 分钟运行一次时，刷新令牌最长可能 {worst} 小时未被使用，而刷新令牌在 90 天（2160 小时）未使用后就会失效；请设得远低于此值，例如 336（14 天）",
                    k.refresh_after_hours
                ),
            );
        } else {
            r.pass(
                Severity::Problem,
                format!(
                    "keep-alive: sessions unrefreshed for {} hours are refreshed every {interval_minutes} minute(s), {} at a time",
                    k.refresh_after_hours,
                    k.concurrency.max(1)
                ),
                format!(
                    "保活：每 {interval_minutes} 分钟刷新一次超过 {} 小时未刷新的会话，每次最多同时 {} 个",
                    k.refresh_after_hours,
                    k.concurrency.max(1)
                ),
            );
        }
        if k.interval_minutes == 0 || k.concurrency == 0 {
            r.warning(
                "keepalive.interval_minutes and keepalive.concurrency must be at least 1: 0 is used as 1",
                "keepalive.interval_minutes 和 keepalive.concurrency 至少为 1：0 按 1 处理",
            );
        }
    } else {
        let longest_idle = session.idle_timeout_hours.min(session.absolute_lifetime_hours);
        if longest_idle > REFRESH_TOKEN_INACTIVITY_HOURS {
            r.warning(
                format!(
                    "sessions may stay idle for {longest_idle} hours, longer than the 90 days (2160 hours) a refresh token survives unused: enable [keepalive], or idle users will have to sign in again"
                ),
                format!(
                    "会话最长可闲置 {longest_idle} 小时，超过了刷新令牌在未使用情况下的 90 天（2160 小时）有效期：请启用 [keepalive]，否则闲置的用户需要重新登录"
                ),
            );
        }
    }
}

async fn upstream(s: &Settings, credential: Option<&Credential>, r: &mut CheckReport) {
    let upstream = match Upstream::new(s.clone(), Arc::new(Metrics::default())) {
        Ok(u) => u,
        Err(e) => {
            r.problem(format!("the HTTP client cannot be built: {e}"), format!("无法创建 HTTP 客户端：{e}"));
            r.warning("the sign-in service and the app-only token were not checked", "尚未检查登录服务和应用专用令牌");
            return;
        }
    };
    let url = s.endpoints.discovery_url(&s.tenant);
    let reachable = match upstream.discovery().await {
        Ok(_) => {
            r.pass(
                Severity::Problem,
                format!("the sign-in service answers: discovery document {url} fetched"),
                format!("登录服务可以访问：已获取发现文档 {url}"),
            );
            true
        }
        Err(e) => {
            let (en, zh) = explained(&e.explain());
            r.problem(
                format!("the discovery document {url} could not be fetched: {en}"),
                format!("无法获取发现文档 {url}：{zh}"),
            );
            !matches!(e.code(), ErrorCode::UpstreamUnreachable | ErrorCode::UpstreamTimeout)
        }
    };
    let Some(tenant) = &s.app_tenant else {
        r.warning(
            format!(
                "entra.app_tenant is not set and the sign-in authority {} is not one tenant: app-only calls such as invitations are unavailable; set entra.app_tenant to the application's home tenant ID or domain",
                s.tenant.as_str()
            ),
            format!(
                "未设置 entra.app_tenant，且登录颁发机构 {} 不是具体租户：邀请等应用专用调用不可用；请把 entra.app_tenant 设为应用所在主租户的 ID 或域名",
                s.tenant.as_str()
            ),
        );
        return;
    };
    let Some(credential) = credential else {
        r.warning(
            "the app-only token was not requested, because the client credential cannot be read (see above)",
            "由于无法读取客户端凭据（见上文），未请求应用专用令牌",
        );
        return;
    };
    if !reachable {
        r.warning(
            "the app-only token was not requested, because the sign-in service cannot be reached (see above)",
            "由于无法访问登录服务（见上文），未请求应用专用令牌",
        );
        return;
    }
    let tokens = match upstream.token(credential, tenant, Grant::ClientCredentials, None, now_secs()).await {
        Ok(t) => {
            r.pass(
                Severity::Problem,
                format!("an app-only token was issued by tenant {} (the client credential works)", tenant.as_str()),
                format!("租户 {} 颁发了应用专用令牌（客户端凭据有效）", tenant.as_str()),
            );
            t
        }
        Err(e) => {
            let (en, zh) = explained(&e.explain());
            r.problem(
                format!("no app-only token from tenant {}: {en}", tenant.as_str()),
                format!("无法从租户 {} 获取应用专用令牌：{zh}", tenant.as_str()),
            );
            return;
        }
    };
    let Some(roles) = roles_of(&tokens.access_token) else {
        r.warning(
            "the app-only token is not a JWT graphgate can read, so its roles (User.Invite.All, User.Read.All) could not be checked",
            "应用专用令牌不是 graphgate 能解析的 JWT，因此无法检查其角色（User.Invite.All、User.Read.All）",
        );
        return;
    };
    roles_check(&roles, r);
}

fn roles_check(roles: &[String], r: &mut CheckReport) {
    let has =
        |wanted: &[&'static str]| wanted.iter().copied().find(|w| roles.iter().any(|g| g.eq_ignore_ascii_case(w)));
    let (none_en, none_zh) = if roles.is_empty() {
        (
            " (it carries no application permission at all: admin consent has not been granted)",
            "（令牌中没有任何应用程序权限：尚未授予管理员同意）",
        )
    } else {
        ("", "")
    };
    match has(&INVITE_ROLES) {
        Some(role) => r.pass(
            Severity::Problem,
            format!("the app-only token carries {role}: invitations can be sent"),
            format!("应用专用令牌带有 {role} 角色：可以发送邀请"),
        ),
        None => {
            let fix = ErrorCode::AdminConsentMissing.entry().fix;
            r.problem(
                format!(
                    "the app-only token has no User.Invite.All role{none_en}, so Graph would refuse every invitation with 403: add the application permission and grant admin consent in API permissions. {}",
                    fix.en
                ),
                format!(
                    "应用专用令牌中没有 User.Invite.All 角色{none_zh}，Graph 会以 403 拒绝所有邀请：请在 API 权限中添加该应用程序权限并授予管理员同意。{}",
                    fix.zh
                ),
            );
        }
    }
    match has(&READ_ROLES) {
        Some(role) => r.pass(
            Severity::Warning,
            format!("the app-only token carries {role}: the directory lookups before an invitation and the invitation status can read users"),
            format!("应用专用令牌带有 {role} 角色：邀请前的目录查询和邀请状态查询可以读取用户"),
        ),
        None => r.warning(
            "the app-only token has no User.Read.All role: the directory lookup before an invitation and the invitation status lookup cannot read users (Graph answers 403). In App registrations → API permissions add Microsoft Graph → Application permissions → `User.Read.All`, then have an administrator press Grant admin consent.",
            "应用专用令牌中没有 User.Read.All 角色：邀请前的目录查询和邀请状态查询无法读取用户（Graph 会返回 403）。请在 应用注册 → API 权限 中添加 Microsoft Graph → 应用程序权限 → `User.Read.All`，然后由管理员点击“授予管理员同意”。",
        ),
    }
}

/// A text on one line (some upstream and parser messages span several).
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// An explanation as `detail. What to do: fix`, in both languages.
fn explained(x: &Explanation) -> (String, String) {
    let message = x.message.trim().trim_end_matches('.');
    let detail = if message.contains(&x.code) { message.to_owned() } else { format!("{message} ({})", x.code) };
    let link = x.lookup_url.as_deref().filter(|u| !x.hint.contains(u)).map(|u| format!(" ({u})")).unwrap_or_default();
    (format!("{detail}. What to do: {}{link}", x.hint), format!("{detail}。处理方法：{}{link}", x.hint_zh))
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
        r.problem("unknown field `colour`\nin `entra`\n", "配置错误：unknown field `colour`\nin `entra`");
        assert!(
            r.render()
                .contains("problem  unknown field `colour` in `entra` | 配置错误：unknown field `colour` in `entra`\n")
        );
        assert_eq!(r.render().lines().count(), r.lines.len() + 1, "one line per check and a summary");
    }

    #[test]
    fn secrets_are_scrubbed_from_every_line() {
        let mut r = CheckReport::default();
        r.problem("the value s3cret-value leaked", "泄露了 s3cret-value");
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
