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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::export::checkpoint::tests::identity;

    fn checkpoint(bytes: u64) -> Checkpoint {
        Checkpoint {
            version: checkpoint::VERSION,
            identity: identity(),
            next_offset: 2000,
            next_key: None,
            rows: 2000,
            bytes,
            columns: None,
        }
    }

    fn resume_error(result: Result<impl std::fmt::Debug, ExportError>) -> String {
        match result {
            Err(ExportError::Resume(message)) => message,
            other => panic!("expected a resume error, got {other:?}"),
        }
    }

    #[test]
    fn no_checkpoint_is_a_fresh_start_unless_the_output_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        assert!(matches!(check(&path, &identity()), Ok(Resume::Fresh)));
        fs::write(&path, "done").unwrap();
        assert!(matches!(
            check(&path, &identity()),
            Ok(Resume::AlreadyComplete)
        ));
        fs::write(partial_path(&path), "").unwrap();
        assert!(matches!(check(&path, &identity()), Ok(Resume::Fresh)));
    }

    #[test]
    fn a_checkpoint_of_another_version_or_export_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let cp_path = checkpoint_path(&path);
        checkpoint(10).save(&cp_path).unwrap();
        assert!(matches!(check(&path, &identity()), Ok(Resume::From(cp)) if cp == checkpoint(10)));

        let mut other = identity();
        other.page_size = 500;
        let message = resume_error(check(&path, &other));
        assert!(message.contains("page size 1000 vs 500"), "{message}");
        assert!(message.contains("different export"), "{message}");

        let mut old = checkpoint(10);
        old.version = checkpoint::VERSION + 1;
        old.save(&cp_path).unwrap();
        let message = resume_error(check(&path, &identity()));
        assert!(
            message.contains("has version 2, this program writes version 1"),
            "{message}"
        );
    }

    #[test]
    fn the_partial_file_is_cut_to_the_committed_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(partial_path(&path), "committed|torn tail").unwrap();
        cut_partial(&path, &checkpoint(9)).unwrap();
        assert_eq!(fs::read(partial_path(&path)).unwrap(), b"committed");

        let message = resume_error(cut_partial(&path, &checkpoint(100)));
        assert!(
            message.contains("holds 9 bytes but the checkpoint counts 100"),
            "{message}"
        );
    }
}
