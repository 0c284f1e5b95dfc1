//! What `-o PATH` names, decided before anything is written: a regular file (written through
//! its hidden partial file beside it, a symlink's target for a symlink), or a stream (a character
//! device, a FIFO, an open file descriptor) that is written straight through, since renaming
//! over it or creating files beside it would destroy it or write where nobody reads.

use std::fs;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::error::ExportError;
use super::files::{reserved, resolve};

/// Where an export to a path writes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A regular file, existing or not, symlinks resolved.
    File(PathBuf),
    /// Written straight through: no partial file, no checkpoint, no resume.
    Stream {
        /// The path as given.
        path: PathBuf,
        /// What it is, in words ("a FIFO").
        kind: &'static str,
    },
}

/// What `path` is, or why it cannot be written.
pub(crate) fn destination(path: &Path) -> Result<Destination, ExportError> {
    if path.file_name().is_none() {
        return Err(unusable(path, "it names no file"));
    }
    if let Some(kind) = stream_kind(path)? {
        return Ok(Destination::Stream {
            path: path.to_path_buf(),
            kind,
        });
    }
    let target = resolve(path).map_err(|e| unusable(path, &e.to_string()))?;
    if target.starts_with("/proc") {
        return Ok(Destination::Stream {
            path: path.to_path_buf(),
            kind: "an open file descriptor",
        });
    }
    match fs::metadata(&target) {
        Ok(m) if m.is_dir() => return Err(unusable(path, "it is a directory")),
        Ok(_) | Err(_) => {}
    }
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    if let Some(suffix) = reserved(&name) {
        return Err(unusable(
            path,
            &format!("names ending in {suffix} are kept for the files beside an export"),
        ));
    }
    Ok(Destination::File(target))
}

/// The kind of stream `path` is, `None` for a regular file or nothing; a block device or a
/// socket is refused.
fn stream_kind(path: &Path) -> Result<Option<&'static str>, ExportError> {
    let descriptor = ["/dev/fd", "/dev/stdout", "/dev/stderr", "/proc"]
        .iter()
        .any(|p| path.starts_with(p));
    let missing = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
        )
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        // Taking the lock says what is wrong with the directory.
        Err(e) if missing(&e) && !descriptor => return Ok(None),
        Err(e) if missing(&e) => {
            return Err(unusable(path, "it is not an open file descriptor"));
        }
        Err(e) => return Err(unusable(path, &e.to_string())),
    };
    let kind = meta.file_type();
    if kind.is_block_device() {
        return Err(unusable(
            path,
            "it is a block device: write to a file instead",
        ));
    }
    if kind.is_socket() {
        return Err(unusable(path, "it is a socket"));
    }
    Ok(if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_char_device() {
        Some("a character device")
    } else if descriptor && kind.is_file() {
        Some("an open file descriptor")
    } else {
        None
    })
}

fn unusable(path: &Path, why: &str) -> ExportError {
    ExportError::output(format!("cannot write to {}: {why}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use crate::export::ExportErrorKind;

    use super::*;

    fn refused(path: &Path) -> String {
        match destination(path) {
            Err(e) if e.kind() == ExportErrorKind::Output => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn files_symlinks_and_streams_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.csv");
        assert_eq!(destination(&file).unwrap(), Destination::File(file.clone()));
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let link = dir.path().join("link.csv");
        symlink("sub/real.csv", &link).unwrap();
        assert_eq!(
            destination(&link).unwrap(),
            Destination::File(sub.join("real.csv"))
        );
        let chain = dir.path().join("chain.csv");
        symlink(&link, &chain).unwrap();
        assert_eq!(
            destination(&chain).unwrap(),
            Destination::File(sub.join("real.csv"))
        );
        assert!(matches!(
            destination(Path::new("/dev/null")),
            Ok(Destination::Stream {
                kind: "a character device",
                ..
            })
        ));
    }

    #[test]
    fn directories_loops_and_reserved_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(refused(dir.path()).contains("is a directory"));
        let loop_a = dir.path().join("a");
        symlink("b", &loop_a).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        assert!(refused(&loop_a).contains("symbolic links"));
        for reserved in [
            "out.csv.checkpoint.json",
            ".out.csv.parts",
            ".out.csv.complete",
        ] {
            let message = refused(&dir.path().join(reserved));
            assert!(
                message.contains("kept for the files beside an export"),
                "{message}"
            );
        }
        assert!(refused(Path::new("/")).contains("names no file"));
        assert!(refused(Path::new("/dev/fd/987654")).contains("not an open file descriptor"));
    }
}
