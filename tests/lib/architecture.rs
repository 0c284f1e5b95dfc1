//! ARCHITECTURE.md is the one list of the source files: every `.rs` file under `src/`,
//! `cli/src/` and `python/src/` is named in it, and every source path it names exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's root (this crate's manifest directory).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `dir`, as a path relative to the root with `/` separators.
fn sources(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root()).expect("under the root");
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The source paths ARCHITECTURE.md names: words in backticks that end in `.rs` and start
/// with `src/`, `cli/src/` or `python/src/`.
fn named(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.ends_with(".rs")
                && (w.starts_with("src/")
                    || w.starts_with("cli/src/")
                    || w.starts_with("python/src/"))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn architecture_names_every_source_file_and_only_those() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let named = named(&text);
    let mut on_disk = BTreeSet::new();
    sources(&root().join("src"), &mut on_disk);
    sources(&root().join("cli/src"), &mut on_disk);
    sources(&root().join("python/src"), &mut on_disk);
    let missing: Vec<_> = on_disk.difference(&named).collect();
    let stale: Vec<_> = named.difference(&on_disk).collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md does not name these source files: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "ARCHITECTURE.md names files that do not exist: {stale:?}"
    );
}
