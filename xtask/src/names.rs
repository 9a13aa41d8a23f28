//! Short names for the module's imports and exports, in the .wasm and in its JavaScript glue.
//!
//! wasm-bindgen names each import after what it binds plus a 16-digit hash
//! (`__wbg_sessionStorage_83ad127fc90bc95e`) and each export after its Rust path. Every name is
//! written twice, once in the .wasm and once in the glue, and the hashes do not compress: about
//! 4.5 KB gzip -9 of the package. Here each function import gets a name like `$a` and each
//! export but `memory` one like `$b`; the glue is rewritten to match, and the rewrite checks that
//! every name it changes was found, so a change in wasm-bindgen's output fails the build instead
//! of shipping a module that cannot be instantiated.

use crate::Result;

/// What was renamed: `(old, new)` for the function imports and for the exports.
pub(crate) struct Renames {
    imports: Vec<(String, String)>,
    exports: Vec<(String, String)>,
}

/// The `n`th short name: `$` and a base-36 number.
fn short(n: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    let mut n = n;
    loop {
        digits.push(DIGITS[n % 36]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.push(b'$');
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// Reads a LEB128 number at `*at`.
fn leb(bytes: &[u8], at: &mut usize) -> Result<u64> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes.get(*at).ok_or("the .wasm ends inside a number")?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 63 {
            return Err("a number in the .wasm is too long".into());
        }
    }
}

fn put_leb(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let b = u8::try_from(value & 0x7f).unwrap_or(0);
        value >>= 7;
        if value == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Reads a name (its length, then UTF-8) at `*at`.
fn name(bytes: &[u8], at: &mut usize) -> Result<String> {
    let len = usize::try_from(leb(bytes, at)?).map_err(|e| e.to_string())?;
    let end = at.checked_add(len).filter(|&e| e <= bytes.len()).ok_or("the .wasm ends inside a name")?;
    let text = std::str::from_utf8(&bytes[*at..end]).map_err(|e| e.to_string())?.to_owned();
    *at = end;
    Ok(text)
}

fn put_name(out: &mut Vec<u8>, text: &str) {
    put_leb(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Skips a table's or memory's limits at `*at`.
fn skip_limits(bytes: &[u8], at: &mut usize) -> Result {
    let flags = leb(bytes, at)?;
    leb(bytes, at)?;
    if flags & 1 == 1 {
        leb(bytes, at)?;
    }
    Ok(())
}

/// Skips an import's description (its kind and type) at `*at`; true when it is a function.
fn skip_import_desc(bytes: &[u8], at: &mut usize) -> Result<bool> {
    let kind = *bytes.get(*at).ok_or("the .wasm ends inside an import")?;
    *at += 1;
    match kind {
        0x00 => leb(bytes, at).map(|_| true),
        0x01 => {
            *at += 1; // the element type
            skip_limits(bytes, at).map(|()| false)
        }
        0x02 => skip_limits(bytes, at).map(|()| false),
        0x03 => {
            *at += 2; // the value type and mutability
            Ok(false)
        }
        0x04 => {
            *at += 1;
            leb(bytes, at).map(|_| false)
        }
        other => Err(format!("an import of kind {other:#x}, which this build step does not know")),
    }
}

/// The two sections whose names are rewritten.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Import,
    Export,
}

/// The import or export section `body` with short names (`$` and the count `next`), each
/// renaming recorded in `renamed`. An import keeps its module name; only function imports are
/// renamed, and every export but `memory`. Each entry's description is copied as it is.
fn rename_entries(body: &[u8], kind: Kind, next: &mut usize, renamed: &mut Vec<(String, String)>) -> Result<Vec<u8>> {
    let mut p = 0;
    let count = leb(body, &mut p)?;
    let mut s = Vec::new();
    put_leb(&mut s, count);
    for _ in 0..count {
        if kind == Kind::Import {
            let module = name(body, &mut p)?;
            put_name(&mut s, &module);
        }
        let field = name(body, &mut p)?;
        let desc = p;
        let rename = match kind {
            Kind::Import => skip_import_desc(body, &mut p)?,
            Kind::Export => {
                p += 1; // the kind
                leb(body, &mut p)?;
                field != "memory"
            }
        };
        if rename {
            let new = short(*next);
            *next += 1;
            put_name(&mut s, &new);
            renamed.push((field, new));
        } else {
            put_name(&mut s, &field);
        }
        s.extend_from_slice(body.get(desc..p).ok_or("the .wasm ends inside an entry")?);
    }
    Ok(s)
}

/// The module with short import and export names, and what was renamed.
pub(crate) fn shorten(wasm: &[u8]) -> Result<(Vec<u8>, Renames)> {
    if wasm.get(..8) != Some(b"\0asm\x01\0\0\0".as_slice()) {
        return Err("not a WebAssembly module".into());
    }
    let mut out = wasm[..8].to_vec();
    let mut renames = Renames { imports: Vec::new(), exports: Vec::new() };
    let mut next = 0;
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = usize::try_from(leb(wasm, &mut at)?).map_err(|e| e.to_string())?;
        let end = at.checked_add(size).filter(|&e| e <= wasm.len()).ok_or("a section runs past the end")?;
        let body = &wasm[at..end];
        let rewritten = match id {
            2 => Some(rename_entries(body, Kind::Import, &mut next, &mut renames.imports)?),
            7 => Some(rename_entries(body, Kind::Export, &mut next, &mut renames.exports)?),
            _ => None,
        };
        out.push(id);
        let body = rewritten.as_deref().unwrap_or(body);
        put_leb(&mut out, body.len() as u64);
        out.extend_from_slice(body);
        at = end;
    }
    Ok((out, renames))
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// Where `needle` stands in `text` as a whole identifier (no identifier character either side).
fn whole_matches<'a>(text: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    let bytes = text.as_bytes();
    text.match_indices(needle).map(|(i, _)| i).filter(move |&i| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + needle.len()).copied();
        !after.is_some_and(is_ident) && !before.is_some_and(is_ident)
    })
}

