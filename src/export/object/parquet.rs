//! Parquet to an object. A Parquet file ends in a footer that points back into it, so it is
//! written as a Parquet file export is — row groups as part files, joined at the end — in a
//! staging folder of this machine's temporary directory, and the bucket keeps what a resume on
//! another machine needs: each part file, uploaded as a hidden object once it is complete
//! (`…/.NAME.xp-export/parts/part-00000.parquet`), and the checkpoint naming them. A resume
//! downloads the parts, checks each against its size and CRC-32, and goes on from the last.
//! At the end the joined file is uploaded from the staging folder as a multipart upload (its id
//! in the checkpoint first, so a run after a crash aborts it), and the hidden parts go.
//!
//! The staging folder needs room for the parts and the joined file: about twice the object.
//! It is removed when the export ends; one a killed run left, by the next (see `staging`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::PartId;
use object_store::{ObjectStoreExt, PutMode, PutPayload};

use super::made;
use super::start::{self, Start};
use super::store::{self, Store};
use super::upload::{self, CHECKPOINT, Saved};
use super::{ObjectReport, ObjectUrl};
use crate::client::Client;
use crate::export::checkpoint::{Checkpoint, Identity, Upload};
use crate::export::error::ExportError;
use crate::export::files::{checkpoint_path, parts_path};
use crate::export::lock::{Completed, Tally};
use crate::export::parquet::{ParquetOut, part_name};
use crate::export::report::ParquetReport;
use crate::export::resume::Asked;

/// A Parquet export to an object: its staging folder here, and what the bucket holds.
pub(crate) struct ObjectParquet {
    url: ObjectUrl,
    store: Arc<dyn Store>,
    restart: bool,
    part_bytes: usize,
    /// Removed when the export ends, however it ends (by the next run, after a kill).
    stage: super::staging::Stage,
    /// The file the Parquet export writes in the staging folder.
    local: PathBuf,
    /// The checkpoint in the bucket and its version.
    saved: Saved,
}

/// What opening a Parquet object output found.
// One per export: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Opened {
    /// The staging, and the checkpoint the Parquet export continues (its parts downloaded).
    Out(ObjectParquet, Option<Checkpoint>),
    /// `--resume` of an object already complete.
    Complete(Option<Tally>, ObjectReport),
}

