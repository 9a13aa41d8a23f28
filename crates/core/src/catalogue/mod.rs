//! The error catalogue: one table explaining every Entra, Graph and graphgate error code.
//!
//! Every error graphgate shows a person — in the browser module, in the proxy's JSON answers, in
//! the emulator's error bodies and in `docs/errors.md` — is looked up here, so a code means the
//! same thing and carries the same fix everywhere.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

mod entries;

pub use entries::ENTRIES;

/// A text in the two languages graphgate speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    /// English.
    pub en: &'static str,
    /// Simplified Chinese.
    pub zh: &'static str,
}

/// The key an entry is found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code<'a> {
    /// An Entra ID error, by its AADSTS number (`AADSTS50020` is `Aadsts(50020)`).
    Aadsts(u32),
    /// A Microsoft Graph `error.code`, compared case-insensitively.
    Graph(&'a str),
    /// An SMTP enhanced status code reported in a non-delivery report, such as `5.7.708`.
    Smtp(&'a str),
    /// One of graphgate's own error codes, in snake_case.
    Graphgate(&'a str),
}

/// One row of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What the entry is found by.
    pub code: Code<'static>,
    /// A stable, kebab-case name for the error that never changes once published.
    pub slug: &'static str,
    /// The OAuth `error` value Entra typically sends with this code, or `""` when none applies.
    pub oauth_error: &'static str,
    /// The HTTP status graphgate answers with when it relays this error.
    pub status: u16,
    /// Whether the same request may succeed when simply tried again later.
    pub retryable: bool,
    /// The upstream service's own text for the error. Where Entra names a value of the request
    /// (a parameter, an application, a tenant, an origin), the text has a `{name}` placeholder in
    /// that place: the emulator fills it in, so its answers carry Entra's one sentence with the
    /// detail inside, never a second text after it.
    pub message: &'static str,
    /// Why it happens.
    pub cause: Text,
    /// What to do about it.
    pub fix: Text,
}

impl Code<'_> {
    /// Whether `self` names the same error as `other` (Graph codes compare without case).
    pub fn matches(&self, other: &Code<'_>) -> bool {
        match (self, other) {
            (Code::Aadsts(a), Code::Aadsts(b)) => a == b,
            (Code::Graph(a), Code::Graph(b)) => a.eq_ignore_ascii_case(b),
            (Code::Smtp(a), Code::Smtp(b)) | (Code::Graphgate(a), Code::Graphgate(b)) => a == b,
            _ => false,
        }
    }

    /// The family the code belongs to, one of [`SECTIONS`].
    pub fn family(&self) -> &'static str {
        match self {
            Code::Aadsts(_) => SECTIONS[0],
            Code::Graph(_) => SECTIONS[1],
            Code::Smtp(_) => SECTIONS[2],
            Code::Graphgate(_) => SECTIONS[3],
        }
    }

    /// The code as people write it: `AADSTS50020`, `ErrorAccessDenied`, `5.7.708`, `state_mismatch`.
    pub fn display(&self) -> String {
        match self {
            Code::Aadsts(n) => format!("AADSTS{n}"),
            Code::Graph(s) | Code::Smtp(s) | Code::Graphgate(s) => (*s).to_owned(),
        }
    }
}

/// The families of codes, in the order the catalogue lists them.
pub const SECTIONS: [&str; 4] = ["Entra ID (AADSTS)", "Microsoft Graph", "Mail delivery (SMTP)", "graphgate"];

/// The catalogue row for `code`, if the catalogue knows it.
pub fn lookup(code: Code<'_>) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.code.matches(&code))
}

/// Renders the catalogue as Markdown; `cargo xtask codegen` writes this to `docs/errors.md`.
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# graphgate error catalogue\n\n\
         Every error graphgate explains: Entra ID (AADSTS) codes, Microsoft Graph codes, SMTP \
         non-delivery codes and graphgate's own codes. `status` is the HTTP status graphgate's proxy \
         answers with; `retry` says whether the same request may succeed later. In a quoted message, \
         `{name}` marks where the service puts a value of the request.\n\n\
         This file is generated from `crates/core/src/catalogue/entries.rs` by `cargo xtask codegen`; \
         edit the table there.\n",
    );
    for title in SECTIONS {
        out.push_str(&format!("\n## {title}\n"));
        for e in ENTRIES.iter().filter(|e| e.code.family() == title) {
            let code = e.code.display();
            let lookup = match e.code {
                Code::Aadsts(n) => format!(" · [lookup](https://login.microsoftonline.com/error?code={n})"),
                _ => String::new(),
            };
            let oauth = if e.oauth_error.is_empty() { String::new() } else { format!(" · error `{}`", e.oauth_error) };
            out.push_str(&format!(
                "\n### {code} — `{slug}`\n\nstatus {status} · retry {retry}{oauth}{lookup}\n\n\
                 > {message}\n\n\
                 - **Cause:** {cause_en}\n- **Fix:** {fix_en}\n- **原因:** {cause_zh}\n- **解决:** {fix_zh}\n",
                slug = e.slug,
                status = e.status,
                retry = if e.retryable { "yes" } else { "no" },
                message = e.message,
                cause_en = e.cause.en,
                fix_en = e.fix.en,
                cause_zh = e.cause.zh,
                fix_zh = e.fix.zh,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
