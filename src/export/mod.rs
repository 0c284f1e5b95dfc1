//! Bulk export: a query's rows to NDJSON, CSV or JSON, on stdout or in a file, with a
//! checkpoint after every page so an interrupted file export resumes where it stopped.
//!
//! A file export is written to `PATH.partial` and renamed to `PATH` only when complete, so a
//! reader never sees half a file under the final name. Beside the partial file,
//! `PATH.checkpoint.json` records the query (never the apptoken), the next offset, and how many
//! rows and bytes are safely written. A resumed export cuts the partial file back to those
//! bytes and continues from that offset: the finished file is byte-identical to one written
//! in a single run.
//!
//! A gzip output (`.gz`) is written as one gzip member per page, which every gzip reader
//! reads as one stream; that is what lets a resume append to it.

mod checkpoint;
mod encode;
mod error;
mod format;

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::StreamExt;

pub use checkpoint::{Checkpoint, Identity, checkpoint_path, partial_path};
pub use encode::{PUSH_ACTION_FIELDS, neutralise};
pub use error::ExportError;
pub use format::Format;

use crate::model::RawRow;
use crate::paginate::Summary;
use crate::query::Query;
use encode::Encoder;
use error::io_err;

/// Where an export writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output: no checkpoint, no resume.
    Stdout,
    /// A file, written through `PATH.partial` and a checkpoint.
    File(PathBuf),
}

/// What a finished export did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// What the stream did in this run.
    pub summary: Summary,
    /// Rows in the output, rows written by an earlier interrupted run included.
    pub rows: u64,
    /// Where this run resumed an earlier one, if it did.
    pub resumed_at: Option<u64>,
    /// The file written, for a file export.
    pub path: Option<PathBuf>,
    /// Fields the rows carried that the CSV has no column for.
    pub left_out_fields: Vec<String>,
    /// How long this run took.
    pub elapsed: Duration,
    /// `--resume` found the output already complete: nothing was done.
    pub already_complete: bool,
}

/// One export: a query, a format and a target.
///
/// # Examples
/// ```no_run
/// # async fn run(client: xp_export::Client) -> Result<(), xp_export::export::ExportError> {
/// use xp_export::export::{Export, Format, Target};
/// let query = client.push_actions().campaign(245624).failed();
/// let report = Export::new(query, Format::Csv, Target::File("failed.csv".into()))
///     .run(std::future::pending(), |_summary, _rows| {})
///     .await?;
/// eprintln!("{} rows", report.rows);
/// # Ok(()) }
/// ```
pub struct Export {
    query: Query<RawRow>,
    format: Format,
    target: Target,
    gzip: bool,
    resume: bool,
}

impl Export {
    /// An export of `query`'s rows (kept as the raw JSON the server sent) in `format` to
    /// `target`. A file target whose name ends in `.gz` is compressed.
    pub fn new<T>(query: Query<T>, format: Format, target: Target) -> Self {
        let query = query.with_rows::<RawRow>();
        let gzip = match &target {
            Target::File(p) => Format::from_path(p).1,
            Target::Stdout => false,
        };
        Export {
            query,
            format,
            target,
            gzip,
            resume: false,
        }
    }

    /// Continues an interrupted file export from its checkpoint, if there is one.
    #[must_use]
    pub fn resume(mut self, yes: bool) -> Self {
        self.resume = yes;
        self
    }

    fn identity(&self) -> Identity {
        Identity {
            model: self.query.model().to_string(),
            query: self.query.identity(),
            page_size: self.query.page_size,
            start_offset: self.query.start_offset,
            start_after: self.query.start_after,
            max_rows: self.query.max_rows,
            mode: self.query.mode,
            format: self.format,
            gzip: self.gzip,
        }
    }

