//! `PATH.lock`: the lock an export holds on its output for its whole life, and, once the export
//! is finished, the record that this program wrote the file at `PATH`; and `.STATE.lock`, the
//! lock an incremental run holds on its state from `Incremental::open` until it is done.
//!
//! The lock is the operating system's advisory lock (`flock`) on the lock file, a file that is
//! never renamed or removed, so it stays the same file through the rename of the partial file
//! (or of the state) and across runs: removing it would let a run that opened it just before
//! the removal lock a file no other run sees. The lock dies with the process: a `kill -9`
//! leaves no stale lock, only the (unlocked) file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::Identity;
use super::error::{ExportError, io_err};
use super::files::{crc_of, lock_path, state_lock_path};
use super::sealed;

/// What a finished export leaves in `PATH.lock`: what it exported and the bytes it wrote.
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
}

/// The lock on an output, held until dropped.
pub(crate) struct OutputLock {
    file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Takes the lock of the output `path`, or fails at once when another export holds it.
    pub(crate) fn acquire(path: &Path) -> Result<OutputLock, ExportError> {
        let lock = lock_path(path);
        let file = try_lock(&lock).map_err(|e| cannot_create(path, &lock, e))?;
        match file {
            Some(file) => Ok(OutputLock { file, path: lock }),
            None => Err(ExportError::busy(format!(
                "another export is writing {} (it holds {}): wait for it to finish, or stop it \
                 and run this command again",
                path.display(),
                lock.display()
            ))),
        }
    }

    /// The record of the finished export, if the last export of this output finished and the
    /// record is intact.
    pub(crate) fn completed(&self) -> Result<Option<Completed>, ExportError> {
        let mut bytes = Vec::new();
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(io_err(&self.path))?;
        Ok(sealed::unseal(&bytes).ok())
    }

    /// Records that the export finished with `done`, durably.
    pub(crate) fn record(&self, done: &Completed) -> Result<(), ExportError> {
        let sealed = sealed::seal(done).map_err(io_err(&self.path))?;
        let mut file = &self.file;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&sealed))
            .and_then(|()| file.sync_data())
            .map_err(io_err(&self.path))
    }
}

/// The lock on the state of incremental runs (`.STATE.lock` beside it), held until dropped: one
/// run per state at a time, so that two runs never write the state over each other.
#[derive(Debug)]
pub(crate) struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock of the state `path`, or fails at once, with an error of kind
    /// [`Busy`](super::ExportErrorKind::Busy), when another run holds it.
    pub(crate) fn acquire(path: &Path) -> Result<StateLock, ExportError> {
        let lock = state_lock_path(path);
        let file = try_lock(&lock).map_err(|e| match cannot_create_why(&lock, &e) {
            Some(why) => {
                ExportError::state(format!("cannot lock the state {}: {why}", path.display()))
            }
            None => io_err(&lock)(e),
        })?;
        match file {
            Some(file) => Ok(StateLock { _file: file }),
            None => Err(ExportError::busy(format!(
                "another run holds the state {} (it holds {}): wait for it to finish, or stop \
                 it and run this command again",
                path.display(),
                lock.display()
            ))),
        }
    }
}

/// The lock file `lock`, opened (created if need be) and locked; `None` when another process
/// (or another handle in this one) holds its lock.
fn try_lock(lock: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// `PATH.lock` could not be created: a missing or unwritable directory is the user's to fix.
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
        assert!(OutputLock::acquire(&path).is_ok());
        assert!(lock_path(&path).exists());
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
