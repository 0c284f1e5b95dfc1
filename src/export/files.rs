//! The files an export keeps beside its output, named in this one place, and the few file
//! operations every writer of them shares.
//!
//! Every one of them has a hidden name (a leading `.`), which Spark, pyarrow.dataset, Hive and
//! shell globs skip: a reader globbing `out/*.parquet` or `out/**/*.csv` while an export runs
//! sees only finished outputs, and once it has finished the directory holds the output and at
//! most its hidden record. For an output `PATH` (`DIR/NAME`):
//! - [`partial_path`] `DIR/.NAME.partial`: the rows until the export is complete;
//! - [`checkpoint_path`] `DIR/.NAME.checkpoint.json`: how far the partial file is safely
//!   written;
//! - [`lock_path`] `DIR/.NAME.lock`: locked for the export's life, removed when it ends;
//! - [`parts_path`] `DIR/.NAME.parts/`: a Parquet export's part files until they are joined;
//! - [`record_path`] `DIR/.NAME.complete`: the record of a finished export, which lets
//!   `--resume` call the output "already complete".
//!
//! A sealed file (a checkpoint, a record, an incremental state) is replaced through
//! [`temp_path`] `.FILE.tmp` beside it. An output may not be named like any of these: it would
//! overwrite another export's. Builds before the hidden names kept `PATH.partial`,
//! `PATH.checkpoint.json`, `PATH.parts/` and `PATH.lock` ([`Legacy`]); an export finds them and
//! moves them to the hidden names (see `legacy`), and those endings stay reserved.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

const PARTIAL: &str = ".partial";
const CHECKPOINT: &str = ".checkpoint.json";
const LOCK: &str = ".lock";
const PARTS: &str = ".parts";
const RECORD: &str = ".complete";
const TEMP: &str = ".tmp";

/// The endings an output's name may not have: those of the side files of builds before the
/// hidden names (any name), and, for a hidden name, those of today's side files.
const RESERVED_ANY: [&str; 4] = [PARTIAL, CHECKPOINT, ".checkpoint.json.tmp", LOCK];
const RESERVED_HIDDEN: [&str; 3] = [PARTS, RECORD, TEMP];

/// The ending that keeps `name` for the files beside an export, if it has one.
pub(crate) fn reserved(name: &str) -> Option<&'static str> {
    let hidden = name.starts_with('.');
    RESERVED_ANY
        .iter()
        .chain(RESERVED_HIDDEN.iter().filter(|_| hidden))
        .find(|r| name.ends_with(*r))
        .copied()
}

/// Where the partial output of `path` is written until it is complete: `.NAME.partial`.
///
/// ```
/// use std::path::Path;
/// use xp_export::export::partial_path;
/// assert_eq!(partial_path(Path::new("out/a.csv")), Path::new("out/.a.csv.partial"));
/// ```
pub fn partial_path(path: &Path) -> PathBuf {
    hidden(path, PARTIAL)
}

/// Where the checkpoint of the output `path` is kept: `.NAME.checkpoint.json`.
pub fn checkpoint_path(path: &Path) -> PathBuf {
    hidden(path, CHECKPOINT)
}

/// Where the lock of the output `path` is kept while an export writes it: `.NAME.lock`.
pub fn lock_path(path: &Path) -> PathBuf {
    hidden(path, LOCK)
}

/// Where the lock of the incremental state `path` is kept while a run holds it: `.STATE.lock`.
pub(crate) fn state_lock_path(path: &Path) -> PathBuf {
    hidden(path, LOCK)
}

/// Where a Parquet export of `path` keeps its part files until it is complete: `.NAME.parts`.
pub fn parts_path(path: &Path) -> PathBuf {
    hidden(path, PARTS)
}

/// Where the record of the export that finished `path` is kept: `.NAME.complete`.
pub fn record_path(path: &Path) -> PathBuf {
    hidden(path, RECORD)
}

/// The temporary file a sealed file (a checkpoint, a record, an incremental state) at `path`
/// is written to before it is renamed over it: `.FILE.tmp`, hidden (a hidden file's keeps its
/// one dot), so that a reader globbing the folder never takes a half-written one for the real
/// file.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default();
    if name.to_string_lossy().starts_with('.') {
        let mut name = name.to_os_string();
        name.push(TEMP);
        return path.with_file_name(name);
    }
    hidden(path, TEMP)
}

/// The side files of `path` as builds before the hidden names kept them, beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Legacy {
    pub partial: PathBuf,
    pub checkpoint: PathBuf,
    pub parts: PathBuf,
    pub lock: PathBuf,
}

impl Legacy {
    pub(crate) fn of(path: &Path) -> Legacy {
        let sibling = |suffix: &str| {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            path.with_file_name(name)
        };
        Legacy {
            partial: sibling(PARTIAL),
            checkpoint: sibling(CHECKPOINT),
            parts: sibling(PARTS),
            lock: sibling(LOCK),
        }
    }
}

/// `path`'s name hidden, with `suffix`: `DIR/.NAME{suffix}`.
fn hidden(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(suffix);
    path.with_file_name(name)
}

