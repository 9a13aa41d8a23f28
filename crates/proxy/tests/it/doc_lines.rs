//! Every source file of every crate, and of `xtask`, starts with a `//!` line saying what it is.

use std::path::{Path, PathBuf};

/// The workspace root, two levels above this crate.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, depth first.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_doc_line() {
    let root = workspace();
    let mut dirs = vec![root.join("xtask/src")];
    let crates = std::fs::read_dir(root.join("crates")).unwrap();
    dirs.extend(crates.filter_map(Result::ok).map(|e| e.path().join("src")).filter(|p| p.is_dir()));
    let mut files = Vec::new();
    for dir in &dirs {
        rust_files(dir, &mut files);
    }
    assert!(files.len() > 50, "the walk found only {} files under {dirs:?}", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files do not start with a `//!` line: {missing:#?}");
}
