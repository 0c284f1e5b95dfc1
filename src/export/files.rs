//! The files an export keeps beside its output, named in this one place, and the few file
//! operations every writer of them shares.
//!
//! For an output `PATH`:
//! - [`partial_path`] `PATH.partial`: the rows until the export is complete;
//! - [`checkpoint_path`] `PATH.checkpoint.json`: how far the partial file is safely written;
//! - [`lock_path`] `PATH.lock`: locked for the export's life, then the record of a finished one;
//! - `PATH.parts/`: a Parquet export's part files until they are joined.
//!
//! A sealed file (a checkpoint, an incremental state) is replaced through [`temp_path`]
//! `.FILE.tmp` beside it, hidden as every file a run keeps only while it works. An output may not be named like any of these: it would overwrite
//! another export's.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The endings of the files beside an output (and of a checkpoint's temporary file); an
/// output whose name ends in one of them is refused.
pub(crate) const RESERVED: [&str; 4] = [PARTIAL, CHECKPOINT, ".checkpoint.json.tmp", LOCK];

const PARTIAL: &str = ".partial";
const CHECKPOINT: &str = ".checkpoint.json";
const LOCK: &str = ".lock";
const PARTS: &str = ".parts";
const TEMP: &str = ".tmp";

/// Where the partial output of `path` is written until it is complete: `PATH.partial`.
///
/// ```
/// use std::path::Path;
/// use xp_export::export::partial_path;
/// assert_eq!(partial_path(Path::new("out/a.csv")), Path::new("out/a.csv.partial"));
/// ```
pub fn partial_path(path: &Path) -> PathBuf {
    sibling(path, PARTIAL)
}

/// Where the checkpoint of the output `path` is kept: `PATH.checkpoint.json`.
pub fn checkpoint_path(path: &Path) -> PathBuf {
    sibling(path, CHECKPOINT)
}

/// Where the lock of the output `path` is kept: `PATH.lock`, never renamed or removed.
pub fn lock_path(path: &Path) -> PathBuf {
    sibling(path, LOCK)
}

/// Where the lock of the incremental state `path` is kept: `.STATE.lock`, hidden, never
/// renamed or removed.
pub(crate) fn state_lock_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(LOCK);
    path.with_file_name(name)
}

/// Where a Parquet export of `path` keeps its part files until it is complete: `PATH.parts`.
pub fn parts_path(path: &Path) -> PathBuf {
    sibling(path, PARTS)
}

/// The temporary file a sealed file (a checkpoint, an incremental state) at `path` is written
/// to before it is renamed over it: `.FILE.tmp`, hidden, so that a reader globbing the folder
/// never takes a half-written one for the real file.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(TEMP);
    path.with_file_name(name)
}

/// `path` with `suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// The files an export to `output` writes, each with what it is called: the output, its
/// partial file, checkpoint (and the checkpoint's temporary file), lock and Parquet parts.
pub(crate) fn written_for(output: &Path) -> [(PathBuf, &'static str); 6] {
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
    fn every_side_file_sits_beside_the_output_and_its_ending_is_reserved() {
        let p = Path::new("/data/out/failed.csv");
        let sides = [
            (partial_path(p), "/data/out/failed.csv.partial"),
            (checkpoint_path(p), "/data/out/failed.csv.checkpoint.json"),
            (lock_path(p), "/data/out/failed.csv.lock"),
            (
                temp_path(&checkpoint_path(p)),
                "/data/out/.failed.csv.checkpoint.json.tmp",
            ),
        ];
        assert_eq!(parts_path(p), Path::new("/data/out/failed.csv.parts"));
        for (side, expected) in sides {
            assert_eq!(side, Path::new(expected));
            let name = side.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                RESERVED.iter().any(|r| name.ends_with(r)),
                "{name} is not reserved"
            );
        }
    }
}
