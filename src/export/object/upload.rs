//! The uploader: a task of its own that uploads an object output's parts while the next pages
//! are fetched, and after each part saves the checkpoint beside the object that names it —
//! the only checkpoint an object output has, so a run on another machine continues from the
//! last part uploaded.
//!
//! Parts wait in a channel of one: the export holds at most the part it fills, one waiting and
//! one on the wire. Every checkpoint is written only if the one in the bucket is still this
//! run's last (its ETag or generation), so a second run on the same object stops at its first
//! write instead of interleaving its parts with this run's.

use std::sync::{Arc, Mutex, PoisonError};

use object_store::multipart::PartId;
use object_store::{PutMode, PutPayload, UpdateVersion};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::store::{self, Store};
use super::url::ObjectUrl;
use crate::export::checkpoint::{Checkpoint, Upload};
use crate::export::error::ExportError;
use crate::export::sealed;

/// The name of the checkpoint in the hidden folder beside the object.
pub(crate) const CHECKPOINT: &str = "checkpoint.json";

/// A part to upload, and the checkpoint that holds once it is: where the export stands at the
/// end of the part's last page.
pub(crate) struct Part {
    pub data: PutPayload,
    pub after: Checkpoint,
}

/// The checkpoint in the bucket and the version it was written as.
#[derive(Clone)]
pub(crate) struct Saved {
    pub checkpoint: Checkpoint,
    pub version: UpdateVersion,
}

/// The upload task and the channel its parts go through.
pub(crate) struct Uploader {
    parts: Option<mpsc::Sender<Part>>,
    task: Option<JoinHandle<Result<(), ExportError>>>,
    /// The last checkpoint saved, as the task saved it.
    saved: Arc<Mutex<Saved>>,
}

impl Uploader {
    /// Starts the task for `url`'s upload, from the checkpoint `saved` (which holds this run's
    /// claim).
    pub(crate) fn start(store: Arc<dyn Store>, url: ObjectUrl, saved: Saved) -> Self {
        let saved = Arc::new(Mutex::new(saved));
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(run(store, url, rx, Arc::clone(&saved)));
        Uploader {
            parts: Some(tx),
            task: Some(task),
            saved,
        }
    }

    /// The last checkpoint saved.
    pub(crate) fn saved(&self) -> Saved {
        self.saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Hands `part` to the task, waiting while one is already waiting. The task's error, if it
    /// stopped.
    pub(crate) async fn send(&mut self, part: Part) -> Result<(), ExportError> {
        let sent = match &self.parts {
            Some(tx) => tx.send(part).await.is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        self.finish().await?;
        Err(ExportError::store("the upload task ended early"))
    }

    /// Waits until every part handed over is uploaded and its checkpoint saved.
    pub(crate) async fn finish(&mut self) -> Result<(), ExportError> {
        self.parts = None;
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(done) => done,
            Err(e) => Err(ExportError::store(format!("the upload task failed: {e}"))),
        }
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    url: ObjectUrl,
    mut parts: mpsc::Receiver<Part>,
    saved: Arc<Mutex<Saved>>,
) -> Result<(), ExportError> {
    let location = url.location();
    while let Some(part) = parts.recv().await {
        let current = saved.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut upload = current.checkpoint.upload.clone().unwrap_or_else(|| Upload {
            claim: claim(),
            id: None,
            parts: Vec::new(),
        });
        let mut version = current.version;
        let id = match &upload.id {
            Some(id) => id.clone(),
            None => {
                let id = super::start::create_upload(&*store, &url).await?;
                // Recorded before any part, so that no upload is left that no run knows of.
                upload.id = Some(id.clone());
                let mut cp = current.checkpoint.clone();
                cp.upload = Some(upload.clone());
                version = write(&*store, &url, &cp, PutMode::Update(version)).await?;
                *saved.lock().unwrap_or_else(PoisonError::into_inner) = Saved {
                    checkpoint: cp,
                    version: version.clone(),
                };
                id
            }
        };
        let index = upload.parts.len();
        let PartId { content_id } = store
            .put_part(&location, &id, index, part.data)
            .await
            .map_err(|e| store::failed(&url, &format!("uploading part {}", index + 1), e))?;
        upload.parts.push(content_id);
        let mut cp = part.after;
        cp.upload = Some(upload);
        let version = write(&*store, &url, &cp, PutMode::Update(version)).await?;
        *saved.lock().unwrap_or_else(PoisonError::into_inner) = Saved {
            checkpoint: cp,
            version,
        };
    }
    Ok(())
}

/// Writes `cp` beside `url`'s object as `mode` allows: create-only for a new export, else
/// only over the version this run wrote or read. The version written.
pub(crate) async fn write(
    store: &dyn Store,
    url: &ObjectUrl,
    cp: &Checkpoint,
    mode: PutMode,
) -> Result<UpdateVersion, ExportError> {
    let bytes = sealed::seal(cp).map_err(|e| ExportError::store(e.to_string()))?;
    match store::put_if(store, &url.side(CHECKPOINT), bytes.into(), mode).await {
        Ok(version) => Ok(version),
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => Err(ExportError::busy(format!(
            "another export is writing {url}: its checkpoint {} changed since this run read \
             it (a run started or resumed at the same time); this one stops and leaves it be",
            url.side_url(CHECKPOINT)
        ))),
        Err(e) => Err(store::failed(url, "saving the checkpoint beside it", e)),
    }
}

/// A fresh token that tells this run's checkpoints from another's.
pub(crate) fn claim() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}