/// `path` with every symlink in its last component followed, dangling ones included: where a
/// write to `path` lands. An output and a sealed file (a state named by a symlink) are written
/// there, so the link stays a link.
pub(crate) fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                path = dir.join(target);
            }
            Ok(_) => return Ok(path),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(path);
            }
            Err(e) => return Err(e),
        }
        if path.file_name().is_none() || path.components().next_back() == Some(Component::ParentDir)
        {
            return Err(io::Error::other("its symlink names no file"));
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Why a file could not be created at `path` (a symlink's target, dangling ones included):
/// its directory, and what is wrong with it (`"does not exist"`, `"is not a directory"`);
/// `None` when the directory is there. A file written when an export ends (a state, a
/// summary) is checked before it starts, so that the export does not run to its end for
/// nothing.
pub fn missing_directory(path: &Path) -> Option<(PathBuf, String)> {
    let target = resolve(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let why = match fs::metadata(&dir) {
        Ok(m) if m.is_dir() => return None,
        Ok(_) => "is not a directory".to_string(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => "does not exist".to_string(),
        Err(e) => format!("cannot be read: {e}"),
    };
    Some((dir, why))
}

/// The files an export to `output` writes, each with what it is called: the output, its
/// partial file, checkpoint (and the checkpoint's temporary file), lock, Parquet parts and
/// record of a finished export.
pub(crate) fn written_for(output: &Path) -> [(PathBuf, &'static str); 7] {
    [
        (output.to_path_buf(), "the output"),
        (partial_path(output), "the output's partial file"),
        (checkpoint_path(output), "the output's checkpoint"),
        (
            temp_path(&checkpoint_path(output)),
            "the output's checkpoint's temporary file",
        ),
        (lock_path(output), "the output's lock file"),
        (parts_path(output), "the output's Parquet parts"),
        (
            record_path(output),
            "the output's record of a finished export",
        ),
    ]
}

/// Whether `a` and `b` name the same file: the same device and inode when both exist, else
/// the same path once the directory is made absolute and a symlink (also a dangling one:
/// where it would write) is followed.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(ma), Ok(mb)) = (fs::metadata(a), fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
    }
    match (absolute(a), absolute(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `path` with its symlinks followed and its directory made absolute; `None` when the
/// directory does not exist or the links loop.
fn absolute(path: &Path) -> Option<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&path) {
            Ok(target) => path = path.parent().unwrap_or(Path::new("")).join(target),
            Err(_) => {
                let name = path.file_name()?.to_os_string();
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d,
                    _ => Path::new("."),
                };
                return Some(dir.canonicalize().ok()?.join(name));
            }
        }
    }
    None
}

/// Makes a directory's entries durable (a rename or a new file in it), where the file system
/// allows; `""` is the current directory.
pub(crate) fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = fs::File::open(dir) {
        // Some file systems refuse to sync a directory; the entries stand either way.
        let _ = d.sync_all();
    }
}

/// Removes `path` if it is there.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// CRC-32 of the first `len` bytes of `file` (fewer if it is shorter), and how many it read.
pub(crate) fn crc_of(file: impl Read, len: u64) -> io::Result<(crc32fast::Hasher, u64)> {
    let mut crc = crc32fast::Hasher::new();
    let mut reader = file.take(len);
    let mut buf = vec![0; 1 << 16];
    let mut read = 0;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok((crc, read)),
            Ok(n) => {
                crc.update(&buf[..n]);
                read += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_side_file_is_hidden_beside_the_output_and_its_name_is_reserved() {
        let p = Path::new("/data/out/failed.csv");
        let sides = [
            (partial_path(p), "/data/out/.failed.csv.partial"),
            (checkpoint_path(p), "/data/out/.failed.csv.checkpoint.json"),
            (lock_path(p), "/data/out/.failed.csv.lock"),
            (parts_path(p), "/data/out/.failed.csv.parts"),
            (record_path(p), "/data/out/.failed.csv.complete"),
            (
                temp_path(&checkpoint_path(p)),
                "/data/out/.failed.csv.checkpoint.json.tmp",
            ),
            (temp_path(Path::new("/s/state.json")), "/s/.state.json.tmp"),
        ];
        for (side, expected) in sides {
            assert_eq!(side, Path::new(expected));
            let name = side.file_name().unwrap().to_string_lossy().into_owned();
            assert!(reserved(&name).is_some(), "{name} is not reserved");
        }
        let legacy = Legacy::of(p);
        for old in [legacy.partial, legacy.checkpoint, legacy.lock] {
            let name = old.file_name().unwrap().to_string_lossy().into_owned();
            assert!(reserved(&name).is_some(), "{name} is not reserved");
        }
        assert_eq!(legacy.parts, Path::new("/data/out/failed.csv.parts"));
        for free in [
            "failed.csv",
            "x.parts",
            "done.complete",
            ".hidden.csv",
            "a.tmp",
        ] {
            assert_eq!(reserved(free), None, "{free}");
        }
    }
}
