//! Every text of the `check` report, in English and Simplified Chinese, in one table. A `{name}`
//! stands for a value filled in when the line is written; both languages take the same ones.

use std::fmt;

/// A line's text in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bilingual {
    /// English.
    pub(super) en: String,
    /// Simplified Chinese.
    pub(super) zh: String,
}

/// A text of the table.
#[derive(Debug, Clone, Copy)]
pub(super) struct Text {
    en: &'static str,
    zh: &'static str,
}

impl Text {
    /// The text with every `{name}` of `args` replaced by its value, the same in both languages.
    pub(super) fn fill(&self, args: &[(&str, &dyn fmt::Display)]) -> Bilingual {
        self.fill_parts(args, &[])
    }

    /// [`Self::fill`], where the `{name}`s of `parts` take each language's own text.
    pub(super) fn fill_parts(&self, args: &[(&str, &dyn fmt::Display)], parts: &[(&str, &Bilingual)]) -> Bilingual {
        let same: Vec<(&str, String)> = args.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let with = |lang: fn(&Bilingual) -> &str| {
            let mut all: Vec<(&str, &str)> = same.iter().map(|(k, v)| (*k, v.as_str())).collect();
            all.extend(parts.iter().map(|(k, v)| (*k, lang(v))));
            all
        };
        Bilingual { en: substitute(self.en, &with(|b| &b.en)), zh: substitute(self.zh, &with(|b| &b.zh)) }
    }

    /// The text as it is (it has no `{name}`).
    pub(super) fn plain(&self) -> Bilingual {
        self.fill(&[])
    }
}

