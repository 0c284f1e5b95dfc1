//! How a file export starts, given what an earlier run left beside the output: whether a
//! checkpoint fits this export and its partial file is the one it vouches for, whether the
//! output is one this program finished, and cutting the partial file back to its committed
//! bytes.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::checkpoint::{self, Checkpoint, Identity};
use super::error::{ExportError, io_err};
use super::files::{checkpoint_path, crc_of, partial_path, remove_if_present};
#[cfg(feature = "parquet")]
use super::format::Format;
use super::lock::{self, OutputLock, Tally};
use crate::client::Client;

/// Where a file export starts.
#[derive(Debug)]
// One per export: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Resume {
    /// From nothing: no earlier run, or nothing committed, or `--restart`.
    Fresh,
    /// The earlier run's checkpoint, checked against this export.
    From(Checkpoint),
    /// This program finished the output with this very export: nothing to do. What its
    /// record says of the rows and the end, where it says (an earlier build's does not).
    AlreadyComplete(Option<Tally>),
}

/// What the user asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Asked {
    /// `--resume`: continue from the checkpoint.
    pub resume: bool,
    /// `--restart`: discard what an earlier run left and start over.
    pub restart: bool,
}

/// Decides how the export of `path` (whose lock is held) starts: a leftover partial file or
/// checkpoint is continued with `--resume`, discarded with `--restart`, and otherwise refused.
/// A checkpoint or finished output is this export's only when it was read from the same
/// endpoint with the same credential (`client`'s); `identity` then takes its credential's
/// fingerprint, to write it again.
pub(crate) fn check(
    path: &Path,
    identity: &mut Identity,
    lock: &OutputLock,
    asked: Asked,
    client: &Client,
) -> Result<Resume, ExportError> {
    let cp_path = checkpoint_path(path);
    let partial = staging(path, identity);
    if asked.restart {
        remove_if_present(&cp_path).map_err(io_err(&cp_path))?;
        remove_staging(path, identity)?;
        return Ok(Resume::Fresh);
    }
    if !asked.resume {
        if exists(&cp_path) || exists(&partial) {
            return Err(ExportError::resume(format!(
                "{} holds an interrupted export ({} is there): add --resume to continue it, \
                 or --restart to discard it and start over",
                path.display(),
                if exists(&cp_path) { &cp_path } else { &partial }.display()
            )));
        }
        return Ok(Resume::Fresh);
    }
    match load(&cp_path)? {
        Some(cp) => from_checkpoint(path, cp, identity, lock, client),
        // Nothing was committed: there is nothing to keep.
        None if exists(&partial) => {
            remove_staging(path, identity)?;
            Ok(Resume::Fresh)
        }
        None if exists(path) => completed(path, identity, lock, client),
        None => Ok(Resume::Fresh),
    }
}

/// Where an unfinished export of `path` keeps its rows: `.NAME.partial`, or for Parquet the
/// directory of parts.
fn staging(path: &Path, identity: &Identity) -> PathBuf {
    #[cfg(feature = "parquet")]
    if identity.format == Format::Parquet {
        return super::files::parts_path(path);
    }
    let _ = identity;
    partial_path(path)
}

/// Removes what an unfinished export of `path` left: the partial file, and the parts.
fn remove_staging(path: &Path, identity: &Identity) -> Result<(), ExportError> {
    #[cfg(feature = "parquet")]
    if identity.format == Format::Parquet {
        super::parquet::discard(path)?;
    }
    let _ = identity;
    let partial = partial_path(path);
    remove_if_present(&partial).map_err(io_err(&partial))
}

fn exists(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// The checkpoint at `cp_path`; one that was edited or damaged is refused.
fn load(cp_path: &Path) -> Result<Option<Checkpoint>, ExportError> {
    Checkpoint::load(cp_path).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData => ExportError::resume(format!(
            "cannot resume from {}: {e}; add --restart to start over",
            cp_path.display()
        )),
        _ => io_err(cp_path)(e),
    })
}

