//! The part files of a Parquet export: `.NAME.parts/part-00000.parquet`, each a complete Parquet
//! file (one row group, or more when one page outgrows the bound), synced before a checkpoint
//! names it; at the end, joined into one file by copying their encoded column chunks.
//!
//! A Parquet file cannot be appended to once its footer is written, and has no footer until it
//! is complete, so a file written in one piece could not be resumed. Parts can: a resume keeps
//! the parts its checkpoint names (checked by size and CRC-32), deletes any written after it, and
//! goes on from the checkpoint's offset. Joining copies bytes, never decodes or re-encodes them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;

use super::super::checkpoint::PartFile;
use super::super::error::{ExportError, io_err};
use super::super::files::{crc_of, parts_path, remove_if_present, sync_dir};

/// The writer's options: `props`, and `descr` as the Parquet schema (the Arrow schema's, with
/// the JSON logical type on JSON columns).
fn writer_options(descr: SchemaDescriptor, props: &WriterProperties) -> ArrowWriterOptions {
    ArrowWriterOptions::new()
        .with_properties(props.clone())
        .with_parquet_schema(descr)
}

/// The name of part `index`.
pub(crate) fn part_name(index: usize) -> String {
    format!("part-{index:05}.parquet")
}

/// A file being written: its bytes counted and their CRC-32 kept, for the checkpoint and for
/// the record of a finished export.
pub(crate) struct Tracked {
    file: File,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl Tracked {
    pub(crate) fn new(file: File) -> Self {
        Tracked {
            file,
            crc: crc32fast::Hasher::new(),
            bytes: 0,
        }
    }

    /// Bytes written and their CRC-32.
    pub(crate) fn sums(&self) -> (u64, u32) {
        (self.bytes, self.crc.clone().finalize())
    }

    /// Makes the bytes durable.
    pub(crate) fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

impl Write for Tracked {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// The part files of one export: the directory and the parts complete in it.
pub(crate) struct Parts {
    dir: PathBuf,
    files: Vec<PartFile>,
}

impl Parts {
    /// A new, empty directory of parts (an earlier run's leftovers were cleared before).
    pub(crate) fn create(path: &Path) -> Result<Self, ExportError> {
        let dir = parts_path(path);
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        sync_dir(&dir);
        Ok(Parts {
            dir,
            files: Vec::new(),
        })
    }

    /// The parts a checkpoint names, each checked against its size and CRC-32; part files
    /// written after the checkpoint are deleted. Anything else in the directory is refused.
    pub(crate) fn resume(path: &Path, recorded: &[PartFile]) -> Result<Self, ExportError> {
        let dir = parts_path(path);
        let refuse = |why: String| {
            Err(ExportError::resume(format!(
                "cannot resume {}: {why}; add --restart to start over",
                path.display()
            )))
        };
        let meta = fs::symlink_metadata(&dir).map_err(io_err(&dir))?;
        if !meta.is_dir() {
            return refuse(format!("{} is not a directory", dir.display()));
        }
        for (i, part) in recorded.iter().enumerate() {
            let file = dir.join(part_name(i));
            match sums(&file) {
                Ok(found) if found == (part.bytes, part.crc32) => {}
                Ok(_) => return refuse(format!("{} has changed since", file.display())),
                Err(e) => return refuse(format!("{}: {e}", file.display())),
            }
        }
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            match part_index(&name) {
                Some(i) if i < recorded.len() => {}
                // Written after the checkpoint: its rows are fetched again.
                Some(_) => fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?,
                None => {
                    return refuse(format!(
                        "{} is not a part this program wrote",
                        entry.path().display()
                    ));
                }
            }
        }
        Ok(Parts {
            dir,
            files: recorded.to_vec(),
        })
    }

    /// The directory of parts.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parts complete so far, for the checkpoint.
    pub(crate) fn files(&self) -> &[PartFile] {
        &self.files
    }

    /// Writes `batch` as the next part, complete and synced; returns its row groups.
    pub(crate) fn write(
        &mut self,
        batch: &RecordBatch,
        descr: SchemaDescriptor,
        props: &WriterProperties,
    ) -> Result<u64, ExportError> {
        let path = self.dir.join(part_name(self.files.len()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let failed =
            |e: parquet::errors::ParquetError| ExportError::io(&path, "", io::Error::other(e));
        let options = writer_options(descr, props);
        let mut writer =
            ArrowWriter::try_new_with_options(Tracked::new(file), batch.schema(), options)
                .map_err(failed)?;
        writer.write(batch).map_err(failed)?;
        let meta = writer.finish().map_err(failed)?;
        let tracked = writer.inner();
        tracked.sync().map_err(io_err(&path))?;
        let (bytes, crc32) = tracked.sums();
        sync_dir(&self.dir);
        self.files.push(PartFile {
            rows: batch.num_rows() as u64,
            bytes,
            crc32,
        });
        Ok(meta.num_row_groups() as u64)
    }

    /// Joins the parts, in order, into `out` (with `schema` when there is none): their column
    /// chunks are copied as they are. Returns the row groups written. `out` is flushed, not
    /// synced.
    pub(crate) fn join(
        &self,
        out: &mut Tracked,
        schema: &SchemaRef,
        descr: SchemaDescriptor,
        props: &WriterProperties,
    ) -> Result<u64, ExportError> {
        let name = self.dir.display().to_string();
        let failed = |e: parquet::errors::ParquetError| {
            ExportError::io(Path::new(&name), "", io::Error::other(e))
        };
        if self.files.is_empty() {
            // No rows: a file with the schema and no row group.
            let options = writer_options(descr, props);
            let writer =
                ArrowWriter::try_new_with_options(out, schema.clone(), options).map_err(failed)?;
            writer.close().map_err(failed)?;
            return Ok(0);
        }
        let inputs = (0..self.files.len())
            .map(|i| open_part(&self.dir.join(part_name(i))))
            .collect::<Result<Vec<_>, _>>()?;
        let first = &inputs[0].1;
        let root = first.file_metadata().schema_descr().root_schema_ptr();
        let mut writer =
            SerializedFileWriter::new(out, root, Arc::new(props.clone())).map_err(failed)?;
        // The Arrow schema the parts carry, so that readers get the same Arrow types back.
        for kv in first
            .file_metadata()
            .key_value_metadata()
            .into_iter()
            .flatten()
        {
            writer.append_key_value_metadata(kv.clone());
        }
        let mut row_groups = 0;
        for (file, meta) in &inputs {
            for rg in meta.row_groups() {
                let mut rg_out = writer.next_row_group().map_err(failed)?;
                for column in rg.columns() {
                    let close = ColumnCloseResult {
                        bytes_written: column.compressed_size() as u64,
                        rows_written: rg.num_rows() as u64,
                        metadata: column.clone(),
                        bloom_filter: None,
                        column_index: None,
                        offset_index: None,
                    };
                    rg_out.append_column(file, close).map_err(failed)?;
                }
                rg_out.close().map_err(failed)?;
                row_groups += 1;
            }
        }
        writer.close().map_err(failed)?;
        Ok(row_groups)
    }

    /// Deletes the parts and their directory, once the joined file is in place.
    pub(crate) fn remove(self) -> Result<(), ExportError> {
        for i in 0..self.files.len() {
            let file = self.dir.join(part_name(i));
            remove_if_present(&file).map_err(io_err(&file))?;
        }
        fs::remove_dir(&self.dir).map_err(io_err(&self.dir))
    }
}

/// Removes what an earlier run left in the parts directory of `path`: only part files; a
/// directory holding anything else is refused, never emptied.
pub(crate) fn discard(path: &Path) -> Result<(), ExportError> {
    let dir = parts_path(path);
    let Ok(meta) = fs::symlink_metadata(&dir) else {
        return Ok(());
    };
    if !meta.is_dir() {
        return Err(ExportError::output(format!(
            "{} is in the way: it is not a directory of parts this program wrote",
            dir.display()
        )));
    }
    for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
        let entry = entry.map_err(io_err(&dir))?;
        if part_index(&entry.file_name().to_string_lossy()).is_none() {
            return Err(ExportError::output(format!(
                "{} is in the way: {} is not a part this program wrote",
                dir.display(),
                entry.path().display()
            )));
        }
        fs::remove_file(entry.path()).map_err(io_err(&entry.path()))?;
    }
    fs::remove_dir(&dir).map_err(io_err(&dir))
}

/// The index of a part file's name, `None` for any other name.
fn part_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    (digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// A part file and its footer.
fn open_part(path: &Path) -> Result<(File, ParquetMetaData), ExportError> {
    let file = File::open(path).map_err(io_err(path))?;
    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Skip)
        .parse_and_finish(&file)
        .map_err(|e| ExportError::io(path, "", io::Error::other(e)))?;
    Ok((file, meta))
}

/// A file's size and CRC-32.
fn sums(path: &Path) -> io::Result<(u64, u32)> {
    let (crc, bytes) = crc_of(File::open(path)?, u64::MAX)?;
    Ok((bytes, crc.finalize()))
}
