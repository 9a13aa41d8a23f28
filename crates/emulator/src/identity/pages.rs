//! The HTML a person sees: the account picker, the consent screen, error and message pages,
//! the form_post hand-off and the invitation page. Plain HTML forms, no script, so a person and
//! a browser test can click through them.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// The emulator's own sign-in session cookie (for `prompt=none`, and to skip the picker when
/// `login_hint` names the signed-in account).
pub(crate) const SESSION_COOKIE: &str = "emu_session";

/// The `Set-Cookie` value that hands sign-in session `id` to the browser.
pub(crate) fn set_session_cookie(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax")
}

/// The session cookie's value, if the browser sent one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (name, value) = c.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f3f3f3;margin:0;color:#1b1b1b}\
main{max-width:440px;margin:40px auto;background:#fff;padding:32px 36px;box-shadow:0 2px 6px rgba(0,0,0,.2)}\
h1{font-size:22px;font-weight:600;margin:0 0 8px}.brand{font-size:13px;color:#666;margin-bottom:20px}\
p{font-size:14px;line-height:1.45}form{margin:0}button.account{display:block;width:100%;text-align:left;background:#fff;\
border:1px solid #ddd;padding:12px;margin:8px 0;cursor:pointer;font-size:14px}button.account:hover,button.account.hint{border-color:#0067b8}\
.sub{color:#666;font-size:12px}.tag{font-size:11px;background:#e5f1fb;color:#0067b8;padding:1px 6px;margin-left:6px}\
.actions{display:flex;gap:8px;justify-content:flex-end;margin-top:20px}.actions button{padding:8px 20px;font-size:14px;border:0;cursor:pointer}\
.primary{background:#0067b8;color:#fff}.secondary{background:#ccc}ul{font-size:14px}.err{color:#a80000}code{font-size:12px;word-break:break-all}";

/// A whole page.
pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head><body><main><div class=\"brand\">graphgate-emulator · offline Microsoft sign-in</div>\
         <h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    ))
}

/// A page with a title and a sentence.
pub(crate) fn message_page(title: &str, text: &str) -> Html<String> {
    page(title, &format!("<p>{}</p>", esc(text)))
}

/// An error shown on the sign-in page itself (when redirecting would be unsafe or impossible).
pub(crate) fn error_page(status: u16, description: &str) -> Response {
    let first = description.lines().next().unwrap_or(description);
    let body = format!(
        "<p class=\"err\" id=\"error\">{}</p><p class=\"sub\"><code>{}</code></p>",
        esc(first),
        esc(&description.replace("\r\n", " · "))
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        page("Sorry, but we're having trouble signing you in.", &body),
    )
        .into_response()
}

/// One account on the picker.
pub(crate) struct AccountChoice {
    /// User object ID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Sign-in name.
    pub upn: String,
    /// Where the account lives.
    pub org: String,
    /// Whether `login_hint` named it.
    pub hinted: bool,
}

/// The account picker; each account is a button posting back to the authorize endpoint.
pub(crate) fn account_picker(action: &str, query: &str, app_name: &str, accounts: &[AccountChoice]) -> Html<String> {
    let mut body = format!("<p>to continue to <b>{}</b></p>", esc(app_name));
    for a in accounts {
        body.push_str(&format!(
            "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"q\" value=\"{q}\">\
             <input type=\"hidden\" name=\"step\" value=\"select\"><input type=\"hidden\" name=\"account\" value=\"{id}\">\
             <button class=\"account{hint}\" type=\"submit\" data-upn=\"{upn}\"{autofocus}>{name}{tag}<br><span class=\"sub\">{upn} · {org}</span></button></form>",
            action = esc(action),
            q = esc(query),
            id = esc(&a.id),
            hint = if a.hinted { " hint" } else { "" },
            autofocus = if a.hinted { " autofocus" } else { "" },
            tag = if a.hinted { "<span class=\"tag\">suggested</span>" } else { "" },
            name = esc(&a.name),
            upn = esc(&a.upn),
            org = esc(&a.org),
        ));
    }
    page("Pick an account", &body)
}

/// The consent screen.
pub(crate) fn consent(
    action: &str,
    query: &str,
    account: &str,
    app_name: &str,
    user: &str,
    permissions: &[String],
) -> Html<String> {
    let items: String = permissions.iter().map(|p| format!("<li>{}</li>", esc(p))).collect();
    let body = format!(
        "<p><span class=\"sub\">{user}</span></p><p><b>{app}</b> wants to:</p><ul id=\"permissions\">{items}</ul>\
         <p class=\"sub\">Accepting lets the app use this data as described. This is an emulator: nothing leaves this machine.</p>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"q\" value=\"{q}\">\
         <input type=\"hidden\" name=\"account\" value=\"{acct}\"><div class=\"actions\">\
         <button class=\"secondary\" type=\"submit\" name=\"step\" value=\"cancel\">Cancel</button>\
         <button class=\"primary\" type=\"submit\" name=\"step\" value=\"accept\" id=\"accept\">Accept</button></div></form>",
        user = esc(user),
        app = esc(app_name),
        action = esc(action),
        q = esc(query),
        acct = esc(account),
    );
    page("Permissions requested", &body)
}

/// The `form_post` hand-off: a form that posts the answer to the redirect URI.
pub(crate) fn form_post(redirect_uri: &str, fields: &[(&str, &str)]) -> Html<String> {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Working...</title></head>\
         <body onload=\"document.forms[0].submit()\"><form method=\"post\" action=\"{}\">{inputs}\
         <noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        esc(redirect_uri)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_reads_cookies() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; emu_session=abc; b=2".parse().expect("header"));
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
    }
}
