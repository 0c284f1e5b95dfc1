//! The resume checks: whether an earlier run's checkpoint fits this export, and cutting its
//! partial file back to the bytes the checkpoint vouches for.

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::checkpoint::{self, Checkpoint, Identity, checkpoint_path, partial_path};
use super::error::{ExportError, io_err};

/// Where a `--resume` of a file export starts.
#[derive(Debug)]
pub(crate) enum Resume {
    /// No checkpoint and no finished file: a fresh export.
    Fresh,
    /// The earlier run's checkpoint, checked against this export.
    From(Checkpoint),
    /// No checkpoint, no partial file, and the output is there: nothing to do.
    AlreadyComplete,
}

/// Reads the checkpoint of `path` and checks that it fits `identity`: the same checkpoint
/// version and the same export (query, format, page size, …), or says what differs.
pub(crate) fn check(path: &Path, identity: &Identity) -> Result<Resume, ExportError> {
    let cp_path = checkpoint_path(path);
    let cp = match Checkpoint::load(&cp_path).map_err(io_err(&cp_path))? {
        Some(cp) => cp,
        None if path.exists() && !partial_path(path).exists() => {
            return Ok(Resume::AlreadyComplete);
        }
        None => return Ok(Resume::Fresh),
    };
    if cp.version != checkpoint::VERSION {
        return Err(ExportError::Resume(format!(
            "{} has version {}, this program writes version {}: start over without --resume",
            cp_path.display(),
            cp.version,
            checkpoint::VERSION
        )));
    }
    if let Some(diff) = cp.identity.difference(identity) {
        return Err(ExportError::Resume(format!(
            "cannot resume {}: it was started with a different export ({diff}); \
             run the original command with --resume, or start over without --resume",
            path.display()
        )));
    }
    Ok(Resume::From(cp))
}

/// Opens the partial file of `path` cut back to the checkpoint's bytes: whatever a crash left
/// past the last committed page goes. A partial file shorter than that was damaged.
pub(crate) fn cut_partial(path: &Path, cp: &Checkpoint) -> Result<File, ExportError> {
    let partial = partial_path(path);
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
    Ok(file)
}
