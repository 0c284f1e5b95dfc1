//! The staging folder of a Parquet export to an object: `xp-export-stage-…` in this machine's
//! temporary directory (`TMPDIR`), locked by its run (`flock` on `.stage.lock` inside) for as
//! long as it lives. It is removed when the run ends, however it ends but a kill; a folder left
//! by a run that was killed is unlocked, and the next Parquet export to an object on this
//! machine removes it, so killed runs do not fill the disk with their parts.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::export::error::ExportError;

/// The start of a staging folder's name.
const PREFIX: &str = "xp-export-stage-";

/// The lock file inside a staging folder.
const LOCK: &str = ".stage.lock";

/// A folder this young is left alone even when unlocked: its run may not have locked it yet.
const YOUNG: Duration = Duration::from_secs(60);

/// A staging folder, locked; removed when dropped.
pub(crate) struct Stage {
    /// Held for its lock; dropped (closed) first, so that the folder can then be removed
    /// wherever an open file keeps its folder.
    _lock: File,
    dir: tempfile::TempDir,
}

impl Stage {
    /// A new staging folder in the temporary directory, locked, after removing the folders
    /// killed runs left there.
    pub(crate) fn new() -> Result<Stage, ExportError> {
        let tmp = std::env::temp_dir();
        remove_abandoned(&tmp);
        let io = |e| ExportError::io(&tmp, "creating a staging folder", e);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(&tmp)
            .map_err(io)?;
        let lock = File::create(dir.path().join(LOCK)).map_err(io)?;
        lock.try_lock().map_err(|e| io(e.into()))?;
        Ok(Stage { _lock: lock, dir })
    }

    /// The folder.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes each staging folder in `tmp` that no run holds (its lock is free) and that is not
/// young. What cannot be read or removed (another user's) is left.
fn remove_abandoned(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        if abandoned(&dir).unwrap_or(false) {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Whether `dir` was left by a run that is gone: its lock file is there, free, and old enough.
fn abandoned(dir: &Path) -> io::Result<bool> {
    let lock: PathBuf = dir.join(LOCK);
    let modified = fs::metadata(dir)?.modified()?;
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age < YOUNG {
        return Ok(false);
    }
    let file = File::open(&lock)?;
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aged(dir: &Path) {
        let old = SystemTime::now() - Duration::from_secs(3600);
        File::open(dir).unwrap().set_modified(old).unwrap();
    }

    #[test]
    fn a_folder_left_unlocked_goes_and_one_held_or_young_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let dir = tmp.path().join(format!("{PREFIX}{name}"));
            fs::create_dir(&dir).unwrap();
            fs::write(dir.join("part-00000.parquet"), b"rows").unwrap();
            (dir.clone(), File::create(dir.join(LOCK)).unwrap())
        };
        let (left, _) = make("left");
        let (held, lock) = make("held");
        lock.try_lock().unwrap();
        let (young, _) = make("young");
        let other = tmp.path().join("xp-export-other");
        fs::create_dir(&other).unwrap();
        aged(&left);
        aged(&held);
        aged(&other);
        remove_abandoned(tmp.path());
        assert!(!left.exists());
        assert!(held.join("part-00000.parquet").exists());
        assert!(young.exists());
        assert!(other.exists());
    }
}