/// A checkpoint that fits this export, or what differs.
fn from_checkpoint(
    path: &Path,
    cp: Checkpoint,
    identity: &mut Identity,
    lock: &OutputLock,
    client: &Client,
) -> Result<Resume, ExportError> {
    let cp_path = checkpoint_path(path);
    if cp.version != checkpoint::VERSION {
        return Err(ExportError::resume(format!(
            "{} has version {}, this program writes version {}: add --restart to start over",
            cp_path.display(),
            cp.version,
            checkpoint::VERSION
        )));
    }
    identity.fingerprint_as(&cp.identity, client);
    if let Some(diff) = cp.identity.difference(identity) {
        return Err(ExportError::resume(format!(
            "cannot resume {}: it was started with a different export ({diff}); \
             run the original command with --resume, or add --restart to start over",
            path.display()
        )));
    }
    // Stopped between the rename into place and the clean-up (for Parquet, maybe with some
    // parts deleted)? A record of a finished export beside a checkpoint is that checkpoint's
    // export's (a new export forgets the old record before its first checkpoint), so an output
    // that is the file it records is finished: what is left beside it goes, checkpoint last.
    if let Ok(done @ Resume::AlreadyComplete(_)) = completed(path, identity, lock, client) {
        remove_staging(path, identity)?;
        remove_if_present(&cp_path).map_err(io_err(&cp_path))?;
        return Ok(done);
    }
    let partial = staging(path, identity);
    if exists(&partial) {
        return Ok(Resume::From(cp));
    }
    Err(ExportError::resume(format!(
        "cannot resume {}: {} is there but the partial file {} is gone; \
         add --restart to start over",
        path.display(),
        cp_path.display(),
        partial.display()
    )))
}

/// The output is there with no checkpoint: complete only if this program finished it with
/// this export and it has not changed since.
fn completed(
    path: &Path,
    identity: &mut Identity,
    lock: &OutputLock,
    client: &Client,
) -> Result<Resume, ExportError> {
    let refuse = |why: String| {
        Err(ExportError::resume(format!(
            "nothing to resume: {} {why}; run without --resume to export again and replace it",
            path.display()
        )))
    };
    let Some(done) = lock
        .completed()?
        .filter(|d| d.version == checkpoint::VERSION)
    else {
        return refuse("was not written by a finished export of this program".into());
    };
    identity.fingerprint_as(&done.identity, client);
    if let Some(diff) = done.identity.difference(identity) {
        return refuse(format!("was finished by a different export ({diff})"));
    }
    if !lock::matches(path, &done)? {
        return refuse("changed after this program finished it".into());
    }
    Ok(Resume::AlreadyComplete(done.tally))
}

