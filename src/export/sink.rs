//! Where an export's pages go: text formats as bytes into an [`Output`], Parquet as row groups
//! into part files. The export loop sees one interface for both. Also what Parquet refuses:
//! standard output, streams and gzip.

use std::path::{Path, PathBuf};

use super::Target;
use super::encode::Encoder;
use super::error::{ExportError, encode_err};
use super::format::Format;
use super::output::Output;
#[cfg(feature = "parquet")]
use super::parquet::ParquetOut;
use super::report::ParquetReport;
use super::surrogates::Replaced;
use crate::model::RawRow;

/// An export's destination and what it must remember between pages.
// One per export: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Sink {
    /// NDJSON, CSV or JSON.
    Text {
        encoder: Encoder,
        out: Output,
        buf: Vec<u8>,
    },
    /// Parquet.
    #[cfg(feature = "parquet")]
    Parquet(Box<ParquetOut>),
}

/// Where a page's rows stand in the export.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    /// The offset of the page's first row.
    pub offset: u64,
    /// Where the next page starts.
    pub next_offset: u64,
    /// Keyset mode: the last row's key.
    pub next_key: Option<u64>,
    /// Rows in the output with this page's.
    pub rows: u64,
}

impl Sink {
    /// A text format's sink.
    pub(crate) fn text(encoder: Encoder, out: Output) -> Self {
        Sink::Text {
            encoder,
            out,
            buf: Vec::with_capacity(1 << 20),
        }
    }

    /// Writes a page's rows and commits them.
    pub(crate) fn page(&mut self, rows: &[RawRow], at: At) -> Result<(), ExportError> {
        match self {
            Sink::Text { encoder, out, buf } => {
                buf.clear();
                encoder
                    .page(rows, at.offset, buf)
                    .map_err(encode_err(at.offset))?;
                out.write(buf)?;
                let replaced = encoder.replaced().count();
                out.commit(
                    at.next_offset,
                    at.next_key,
                    at.rows,
                    encoder.columns(),
                    replaced,
                )
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.page(rows, at.offset, at.next_offset, at.next_key, at.rows),
        }
    }

    /// Makes what was committed durable and saves the checkpoint (on a stop or a failure).
    pub(crate) fn save_checkpoint(&mut self) -> Result<(), ExportError> {
        match self {
            Sink::Text { out, .. } => out.save_checkpoint(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.save_checkpoint(),
        }
    }

    /// After a failure: a file export that wrote nothing leaves nothing behind.
    pub(crate) fn abandon(&mut self, rows: u64) -> Result<(), ExportError> {
        match self {
            Sink::Text { out, .. } => out.abandon(rows),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.abandon(rows),
        }
    }

    /// What a resume continues from: the partial file, or the directory of parts.
    pub(crate) fn partial(&self) -> Option<&Path> {
        match self {
            Sink::Text { out, .. } => out.partial(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => Some(p.partial()),
        }
    }

    /// Fields the rows carried that the output has no column for (CSV).
    pub(crate) fn left_out(&self) -> Vec<String> {
        match self {
            Sink::Text { encoder, .. } => encoder.left_out(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(_) => Vec::new(),
        }
    }

    /// The values stored with U+FFFD in place of a lone surrogate.
    pub(crate) fn replaced(&self) -> Replaced {
        match self {
            Sink::Text { encoder, .. } => encoder.replaced().clone(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.replaced().clone(),
        }
    }

    /// Ends the output and puts it in place: the file's path, and for Parquet what it holds.
    /// `start` is where this run started, for an error in the output's end.
    pub(crate) fn finish(
        self,
        start: u64,
    ) -> Result<(Option<PathBuf>, Option<ParquetReport>), ExportError> {
        match self {
            Sink::Text {
                mut encoder,
                mut out,
                mut buf,
            } => {
                buf.clear();
                encoder.end(&mut buf).map_err(encode_err(start))?;
                out.write(&buf)?;
                Ok((out.finish()?, None))
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.finish().map(|(path, report)| (Some(path), Some(report))),
        }
    }
}

/// A Parquet export needs a file of its own, uncompressed by gzip, and this build's
/// Parquet support.
pub(crate) fn check_parquet(
    format: Format,
    target: &Target,
    gzip: bool,
) -> Result<(), ExportError> {
    if format != Format::Parquet {
        return Ok(());
    }
    if !cfg!(feature = "parquet") {
        return Err(ExportError::output(
            "this build of xp-export has no Parquet support (it was built without the \
             parquet feature)",
        ));
    }
    if *target == Target::Stdout {
        return Err(ExportError::output(
            "Parquet cannot be written to standard output: a Parquet file ends in a footer \
             that points back into it, so it must be a regular file; give -o FILE.parquet",
        ));
    }
    if gzip {
        return Err(ExportError::output(
            "a Parquet file compresses its own columns (zstd by default): drop the .gz \
             from the output's name",
        ));
    }
    Ok(())
}
