//! No two modules of `crates/proxy/src` depend on each other, directly or around a circle. The
//! dependencies are read from the source: every `crate::` path (in `use` lines, `use` groups and
//! code) and every `super::` path that climbs to the crate root, outside comments. A submodule
//! counts as its top-level module (`api/auth.rs` is `api`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The proxy's `src` directory.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its module path (`["api", "auth"]`; `mod.rs` is its folder).
fn modules(dir: &Path, path: &[String], found: &mut Vec<(Vec<String>, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for entry in entries {
        let Some(name) = entry.file_stem().and_then(|n| n.to_str()).map(str::to_owned) else { continue };
        if entry.is_dir() {
            let mut inner = path.to_vec();
            inner.push(name);
            modules(&entry, &inner, found);
        } else if entry.extension().is_some_and(|e| e == "rs") {
            let mut module = path.to_vec();
            if name != "mod" {
                module.push(name);
            }
            found.push((module, entry));
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The leading identifier of `text`.
fn ident(text: &str) -> &str {
    let end = text.find(|c: char| !is_ident(c)).unwrap_or(text.len());
    text.get(..end).unwrap_or("")
}

/// The first segment of each path after `crate::` (or a `super::` that climbs to the root):
/// `crate::a::B` gives `a`; `crate::{a::B, c}` gives `a` and `c`.
fn roots_after(text: &str) -> Vec<&str> {
    let Some(group) = text.strip_prefix('{') else {
        return vec![ident(text)];
    };
    let (mut depth, mut start, mut roots) = (0usize, 0usize, Vec::new());
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                roots.push(ident(group.get(start..at).unwrap_or("").trim()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                roots.push(ident(group.get(start..at).unwrap_or("").trim()));
                start = at + 1;
            }
            _ => {}
        }
    }
    roots
}

/// The crate-level names `source` (of the module at `module`) refers to.
fn references(source: &str, module: &[String]) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let before = code.get(..at).and_then(|b| b.chars().next_back());
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        found.extend(roots_after(code.get(at + "crate::".len()..).unwrap_or("")).into_iter().map(str::to_owned));
    }
    // `super::` climbing to the crate root: as many as the module is deep.
    let climb = "super::".repeat(module.len());
    if !climb.is_empty() {
        for (at, _) in code.match_indices(&climb) {
            let before = code.get(..at).and_then(|b| b.chars().next_back());
            if before.is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let rest = code.get(at + climb.len()..).unwrap_or("");
            found.extend(roots_after(rest).into_iter().map(str::to_owned));
        }
    }
    found
}

/// The dependencies between the top-level modules of `crates/proxy/src`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    modules(&src(), &[], &mut files);
    // The crate root and the binary are not modules of the library.
    files.retain(|(module, _)| !module.is_empty() && module != &["lib"] && module != &["main"]);
    let tops: BTreeSet<String> = files.iter().filter_map(|(m, _)| m.first().cloned()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = tops.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
    for (module, file) in &files {
        let Some(top) = module.first() else { continue };
        let source = std::fs::read_to_string(file).unwrap();
        let uses = references(&source, module).into_iter().filter(|r| tops.contains(r) && r != top);
        graph.entry(top.clone()).or_default().extend(uses);
    }
    graph
}

/// A circle of dependencies, if there is one: `[a, b, a]`.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path.get(at..).unwrap_or(&[]).to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_proxy_s_modules_depend_on_each_other_without_a_circle() {
    let graph = graph();
    let edge = |from: &str, to: &str| graph.get(from).is_some_and(|t| t.contains(to));
    assert!(edge("app", "api") && edge("api", "state") && edge("state", "session"), "the reading is off: {graph:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("modules depend on each other around a circle: {}\n{graph:#?}", cycle.join(" → "));
    }
}

#[test]
fn the_reader_sees_uses_groups_and_climbs() {
    let source = "//! crate::ignored\nuse crate::{a::X, b::{Y, Z}, c};\nuse super::d::E;\nfn f() { crate::e::g(); $crate::h; }\n";
    let found = references(source, &["m".to_owned()]);
    assert_eq!(found, ["a", "b", "c", "d", "e"].into_iter().map(str::to_owned).collect());
    let nested = references("use super::x;\nuse super::super::y;\n", &["m".to_owned(), "n".to_owned()]);
    assert_eq!(nested, ["y".to_owned()].into_iter().collect(), "only the climb to the root counts");
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
