//! How an export that stops before its end says so: on a signal, a failure of the API, a split
//! that moved, or a bucket that failed, the checkpoint is saved first, then the error names
//! the rows kept and where (the partial file, or the checkpoint beside an object).

use std::path::Path;

use super::error::{ExportError, ExportErrorKind};
use super::sink::Sink;
use crate::error::Error;
use crate::paginate::Summary;

/// Stopped on request: the bytes written reach the output, and the checkpoint is saved for the
/// last page written (an object output: for the last part uploaded).
pub(super) async fn interrupted(out: &mut Sink, summary: Summary, rows: u64) -> ExportError {
    if let Err(e) = out.save_checkpoint().await {
        return e;
    }
    if let Some((rows, next_offset, next_key, kept)) = out.kept_in_bucket() {
        return ExportError::interrupted(next_offset, next_key, rows, None).kept_in(rows, kept);
    }
    ExportError::interrupted(
        summary.next_offset,
        summary.next_key,
        rows,
        out.partial().map(Path::to_path_buf),
    )
}

/// A self-probed part's key range moved from `split` to `now`: the rows stay in the partial
/// file with their checkpoint, not made the output.
pub(super) async fn split_moved(
    out: &mut Sink,
    split: Option<(u64, u64)>,
    now: Option<(u64, u64)>,
    rows: u64,
) -> ExportError {
    if let Err(e) = save_and_abandon(out, rows).await {
        return e;
    }
    let range = |r: Option<(u64, u64)>| match r {
        Some((first, last)) => format!("action_id {first} to {last}"),
        None => "no rows".to_string(),
    };
    let e = ExportError::split_moved(
        format!(
            "the split moved: the query's key range was {} when this part started and is {} \
             now (rows were added or removed at its ends), so parts started at other times \
             split it differently; this part's {rows} rows are not made the output. Plan the \
             split once for every part",
            range(split),
            range(now)
        ),
        rows,
        out.partial().filter(|p| p.exists()).map(Path::to_path_buf),
    );
    match out.kept_in_bucket() {
        Some((rows, _, _, kept)) => e.kept_in(rows, kept),
        None => e,
    }
}

/// An object output's store failed: what its checkpoint in the bucket keeps, for a resume. (A
/// conflict with another run is that run's to finish, and an object that appeared meanwhile is
/// for `--restart`: each says so.)
pub(super) fn kept(sink: &Sink, e: ExportError) -> ExportError {
    kept_at(sink.kept_in_bucket(), e)
}

pub(super) fn kept_at(
    kept_in: Option<(u64, u64, Option<u64>, String)>,
    e: ExportError,
) -> ExportError {
    match kept_in {
        Some((rows, _, _, url))
            if matches!(e.kind(), ExportErrorKind::Store | ExportErrorKind::Io) =>
        {
            e.kept_in(rows, url)
        }
        _ => e,
    }
}

/// The checkpoint saved, then whatever holds no row removed.
async fn save_and_abandon(out: &mut Sink, rows: u64) -> Result<(), ExportError> {
    out.save_checkpoint().await?;
    out.abandon(rows).await
}

/// The API failed: the bytes written reach the output and the checkpoint is saved for the last
/// page written; a file export that wrote nothing leaves nothing behind.
pub(super) async fn failed(
    out: &mut Sink,
    source: Error,
    rows: u64,
    next_key: Option<u64>,
) -> ExportError {
    if let Err(e) = save_and_abandon(out, rows).await {
        return e;
    }
    if let Some((rows, _, next_key, kept)) = out.kept_in_bucket() {
        return ExportError::api(source, rows, next_key, None).kept_in(rows, kept);
    }
    let file = out
        .partial()
        .map(|p| Some(p.to_path_buf()).filter(|p| p.exists()));
    ExportError::api(source, rows, next_key, file)
}
