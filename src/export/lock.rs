//! `PATH.lock`: the lock an export holds on its output for its whole life, and, once the export
//! is finished, the record that this program wrote the file at `PATH`.
//!
//! The lock is the operating system's advisory lock (`flock`) on `PATH.lock`, a file that is
//! never renamed or removed, so it stays the same file through the rename of the partial file
//! and across resumes. The lock dies with the process: a `kill -9` leaves no stale lock, only
//! the (unlocked) file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Identity};
use super::error::{ExportError, io_err};

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

/// Where the lock of `path` is kept.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

impl OutputLock {
    /// Takes the lock of the output `path`, or fails at once when another export holds it.
    pub(crate) fn acquire(path: &Path) -> Result<OutputLock, ExportError> {
        let lock = lock_path(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(|e| cannot_create(path, &lock, e))?;
        match file.try_lock() {
            Ok(()) => Ok(OutputLock { file, path: lock }),
            Err(TryLockError::WouldBlock) => Err(ExportError::Busy(format!(
                "another export is writing {} (it holds {}): wait for it to finish, or stop it \
                 and run this command again",
                path.display(),
                lock.display()
            ))),
            Err(TryLockError::Error(e)) => Err(io_err(&lock)(e)),
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
        Ok(checkpoint::unseal(&bytes).ok())
    }

    /// Records that the export finished with `done`, durably.
    pub(crate) fn record(&self, done: &Completed) -> Result<(), ExportError> {
        let sealed = checkpoint::seal(done).map_err(io_err(&self.path))?;
        let mut file = &self.file;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(&sealed))
            .and_then(|()| file.sync_data())
            .map_err(io_err(&self.path))
    }
}

/// `PATH.lock` could not be created: a missing or unwritable directory is the user's to fix.
fn cannot_create(path: &Path, lock: &Path, e: io::Error) -> ExportError {
    let dir = lock.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new(".")).display();
    let why = match e.kind() {
        io::ErrorKind::NotFound => format!("the directory {dir} does not exist"),
        io::ErrorKind::NotADirectory => format!("{dir} is not a directory"),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            format!("cannot create files in {dir}: {e}")
        }
        _ => return io_err(lock)(e),
    };
    ExportError::Output(format!("cannot write {}: {why}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::checkpoint::tests::identity;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let first = OutputLock::acquire(&path).unwrap();
        match OutputLock::acquire(&path) {
            Err(ExportError::Busy(message)) => {
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
            Err(ExportError::Output(message)) => {
                assert!(message.contains("does not exist"), "{message}")
            }
            _ => panic!("expected an output error"),
        }
    }
}
