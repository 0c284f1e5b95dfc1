//! The output writer: stdout, or `PATH.partial` with a checkpoint after every page; gzip
//! members; the rename into place once complete.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::checkpoint::{self, Checkpoint, Identity, checkpoint_path, partial_path};
use super::error::{ExportError, io_err};
use super::resume;

/// The bytes' destination: stdout, or a partial file with its checkpoint.
pub(crate) struct Output {
    writer: Box<dyn Write + Send>,
    gzip: bool,
    /// Bytes in the output, an earlier run's included.
    bytes: u64,
    /// `None` for stdout.
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
}

impl Output {
    /// Standard output: no checkpoint, never compressed.
    pub(crate) fn stdout() -> Self {
        Output {
            writer: Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            gzip: false,
            bytes: 0,
            file: None,
        }
    }

    /// Opens `PATH.partial`: fresh, or cut back to the checkpoint's bytes to resume.
    pub(crate) fn file(
        path: &Path,
        gzip: bool,
        checkpoint: Option<Checkpoint>,
        identity: Identity,
    ) -> Result<Self, ExportError> {
        let partial = partial_path(path);
        let file = match &checkpoint {
            Some(cp) => resume::cut_partial(path, cp)?,
            None => {
                // A fresh start: a checkpoint left by an earlier export no longer applies.
                let cp = checkpoint_path(path);
                remove_if_present(&cp).map_err(io_err(&cp))?;
                File::create(&partial).map_err(io_err(&partial))?
            }
        };
        let mut writer_file = file.try_clone().map_err(io_err(&partial))?;
        io::Seek::seek(&mut writer_file, io::SeekFrom::End(0)).map_err(io_err(&partial))?;
        Ok(Output {
            writer: Box::new(BufWriter::with_capacity(1 << 16, writer_file)),
            gzip,
            bytes: checkpoint.as_ref().map_or(0, |c| c.bytes),
            file: Some(PartialFile {
                path: path.to_path_buf(),
                partial,
                file,
                identity,
                checkpoint,
            }),
        })
    }

    /// The partial file, for a file export.
    pub(crate) fn partial(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.partial.as_path())
    }

    fn error_path(&self) -> PathBuf {
        self.partial()
            .map_or_else(|| PathBuf::from("<stdout>"), Path::to_path_buf)
    }

    /// Writes one chunk (a gzip member of its own when compressing).
    pub(crate) fn write(&mut self, chunk: &[u8]) -> Result<(), ExportError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.gzip {
            self.write_member(chunk)
        } else {
            let path = self.error_path();
            self.writer.write_all(chunk).map_err(io_err(&path))?;
            self.bytes += chunk.len() as u64;
            Ok(())
        }
    }

    /// Writes `chunk` compressed as one gzip member.
    fn write_member(&mut self, chunk: &[u8]) -> Result<(), ExportError> {
        let path = self.error_path();
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(chunk.len() / 4),
            flate2::Compression::default(),
        );
        gz.write_all(chunk).map_err(io_err(&path))?;
        let member = gz.finish().map_err(io_err(&path))?;
        self.writer.write_all(&member).map_err(io_err(&path))?;
        self.bytes += member.len() as u64;
        Ok(())
    }

    /// Pushes the buffered bytes to the file or stdout.
    pub(crate) fn flush(&mut self) -> Result<(), ExportError> {
        let path = self.error_path();
        self.writer.flush().map_err(io_err(&path))
    }

    /// Makes a page durable against a crash of this process: the bytes reach the file, then
    /// the checkpoint says they are there.
    pub(crate) fn commit(
        &mut self,
        next_offset: u64,
        next_key: Option<u64>,
        rows: u64,
        columns: Option<&[String]>,
    ) -> Result<(), ExportError> {
        self.flush()?;
        let Some(f) = &mut self.file else {
            return Ok(());
        };
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            identity: f.identity.clone(),
            next_offset,
            next_key,
            rows,
            bytes: self.bytes,
            columns: columns.map(<[String]>::to_vec),
        };
        let cp_path = checkpoint_path(&f.path);
        cp.save(&cp_path).map_err(io_err(&cp_path))?;
        f.checkpoint = Some(cp);
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

    /// Completes the output: flushed, synced, renamed into place, checkpoint removed. A
    /// compressed output that got no bytes still becomes a valid (empty) gzip stream.
    pub(crate) fn finish(mut self) -> Result<Option<PathBuf>, ExportError> {
        if self.gzip && self.bytes == 0 {
            self.write_member(&[])?;
        }
        self.flush()?;
        let Some(f) = &self.file else {
            return Ok(None);
        };
        f.file.sync_all().map_err(io_err(&f.partial))?;
        fs::rename(&f.partial, &f.path).map_err(io_err(&f.path))?;
        let cp = checkpoint_path(&f.path);
        remove_if_present(&cp).map_err(io_err(&cp))?;
        Ok(Some(f.path.clone()))
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
