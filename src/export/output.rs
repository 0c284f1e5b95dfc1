//! The output writer: stdout or a stream, or the hidden `.NAME.partial` with its checkpoint (saved by
//! time) and its bytes synced behind the writes; gzip members; the rename into place once
//! complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::checkpoint::{self, Checkpoint, Identity};
use super::error::{ExportError, io_err};
use super::files::{checkpoint_path, partial_path, remove_if_present, sync_dir};
use super::lock::{Completed, OutputLock, Tally};
use super::resume;
use super::write_behind::{DEFAULT_SYNC_EVERY, WriteBehind};

/// How often a file export saves its checkpoint by default: at most once a second.
pub const DEFAULT_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The bytes' destination: stdout or a stream, or a partial file with its checkpoint.
pub(crate) struct Output {
    writer: Box<dyn Write + Send>,
    gzip: bool,
    /// Bytes in the output, an earlier run's included.
    bytes: u64,
    /// What errors name: the partial file, the stream, or `<stdout>`.
    name: PathBuf,
    /// `None` for stdout and streams.
    file: Option<PartialFile>,
}

/// A file export's state: the final path, the partial file and the checkpoint.
struct PartialFile {
    path: PathBuf,
    partial: PathBuf,
    file: File,
    identity: Identity,
    /// The last checkpoint saved (or resumed from), `None` until a page is committed.
    checkpoint: Option<Checkpoint>,
    /// CRC-32 of every byte in the partial file, an earlier run's included.
    crc: crc32fast::Hasher,
    /// Held until the export ends; no other export writes this output meanwhile.
    lock: OutputLock,
    /// The last page committed since the checkpoint was saved, to save at the next chance.
    pending: Option<Pending>,
    /// When the checkpoint was last saved; `None` before the first.
    saved_at: Option<Instant>,
    /// The longest a committed page waits for its checkpoint.
    every: Duration,
    /// Syncs the bytes in the background as they are written.
    behind: WriteBehind,
}

/// Where the output stands after the last page committed: what its checkpoint will say.
struct Pending {
    next_offset: u64,
    next_key: Option<u64>,
    rows: u64,
    columns: Option<Vec<String>>,
    values_replaced: u64,
}

impl Output {
    /// Standard output: no checkpoint, never compressed.
    pub(crate) fn stdout() -> Self {
        Output {
            writer: Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            gzip: false,
            bytes: 0,
            name: PathBuf::from("<stdout>"),
            file: None,
        }
    }

