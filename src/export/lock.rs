//! `.NAME.lock`: the lock an export holds on its output for its whole life, and
//! `.NAME.complete`, the record, written while the lock is held, that this program finished the
//! file at `PATH`; and `.STATE.lock`, the lock an incremental run holds on its state from
//! `Incremental::open` until it is done, so that two runs never write the state over each other.
//!
//! Both are the operating system's advisory lock (`flock`) on the lock file, taken the same way. The lock dies
//! with the process: a `kill -9` leaves no stale lock, only the (unlocked) file, which the next
//! export takes. When the export ends, the file is removed while still locked, so nothing but
//! the output (and its record) is left beside it. Removing a locked file races with a second
//! export that opened it just before: that one would lock a file no longer at the path while a
//! third creates and locks a new one. So a lock counts only once the file locked is still the
//! one at the path (same device and inode); otherwise it is dropped and taken again.
//!
//! The record is a sealed file of its own, replaced atomically before the partial file is
//! renamed into place, and forgotten before a new export of the output saves its first
//! checkpoint: a record beside a checkpoint is always that checkpoint's export's, finished.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::Identity;
use super::error::{ExportError, io_err};
use super::files::{crc_of, lock_path, record_path, remove_if_present, state_lock_path, sync_dir};
use super::report::{ParquetReport, ReplacedValue};
use super::sealed;
use super::surrogates::Replaced;
use crate::paginate::Summary;
use crate::query::Mode;

/// What a finished export leaves in `.NAME.complete`: what it exported and the bytes it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Completed {
    /// The checkpoint format's version.
    pub version: u32,
    /// What was exported.
    pub identity: Identity,
    /// The length of the finished file.
    pub bytes: u64,
    /// CRC-32 of the finished file.
    pub crc32: u32,
    /// How the export ended, for a `--resume` that finds the output already complete to
    /// report; `None` in a record of an earlier build, which kept neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tally: Option<Tally>,
    /// An object output: the object's ETag, once the store made it (a record written before
    /// the upload completed has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// What a finished export's record says of its rows and its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tally {
    /// The rows in the finished output, every run's included.
    pub rows: u64,
    /// How its stream ended, in words ([`EndReason`](crate::paginate::EndReason)'s), e.g.
    /// `short page of 345 rows at offset 2000`; `None` when it did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The offset after its last row; `None` in a record of an earlier build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
    /// The `action_id` of its last row, where the stream read keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_key: Option<u64>,
    /// How it paged; `None` in a record of an earlier build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// What stood between it and a guarantee, as its summary had them: why completeness
    /// could not be checked, and page seams where rows shifted (found, and repaired).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_warning: Option<String>,
    /// Page seams where rows had shifted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shifts_detected: u64,
    /// Of those, the seams repaired.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shifts_repaired: u64,
    /// String values stored with U+FFFD in place of a lone UTF-16 surrogate, every run's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub values_replaced: u64,
    /// The first of them, by field and offset (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_values: Vec<ReplacedValue>,
    /// A Parquet output: what the file holds (row groups, size, compression, values kept in
    /// the catch-all column); `None` for another format, or in a record of an earlier build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parquet: Option<ParquetReport>,
}

impl Tally {
    /// What the record of an export that ended with `summary`, `rows` in its output and
    /// `replaced` values keeps; the Parquet report is added once the file is joined.
    pub(crate) fn of(summary: &Summary, rows: u64, replaced: &Replaced) -> Tally {
        Tally {
            rows,
            end: summary.end.as_ref().map(|e| e.to_string()),
            next_offset: Some(summary.next_offset),
            next_key: summary.next_key,
            mode: Some(summary.mode),
            order_warning: summary.order_warning.clone(),
            shifts_detected: summary.shifts_detected,
            shifts_repaired: summary.shifts_repaired,
            values_replaced: replaced.count(),
            replaced_values: replaced.named().to_vec(),
            parquet: None,
        }
    }