    /// Runs the export until its end, an error, or `stop` completing (Ctrl-C, say): the page
    /// being fetched then is dropped and the last complete page stays saved. `on_page` is
    /// called after every page is written, with the stream's summary and the rows in the
    /// output so far.
    pub async fn run(
        self,
        stop: impl Future<Output = ()>,
        mut on_page: impl FnMut(&Summary, u64),
    ) -> Result<Report, ExportError> {
        let started = Instant::now();
        let identity = self.identity();
        let mut columns = match (&self.query.body.select, self.format) {
            (Some(select), Format::Csv) => Some(select.clone()),
            (None, Format::Csv) if identity.model == crate::model::push_devices::NAME => {
                Some(PUSH_ACTION_FIELDS.iter().map(|s| s.to_string()).collect())
            }
            _ => None,
        };
        let mut out = match &self.target {
            Target::Stdout => Output::stdout(),
            Target::File(path) => {
                let checkpoint = if self.resume {
                    match Checkpoint::load(&checkpoint_path(path))
                        .map_err(io_err(&checkpoint_path(path)))?
                    {
                        Some(cp) => Some(cp),
                        None if path.exists() && !partial_path(path).exists() => {
                            return Ok(Report {
                                summary: Summary::default(),
                                rows: 0,
                                resumed_at: None,
                                path: Some(path.clone()),
                                left_out_fields: Vec::new(),
                                elapsed: started.elapsed(),
                                already_complete: true,
                            });
                        }
                        None => None,
                    }
                } else {
                    None
                };
                if let Some(cp) = &checkpoint {
                    if cp.version != checkpoint::VERSION {
                        return Err(ExportError::Resume(format!(
                            "{} has version {}, this program writes version {}: start over without --resume",
                            checkpoint_path(path).display(),
                            cp.version,
                            checkpoint::VERSION
                        )));
                    }
                    if let Some(diff) = cp.identity.difference(&identity) {
                        return Err(ExportError::Resume(format!(
                            "cannot resume {}: it was started with a different export ({diff}); \
                             run the original command with --resume, or start over without --resume",
                            path.display()
                        )));
                    }
                    if cp.columns.is_some() {
                        columns = cp.columns.clone();
                    }
                }
                Output::file(path, self.gzip, checkpoint, identity.clone())?
            }
        };
        let resumed_at = out.checkpoint.as_ref().map(|c| c.next_offset);
        let (start, mut rows_total) = match &out.checkpoint {
            Some(cp) => (cp.next_offset, cp.rows),
            None => (self.query.start_offset, 0),
        };
        let mut encoder = match &out.checkpoint {
            Some(cp) => Encoder::resumed(self.format, columns, cp.rows),
            None => Encoder::new(self.format, columns),
        };
        let mut header_done = resumed_at.is_some();

        let mut query = self.query.start_offset(start);
        if let Some(key) = out.checkpoint.as_ref().and_then(|c| c.next_key) {
            query = query.start_after(key);
        }
        if let Some(max) = query.max_rows {
            // The limit counts rows in the output, earlier runs' included.
            query = query.max_rows(max.saturating_sub(rows_total));
        }
        let mut pages = query.raw_pages();
        let mut stop = std::pin::pin!(stop);
        let mut buf = Vec::with_capacity(1 << 20);
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => {
                    out.flush()?;
                    let s = pages.summary();
                    return Err(ExportError::Interrupted {
                        next_offset: s.next_offset,
                        next_key: s.next_key,
                        rows: rows_total,
                        partial: out.partial.clone(),
                    });
                }
                next = pages.next() => next,
            };
            let page = match next {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(source)) => {
                    out.flush()?;
                    out.abandon(rows_total)?;
                    return Err(ExportError::Api {
                        source,
                        rows: rows_total,
                        next_key: pages.summary().next_key,
                        partial: out.partial.clone().filter(|p| p.exists()),
                    });
                }
            };
            buf.clear();
            let encode_err = |message: String| ExportError::Encode {
                offset: page.offset(),
                message,
            };
            if !header_done {
                encoder.header(page.rows(), &mut buf).map_err(encode_err)?;
                header_done = true;
            }
            for row in page.rows() {
                encoder.row(row, &mut buf).map_err(encode_err)?;
            }
            out.write(&buf)?;
            rows_total += page.rows().len() as u64;
            let next_key = pages.summary().next_key;
            out.commit(page.next_offset(), next_key, rows_total, encoder.columns())?;
            on_page(&pages.summary(), rows_total);
        }
        buf.clear();
        if !header_done {
            encoder
                .header(&[], &mut buf)
                .map_err(|message| ExportError::Encode {
                    offset: start,
                    message,
                })?;
        }
        encoder.footer(&mut buf);
        out.write(&buf)?;
        if out.gzip && out.bytes == 0 {
            // Nothing to write: still a valid (empty) gzip stream.
            out.write_empty_member()?;
        }
        let path = out.finish()?;
        Ok(Report {
            summary: pages.summary(),
            rows: rows_total,
            resumed_at,
            path,
            left_out_fields: encoder.left_out(),
            elapsed: started.elapsed(),
            already_complete: false,
        })
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The bytes' destination: stdout, or a partial file with its checkpoint.
struct Output {
    writer: Box<dyn Write + Send>,
    gzip: bool,
    bytes: u64,
    /// For a file: the final path, the partial file and the checkpoint's state.
    path: Option<PathBuf>,
    partial: Option<PathBuf>,
    file: Option<File>,
    checkpoint: Option<Checkpoint>,
    identity: Option<Identity>,
}

