//! The side files of builds before their names were hidden (`PATH.partial`,
//! `PATH.checkpoint.json`, `PATH.parts/`, and `PATH.lock` with its record of a finished export),
//! moved to today's hidden names when an export of `PATH` starts: an export interrupted before
//! an upgrade resumes after it with nothing lost, and a finished one is still "already
//! complete".
//!
//! An earlier build that is still writing the output holds `PATH.lock`: the export is refused,
//! as any second export of an output is, rather than moving files under it.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read};
use std::path::Path;

use super::error::{ExportError, io_err};
use super::files::{Legacy, checkpoint_path, partial_path, parts_path, sync_dir};
use super::lock::{Completed, OutputLock};
use super::sealed;

/// Moves what an earlier build left beside `path` to the hidden names; `lock` (today's) is
/// held. A file under both names is refused before anything moves: which one holds the rows
/// cannot be told. With `restart` (the export discards whatever an earlier run left), the
/// earlier build's files are removed instead, those under both names too.
pub(crate) fn migrate(path: &Path, lock: &OutputLock, restart: bool) -> Result<(), ExportError> {
    let old = Legacy::of(path);
    let held = take_old_lock(path, &old.lock)?;
    let moves = [
        (&old.checkpoint, checkpoint_path(path), false),
        (&old.partial, partial_path(path), false),
        (&old.parts, parts_path(path), true),
    ];
    // Only what the earlier build made: a directory of parts, regular files otherwise.
    let found: Vec<_> = moves
        .into_iter()
        .filter(|(from, _, dir)| {
            fs::symlink_metadata(from)
                .is_ok_and(|meta| meta.is_dir() == *dir && !meta.file_type().is_symlink())
        })
        .collect();
    if !restart && let Some((from, to, _)) = found.iter().find(|(_, to, _)| exists(to)) {
        return Err(ExportError::resume(format!(
            "{} holds both {} (left by an earlier version of xp-export) and {}: remove \
             the one that is not wanted, or add --restart to discard both and start over",
            path.display(),
            from.display(),
            to.display()
        )));
    }
    let mut staging = false;
    let mut moved = false;
    for (from, to, dir) in found {
        match (restart, dir) {
            (true, true) => fs::remove_dir_all(from),
            (true, false) => fs::remove_file(from),
            (false, _) => fs::rename(from, &to),
        }
        .map_err(io_err(from))?;
        staging |= from != &old.checkpoint;
        moved = true;
    }
    if let Some((file, record)) = held {
        // The record of a finished export: kept unless an export was under way after it (its
        // partial file or parts are there), whose checkpoint it would be mistaken for.
        if let Some(done) = record.filter(|_| !staging)
            && lock.completed()?.is_none()
        {
            lock.record(&done)?;
        }
        // Removed while locked, as today's lock file is.
        fs::remove_file(&old.lock).map_err(io_err(&old.lock))?;
        drop(file);
        moved = true;
    }
    if moved {
        sync_dir(path.parent().unwrap_or(Path::new("")));
    }
    Ok(())
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// The earlier build's `PATH.lock`, locked, with the record it holds; `None` when there is
/// none, or it holds something else than an earlier build writes (left alone).
#[allow(clippy::type_complexity)]
fn take_old_lock(
    path: &Path,
    old_lock: &Path,
) -> Result<Option<(File, Option<Completed>)>, ExportError> {
    let file = match OpenOptions::new().read(true).write(true).open(old_lock) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(old_lock)(e)),
    };
    if !file.metadata().map_err(io_err(old_lock))?.is_file() {
        return Ok(None);
    }
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(ExportError::busy(format!(
                "an earlier version of xp-export is writing {} (it holds {}): wait for it to \
                 finish, or stop it and run this command again",
                path.display(),
                old_lock.display()
            )));
        }
        Err(TryLockError::Error(e)) => return Err(io_err(old_lock)(e)),
    }
    let mut bytes = Vec::new();
    (&file).read_to_end(&mut bytes).map_err(io_err(old_lock))?;
    if bytes.is_empty() {
        return Ok(Some((file, None)));
    }
    match sealed::unseal::<Completed>(&bytes) {
        Ok(done) => Ok(Some((file, Some(done)))),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::checkpoint::{self, tests::identity};

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_interrupted_export_of_an_earlier_build_moves_to_the_hidden_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let old = Legacy::of(&path);
        fs::write(&old.partial, "rows").unwrap();
        fs::write(&old.checkpoint, "sealed").unwrap();
        fs::write(&old.lock, "").unwrap();
        let lock = OutputLock::acquire(&path).unwrap();
        migrate(&path, &lock, false).unwrap();
        assert_eq!(fs::read(partial_path(&path)).unwrap(), b"rows");
        assert_eq!(fs::read(checkpoint_path(&path)).unwrap(), b"sealed");
        drop(lock);
        assert_eq!(
            names(dir.path()),
            [".out.csv.checkpoint.json", ".out.csv.partial"]
        );
    }

    #[test]
    fn a_finished_export_of_an_earlier_build_keeps_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(&path, "done").unwrap();
        let done = Completed {
            version: checkpoint::VERSION,
            identity: identity(),
            bytes: 4,
            crc32: crc32fast::hash(b"done"),
            tally: None,
            etag: None,
        };
        fs::write(Legacy::of(&path).lock, sealed::seal(&done).unwrap()).unwrap();
        let lock = OutputLock::acquire(&path).unwrap();
        migrate(&path, &lock, false).unwrap();
        assert_eq!(lock.completed().unwrap(), Some(done));
        drop(lock);
        assert_eq!(names(dir.path()), [".out.csv.complete", "out.csv"]);
    }

    #[test]
    fn a_file_under_both_names_or_an_earlier_build_still_writing_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let old = Legacy::of(&path);
        fs::write(&old.partial, "old").unwrap();
        fs::write(partial_path(&path), "new").unwrap();
        let lock = OutputLock::acquire(&path).unwrap();
        let message = migrate(&path, &lock, false).unwrap_err().to_string();
        assert!(message.contains("holds both"), "{message}");
        assert_eq!(fs::read(&old.partial).unwrap(), b"old", "left as it was");

        let writing = File::create(&old.lock).unwrap();
        writing.lock().unwrap();
        let message = migrate(&path, &lock, false).unwrap_err().to_string();
        assert!(message.contains("earlier version"), "{message}");
    }
}
