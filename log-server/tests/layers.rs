//! The server's layers import one way only: `http` → `log` → `store` (and `publish` → `log`
//! → `store`), with `config` and `metrics` as leaves; a new top-level module must be given
//! its place here. Reads the crate's own sources and fails on any `crate::` path that
//! points up (or sideways into a leaf's dependents), so a cycle cannot creep back in.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// Each layer and the layers it may name with `crate::`.
const ALLOWED: [(&str, &[&str]); 6] = [
    ("http", &["http", "log", "store", "config", "metrics"]),
    // Static publication follows the published head, as the HTTP layer answers from it.
    ("publish", &["publish", "log", "store", "config", "metrics"]),
    ("log", &["log", "store", "config", "metrics"]),
    ("store", &["store"]),
    ("config", &["config"]),
    ("metrics", &["metrics"]),
];

/// The wiring, which may name every layer: `lib.rs`, `main.rs` and `bin/`.
const WIRING: [&str; 3] = ["lib", "main", "bin"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a source file belongs to (`src/log/x.rs` → `log`).
fn layer(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_owned())
}

/// Every module named as `crate::<m>` in `text` (code and doc links alike), or as
/// `super::super::<m>` (which, from a file one directory below `src/`, is `crate::<m>` too).
fn named(text: &str) -> Vec<String> {
    let mut out = after(text, "crate::");
    out.extend(after(text, "super::super::"));
    out
}

/// The identifiers that follow `prefix` in `text`.
fn after(text: &str, prefix: &str) -> Vec<String> {
    text.match_indices(prefix)
        .filter_map(|(i, m)| {
            let rest = text.get(i + m.len()..)?;
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest.get(..end).map(str::to_owned)
        })
        .collect()
}

#[test]
fn super_paths_are_layer_paths() {
    assert_eq!(
        named("use super::super::http::X; crate::log::y"),
        ["log", "http"]
    );
    assert_eq!(named("use super::store; // [`crate::store`]"), ["store"]);
}

#[test]
fn layers_import_downwards_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let Some(layer) = layer(&src, f) else {
            continue;
        };
        if WIRING.contains(&layer.as_str()) {
            continue;
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(l, _)| *l == layer) else {
            wrong.push(format!(
                "{}: module {layer} has no place in the layering",
                f.display()
            ));
            continue;
        };
        checked += 1;
        let text = std::fs::read_to_string(f).unwrap();
        for m in named(&text) {
            if !allowed.contains(&m.as_str()) {
                wrong.push(format!("{} names crate::{m}", f.display()));
            }
        }
    }
    assert!(checked >= 15, "only {checked} layered source files found");
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}