    /// The summary of a run that found this export already complete: it did nothing, and
    /// ended where this export did, with its warnings.
    pub(crate) fn summary(&self) -> Summary {
        Summary {
            next_offset: self.next_offset.unwrap_or_default(),
            next_key: self.next_key,
            mode: self.mode.unwrap_or_default(),
            order_warning: self.order_warning.clone(),
            shifts_detected: self.shifts_detected,
            shifts_repaired: self.shifts_repaired,
            ..Summary::default()
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A lock file, locked, held until dropped; dropping it removes the lock file.
#[derive(Debug)]
struct Held {
    file: File,
    path: PathBuf,
}

impl Held {
    /// Opens (creating if need be) and locks the lock file `lock`: `None` when another process
    /// (or another handle in this one) holds it.
    fn take(lock: &Path) -> io::Result<Option<Held>> {
        for _ in 0..TRIES {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(lock)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(e),
            }
            if same_file(&file, lock)? {
                return Ok(Some(Held {
                    file,
                    path: lock.to_path_buf(),
                }));
            }
            // Removed (and maybe made again) by the holder before: take the new one.
        }
        Ok(None)
    }
}

impl Drop for Held {
    /// Removes the lock file while it is still locked, if it is still the one at its path.
    fn drop(&mut self) {
        if let Ok(true) = same_file(&self.file, &self.path) {
            // A lock file that cannot be removed is harmless: the next holder takes it.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The lock on an output, held until dropped; dropping it removes the lock file.
pub(crate) struct OutputLock {
    /// Held for its drop, which lets go of the lock and removes the file.
    _held: Held,
    record: PathBuf,
}

/// How often a lock file that was removed while being locked is opened again before giving up:
/// each time, another export took and ended its export of the output in between.
const TRIES: usize = 64;

impl OutputLock {
    /// Takes the lock of the output `path`, or fails at once when another export holds it.
    pub(crate) fn acquire(path: &Path) -> Result<OutputLock, ExportError> {
        let lock = lock_path(path);
        match Held::take(&lock) {
            Ok(Some(held)) => Ok(OutputLock {
                _held: held,
                record: record_path(path),
            }),
            Ok(None) => Err(busy(path, &lock)),
            Err(e) => Err(cannot_create(path, &lock, e)),
        }
    }

    /// The record of the finished export, if the last export of this output finished and the
    /// record is intact.
    pub(crate) fn completed(&self) -> Result<Option<Completed>, ExportError> {
        match fs::read(&self.record) {
            Ok(bytes) => Ok(sealed::unseal(&bytes).ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&self.record)(e)),
        }
    }

    /// Forgets the record of an earlier finished export, durably: called before a new export
    /// of the output saves its first checkpoint, so that a record beside a checkpoint is
    /// always that checkpoint's export's, written when it finished.
    pub(crate) fn forget(&self) -> Result<(), ExportError> {
        remove_if_present(&self.record).map_err(io_err(&self.record))?;
        sync_dir(self.record.parent().unwrap_or(Path::new("")));
        Ok(())
    }

    /// Records that the export finished with `done`, durably.
    pub(crate) fn record(&self, done: &Completed) -> Result<(), ExportError> {
        sealed::replace(&self.record, done).map_err(io_err(&self.record))
    }
}

/// The lock on the state of incremental runs (`.STATE.lock` beside it), held until dropped: one
/// run per state at a time, so that two runs never write the state over each other.
#[derive(Debug)]
pub(crate) struct StateLock {
    _held: Held,
}

impl StateLock {
    /// Takes the lock of the state `path`, or fails at once, with an error of kind
    /// [`Busy`](super::ExportErrorKind::Busy), when another run holds it.
    pub(crate) fn acquire(path: &Path) -> Result<StateLock, ExportError> {
        let lock = state_lock_path(path);
        match Held::take(&lock) {
            Ok(Some(held)) => Ok(StateLock { _held: held }),
            Ok(None) => Err(ExportError::busy(format!(
                "another run holds the state {} (it holds {}): wait for it to finish, or stop \
                 it and run this command again",
                path.display(),
                lock.display()
            ))),
            Err(e) => Err(match cannot_create_why(&lock, &e) {
                Some(why) => {
                    ExportError::state(format!("cannot lock the state {}: {why}", path.display()))
                }
                None => io_err(&lock)(e),
            }),
        }
    }
}

/// Whether `file` is the file at `path` (not removed or replaced since it was opened).
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let open = file.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(at) => Ok((open.dev(), open.ino()) == (at.dev(), at.ino())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn busy(path: &Path, lock: &Path) -> ExportError {
    ExportError::busy(format!(
        "another export is writing {} (it holds {}): wait for it to finish, or stop it and run \
         this command again",
        path.display(),
        lock.display()
    ))
}

/// The lock file could not be created: a missing or unwritable directory is the user's to fix.
fn cannot_create(path: &Path, lock: &Path, e: io::Error) -> ExportError {
    match cannot_create_why(lock, &e) {
        Some(why) => ExportError::output(format!("cannot write {}: {why}", path.display())),
        None => io_err(lock)(e),
    }
}

/// Why the lock file `lock` could not be created, when it is the user's to fix: its directory
/// is missing, not a directory, or not writable.
fn cannot_create_why(lock: &Path, e: &io::Error) -> Option<String> {
    let dir = lock.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new(".")).display();
    Some(match e.kind() {
        io::ErrorKind::NotFound => format!("the directory {dir} does not exist"),
        io::ErrorKind::NotADirectory => format!("{dir} is not a directory"),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            format!("cannot create files in {dir}: {e}")
        }
        _ => return None,
    })
}

/// Whether the file at `path` is the one `done` records: same length, same CRC-32.
pub(crate) fn matches(path: &Path, done: &Completed) -> Result<bool, ExportError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_err(path)(e)),
    };
    if file.metadata().map_err(io_err(path))?.len() != done.bytes {
        return Ok(false);
    }
    let (crc, _) = crc_of(file, done.bytes).map_err(io_err(path))?;
    Ok(crc.finalize() == done.crc32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExportErrorKind;
    use crate::export::checkpoint::{self, tests::identity};
    use std::fs;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let first = OutputLock::acquire(&path).unwrap();
        match OutputLock::acquire(&path) {
            Err(e) if e.kind() == ExportErrorKind::Busy => {
                let message = e.to_string();
                assert!(message.contains("another export is writing"), "{message}")
            }
            _ => panic!("a second lock was granted"),
        }
        drop(first);
        assert!(!lock_path(&path).exists(), "removed when the export ends");
        let second = OutputLock::acquire(&path).unwrap();
        assert!(lock_path(&path).exists(), "there while held");
        drop(second);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_lock_file_removed_while_another_export_had_it_open_is_not_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let first = OutputLock::acquire(&path).unwrap();
        // A second export opens the lock file just before the first one ends and removes it...
        let late = File::open(lock_path(&path)).unwrap();
        drop(first);
        // ...then locks what it opened: a file no longer at the path, so not the lock.
        late.try_lock().unwrap();
        assert!(!same_file(&late, &lock_path(&path)).unwrap());
        // A third export makes a new lock file and holds it; no one else gets it meanwhile.
        let third = OutputLock::acquire(&path).unwrap();
        assert!(same_file(&third._held.file, &lock_path(&path)).unwrap());
        assert!(OutputLock::acquire(&path).is_err());
        drop(late);
        assert!(OutputLock::acquire(&path).is_err(), "still the third's");
    }

    #[test]
    fn the_completion_record_vouches_for_the_file_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let lock = OutputLock::acquire(&path).unwrap();
        assert_eq!(lock.completed().unwrap(), None);
        fs::write(&path, "a,b\n1,2\n").unwrap();
        let done = Completed {
            version: checkpoint::VERSION,
            identity: identity(),
            bytes: 8,
            crc32: crc32fast::hash(b"a,b\n1,2\n"),
            tally: None,
            etag: None,
        };
        lock.record(&done).unwrap();
        assert_eq!(lock.completed().unwrap(), Some(done.clone()));
        assert!(matches(&path, &done).unwrap());
        fs::write(&path, "a,b\n1,3\n").unwrap();
        assert!(!matches(&path, &done).unwrap());
        fs::remove_file(&path).unwrap();
        assert!(!matches(&path, &done).unwrap());
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.csv");
        match OutputLock::acquire(&path) {
            Err(e) if e.kind() == ExportErrorKind::Output => {
                let message = e.to_string();
                assert!(message.contains("does not exist"), "{message}")
            }
            _ => panic!("expected an output error"),
        }
    }
}
