//! Parquet output: typed columns, written with the Apache Arrow crates.
//!
//! Rows are gathered page by page into a row group; when it is full (rows or bytes), it is
//! written as a part file, complete and synced, and only then does the checkpoint name it. On
//! a stop or a failure the rows gathered so far become a (smaller) part too, so nothing
//! fetched is lost. At the end the parts are joined into `.NAME.partial`, which is synced and
//! renamed to `PATH`.
//!
//! - columns: a page's rows into Arrow arrays: push-devices' typed schema, or one inferred
//!   from the rows and widened as they need; fields the schema does not know in one JSON
//!   text column.
//! - parts: the part files, checked on resume, joined at the end.
//! - batches: a query's pages as record batches in the same columns, for programs.

mod batches;
mod columns;
mod parts;

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::checkpoint::{self, Checkpoint, Identity};
use super::error::{ExportError, encode_err, io_err};
use super::files::{checkpoint_path, partial_path, remove_if_present, sync_dir};
use super::format::{ParquetCompression, ParquetOptions};
use super::lock::{Completed, OutputLock, Tally};
use super::report::ParquetReport;
use super::surrogates::Replaced;
use crate::model::RawRow;
use columns::{Columns, SavedSchema};
use parts::{Parts, Tracked};

pub use batches::RecordBatches;
pub(crate) use parts::discard;
#[cfg(feature = "object-store")]
pub(crate) use parts::part_name;

/// A Parquet export's output: the row group being gathered, the parts, the checkpoint.
pub(crate) struct ParquetOut {
    path: PathBuf,
    identity: Identity,
    lock: OutputLock,
    columns: Columns,
    parts: Parts,
    options: ParquetOptions,
    props: WriterProperties,
    /// Where the export stands after the last page gathered.
    pending: Option<Pending>,
    /// The offset of the first row gathered in the row group, for errors.
    group_offset: Option<u64>,
    /// Whether a checkpoint has been saved (or resumed from).
    checkpointed: bool,
    /// Rows in the output as of the last checkpoint saved (or resumed from).
    saved_rows: u64,
    row_groups: u64,
    /// The values stored with U+FFFD in place of a lone surrogate.
    replaced: Replaced,
    /// The last checkpoint saved (or resumed from).
    last: Option<Checkpoint>,
}

/// Where the export stands after a page: what the next checkpoint will say.
#[derive(Debug, Clone, Copy)]
struct Pending {
    next_offset: u64,
    next_key: Option<u64>,
    rows: u64,
}

impl ParquetOut {
    /// Opens the parts of `path` (its lock held): fresh, or those the checkpoint names.
    pub(crate) fn open(
        path: &Path,
        identity: Identity,
        lock: OutputLock,
        checkpoint: Option<&Checkpoint>,
        select: Option<&[String]>,
        options: ParquetOptions,
    ) -> Result<Self, ExportError> {
        let model = identity.model.clone();
        let saved = checkpoint.and_then(|c| c.parts.as_ref());
        let (parts, columns) = match saved {
            Some(saved) => {
                let schema: Option<SavedSchema> = serde_json::from_value(saved.schema.clone())
                    .map_err(|e| {
                        ExportError::resume(format!(
                            "cannot resume {}: its checkpoint's schema: {e}; add --restart to \
                             start over",
                            path.display()
                        ))
                    })?;
                let columns = match schema {
                    Some(schema) => Columns::resumed(&model, select, schema),
                    None => Columns::new(&model, select),
                };
                (Parts::resume(path, &saved.files)?, columns)
            }
            None => (Parts::create(path)?, Columns::new(&model, select)),
        };
        // A join the last run did not finish is done again from the parts.
        let partial = partial_path(path);
        remove_if_present(&partial).map_err(io_err(&partial))?;
        let row_groups = parts.files().len() as u64;
        Ok(ParquetOut {
            path: path.to_path_buf(),
            identity,
            lock,
            columns,
            parts,
            props: properties(&options)?,
            options,
            pending: None,
            group_offset: None,
            checkpointed: checkpoint.is_some(),
            saved_rows: checkpoint.map_or(0, |c| c.rows),
            row_groups,
            replaced: Replaced::resumed(checkpoint.map_or(0, |c| c.values_replaced)),
            last: checkpoint.cloned(),
        })
    }

    /// Gathers a page's rows; writes the row group as a part, and saves the checkpoint, once
    /// it is full.
    pub(crate) fn page(
        &mut self,
        rows: &[RawRow],
        offset: u64,
        next_offset: u64,
        next_key: Option<u64>,
        total_rows: u64,
    ) -> Result<(), ExportError> {
        let repaired = self.replaced.repair_page(rows, offset);
        let rows = repaired.as_deref().unwrap_or(rows);
        self.columns
            .push(rows, offset)
            .map_err(encode_err(offset))?;
        if !rows.is_empty() {
            self.group_offset.get_or_insert(offset);
        }
        self.pending = Some(Pending {
            next_offset,
            next_key,
            rows: total_rows,
        });
        let full = self.columns.buffered_rows() >= self.options.row_group_rows.max(1)
            || self.columns.buffered_bytes() >= self.options.row_group_bytes.max(1);
        if full {
            self.save_checkpoint()?;
        }
        Ok(())
    }

