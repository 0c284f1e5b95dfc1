//! Files one export must keep apart. Nothing it writes (the output and the files beside it,
//! `--summary-json`, `--state` and its temporary file) may be a file a credential is read
//! from: the apptoken, client secret or private key file, or standard input when one is read
//! from `-` (`--summary-json /dev/stdin` with the token file on standard input would write
//! over the token). `--summary-json` must not be the output or a file beside it, and
//! `--state` none of those; with the rows on standard output, neither may be standard output. Checked before anything is read or written, by what the names
//! reach (the same device and inode; standard input's by `fstat`), so that a symlink, `./x`
//! and `x`, a hard link or `/dev/stdin` are caught, and, for files that do not exist yet, by
//! their paths once symlinks are followed.

use std::path::{Path, PathBuf};

use xp_export::export::{checkpoint_path, lock_path, partial_path, record_path, temp_path};

use crate::credentials::SecretFile;
use crate::failure::Failure;

/// Refuses an export whose files would write over each other or over a file a credential is
/// read from (`secrets`, standard input among them when one is `-`).
pub fn check_apart(
    output: Option<&Path>,
    summary: Option<&Path>,
    state: Option<&Path>,
    secrets: &[SecretFile<'_>],
) -> Result<(), Failure> {
    check_secrets_apart(&written(output, summary, state), secrets)?;
    if output.is_none() {
        check_off_standard_output(summary, state)?;
    }
    check_summary_apart(output, summary)?;
    if let Some(s) = summary {
        check_directory(s, "--summary-json")?;
    }
    match state {
        Some(state) => check_state_apart(state, output, summary),
        None => Ok(()),
    }
}

/// A file the export writes: its path, the flag and value that lead to it, and which of the
/// files that flag writes it is (`None`: the one named).
struct Written<'a> {
    path: PathBuf,
    flag: &'static str,
    given: &'a Path,
    beside: Option<&'static str>,
}

impl Written<'_> {
    /// The file in words: `-o out.csv`, or `-o out.csv: its checkpoint out.csv.checkpoint.json`.
    fn shown(&self) -> String {
        let named = format!("{} {}", self.flag, self.given.display());
        match self.beside {
            None => named,
            Some(what) => format!("{named}: {what} {}", self.path.display()),
        }
    }

    /// The file in words, as one of the output's: "the output", "the output's checkpoint".
    fn of_the_output(&self) -> String {
        match self.beside {
            None => "the output".to_string(),
            Some(what) => format!("the output's {}", what.trim_start_matches("its ")),
        }
    }
}

/// Every file the export may write, each named one before the files beside it.
fn written<'a>(
    output: Option<&'a Path>,
    summary: Option<&'a Path>,
    state: Option<&'a Path>,
) -> Vec<Written<'a>> {
    let mut all = Vec::new();
    let mut add = |path: PathBuf, flag, given, beside| {
        all.push(Written {
            path,
            flag,
            given,
            beside,
        })
    };
    if let Some(o) = output {
        add(o.to_path_buf(), "-o", o, None);
        for base in [Some(o.to_path_buf()), resolve(o)].into_iter().flatten() {
            add(partial_path(&base), "-o", o, Some("its partial file"));
            add(checkpoint_path(&base), "-o", o, Some("its checkpoint"));
            let temp = temp_path(&checkpoint_path(&base));
            add(temp, "-o", o, Some("its checkpoint's temporary file"));
            add(lock_path(&base), "-o", o, Some("its lock file"));
            let record = record_path(&base);
            add(record, "-o", o, Some("its record of a finished export"));
        }
    }
    if let Some(s) = summary {
        add(s.to_path_buf(), "--summary-json", s, None);
    }
    if let Some(s) = state {
        add(s.to_path_buf(), "--state", s, None);
        let target = resolve(s).unwrap_or_else(|| s.to_path_buf());
        add(temp_path(&target), "--state", s, Some("its temporary file"));
    }
    all
}

/// Refuses any written file that is a file a credential is read from, naming both.
fn check_secrets_apart(written: &[Written<'_>], secrets: &[SecretFile<'_>]) -> Result<(), Failure> {
    let stdin = stdin_file();
    for secret in secrets {
        let from_stdin = secret.path == Path::new("-");
        let source = if from_stdin {
            format!(
                "standard input, which the {} is read from ({} -)",
                secret.holds, secret.flag
            )
        } else {
            format!("the {} file {}", secret.holds, secret.path.display())
        };
        let hit = written.iter().find(|w| {
            if from_stdin {
                stdin.is_some() && stdin == file_id(&w.path)
            } else {
                same_file(&w.path, secret.path)
            }
        });
        if let Some(w) = hit {
            return Err(Failure::usage(format!(
                "{} is {source}: the export would write over the {}; name another file",
                w.shown(),
                secret.holds
            )));
        }
    }
    Ok(())
}

