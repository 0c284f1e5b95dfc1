//! Write-behind: the partial file's bytes go to the disk while the export runs, so that the
//! `fsync` that makes a checkpoint (or the finished file) durable has little left to write.
//!
//! Without it the kernel holds a fast export's output in memory until the end, and the final
//! `fsync` writes all of it while the user waits. Every few MiB written, a background thread
//! syncs a handle to the same file; the next sync on the export's own path waits for it and
//! reports its error. No error is dropped: on Linux a failed write-back is reported to one
//! `fsync` only, and that may be the background one.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Bytes written between background syncs by default.
pub(crate) const DEFAULT_SYNC_EVERY: u64 = 8 << 20;

/// Syncs a file in the background every `every` bytes written.
pub(crate) struct WriteBehind {
    file: Arc<File>,
    /// Bytes written since the last background sync started.
    unsynced: u64,
    every: u64,
    /// The sync in flight, if any.
    running: Option<JoinHandle<io::Result<()>>>,
    /// Background syncs started, for tests.
    started: u64,
}

impl WriteBehind {
    /// Syncs `file` (a handle to the file being written) every `every` bytes.
    pub(crate) fn new(file: File, every: u64) -> Self {
        WriteBehind {
            file: Arc::new(file),
            unsynced: 0,
            every: every.max(1),
            running: None,
            started: 0,
        }
    }

    /// Notes `n` more bytes written. Once `every` bytes have gone by, starts a background sync,
    /// unless one is still running; a finished one's error is returned here.
    pub(crate) fn wrote(&mut self, n: u64) -> io::Result<()> {
        self.unsynced = self.unsynced.saturating_add(n);
        if self.unsynced < self.every || self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        self.wait()?;
        self.unsynced = 0;
        let file = Arc::clone(&self.file);
        // A thread that cannot start leaves the bytes to the next sync on the export's path.
        if let Ok(handle) = thread::Builder::new()
            .name("xp-export-sync".into())
            .spawn(move || file.sync_data())
        {
            self.running = Some(handle);
            self.started += 1;
        }
        Ok(())
    }

    /// Waits for the background sync in flight, if any, and returns its error.
    pub(crate) fn wait(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(handle) => handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the background sync panicked"))),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    fn started(&self) -> u64 {
        self.started
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // Not left running past the export; its result no longer matters to anyone.
        let _ = self.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::io::Write;

    #[test]
    fn a_sync_starts_every_so_many_bytes_and_waiting_returns_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.partial");
        let mut file = File::create(&path).unwrap();
        let mut behind = WriteBehind::new(file.try_clone().unwrap(), 1000);
        file.write_all(&[b'x'; 999]).unwrap();
        behind.wrote(999).unwrap();
        assert_eq!(behind.started(), 0, "below the threshold nothing is synced");
        file.write_all(b"y").unwrap();
        behind.wrote(1).unwrap();
        assert_eq!(behind.started(), 1);
        behind.wait().unwrap();
        // Nothing runs now, so the next threshold starts another.
        behind.wrote(1000).unwrap();
        assert_eq!(behind.started(), 2);
        behind.wait().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 1000);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_failed_background_sync_is_reported_not_dropped() {
        // /dev/null cannot be synced (EINVAL): the error must reach the export's own path.
        let null = OpenOptions::new().write(true).open("/dev/null").unwrap();
        let mut behind = WriteBehind::new(null, 10);
        behind.wrote(10).unwrap();
        assert_eq!(behind.started(), 1);
        let err = behind.wait().expect_err("the background sync failed");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        // Reported once; nothing is left running.
        behind.wait().unwrap();
    }
}
