//! Tests of the catalogue's completeness and consistency, and of `docs/errors.md` staying in sync.

#[allow(unused_imports, reason = "the alloc prelude, as std would give it")]
use crate::prelude::*;

use std::collections::HashSet;
use std::path::PathBuf;

use super::*;

/// The AADSTS codes named in §6 of the protocol reference.
const REFERENCE_AADSTS: &[u32] = &[
    16000, 40000, 50011, 50012, 50020, 50034, 50048, 50053, 50055, 50057, 50058, 50059, 50072, 50074, 50076, 50079,
    50089, 50097, 50105, 50126, 50173, 50194, 50196, 53000, 53001, 53003, 54005, 65001, 65004, 65005, 70000, 70008,
    70011, 70043, 90002, 90014, 90055, 90094, 500011, 500113, 501481, 650056, 650057, 700005, 700016, 700025, 700027,
    700054, 700082, 700084, 900144, 7000215, 7000218, 7000222, 9001023, 9002313, 9002326, 9002327, 9002332,
];

/// The Graph codes named in §7.1 and §9 of the protocol reference and in the field notes.
const REFERENCE_GRAPH: &[&str] = &[
    "MailboxNotEnabledForRESTAPI",
    "ErrorAccessDenied",
    "ErrorSendAsDenied",
    "OrganizationFromTenantGuidNotFound",
    "ErrorInvalidUser",
    "ErrorMimeContentInvalidBase64String",
    "InefficientFilter",
    "BadRequest",
    "ApplicationThrottled",
    "MailboxConcurrency",
    "Authorization_RequestDenied",
    "Request_BadRequest",
    "Request_ResourceNotFound",
    "Request_UnsupportedQuery",
];

/// The SMTP codes named in §9 and the field notes.
const REFERENCE_SMTP: &[&str] = &["5.7.708", "5.7.705", "5.7.750"];

#[test]
fn every_reference_code_is_in_the_catalogue() {
    for n in REFERENCE_AADSTS {
        assert!(lookup(Code::Aadsts(*n)).is_some(), "AADSTS{n} missing");
    }
    for c in REFERENCE_GRAPH {
        assert!(lookup(Code::Graph(c)).is_some(), "{c} missing");
    }
    for c in REFERENCE_SMTP {
        assert!(lookup(Code::Smtp(c)).is_some(), "{c} missing");
    }
}

/// The protocol reference beside the repository, when it is there (it is in CI).
fn reference_text() -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/microsoft-identity.md");
    std::fs::read_to_string(path).ok()
}

fn section<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap_or_else(|| panic!("reference has no {start:?}"));
    let rest = &text[from..];
    let to = rest.find(end).unwrap_or(rest.len());
    &rest[..to]
}

#[test]
fn the_reference_document_names_no_code_the_catalogue_lacks() {
    let Some(text) = reference_text() else {
        return; // The embedded lists above carry the same codes.
    };
    let s6 = section(&text, "## 6. AADSTS", "## 7.");
    // The codes of §6 are the first cells of its table and the "Other codes worth mapping" list.
    let table_codes = s6.lines().filter(|l| l.starts_with("| ")).filter_map(|l| l[2..].split(' ').next());
    let others = s6.split("Other codes worth mapping").nth(1).and_then(|rest| rest.split("\n\n").next()).unwrap_or("");
    let mut numbers = HashSet::new();
    for word in table_codes.chain(others.split(|c: char| !c.is_ascii_digit())) {
        if (5..=7).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_digit()) {
            numbers.insert(word.parse::<u32>().expect("digits"));
        }
    }
    assert!(numbers.len() > 50, "parsed too few codes: {numbers:?}");
    for n in &numbers {
        assert!(lookup(Code::Aadsts(*n)).is_some(), "§6 names AADSTS{n}, the catalogue lacks it");
        assert!(REFERENCE_AADSTS.contains(n), "§6 names AADSTS{n}, the embedded list lacks it");
    }
    let s9 = section(&text, "## 9. Graph mail errors", "## 10.");
    for row in s9.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| Error") && !l.starts_with("|---")) {
        let first_cell = row.split(" | ").next().unwrap_or(row);
        for token in first_cell.split('`').skip(1).step_by(2) {
            if token.contains(' ') {
                let smtp = token.split(' ').find(|w| w.matches('.').count() == 2).expect("an SMTP code");
                assert!(lookup(Code::Smtp(smtp)).is_some(), "§9 names {smtp}, the catalogue lacks it");
            } else {
                assert!(lookup(Code::Graph(token)).is_some(), "§9 names {token}, the catalogue lacks it");
            }
        }
    }
}

#[test]
fn rows_are_unique_and_complete_in_both_languages() {
    let mut slugs = HashSet::new();
    let mut codes = HashSet::new();
    for e in ENTRIES {
        assert!(slugs.insert(e.slug), "duplicate slug {}", e.slug);
        assert!(codes.insert(e.code.display().to_ascii_lowercase()), "duplicate code {:?}", e.code);
        assert!(
            e.slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "slug {} is not kebab-case",
            e.slug
        );
        assert!((400..600).contains(&e.status), "{:?} status {}", e.code, e.status);
        for (what, text) in [("message", e.message), ("cause", e.cause.en), ("fix", e.fix.en)] {
            assert!(text.trim().len() > 10, "{:?} {what} is empty", e.code);
        }
        for (what, text) in [("cause", e.cause.zh), ("fix", e.fix.zh)] {
            let han = text.chars().filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).count();
            assert!(han >= 4, "{:?} Chinese {what} is missing: {text:?}", e.code);
        }
    }
}

#[test]
fn graph_codes_are_found_without_regard_to_case() {
    let a = lookup(Code::Graph("mailboxnotenabledforrestapi")).expect("row");
    assert_eq!(a.code, Code::Graph("MailboxNotEnabledForRESTAPI"));
    assert!(lookup(Code::Graph("NoSuchCode")).is_none());
    assert!(lookup(Code::Aadsts(1)).is_none());
}

#[test]
fn docs_errors_md_is_up_to_date() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/errors.md");
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(on_disk == render_markdown(), "docs/errors.md differs from the catalogue: run `cargo xtask codegen`");
}

#[test]
fn placeholders_in_messages_are_well_formed() {
    for e in ENTRIES {
        let mut rest = e.message;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').unwrap_or_else(|| panic!("{:?}: unclosed placeholder", e.code));
            let name = &after[..close];
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{:?}: placeholder {{{name}}} is not a snake_case name",
                e.code
            );
            rest = &after[close + 1..];
        }
        assert!(!rest.contains('}'), "{:?}: stray closing brace", e.code);
    }
}