impl ObjectParquet {
    /// Opens the export to `url` as `asked`, claiming it, and stages what its checkpoint names.
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        url: ObjectUrl,
        mut identity: Identity,
        asked: Asked,
        client: &Client,
        part_bytes: usize,
    ) -> Result<Opened, ExportError> {
        let fresh = super::fresh_checkpoint(&identity, client);
        let started = start::start(&*store, &url, &mut identity, asked, client, fresh).await?;
        let (saved, resumed) = match started {
            Start::AlreadyComplete(tally, object) => return Ok(Opened::Complete(tally, object)),
            Start::Fresh(saved) => (saved, false),
            Start::From(saved) => (saved, true),
        };
        let stage = super::staging::Stage::new()?;
        let local = stage.path().join(url.name());
        let out = ObjectParquet {
            url,
            store,
            restart: asked.restart,
            part_bytes,
            stage,
            local,
            saved,
        };
        // The final upload of a run that crashed while making it is aborted: it starts again.
        if let Some(id) = out.final_upload() {
            let _ = out.store.abort_multipart(&out.url.location(), &id).await;
        }
        if !resumed {
            return Ok(Opened::Out(out, None));
        }
        let mut cp = out.saved.checkpoint.clone();
        cp.upload = None;
        out.download(&cp).await?;
        Ok(Opened::Out(out, Some(cp)))
    }

    /// The file the Parquet export writes, in the staging folder.
    pub(crate) fn local(&self) -> &Path {
        &self.local
    }

    /// The final upload's id, when the checkpoint records one.
    fn final_upload(&self) -> Option<String> {
        self.saved.checkpoint.upload.as_ref()?.id.clone()
    }

    /// The parts the checkpoint names, into the staging folder, and the checkpoint beside them.
    async fn download(&self, cp: &Checkpoint) -> Result<(), ExportError> {
        let dir = parts_path(&self.local);
        std::fs::create_dir(&dir).map_err(|e| ExportError::io(&dir, "", e))?;
        let files = cp.parts.as_ref().map_or(&[][..], |p| &p.files[..]);
        for (i, want) in files.iter().enumerate() {
            let name = part_name(i);
            let file = format!("parts/{name}");
            let (key, shown) = (self.url.side(&file), self.url.side_url(&file));
            let reading = |e| store::failed(&self.url, &format!("reading {shown}"), e);
            let got = match self.store.get(&key).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(ExportError::resume(format!(
                        "cannot resume {}: {shown}, a part its checkpoint names, is not in the \
                         bucket (deleted?); add --restart to export again from the start",
                        self.url
                    )));
                }
                Err(e) => return Err(reading(e)),
            };
            let bytes = got.bytes().await.map_err(reading)?;
            let crc32 = crc32fast::hash(&bytes);
            if (bytes.len() as u64, crc32) != (want.bytes, want.crc32) {
                return Err(ExportError::resume(format!(
                    "cannot resume {}: {shown} is not the part its checkpoint names ({} bytes, \
                     CRC-32 {:08x}; the bucket has {} bytes, CRC-32 {crc32:08x}): it was changed \
                     or damaged; add --restart to export again from the start",
                    self.url,
                    want.bytes,
                    want.crc32,
                    bytes.len()
                )));
            }
            let file = dir.join(&name);
            std::fs::write(&file, &bytes).map_err(|e| ExportError::io(&file, "", e))?;
        }
        let path = checkpoint_path(&self.local);
        cp.save(&path).map_err(|e| ExportError::io(&path, "", e))
    }

    /// After a page: the part files the Parquet export completed since, uploaded, then the
    /// checkpoint naming them.
    pub(crate) async fn settle(&mut self, out: &ParquetOut) -> Result<(), ExportError> {
        let Some(local) = out.last_checkpoint() else {
            return Ok(());
        };
        let uploaded = self
            .saved
            .checkpoint
            .parts
            .as_ref()
            .map_or(0, |p| p.files.len());
        let files = local.parts.as_ref().map_or(0, |p| p.files.len());
        if files == uploaded && local.rows == self.saved.checkpoint.rows {
            return Ok(());
        }
        for i in uploaded..files {
            let name = part_name(i);
            let file = parts_path(&self.local).join(&name);
            let bytes = std::fs::read(&file).map_err(|e| ExportError::io(&file, "", e))?;
            self.store
                .put(&self.url.side(&format!("parts/{name}")), bytes.into())
                .await
                .map_err(|e| store::failed(&self.url, &format!("uploading part {name}"), e))?;
        }
        let mut cp = local.clone();
        cp.upload = self.saved.checkpoint.upload.clone();
        self.save(cp).await
    }

    /// Writes `cp` to the bucket over the version this run wrote last.
    async fn save(&mut self, cp: Checkpoint) -> Result<(), ExportError> {
        let version = self.saved.version.clone();
        let version = upload::write(&*self.store, &self.url, &cp, PutMode::Update(version)).await?;
        self.saved = Saved {
            checkpoint: cp,
            version,
        };
        Ok(())
    }

    /// What the bucket's checkpoint keeps: its rows, where it continues, and its URL.
    pub(crate) fn saved(&self) -> (Checkpoint, String) {
        (self.saved.checkpoint.clone(), self.url.side_url(CHECKPOINT))
    }

    /// After a failure: an export that kept nothing in the bucket leaves nothing there.
    pub(crate) async fn abandon(&mut self) -> Result<(), ExportError> {
        let cp = &self.saved.checkpoint;
        if cp.rows == 0 && cp.parts.as_ref().is_none_or(|p| p.files.is_empty()) {
            start::abort_marked(&*self.store, &self.url, None).await?;
            start::delete(&*self.store, &self.url, CHECKPOINT).await?;
        }
        Ok(())
    }

    /// Joins the parts into the Parquet file here, uploads it (create-only unless
    /// `--restart`), records the finished export, and removes the hidden parts and the
    /// checkpoint.
    pub(crate) async fn finish(
        mut self,
        out: ParquetOut,
        tally: Tally,
    ) -> Result<(ObjectReport, ParquetReport), ExportError> {
        let (path, report) = out.finish(tally.clone())?;
        let parts = self
            .saved
            .checkpoint
            .parts
            .as_ref()
            .map_or(0, |p| p.files.len());
        let bytes = std::fs::metadata(&path)
            .map_err(|e| ExportError::io(&path, "", e))?
            .len();
        let crc32 = std::fs::File::open(&path)
            .and_then(|f| crate::export::files::crc_of(f, bytes))
            .map_err(|e| ExportError::io(&path, "", e))?
            .0
            .finalize();
        let mut tally = tally;
        tally.parquet = Some(report.clone());
        let mut record = Completed {
            version: crate::export::checkpoint::VERSION,
            identity: self.saved.checkpoint.identity.clone(),
            bytes,
            crc32,
            tally: Some(tally),
            etag: None,
        };
        self.write_record(&record).await?;
        let (etag, completed) = self.upload(&path).await?;
        record.etag.clone_from(&etag);
        self.write_record(&record).await?;
        for i in 0..parts.max(self.saved_parts_listed()) {
            let key = self.url.side(&format!("parts/{}", part_name(i)));
            let _ = self.store.delete(&key).await;
        }
        start::abort_marked(&*self.store, &self.url, completed.as_deref()).await?;
        start::delete(&*self.store, &self.url, CHECKPOINT).await?;
        drop(self.stage);
        Ok((
            ObjectReport {
                url: self.url.to_string(),
                bytes,
                etag,
            },
            report,
        ))
    }

    /// The parts uploaded, as the checkpoint in the bucket names them.
    fn saved_parts_listed(&self) -> usize {
        self.saved
            .checkpoint
            .parts
            .as_ref()
            .map_or(0, |p| p.files.len())
    }

    /// The joined file to the object: one conditional put when it fits a part, else a
    /// multipart upload whose id the checkpoint records first.
    /// Its ETag, and the upload completed, if it was one.
    async fn upload(
        &mut self,
        path: &Path,
    ) -> Result<(Option<String>, Option<String>), ExportError> {
        let io = |e| ExportError::io(path, "", e);
        let mut file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        let location = self.url.location();
        if size <= self.part_bytes as u64 {
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).map_err(io)?;
            let etag = made::put_whole(&*self.store, &self.url, bytes.into(), self.restart).await?;
            return Ok((etag, None));
        }
        let id = start::create_upload(&*self.store, &self.url).await?;
        let mut cp = self.saved.checkpoint.clone();
        cp.upload = Some(Upload {
            claim: cp.upload.map(|u| u.claim).unwrap_or_else(upload::claim),
            id: Some(id.clone()),
            parts: Vec::new(),
        });
        self.save(cp).await?;
        let uploaded = self.upload_parts(&mut file, &id).await;
        let parts = match uploaded {
            Ok(parts) => parts,
            Err(e) => {
                let _ = self.store.abort_multipart(&location, &id).await;
                return Err(e);
            }
        };
        if let Err(e) = made::refuse_if_there(&*self.store, &self.url, self.restart).await {
            let _ = self.store.abort_multipart(&location, &id).await;
            return Err(e);
        }
        let done = self
            .store
            .complete_multipart(&location, &id, parts)
            .await
            .map_err(|e| store::failed(&self.url, "completing the multipart upload", e))?;
        Ok((done.e_tag, Some(id)))
    }

    /// The file in parts of the least size, one after another.
    async fn upload_parts(
        &self,
        file: &mut std::fs::File,
        id: &str,
    ) -> Result<Vec<PartId>, ExportError> {
        let location = self.url.location();
        let mut parts = Vec::new();
        loop {
            let mut chunk = Vec::with_capacity(self.part_bytes);
            let read = file
                .by_ref()
                .take(self.part_bytes as u64)
                .read_to_end(&mut chunk)
                .map_err(|e| ExportError::io(&self.local, "", e))?;
            if read == 0 && !parts.is_empty() {
                return Ok(parts);
            }
            let index = parts.len();
            let part = self
                .store
                .put_part(
                    &location,
                    &id.to_string(),
                    index,
                    PutPayload::from(Bytes::from(chunk)),
                )
                .await
                .map_err(|e| {
                    store::failed(&self.url, &format!("uploading part {}", index + 1), e)
                })?;
            parts.push(part);
            if read < self.part_bytes {
                return Ok(parts);
            }
        }
    }

    async fn write_record(&self, record: &Completed) -> Result<(), ExportError> {
        made::write_record(&*self.store, &self.url, record).await
    }
}
