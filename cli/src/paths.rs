//! Files one export must keep apart: `--summary-json` must not name the output, its partial
//! file or its checkpoint, nor the credential's file; `-o` must not name the credential's file. Checked
//! before anything is written, also when two names reach the same file (a symlink, `./x` and
//! `x`, a hard link), as far as that can be told before the files exist.

use std::path::{Path, PathBuf};

use xp_export::export::{checkpoint_path, lock_path, partial_path, record_path, temp_path};

use crate::failure::Failure;

/// Refuses an export whose files would write over each other or over the file holding the
/// credential (`secret`: its path, and what it is called, "the apptoken file").
pub fn check_apart(
    output: Option<&Path>,
    summary: Option<&Path>,
    secret: Option<(&Path, &str)>,
) -> Result<(), Failure> {
    let secret = secret.filter(|(t, _)| *t != Path::new("-"));
    let mut written: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(o) = output {
        for base in [Some(o.to_path_buf()), resolve(o)].into_iter().flatten() {
            written.push((partial_path(&base), "the output's partial file"));
            written.push((checkpoint_path(&base), "the output's checkpoint"));
            written.push((
                record_path(&base),
                "the output's record of a finished export",
            ));
            written.push((base, "the output"));
        }
        if let Some((t, what)) = secret
            && same_file(o, t)
        {
            return Err(Failure::usage(format!(
                "-o {} is {what}: the export would replace it; name another output",
                o.display()
            )));
        }
    }
    let Some(s) = summary else { return Ok(()) };
    if let Some((_, what)) = written.iter().find(|(w, _)| same_file(s, w)) {
        return Err(Failure::usage(format!(
            "--summary-json {} is {what}: the summary would destroy the data; name another file",
            s.display()
        )));
    }
    if let Some((t, what)) = secret
        && same_file(s, t)
    {
        return Err(Failure::usage(format!(
            "--summary-json {} is {what}: the summary would replace it; name another file",
            s.display()
        )));
    }
    Ok(())
}

/// Refuses a `--state` file that is the output, its partial file, checkpoint or lock, the
/// `--summary-json` file, or the credential's file: each would be destroyed by the other.
pub fn check_state_apart(
    state: &Path,
    output: Option<&Path>,
    summary: Option<&Path>,
    secret: Option<(&Path, &str)>,
) -> Result<(), Failure> {
    let mut others: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(o) = output {
        for base in [Some(o.to_path_buf()), resolve(o)].into_iter().flatten() {
            others.push((partial_path(&base), "the output's partial file"));
            others.push((checkpoint_path(&base), "the output's checkpoint"));
            others.push((lock_path(&base), "the output's lock file"));
            others.push((
                record_path(&base),
                "the output's record of a finished export",
            ));
            others.push((
                temp_path(&checkpoint_path(&base)),
                "the output's checkpoint's temporary file",
            ));
            others.push((base, "the output"));
        }
    }
    if let Some(s) = summary {
        others.push((s.to_path_buf(), "the --summary-json file"));
    }
    if let Some((t, what)) = secret.filter(|(t, _)| *t != Path::new("-")) {
        others.push((t.to_path_buf(), what));
    }
    match others.iter().find(|(w, _)| same_file(state, w)) {
        Some((_, what)) => Err(Failure::usage(format!(
            "--state {} is {what}: the state and it would overwrite each other; name another file",
            state.display()
        ))),
        None => Ok(()),
    }
}

/// Whether `a` and `b` name the same file: the same device and inode when both exist, else
/// the same path once symlinks and `.`/`..` are resolved.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
    }
    match (resolve(a), resolve(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `path` with its symlinks followed (also a dangling one: where it would write) and its
/// directory made absolute; `None` when the directory does not exist or the links loop.
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::read_link(&path) {
            Ok(target) => {
                let dir = path.parent().unwrap_or(Path::new(""));
                path = dir.join(target);
            }
            Err(_) => {
                let name = path.file_name()?.to_os_string();
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                return Some(dir.canonicalize().ok()?.join(name));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_same_file_is_found_under_other_names() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.ndjson");
        let dotted = dir.path().join(".").join("out.ndjson");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&out, &link).unwrap();
        // Before the output exists: a dangling link and a dotted path still reach it.
        assert!(same_file(&dotted, &out));
        assert!(same_file(&link, &out));
        assert!(!same_file(&dir.path().join("other.json"), &out));
        std::fs::write(&out, "x").unwrap();
        assert!(same_file(&link, &out));
        let e = check_apart(Some(&out), Some(&link), None).unwrap_err();
        assert!(e.message.contains("is the output"), "{}", e.message);
        let partial = dir.path().join(".out.ndjson.partial");
        let e = check_apart(Some(&out), Some(&partial), None).unwrap_err();
        assert!(e.message.contains("partial file"), "{}", e.message);
        assert!(check_apart(Some(&out), Some(&dir.path().join("s.json")), None).is_ok());
        assert!(
            check_apart(
                None,
                Some(&out),
                Some((Path::new("-"), "the apptoken file"))
            )
            .is_ok()
        );
    }
}