    /// Writes the rows gathered so far as a part, then the checkpoint that names it.
    pub(crate) fn save_checkpoint(&mut self) -> Result<(), ExportError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        if self.columns.buffered_rows() > 0 {
            let offset = self.group_offset.take().unwrap_or(p.next_offset);
            let batch = self.columns.take_batch().map_err(|e| {
                ExportError::encode(
                    offset,
                    format!("the row group starting there cannot be written: {e}"),
                )
            })?;
            let descr = self.columns.parquet_schema().map_err(|e| {
                ExportError::encode(offset, format!("the Parquet schema of the row group: {e}"))
            })?;
            self.row_groups += self.parts.write(&batch, descr, &self.props)?;
        }
        let schema = serde_json::to_value(self.columns.fixed())
            .map_err(|e| ExportError::io(&self.path, "", std::io::Error::other(e)))?;
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            identity: self.identity.clone(),
            next_offset: p.next_offset,
            next_key: p.next_key,
            rows: p.rows,
            bytes: 0,
            committed_crc32: 0,
            columns: None,
            parts: Some(checkpoint::Parts {
                files: self.parts.files().to_vec(),
                schema,
            }),
            values_replaced: self.replaced.count(),
            upload: None,
        };
        if !self.checkpointed {
            self.lock.forget()?;
        }
        let cp_path = checkpoint_path(&self.path);
        cp.save(&cp_path).map_err(io_err(&cp_path))?;
        self.checkpointed = true;
        self.saved_rows = p.rows;
        self.last = Some(cp);
        Ok(())
    }

    /// The last checkpoint saved (or resumed from): what an object output copies to the
    /// bucket, with the part files it names.
    #[cfg(feature = "object-store")]
    pub(crate) fn last_checkpoint(&self) -> Option<&Checkpoint> {
        self.last.as_ref()
    }

    /// Rows in the output as of the last checkpoint: what a resume keeps.
    pub(crate) fn saved_rows(&self) -> u64 {
        self.saved_rows
    }

    /// After a failure: an export that wrote nothing leaves nothing behind.
    pub(crate) fn abandon(&mut self, rows: u64) -> Result<(), ExportError> {
        if rows == 0 && !self.checkpointed && self.parts.files().is_empty() {
            discard(&self.path)?;
        }
        Ok(())
    }

    /// The values stored with U+FFFD in place of a lone surrogate.
    pub(crate) fn replaced(&self) -> &Replaced {
        &self.replaced
    }

    /// The directory of parts, which a resume continues from.
    pub(crate) fn partial(&self) -> &Path {
        self.parts.dir()
    }

    /// Completes the output: the last rows written as a part, the parts joined into
    /// `.NAME.partial` and synced, recorded as finished (`.NAME.complete`), renamed into place;
    /// parts and checkpoint removed.
    pub(crate) fn finish(
        mut self,
        mut tally: Tally,
    ) -> Result<(PathBuf, ParquetReport), ExportError> {
        self.save_checkpoint()?;
        let partial = partial_path(&self.path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&partial)
            .map_err(io_err(&partial))?;
        let mut out = Tracked::new(file);
        let schema = self.columns.schema();
        let descr = self.columns.parquet_schema().map_err(ExportError::output)?;
        let row_groups = self.parts.join(&mut out, &schema, descr, &self.props)?;
        out.sync().map_err(io_err(&partial))?;
        let (bytes, crc32) = out.sums();
        let report = ParquetReport {
            row_groups,
            bytes,
            compression: self.options.compression.to_string(),
            kept_in_extra: self.columns.kept().to_vec(),
            extra_column: self.columns.extra_column().map(String::from),
        };
        tally.parquet = Some(report.clone());
        self.lock.record(&Completed {
            version: checkpoint::VERSION,
            identity: self.identity.clone(),
            bytes,
            crc32,
            tally: Some(tally),
            etag: None,
        })?;
        fs::rename(&partial, &self.path).map_err(io_err(&self.path))?;
        sync_dir(self.path.parent().unwrap_or(Path::new(".")));
        // Parts first: a checkpoint without its parts beside a finished output reads as
        // complete on --resume.
        self.parts.remove()?;
        let cp = checkpoint_path(&self.path);
        remove_if_present(&cp).map_err(io_err(&cp))?;
        Ok((self.path, report))
    }
}

/// The writer's properties: compression, and this program's name in the footer.
fn properties(options: &ParquetOptions) -> Result<WriterProperties, ExportError> {
    let compression = match options.compression {
        ParquetCompression::Zstd { level } => {
            let level =
                ZstdLevel::try_new(level).map_err(|e| ExportError::output(e.to_string()))?;
            Compression::ZSTD(level)
        }
        ParquetCompression::Uncompressed => Compression::UNCOMPRESSED,
    };
    Ok(WriterProperties::builder()
        .set_compression(compression)
        .set_created_by(format!("xp-export {}", env!("CARGO_PKG_VERSION")))
        // One row group per part: the rows gathered up to the first page boundary past the bound.
        .set_max_row_group_row_count(None)
        .build())
}