/// `template` with each `{name}` found in `args` replaced, in one pass (a value is never read
/// again for names); any other brace is kept.
fn substitute(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (before, from_brace) = rest.split_at(open);
        out.push_str(before);
        let found = from_brace
            .get(1..)
            .and_then(|after| after.find('}').map(|close| (after.get(..close).unwrap_or(""), close)))
            .and_then(|(name, close)| args.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v, close)));
        match found {
            Some((value, close)) => {
                out.push_str(value);
                rest = from_brace.get(close + 2..).unwrap_or("");
            }
            None => {
                out.push('{');
                rest = from_brace.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

macro_rules! texts {
    ($($(#[$doc:meta])* $name:ident: $en:literal, $zh:literal;)*) => {
        $($(#[$doc])* pub(super) const $name: Text = Text { en: $en, zh: $zh };)*

        /// Every text with its name, for the table's tests.
        #[cfg(test)]
        const ALL: &[(&str, Text)] = &[$((stringify!($name), $name)),*];
    };
}

texts! {
    PASSED:
        "passed: the proxy can start with this configuration ({warnings} warning(s))",
        "通过：代理可以使用此配置启动（{warnings} 条警告）";
    FAILED:
        "failed: {problems} problem(s), {warnings} warning(s)",
        "未通过：{problems} 个问题，{warnings} 条警告";
    CONFIG_INVALID: "configuration: it is not valid", "配置错误：配置无效";
    CONFIG_PROBLEM: "configuration: {problem}", "配置错误：{problem}";
    NOTHING_ELSE_CHECKED:
        "the credential, the session store, the sign-in service and the app-only token were not checked: correct the configuration first",
        "尚未检查客户端凭据、会话存储、登录服务和应用专用令牌：请先修正配置";
    CONFIG_VALID:
        "the configuration is valid: {cloud} cloud, sign-in authority {tenant}, application {client}{app_tenant}",
        "配置有效：{cloud} 云，登录颁发机构 {tenant}，应用程序 {client}{app_tenant}";
    /// Part of [`CONFIG_VALID`].
    APP_TENANT: ", app-only tenant {tenant}", "，应用专用调用租户 {tenant}";
    /// Part of [`CREDENTIAL_READ`].
    SECRET_BASIC: "a client secret, sent with HTTP Basic", "客户端密码，通过 HTTP Basic 发送";
    /// Part of [`CREDENTIAL_READ`].
    SECRET_POST: "a client secret, sent in the form body", "客户端密码，放在表单正文中发送";
    /// Part of [`CREDENTIAL_READ`].
    CERTIFICATE: "a certificate, client assertions signed with {alg}", "证书，客户端断言使用 {alg} 签名";
    CREDENTIAL_READ: "the client credential was read: {kind}", "已读取客户端凭据：{kind}";
    CREDENTIAL_UNREADABLE: "the client credential cannot be read: {error}", "无法读取客户端凭据：{error}";
    SESSION_KEY_UNREADABLE: "the session encryption keys cannot be read: {error}", "无法读取会话加密密钥：{error}";
    SESSION_KEY_VALID:
        "the session encryption keys are valid 32-byte keys ({n}); new sessions are sealed with the key {id}",
        "会话加密密钥均为有效的 32 字节密钥（{n} 个）；新会话使用密钥 {id} 加密";
    KEYS_OPEN:
        "the session keys open {opened} of the {n} stored sessions tried",
        "会话密钥可以打开所抽查的 {n} 个已存储会话中的 {opened} 个";
    KEYS_OPEN_NONE:
        "session.keys: the session key is wrong: none of the {n} stored sessions tried opens with any configured key, so the proxy would refuse to start (nothing in the store was changed). Configure the key that sealed them; to rotate, list the new key first and the old one after it",
        "session.keys：会话密钥不正确：所抽查的 {n} 个已存储会话没有一个能用已配置的密钥打开，因此代理将拒绝启动（存储中的内容未作任何更改）。请配置加密这些会话的密钥；轮换密钥时，把新密钥列在最前，旧密钥列在其后";
    CROSS_SITE_PAGE:
        "{origin} is on another site than the proxy ({public}): Safari and Firefox block third-party cookies, so pages there will not send the session cookie and every call after sign-in fails with not_signed_in. Serve the proxy on the page's own site, under a path (https://app.example.com/api) or a subdomain (https://auth.example.com)",
        "{origin} 与代理（{public}）不在同一站点：Safari 和 Firefox 会阻止第三方 Cookie，那里的页面不会发送会话 Cookie，登录之后的每次调用都会以 not_signed_in 失败。请把代理部署在页面自己的站点下，使用路径（https://app.example.com/api）或子域名（https://auth.example.com）";
    MEMORY_STORE:
        "sessions are kept in memory (session.store = \"memory\"): every restart signs everyone out and instances do not share sessions; use sqlite in production",
        "会话仅保存在内存中（session.store = \"memory\"）：每次重启都会让所有用户退出登录，多个实例之间也不共享会话；生产环境请使用 sqlite";
    STORE_ANSWERS: "the session store {path} opens and answers", "会话存储 {path} 可以打开并正常响应";
    STORE_UNUSABLE:
        "the session store {path} cannot be used: {error}. What to do: {fix}",
        "会话存储 {path} 无法使用：{error}。处理方法：{fix}";
    ADMIN_WITHOUT_KEYS:
        "invitations.policy is admin but no invitations.api_keys are set: nobody can send invitations",
        "invitations.policy 为 admin，但未设置 invitations.api_keys：没有人能发送邀请";
    API_KEYS_UNREADABLE:
        "the invitation API keys cannot be read (the proxy would not start): {error}",
        "无法读取邀请 API 密钥（代理将无法启动）：{error}";
    API_KEYS_EMPTY:
        "invitations.api_keys holds no key: nobody can send invitations",
        "invitations.api_keys 中没有任何密钥：没有人能发送邀请";
    ADMIN_POLICY: "invitations: admin policy, {n} API key(s) read", "邀请：admin 策略，已读取 {n} 个 API 密钥";
    SELF_SERVICE_POLICY:
        "invitations: self-service for {domains}, {rate} per minute per address",
        "邀请：自助策略，允许的域 {domains}，每个地址每分钟 {rate} 次";
    /// Part of [`SIGNED_IN_POLICY`].
    EVERY_ACCOUNT: "members of entra.app_tenant", "entra.app_tenant 的成员";
    /// Part of [`SIGNED_IN_POLICY`].
    SOME_ACCOUNTS: "members of entra.app_tenant and {n} listed object ID(s)", "entra.app_tenant 的成员及列出的 {n} 个对象 ID";
    SIGNED_IN_POLICY: "invitations: signed-in policy, {who} may invite", "邀请：signed-in 策略，{who}可以发送邀请";
    REFRESH_AFTER_TOO_LONG:
        "keepalive.refresh_after_hours is {hours}: with a pass every {minutes} minute(s) a refresh token may go {worst} hours unused, but it lapses after 90 days (2160 hours) without use; set it well below, for example 336 (14 days)",
        "keepalive.refresh_after_hours 为 {hours}：每 {minutes} 分钟运行一次时，刷新令牌最长可能 {worst} 小时未被使用，而刷新令牌在 90 天（2160 小时）未使用后就会失效；请设得远低于此值，例如 336（14 天）";
    KEEPALIVE_RUNS:
        "keep-alive: sessions unrefreshed for {hours} hours are refreshed every {minutes} minute(s), {concurrency} at a time",
        "保活：每 {minutes} 分钟刷新一次超过 {hours} 小时未刷新的会话，每次最多同时 {concurrency} 个";
    IDLE_OUTLIVES_REFRESH_TOKEN:
        "sessions may stay idle for {hours} hours, longer than the 90 days (2160 hours) a refresh token survives unused: enable [keepalive], or idle users will have to sign in again",
        "会话最长可闲置 {hours} 小时，超过了刷新令牌在未使用情况下的 90 天（2160 小时）有效期：请启用 [keepalive]，否则闲置的用户需要重新登录";
    CLIENT_UNBUILDABLE: "the HTTP client cannot be built: {error}", "无法创建 HTTP 客户端：{error}";
    UPSTREAM_NOT_CHECKED: "the sign-in service and the app-only token were not checked", "尚未检查登录服务和应用专用令牌";
    DISCOVERY_FETCHED:
        "the sign-in service answers: discovery document {url} fetched",
        "登录服务可以访问：已获取发现文档 {url}";
    DISCOVERY_FAILED: "the discovery document {url} could not be fetched: {why}", "无法获取发现文档 {url}：{why}";
    NO_APP_TENANT:
        "entra.app_tenant is not set and the sign-in authority {tenant} is not one tenant: app-only calls such as invitations are unavailable; set entra.app_tenant to the application's home tenant ID or domain",
        "未设置 entra.app_tenant，且登录颁发机构 {tenant} 不是具体租户：邀请等应用专用调用不可用；请把 entra.app_tenant 设为应用所在主租户的 ID 或域名";
    APP_TOKEN_WITHOUT_CREDENTIAL:
        "the app-only token was not requested, because the client credential cannot be read (see above)",
        "由于无法读取客户端凭据（见上文），未请求应用专用令牌";
    APP_TOKEN_WITHOUT_SIGN_IN_SERVICE:
        "the app-only token was not requested, because the sign-in service cannot be reached (see above)",
        "由于无法访问登录服务（见上文），未请求应用专用令牌";
    APP_TOKEN_ISSUED:
        "an app-only token was issued by tenant {tenant} (the client credential works)",
        "租户 {tenant} 颁发了应用专用令牌（客户端凭据有效）";
    APP_TOKEN_REFUSED: "no app-only token from tenant {tenant}: {why}", "无法从租户 {tenant} 获取应用专用令牌：{why}";
    ROLES_UNREADABLE:
        "the app-only token is not a JWT graphgate can read, so its roles (User.Invite.All, User.Read.All) could not be checked",
        "应用专用令牌不是 graphgate 能解析的 JWT，因此无法检查其角色（User.Invite.All、User.Read.All）";
    /// Part of [`NO_INVITE_ROLE`].
    NO_ROLE_AT_ALL:
        " (it carries no application permission at all: admin consent has not been granted)",
        "（令牌中没有任何应用程序权限：尚未授予管理员同意）";
    INVITE_ROLE: "the app-only token carries {role}: invitations can be sent", "应用专用令牌带有 {role} 角色：可以发送邀请";
    NO_INVITE_ROLE:
        "the app-only token has no User.Invite.All role{none}, so Graph would refuse every invitation with 403: add the application permission and grant admin consent in API permissions. {fix}",
        "应用专用令牌中没有 User.Invite.All 角色{none}，Graph 会以 403 拒绝所有邀请：请在 API 权限中添加该应用程序权限并授予管理员同意。{fix}";
    READ_ROLE:
        "the app-only token carries {role}: the directory lookups before an invitation and the invitation status can read users",
        "应用专用令牌带有 {role} 角色：邀请前的目录查询和邀请状态查询可以读取用户";
    NO_READ_ROLE:
        "the app-only token has no User.Read.All role: the directory lookup before an invitation and the invitation status lookup cannot read users (Graph answers 403). In App registrations → API permissions add Microsoft Graph → Application permissions → `User.Read.All`, then have an administrator press Grant admin consent.",
        "应用专用令牌中没有 User.Read.All 角色：邀请前的目录查询和邀请状态查询无法读取用户（Graph 会返回 403）。请在 应用注册 → API 权限 中添加 Microsoft Graph → 应用程序权限 → `User.Read.All`，然后由管理员点击“授予管理员同意”。";
    /// An upstream error with the catalogue's fix.
    EXPLAINED: "{detail}. What to do: {hint}{link}", "{detail}。处理方法：{hint}{link}";
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The `{name}`s of a text.
    fn names(text: &str) -> BTreeSet<&str> {
        text.split('{').skip(1).filter_map(|s| s.split_once('}').map(|(name, _)| name)).collect()
    }

    #[test]
    fn every_text_has_both_languages_with_the_same_values() {
        for (name, text) in ALL {
            assert!(!text.en.trim().is_empty() && !text.zh.trim().is_empty(), "{name} lacks a language");
            assert_eq!(names(text.en), names(text.zh), "{name} fills other values in each language");
            assert!(!text.zh.is_ascii(), "{name}'s Chinese is not translated");
        }
    }

    #[test]
    fn every_text_is_used() {
        let check = include_str!("../check.rs");
        let used = |name: &str| {
            check.match_indices(name).any(|(at, _)| {
                let before = check.get(..at).and_then(|b| b.chars().next_back());
                let after = check.get(at + name.len()..).and_then(|a| a.chars().next());
                let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
                !ident(before) && !ident(after)
            })
        };
        let unused: Vec<&str> = ALL.iter().map(|(name, _)| *name).filter(|name| !used(name)).collect();
        assert!(unused.is_empty(), "texts no check uses: {unused:?}");
        let unique: BTreeSet<&str> = ALL.iter().map(|(name, _)| *name).collect();
        assert_eq!(unique.len(), ALL.len());
    }

    #[test]
    fn values_are_filled_in_once_and_other_braces_kept() {
        let text = Text { en: "{a} and {b} {c} {", zh: "{b}，{a}，{c} {" };
        let part = Bilingual { en: "part".into(), zh: "部分".into() };
        let filled = text.fill_parts(&[("a", &"{b}"), ("b", &2)], &[("c", &part)]);
        assert_eq!(filled.en, "{b} and 2 part {");
        assert_eq!(filled.zh, "2，{b}，部分 {");
        assert_eq!(substitute("{x} {json: {}} {", &[("x", "1")]), "1 {json: {}} {");
    }
}