    /// A character device, FIFO or open file descriptor, written straight through (appending,
    /// never truncating or replacing it): no partial file, no checkpoint.
    pub(crate) fn stream(path: &Path, gzip: bool) -> Result<Self, ExportError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err(path))?;
        Ok(Output {
            writer: Box::new(BufWriter::with_capacity(1 << 16, file)),
            gzip,
            bytes: 0,
            name: path.to_path_buf(),
            file: None,
        })
    }

    /// Opens the partial file `.NAME.partial` (the output's lock held): fresh, or checked and cut back to the
    /// checkpoint's bytes to resume.
    pub(crate) fn file(
        path: &Path,
        gzip: bool,
        checkpoint: Option<Checkpoint>,
        identity: Identity,
        lock: OutputLock,
    ) -> Result<Self, ExportError> {
        let partial = partial_path(path);
        let (file, crc) = match &checkpoint {
            Some(cp) => resume::cut_partial(path, cp)?,
            None => {
                // `resume::check` has cleared the way; a partial file that appeared since is
                // not ours to overwrite.
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&partial)
                    .map_err(io_err(&partial))?;
                (file, crc32fast::Hasher::new())
            }
        };
        let mut writer_file = file.try_clone().map_err(io_err(&partial))?;
        let behind = WriteBehind::new(
            file.try_clone().map_err(io_err(&partial))?,
            DEFAULT_SYNC_EVERY,
        );
        io::Seek::seek(&mut writer_file, io::SeekFrom::End(0)).map_err(io_err(&partial))?;
        Ok(Output {
            writer: Box::new(BufWriter::with_capacity(1 << 16, writer_file)),
            gzip,
            bytes: checkpoint.as_ref().map_or(0, |c| c.bytes),
            name: partial.clone(),
            file: Some(PartialFile {
                path: path.to_path_buf(),
                partial,
                file,
                identity,
                checkpoint,
                crc,
                lock,
                pending: None,
                saved_at: None,
                every: DEFAULT_CHECKPOINT_EVERY,
                behind,
            }),
        })
    }

    /// Saves the checkpoint at most this often (and always at the end, on a stop and on a
    /// failure); zero saves it after every page.
    pub(crate) fn checkpoint_every(mut self, every: Duration) -> Self {
        if let Some(f) = &mut self.file {
            f.every = every;
        }
        self
    }

    /// The partial file, for a file export.
    pub(crate) fn partial(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.partial.as_path())
    }

    /// Rows in the output as of the last checkpoint saved (or resumed from): what a resume
    /// keeps. `None` for stdout and streams.
    pub(crate) fn saved_rows(&self) -> Option<u64> {
        let f = self.file.as_ref()?;
        Some(f.checkpoint.as_ref().map_or(0, |c| c.rows))
    }

    /// Sends the bytes to `writer` from now on (tests: a disk that fills up).
    #[cfg(test)]
    pub(crate) fn write_to(&mut self, writer: Box<dyn Write + Send>) {
        self.writer = writer;
    }

    fn error_path(&self) -> PathBuf {
        self.name.clone()
    }

    /// Writes `bytes` as they are, and adds them to the partial file's CRC-32.
    fn put(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.writer.write_all(bytes).map_err(io_err(&self.name))?;
        self.bytes += bytes.len() as u64;
        if let Some(f) = &mut self.file {
            f.crc.update(bytes);
            f.behind
                .wrote(bytes.len() as u64)
                .map_err(io_err(&f.partial))?;
        }
        Ok(())
    }

    /// Writes one chunk (a gzip member of its own when compressing).
    pub(crate) fn write(&mut self, chunk: &[u8]) -> Result<(), ExportError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.gzip {
            self.write_member(chunk)
        } else {
            self.put(chunk)
        }
    }

    /// Writes `chunk` compressed as one gzip member.
    fn write_member(&mut self, chunk: &[u8]) -> Result<(), ExportError> {
        let member = gzip_member(chunk).map_err(io_err(&self.name))?;
        self.put(&member)
    }

    /// Pushes the buffered bytes to the file or stdout.
    pub(crate) fn flush(&mut self) -> Result<(), ExportError> {
        let path = self.error_path();
        self.writer.flush().map_err(io_err(&path))
    }

    /// Commits a page: its rows are in the output. The checkpoint that makes them durable is
    /// saved now if the last one is [`checkpoint_every`](Self::checkpoint_every) old (or there
    /// is none yet), else at the next page that is due, at the end, or by
    /// [`save_checkpoint`](Self::save_checkpoint) on a stop. A crash in between loses nothing:
    /// a resume cuts the file back to the last checkpoint and fetches the pages after it again.
    pub(crate) fn commit(
        &mut self,
        next_offset: u64,
        next_key: Option<u64>,
        rows: u64,
        columns: Option<&[String]>,
        values_replaced: u64,
    ) -> Result<(), ExportError> {
        let Some(f) = &mut self.file else {
            return self.flush();
        };
        f.pending = Some(Pending {
            next_offset,
            next_key,
            rows,
            columns: columns.map(<[String]>::to_vec),
            values_replaced,
        });
        let due = f.saved_at.is_none_or(|at| at.elapsed() >= f.every);
        if due {
            self.save_checkpoint()?;
        }
        Ok(())
    }

    /// Makes the pages committed so far durable: the bytes reach the disk (fsync), then the
    /// checkpoint says they are there, with their CRC-32.
    pub(crate) fn save_checkpoint(&mut self) -> Result<(), ExportError> {
        self.flush()?;
        let Some(f) = &mut self.file else {
            return Ok(());
        };
        let Some(p) = f.pending.take() else {
            return Ok(());
        };
        f.behind.wait().map_err(io_err(&f.partial))?;
        f.file.sync_data().map_err(io_err(&f.partial))?;
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            identity: f.identity.clone(),
            next_offset: p.next_offset,
            next_key: p.next_key,
            rows: p.rows,
            bytes: self.bytes,
            committed_crc32: f.crc.clone().finalize(),
            columns: p.columns,
            parts: None,
            values_replaced: p.values_replaced,
            upload: None,
        };
        if f.checkpoint.is_none() {
            f.lock.forget()?;
        }
        let cp_path = checkpoint_path(&f.path);
        cp.save(&cp_path).map_err(io_err(&cp_path))?;
        f.checkpoint = Some(cp);
        f.saved_at = Some(Instant::now());
        Ok(())
    }

    /// After a failure: a file export that wrote nothing leaves nothing behind.
    pub(crate) fn abandon(&mut self, rows: u64) -> Result<(), ExportError> {
        if rows == 0
            && let Some(f) = &self.file
            && f.checkpoint.is_none()
        {
            fs::remove_file(&f.partial).map_err(io_err(&f.partial))?;
        }
        Ok(())
    }

    /// Completes the output: flushed and synced; recorded as finished (`.NAME.complete`);
    /// renamed into place; checkpoint removed. A compressed output that got no bytes still
    /// becomes a valid (empty) gzip stream.
    pub(crate) fn finish(mut self, tally: Tally) -> Result<Option<PathBuf>, ExportError> {
        if self.gzip && self.bytes == 0 {
            self.write_member(&[])?;
        }
        self.flush()?;
        let Some(f) = &mut self.file else {
            return Ok(None);
        };
        f.behind.wait().map_err(io_err(&f.partial))?;
        f.file.sync_all().map_err(io_err(&f.partial))?;
        f.lock.record(&Completed {
            version: checkpoint::VERSION,
            identity: f.identity.clone(),
            bytes: self.bytes,
            crc32: f.crc.clone().finalize(),
            tally: Some(tally),
            etag: None,
        })?;
        fs::rename(&f.partial, &f.path).map_err(io_err(&f.path))?;
        sync_dir(f.path.parent().unwrap_or(Path::new(".")));
        let cp = checkpoint_path(&f.path);
        remove_if_present(&cp).map_err(io_err(&cp))?;
        Ok(Some(f.path.clone()))
    }
}

/// `chunk` compressed as one gzip member: members one after another are one gzip stream to
/// every reader, which is what lets an export append to a compressed output.
pub(crate) fn gzip_member(chunk: &[u8]) -> io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(chunk.len() / 4),
        flate2::Compression::default(),
    );
    gz.write_all(chunk)?;
    gz.finish()
}