/// With the rows on standard output: refuses a `--summary-json` or `--state` file that is
/// standard output (`/dev/stdout`, `/dev/fd/1`, the file or pipe it was opened on), which
/// would be written into the rows.
fn check_off_standard_output(summary: Option<&Path>, state: Option<&Path>) -> Result<(), Failure> {
    let Some(stdout) = std_file(Std::Out) else {
        return Ok(());
    };
    let named = [("--summary-json", summary), ("--state", state)];
    match named
        .into_iter()
        .find_map(|(flag, p)| p.filter(|p| file_id(p) == Some(stdout)).map(|p| (flag, p)))
    {
        Some((flag, p)) => Err(Failure::usage(format!(
            "{flag} {} is standard output, where the rows go: it would be written into them; \
             name a file",
            p.display()
        ))),
        None => Ok(()),
    }
}

/// Refuses a file (`flag`'s) whose directory, once symlinks are followed, is not there: it is
/// written when the export has ended, which would run to its end for nothing.
fn check_directory(path: &Path, flag: &str) -> Result<(), Failure> {
    match xp_export::export::missing_directory(path) {
        None => Ok(()),
        Some((dir, why)) => Err(Failure::usage(format!(
            "cannot write {flag} {}: the directory {} {why}; create it, or name another file",
            path.display(),
            dir.display()
        ))),
    }
}

/// Refuses a `--summary-json` file that is the output or a file beside it.
fn check_summary_apart(output: Option<&Path>, summary: Option<&Path>) -> Result<(), Failure> {
    let Some(s) = summary else { return Ok(()) };
    match written(output, None, None)
        .iter()
        .find(|w| same_file(s, &w.path))
    {
        Some(w) => Err(Failure::usage(format!(
            "--summary-json {} is {}: the summary would destroy the data; name another file",
            s.display(),
            w.of_the_output()
        ))),
        None => Ok(()),
    }
}

/// Refuses a `--state` file that is the output, a file beside it, or the `--summary-json`
/// file: each would be destroyed by the other.
fn check_state_apart(
    state: &Path,
    output: Option<&Path>,
    summary: Option<&Path>,
) -> Result<(), Failure> {
    match written(output, summary, None)
        .iter()
        .find(|w| same_file(state, &w.path))
    {
        Some(w) => Err(Failure::usage(format!(
            "--state {} is {}: the state and it would overwrite each other; name another file",
            state.display(),
            match w.flag {
                "--summary-json" => "the --summary-json file".to_string(),
                _ => w.of_the_output(),
            }
        ))),
        None => Ok(()),
    }
}

/// The device and inode of the file `path` reaches, if it exists.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &Path) -> Option<(u64, u64)> {
    None
}

/// Standard input or standard output.
#[derive(Clone, Copy)]
enum Std {
    In,
    Out,
}

/// The device and inode of what standard input is, by `fstat` of descriptor 0 (whatever name
/// reaches it); `None` for a terminal or `/dev/null` (a character device holds no credential
/// to lose), or without standard input.
fn stdin_file() -> Option<(u64, u64)> {
    std_file(Std::In)
}

/// The device and inode of what standard input or output is, by `fstat` of its descriptor
/// (whatever name reaches it); `None` for a terminal or `/dev/null` (a character device, where
/// nothing is kept), or when it is closed.
#[cfg(unix)]
fn std_file(which: Std) -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let fd = match which {
        Std::In => std::io::stdin().as_fd().try_clone_to_owned(),
        Std::Out => std::io::stdout().as_fd().try_clone_to_owned(),
    };
    let meta = std::fs::File::from(fd.ok()?).metadata().ok()?;
    (!meta.file_type().is_char_device()).then(|| (meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn std_file(_which: Std) -> Option<(u64, u64)> {
    None
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
        let e = check_apart(Some(&out), Some(&link), None, &[]).unwrap_err();
        assert!(e.message.contains("is the output"), "{}", e.message);
        let partial = dir.path().join(".out.ndjson.partial");
        let e = check_apart(Some(&out), Some(&partial), None, &[]).unwrap_err();
        assert!(e.message.contains("partial file"), "{}", e.message);
        assert!(check_apart(Some(&out), Some(&dir.path().join("s.json")), None, &[]).is_ok());
    }

    /// Every file the export writes is kept off every credential's file, the files beside
    /// the output too, each refusal naming both.
    #[cfg(unix)]
    #[test]
    fn nothing_written_is_a_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t").unwrap();
        let secret = |path| SecretFile {
            path,
            holds: "apptoken",
            flag: "--apptoken-file",
        };
        let out = dir.path().join("x.ndjson");
        let checkpoint = dir.path().join(".x.ndjson.checkpoint.json");
        std::os::unix::fs::symlink(&token, &checkpoint).unwrap();
        let e = check_apart(Some(&out), None, None, &[secret(&token)]).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "-o {}: its checkpoint {} is the apptoken file {}: the export would write over \
                 the apptoken; name another file",
                out.display(),
                checkpoint.display(),
                token.display()
            )
        );
        let dotted = dir.path().join(".").join("token");
        let e = check_apart(None, None, Some(&dotted), &[secret(&token)]).unwrap_err();
        assert!(e.message.starts_with("--state"), "{}", e.message);
        let other = dir.path().join("y.ndjson");
        assert!(check_apart(Some(&other), Some(&out), None, &[secret(&token)]).is_ok());
    }
}