/// `text` with every whole identifier `old` (preceded by `prefix`) replaced by `new`; how many.
fn replace_ident(text: &str, prefix: &str, old: &str, new: &str) -> (String, usize) {
    let needle = [prefix, old].concat();
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut last = 0;
    for i in whole_matches(text, &needle) {
        out.push_str(&text[last..i]);
        out.push_str(prefix);
        out.push_str(new);
        last = i + needle.len();
        count += 1;
    }
    out.push_str(&text[last..]);
    (out, count)
}

/// The identifiers the glue reads as `wasm.name`.
fn exports_used(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    text.match_indices("wasm.").filter_map(move |(i, m)| {
        if i.checked_sub(1).is_some_and(|j| is_ident(bytes[j])) {
            return None;
        }
        let start = i + m.len();
        let len = bytes[start..].iter().take_while(|&&b| is_ident(b)).count();
        Some(&text[start..start + len])
    })
}

impl Renames {
    /// Rewrites the glue files `js` (the imports they define, the exports they call as
    /// `wasm.name`) and the .wasm's declarations `dts` (`export const name`). Every import must
    /// be defined in the glue, no new name may be there already, and afterwards every `wasm.name`
    /// in the glue must name an export the module has.
    pub(crate) fn rewrite(&self, js: &mut [String], dts: &mut [String]) -> Result {
        for file in js.iter() {
            for (_, new) in self.imports.iter().chain(&self.exports) {
                if whole_matches(file, new).next().is_some() {
                    return Err(format!("the glue already has an identifier {new}"));
                }
            }
        }
        for (old, new) in &self.imports {
            let mut found = 0;
            for file in js.iter_mut() {
                let (text, n) = replace_ident(file, "", old, new);
                *file = text;
                found += n;
            }
            if found == 0 {
                return Err(format!("the glue does not define the import {old}"));
            }
        }
        for (old, new) in &self.exports {
            for file in js.iter_mut() {
                *file = replace_ident(file, "wasm.", old, new).0;
            }
            for file in dts.iter_mut() {
                *file = replace_ident(file, "", old, new).0;
            }
        }
        for file in js.iter() {
            for used in exports_used(file) {
                if used != "memory" && !self.exports.iter().any(|(_, new)| new == used) {
                    return Err(format!("the glue calls wasm.{used}, which the module does not export"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{replace_ident, short, shorten};

    #[test]
    fn short_names_are_distinct_identifiers() {
        let names: Vec<String> = (0..2000).map(short).collect();
        assert_eq!(names[0], "$0");
        assert_eq!(names[36], "$10");
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn only_whole_identifiers_are_replaced() {
        let (text, n) = replace_ident("f_1: x, ff_1: y, f_12: z, f_1(a)", "", "f_1", "$0");
        assert_eq!((text.as_str(), n), ("$0: x, ff_1: y, f_12: z, $0(a)", 2));
        let (text, n) = replace_ident("wasm.a(); wasm.ab(); wasm.a;", "wasm.", "a", "$1");
        assert_eq!((text.as_str(), n), ("wasm.$1(); wasm.ab(); wasm.$1;", 2));
    }

    /// A module with one function import (`m`.`long_import`), one export `memory` and one
    /// function export, written by hand.
    fn module() -> Vec<u8> {
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        let import = [&[1u8, 1, b'm', 11][..], b"long_import", &[0, 0]].concat();
        m.extend([2, u8::try_from(import.len()).unwrap()]);
        m.extend(&import);
        m.extend([3, 2, 1, 0]); // one function of type 0
        m.extend([5, 3, 1, 0, 1]); // one memory page
        let export = [&[2u8, 6][..], b"memory", &[2, 0, 9], b"long_name", &[0, 1]].concat();
        m.extend([7, u8::try_from(export.len()).unwrap()]);
        m.extend(&export);
        m.extend([10, 4, 1, 2, 0, 0x0b]); // its body: nothing
        m
    }

    #[test]
    fn a_module_gets_short_names_and_keeps_memory() {
        let (out, renames) = shorten(&module()).unwrap();
        assert_eq!(renames.imports, [("long_import".to_owned(), "$0".to_owned())]);
        assert_eq!(renames.exports, [("long_name".to_owned(), "$1".to_owned())]);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("memory") && text.contains("$0") && text.contains("$1"));
        assert!(!text.contains("long_"));
        assert_eq!(out.len(), module().len() - (11 - 2) - (9 - 2));
        let mut js = ["long_import: function() {}\nwasm.long_name();".to_owned()];
        let mut dts = ["export const long_name: () => void;".to_owned()];
        renames.rewrite(&mut js, &mut dts).unwrap();
        assert_eq!(js[0], "$0: function() {}\nwasm.$1();");
        assert_eq!(dts[0], "export const $1: () => void;");
    }

    #[test]
    fn glue_that_does_not_match_fails() {
        let (_, renames) = shorten(&module()).unwrap();
        assert!(renames.rewrite(&mut ["wasm.long_name();".to_owned()], &mut []).is_err());
        let mut stray = ["long_import: 1; wasm.long_name(); wasm.other_name()".to_owned()];
        assert!(renames.rewrite(&mut stray, &mut []).is_err());
        let mut fine = ["long_import: 1; wasm.long_name(); wasm.memory.buffer; xwasm.other".to_owned()];
        assert!(renames.rewrite(&mut fine, &mut []).is_ok());
        assert!(shorten(b"not wasm").is_err());
        // An import section that ends inside a global import's description (its mutability).
        let cut = [&b"\0asm\x01\0\0\0"[..], &[2, 6, 1, 1, b'm', 1, b'g', 0x03, 0x7f][..]].concat();
        assert!(shorten(&cut).is_err());
        assert!(shorten(&module()[..30]).is_err());
    }
}