/// Opens the partial file of `path` cut back to the checkpoint's bytes, after checking that
/// those bytes are the ones the checkpoint vouches for; whatever a crash left past them goes.
/// Returns the file and the CRC-32 of what it keeps, to go on from.
pub(crate) fn cut_partial(
    path: &Path,
    cp: &Checkpoint,
) -> Result<(File, crc32fast::Hasher), ExportError> {
    let partial = partial_path(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&partial)
        .map_err(io_err(&partial))?;
    let damaged = |why: String| {
        ExportError::resume(format!(
            "cannot resume {}: {why}; the partial file was changed or damaged: \
             add --restart to start over",
            path.display()
        ))
    };
    let len = file.metadata().map_err(io_err(&partial))?.len();
    if len < cp.bytes {
        return Err(damaged(format!(
            "{} holds {len} bytes but the checkpoint counts {}",
            partial.display(),
            cp.bytes
        )));
    }
    let (crc, _) = crc_of(&file, cp.bytes).map_err(io_err(&partial))?;
    if crc.clone().finalize() != cp.committed_crc32 {
        return Err(damaged(format!(
            "the first {} bytes of {} are not the ones the checkpoint vouches for",
            cp.bytes,
            partial.display()
        )));
    }
    file.set_len(cp.bytes).map_err(io_err(&partial))?;
    Ok((file, crc))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::export::ExportErrorKind;
    use crate::export::checkpoint::tests::identity;
    use crate::export::lock::Completed;

    fn client() -> Client {
        Client::for_tests()
    }

    const RESUME: Asked = Asked {
        resume: true,
        restart: false,
    };

    fn checkpoint(committed: &[u8]) -> Checkpoint {
        Checkpoint {
            version: checkpoint::VERSION,
            identity: identity(),
            next_offset: 2000,
            next_key: None,
            rows: 2000,
            bytes: committed.len() as u64,
            committed_crc32: crc32fast::hash(committed),
            columns: None,
            parts: None,
            values_replaced: 0,
            upload: None,
        }
    }

    fn resume_error(result: Result<impl std::fmt::Debug, ExportError>) -> String {
        match result {
            Err(e) if e.kind() == ExportErrorKind::Resume => e.to_string(),
            other => panic!("expected a resume error, got {other:?}"),
        }
    }

    #[test]
    fn without_a_checkpoint_only_a_finished_output_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let lock = OutputLock::acquire(&path).unwrap();
        let check = |asked| check(&path, &mut identity(), &lock, asked, &client());
        assert!(matches!(check(RESUME), Ok(Resume::Fresh)));
        fs::write(&path, "done").unwrap();
        let message = resume_error(check(RESUME));
        assert!(
            message.contains("not written by a finished export"),
            "{message}"
        );
        lock.record(&Completed {
            version: checkpoint::VERSION,
            identity: identity(),
            bytes: 4,
            crc32: crc32fast::hash(b"done"),
            tally: None,
            etag: None,
        })
        .unwrap();
        assert!(matches!(check(RESUME), Ok(Resume::AlreadyComplete(_))));
        fs::write(&path, "dune").unwrap();
        let message = resume_error(check(RESUME));
        assert!(message.contains("changed after"), "{message}");
        fs::write(partial_path(&path), "uncommitted").unwrap();
        assert!(matches!(check(RESUME), Ok(Resume::Fresh)));
        assert!(!partial_path(&path).exists(), "cleared for the fresh start");
    }

    #[test]
    fn a_leftover_is_refused_unless_resumed_or_restarted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let lock = OutputLock::acquire(&path).unwrap();
        let check = |asked| check(&path, &mut identity(), &lock, asked, &client());
        checkpoint(b"").save(&checkpoint_path(&path)).unwrap();
        fs::write(partial_path(&path), "").unwrap();
        let message = resume_error(check(Asked::default()));
        assert!(message.contains("add --resume"), "{message}");
        assert!(message.contains("--restart"), "{message}");
        assert!(matches!(check(RESUME), Ok(Resume::From(_))));
        let restart = Asked {
            resume: false,
            restart: true,
        };
        assert!(matches!(check(restart), Ok(Resume::Fresh)));
        assert!(!partial_path(&path).exists());
        assert!(!checkpoint_path(&path).exists());
    }

    #[test]
    fn a_checkpoint_of_another_version_or_export_or_without_its_partial_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let lock = OutputLock::acquire(&path).unwrap();
        let cp_path = checkpoint_path(&path);
        checkpoint(b"0123456789").save(&cp_path).unwrap();
        let message = resume_error(check(&path, &mut identity(), &lock, RESUME, &client()));
        assert!(message.contains("partial file"), "{message}");
        assert!(message.contains("is gone"), "{message}");
        fs::write(partial_path(&path), "0123456789").unwrap();
        assert!(matches!(
            check(&path, &mut identity(), &lock, RESUME, &client()),
            Ok(Resume::From(cp)) if cp == checkpoint(b"0123456789")
        ));

        let mut other = identity();
        other.page_size = 500;
        other.max_rows = Some(50_000);
        let message = resume_error(check(&path, &mut other, &lock, RESUME, &client()));
        assert!(message.contains("page size 1000 vs 500"), "{message}");
        assert!(message.contains("max rows none vs 50000"), "{message}");
        assert!(message.contains("different export"), "{message}");

        let mut old = checkpoint(b"");
        old.version = checkpoint::VERSION + 1;
        old.save(&cp_path).unwrap();
        let message = resume_error(check(&path, &mut identity(), &lock, RESUME, &client()));
        assert!(
            message.contains("has version 3, this program writes version 2"),
            "{message}"
        );
    }

    /// A checkpoint records where its rows came from and with which credential; one of
    /// another endpoint or credential is refused naming what differs, and one an earlier build
    /// wrote (with neither) is continued and then written with both.
    #[test]
    fn a_checkpoint_of_another_endpoint_or_credential_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let lock = OutputLock::acquire(&path).unwrap();
        let cp_path = checkpoint_path(&path);
        fs::write(partial_path(&path), "0123456789").unwrap();
        let eu = Client::builder().apptoken("eu-token").build().unwrap();
        let ours = |client: &Client| Identity {
            api_url: Some(client.api_url().to_string()),
            ..identity()
        };
        let mut cp = checkpoint(b"0123456789");
        cp.identity = ours(&eu);
        cp.identity.credential = Some(eu.fingerprint());
        cp.save(&cp_path).unwrap();
        let written = fs::read_to_string(&cp_path).unwrap();
        assert!(!written.contains("eu-token"), "{written}");

        let us = Client::builder()
            .api_url("https://api.us.xtremepush.com/api/external")
            .apptoken("eu-token")
            .build()
            .unwrap();
        let message = resume_error(check(&path, &mut ours(&us), &lock, RESUME, &us));
        assert!(
            message.contains(
                "endpoint https://external-api.xtremepush.com/api/external/list/push-devices \
                 vs https://api.us.xtremepush.com/api/external/list/push-devices"
            ),
            "{message}"
        );
        assert!(!message.contains("another credential"), "{message}");
        let other = Client::builder().apptoken("other-token").build().unwrap();
        let message = resume_error(check(&path, &mut ours(&other), &lock, RESUME, &other));
        assert!(message.contains("another credential"), "{message}");
        assert!(message.contains("--restart"), "{message}");
        assert!(!message.contains("other-token"), "{message}");

        let mut identity = ours(&eu);
        assert!(matches!(
            check(&path, &mut identity, &lock, RESUME, &eu),
            Ok(Resume::From(_))
        ));
        assert_eq!(
            identity.credential, cp.identity.credential,
            "kept to write again"
        );

        // An earlier build's checkpoint: no endpoint, no credential.
        checkpoint(b"0123456789").save(&cp_path).unwrap();
        let mut identity = ours(&other);
        assert!(matches!(
            check(&path, &mut identity, &lock, RESUME, &other),
            Ok(Resume::From(_))
        ));
    }

    #[test]
    fn the_partial_file_is_checked_then_cut_to_the_committed_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(partial_path(&path), "committed|torn tail").unwrap();
        let (_, crc) = cut_partial(&path, &checkpoint(b"committed")).unwrap();
        assert_eq!(fs::read(partial_path(&path)).unwrap(), b"committed");
        assert_eq!(crc.finalize(), crc32fast::hash(b"committed"));

        let message = resume_error(cut_partial(&path, &checkpoint(&[b'x'; 100])));
        assert!(
            message.contains("holds 9 bytes but the checkpoint counts 100"),
            "{message}"
        );
        fs::write(partial_path(&path), "commuted").unwrap();
        let message = resume_error(cut_partial(&path, &checkpoint(b"committ")));
        assert!(
            message.contains("not the ones the checkpoint vouches for"),
            "{message}"
        );
    }
}
