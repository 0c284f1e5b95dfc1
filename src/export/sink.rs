//! Where an export's pages go: text formats as bytes into an [`Output`], Parquet as row groups
//! into part files. The export loop sees one interface for both. Also what Parquet refuses:
//! standard output, streams and gzip.

use std::path::{Path, PathBuf};

use super::Target;
use super::encode::Encoder;
use super::error::{ExportError, encode_err};
use super::format::Format;
use super::lock::Tally;
#[cfg(feature = "object-store")]
use super::object::{ObjectOut, ObjectReport};
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
    /// Parquet to an object in a bucket: written here, its parts kept in the bucket.
    #[cfg(all(feature = "object-store", feature = "parquet"))]
    ObjectParquet {
        out: Box<ParquetOut>,
        bucket: Box<super::object::ObjectParquet>,
    },
    /// NDJSON, CSV or JSON to an object in a bucket.
    #[cfg(feature = "object-store")]
    Object {
        encoder: Encoder,
        out: Box<ObjectOut>,
        buf: Vec<u8>,
    },
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

    /// Writes a page's rows and commits them. A write that fails (a full disk, say) names the
    /// page's offset and, for a file export, the partial file and the rows its last checkpoint
    /// keeps for a resume.
    pub(crate) fn page(&mut self, rows: &[RawRow], at: At) -> Result<(), ExportError> {
        self.write_page(rows, at)
            .map_err(|e| e.writing_page(at.offset, self.saved_rows(), self.partial()))
    }

    fn write_page(&mut self, rows: &[RawRow], at: At) -> Result<(), ExportError> {
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
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { out, .. } => {
                out.page(rows, at.offset, at.next_offset, at.next_key, at.rows)
            }
            #[cfg(feature = "object-store")]
            Sink::Object { encoder, out, buf } => {
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
                );
                Ok(())
            }
        }
    }

    /// After a page: an object output hands a full part to its uploader, waiting while the
    /// one before is on the wire.
    pub(crate) async fn settle(&mut self) -> Result<(), ExportError> {
        match self {
            #[cfg(feature = "object-store")]
            Sink::Object { out, .. } => out.settle().await,
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { out, bucket } => bucket.settle(out).await,
            _ => Ok(()),
        }
    }

    /// Makes what was committed durable and saves the checkpoint (on a stop or a failure).
    /// An object output saves what its uploaded parts hold.
    pub(crate) async fn save_checkpoint(&mut self) -> Result<(), ExportError> {
        match self {
            Sink::Text { out, .. } => out.save_checkpoint(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.save_checkpoint(),
            #[cfg(feature = "object-store")]
            Sink::Object { out, .. } => out.save_checkpoint().await,
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { out, bucket } => {
                out.save_checkpoint()?;
                bucket.settle(out).await
            }
        }
    }

    /// After a failure: a file export that wrote nothing leaves nothing behind.
    pub(crate) async fn abandon(&mut self, rows: u64) -> Result<(), ExportError> {
        match self {
            Sink::Text { out, .. } => out.abandon(rows),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.abandon(rows),
            #[cfg(feature = "object-store")]
            Sink::Object { out, .. } => out.abandon().await,
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { bucket, .. } => bucket.abandon().await,
        }
    }

    /// An object output: what its checkpoint keeps, in the error of a stop or failure (the
    /// rows, and the checkpoint's URL). The next offset and key it continues from are
    /// returned too.
    pub(crate) fn kept_in_bucket(&self) -> Option<(u64, u64, Option<u64>, String)> {
        match self {
            #[cfg(feature = "object-store")]
            Sink::Object { out, .. } => {
                let (cp, url) = out.saved();
                Some((cp.rows, cp.next_offset, cp.next_key, url))
            }
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { bucket, .. } => {
                let (cp, url) = bucket.saved();
                Some((cp.rows, cp.next_offset, cp.next_key, url))
            }
            _ => None,
        }
    }

    /// Rows in the output as of the last checkpoint, for a file export: what a resume keeps.
    pub(crate) fn saved_rows(&self) -> Option<u64> {
        match self {
            Sink::Text { out, .. } => out.saved_rows(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => Some(p.saved_rows()),
            #[cfg(feature = "object-store")]
            Sink::Object { .. } => None,
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { .. } => None,
        }
    }

    /// What a resume continues from: the partial file, or the directory of parts.
    pub(crate) fn partial(&self) -> Option<&Path> {
        match self {
            Sink::Text { out, .. } => out.partial(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => Some(p.partial()),
            #[cfg(feature = "object-store")]
            Sink::Object { .. } => None,
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { .. } => None,
        }
    }

    /// Fields the rows carried that the output has no column for (CSV).
    pub(crate) fn left_out(&self) -> Vec<String> {
        match self {
            Sink::Text { encoder, .. } => encoder.left_out(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(_) => Vec::new(),
            #[cfg(feature = "object-store")]
            Sink::Object { encoder, .. } => encoder.left_out(),
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { .. } => Vec::new(),
        }
    }

    /// The values stored with U+FFFD in place of a lone surrogate.
    pub(crate) fn replaced(&self) -> Replaced {
        match self {
            Sink::Text { encoder, .. } => encoder.replaced().clone(),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.replaced().clone(),
            #[cfg(feature = "object-store")]
            Sink::Object { encoder, .. } => encoder.replaced().clone(),
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { out, .. } => out.replaced().clone(),
        }
    }

    /// Ends the output and puts it in place: the file's path, and for Parquet what it holds;
    /// for an object, the object. `start` is where this run started, for an error in the
    /// output's end.
    pub(crate) async fn finish(self, start: u64, tally: Tally) -> Result<Made, ExportError> {
        match self {
            Sink::Text {
                mut encoder,
                mut out,
                mut buf,
            } => {
                buf.clear();
                encoder.end(&mut buf).map_err(encode_err(start))?;
                out.write(&buf)?;
                Ok(Made {
                    path: out.finish(tally)?,
                    ..Made::default()
                })
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.finish(tally).map(|(path, report)| Made {
                path: Some(path),
                parquet: Some(report),
                ..Made::default()
            }),
            #[cfg(feature = "object-store")]
            Sink::Object {
                mut encoder,
                mut out,
                mut buf,
            } => {
                buf.clear();
                encoder.end(&mut buf).map_err(encode_err(start))?;
                out.write(&buf)?;
                Ok(Made {
                    object: Some(out.finish(tally).await?),
                    ..Made::default()
                })
            }
            #[cfg(all(feature = "object-store", feature = "parquet"))]
            Sink::ObjectParquet { out, bucket } => {
                let (object, parquet) = bucket.finish(*out, tally).await?;
                Ok(Made {
                    object: Some(object),
                    parquet: Some(parquet),
                    ..Made::default()
                })
            }
        }
    }
}

/// What a finished output made: a file, what a Parquet file holds, an object.
#[derive(Default)]
pub(crate) struct Made {
    pub path: Option<PathBuf>,
    pub parquet: Option<ParquetReport>,
    #[cfg(feature = "object-store")]
    pub object: Option<ObjectReport>,
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

#[cfg(test)]
mod tests {
    use std::io;
    use std::time::Duration;

    use super::*;
    use crate::export::checkpoint::tests::identity;
    use crate::export::lock::OutputLock;

    /// A disk that is full: every write fails with ENOSPC.
    struct Full;

    impl io::Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::StorageFull))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn page(first: u64) -> Vec<RawRow> {
        (first..first + 3)
            .map(|id| RawRow::new(&format!(r#"{{"action_id":{id}}}"#)))
            .collect()
    }

    fn at(offset: u64) -> At {
        At {
            offset,
            next_offset: offset + 3,
            next_key: None,
            rows: offset + 3,
        }
    }

    #[test]
    fn a_full_disk_names_the_offset_the_partial_file_and_the_rows_a_resume_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let lock = OutputLock::acquire(&path).unwrap();
        let out = Output::file(&path, false, None, identity(), lock)
            .unwrap()
            .checkpoint_every(Duration::ZERO);
        let mut sink = Sink::text(
            Encoder::new(
                Format::Ndjson,
                None,
                crate::export::encode::FormulaGuard::Off,
            ),
            out,
        );
        sink.page(&page(0), at(0)).unwrap();
        sink.page(&page(3), at(3)).unwrap();
        let Sink::Text { out, .. } = &mut sink else {
            unreachable!()
        };
        out.write_to(Box::new(Full));
        let e = sink.page(&page(6), at(6)).unwrap_err();
        assert_eq!(e.kind(), super::super::ExportErrorKind::Io, "{e}");
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::StorageFull)
        );
        assert_eq!(e.offset(), Some(6));
        assert_eq!(e.rows(), Some(6), "the rows of the last checkpoint");
        let partial = crate::export::partial_path(&path);
        assert_eq!(e.partial(), Some(partial.as_path()));
        assert!(e.is_resumable());
        let said = crate::error::chain(&e);
        assert!(
            said.starts_with(&format!(
                "writing the page at offset 6: {}: ",
                partial.display()
            )),
            "{said}"
        );
    }
}