impl Output {
    fn stdout() -> Self {
        Output {
            writer: Box::new(BufWriter::with_capacity(1 << 16, io::stdout())),
            gzip: false,
            bytes: 0,
            path: None,
            partial: None,
            file: None,
            checkpoint: None,
            identity: None,
        }
    }

    /// Opens `PATH.partial`: fresh, or cut back to the checkpoint's bytes to resume.
    fn file(
        path: &Path,
        gzip: bool,
        checkpoint: Option<Checkpoint>,
        identity: Identity,
    ) -> Result<Self, ExportError> {
        let partial = partial_path(path);
        let file = match &checkpoint {
            Some(cp) => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&partial)
                    .map_err(io_err(&partial))?;
                let len = file.metadata().map_err(io_err(&partial))?.len();
                if len < cp.bytes {
                    return Err(ExportError::Resume(format!(
                        "cannot resume {}: {} holds {len} bytes but the checkpoint counts {}; \
                         the partial file was damaged: start over without --resume",
                        path.display(),
                        partial.display(),
                        cp.bytes
                    )));
                }
                file.set_len(cp.bytes).map_err(io_err(&partial))?;
                file
            }
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
            path: Some(path.to_path_buf()),
            partial: Some(partial),
            file: Some(file),
            checkpoint,
            identity: Some(identity),
        })
    }

    fn error_path(&self) -> PathBuf {
        self.partial
            .clone()
            .unwrap_or_else(|| PathBuf::from("<stdout>"))
    }

    /// Writes one chunk (a gzip member of its own when compressing).
    fn write(&mut self, chunk: &[u8]) -> Result<(), ExportError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let path = self.error_path();
        if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(chunk.len() / 4),
                flate2::Compression::default(),
            );
            gz.write_all(chunk).map_err(io_err(&path))?;
            let member = gz.finish().map_err(io_err(&path))?;
            self.writer.write_all(&member).map_err(io_err(&path))?;
            self.bytes += member.len() as u64;
        } else {
            self.writer.write_all(chunk).map_err(io_err(&path))?;
            self.bytes += chunk.len() as u64;
        }
        Ok(())
    }

    fn write_empty_member(&mut self) -> Result<(), ExportError> {
        let path = self.error_path();
        let member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default())
            .finish()
            .map_err(io_err(&path))?;
        self.writer.write_all(&member).map_err(io_err(&path))?;
        self.bytes += member.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        let path = self.error_path();
        self.writer.flush().map_err(io_err(&path))
    }

    /// Makes a page durable against a crash of this process: the bytes reach the file, then
    /// the checkpoint says they are there.
    fn commit(
        &mut self,
        next_offset: u64,
        next_key: Option<u64>,
        rows: u64,
        columns: Option<&[String]>,
    ) -> Result<(), ExportError> {
        self.flush()?;
        let (Some(path), Some(identity)) = (&self.path, &self.identity) else {
            return Ok(());
        };
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            identity: identity.clone(),
            next_offset,
            next_key,
            rows,
            bytes: self.bytes,
            columns: columns.map(<[String]>::to_vec),
        };
        let cp_path = checkpoint_path(path);
        cp.save(&cp_path).map_err(io_err(&cp_path))?;
        self.checkpoint = Some(cp);
        Ok(())
    }

    /// After a failure: a file export that wrote nothing leaves nothing behind.
    fn abandon(&mut self, rows: u64) -> Result<(), ExportError> {
        if rows == 0
            && self.checkpoint.is_none()
            && let Some(partial) = &self.partial
        {
            fs::remove_file(partial).map_err(io_err(partial))?;
        }
        Ok(())
    }

    /// Completes the output: flushed, synced, renamed into place, checkpoint removed.
    fn finish(mut self) -> Result<Option<PathBuf>, ExportError> {
        self.flush()?;
        let (Some(path), Some(partial), Some(file)) = (&self.path, &self.partial, &self.file)
        else {
            return Ok(None);
        };
        file.sync_all().map_err(io_err(partial))?;
        fs::rename(partial, path).map_err(io_err(path))?;
        let cp = checkpoint_path(path);
        remove_if_present(&cp).map_err(io_err(&cp))?;
        Ok(Some(path.clone()))
    }
}
