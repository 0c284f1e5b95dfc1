//! Outputs in object stores: an export to `s3://BUCKET/KEY`, `gs://BUCKET/KEY` or
//! `az://CONTAINER/KEY`, written as a multipart upload whose parts go up while the next pages
//! are fetched, with its checkpoint beside the object in the bucket, so a run on another
//! machine resumes it.
//!
//! - The object appears only when complete: parts of an upload are invisible until the upload
//!   is completed. An export small enough for one part is written with one conditional put.
//! - Create-only: an object already there is refused before the export starts unless
//!   `--restart` is given, and looked for again just before the upload is completed. A single
//!   put is conditional (`If-None-Match: *` on S3 and Azure, generation 0 on GCS); completing a
//!   multipart upload is not, in the store client this is written with, so a writer outside
//!   this program that creates the key in the moment between the look and the completion is
//!   overwritten.
//! - Resume: the hidden key `…/.NAME.xp-export/checkpoint.json` records the upload's id and its
//!   parts' ids and where the export stands at the end of the last part. A resumed run continues
//!   the same upload from there: the object is byte for byte the one a single run writes.
//!   Parts are cut at page boundaries, so what a crash loses is the part being filled, fetched
//!   again.
//! - One run at a time: a fresh run creates the checkpoint create-only, and every later write
//!   is conditional on the version this run wrote last; a resumed run first writes its own claim
//!   over the version it read. A second run on the same object stops with a conflict.
//! - After success: the record of the finished export (`…/.NAME.xp-export/complete.json`) stays,
//!   hidden, and nothing else: no checkpoint, no open upload. `--restart` aborts the upload an
//!   interrupted run left.

mod made;
mod open;
#[cfg(feature = "parquet")]
mod parquet;
#[cfg(feature = "parquet")]
mod staging;
mod start;
mod store;
mod upload;
mod url;

use std::sync::Arc;

use bytes::Bytes;
use object_store::PutPayload;

pub use store::{Store, redact};
pub(crate) use url::raw_key;
pub use url::{ObjectUrl, Scheme};

use crate::client::Client;
use crate::export::checkpoint::{self, Checkpoint, Identity};
use crate::export::error::ExportError;
use crate::export::lock::{Completed, Tally};
use crate::export::resume::Asked;
use start::Start;
use upload::{CHECKPOINT, Part, Uploader};

#[cfg(feature = "parquet")]
pub(crate) use parquet::{ObjectParquet, Opened as OpenedParquet};
pub(crate) use store::{FIRST_LOOK, failed, from_env, put_if};

/// The least bytes of a part before it is uploaded (the last part aside), by default: above
/// S3's 5 MiB minimum; the export holds about three of them at once. An upload has at most
/// 10,000 parts: 78 GiB at this size.
pub const PART_BYTES: usize = 8 << 20;
/// The least part S3 takes (the last part aside).
pub const MIN_PART_BYTES: usize = 5 << 20;
/// The largest part S3 takes.
pub const MAX_PART_BYTES: usize = 5 << 30;

/// What a finished object export made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ObjectReport {
    /// The object's URL.
    pub url: String,
    /// Its size.
    pub bytes: u64,
    /// Its ETag, as the store gave it.
    pub etag: Option<String>,
}

/// Where an object export's bytes go: the part being filled, and the uploader of the parts
/// before it.
pub(crate) struct ObjectOut {
    url: ObjectUrl,
    store: Arc<dyn Store>,
    gzip: bool,
    restart: bool,
    /// The least bytes of a part.
    part_bytes: usize,
    identity: Identity,
    /// The part being filled, from the first byte after the last part handed over: its pages'
    /// bytes as they came, never copied into one buffer (which would grow past the part by
    /// doubling), and their length.
    part: Vec<Bytes>,
    part_len: usize,
    /// Bytes in the object with `part`'s, an earlier run's included, and their CRC-32.
    bytes: u64,
    crc: crc32fast::Hasher,
    /// A full part, waiting to be handed to the uploader.
    ready: Option<Part>,
    uploader: Uploader,
}

/// What opening an object output found.
// One per export: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Opened {
    /// Where the rows go, and the checkpoint they continue, if any.
    Out(ObjectOut, Option<Checkpoint>),
    /// `--resume` of an object already complete: its record's tally, and the object.
    Complete(Option<Tally>, ObjectReport),
}

impl ObjectOut {
    /// Opens the export to `url` in `store` as `asked`, claiming it; `identity` is this
    /// export's (its credential fingerprinted once known whether a checkpoint's is kept).
    pub(crate) async fn open(
        store: Arc<dyn Store>,
        url: ObjectUrl,
        gzip: bool,
        mut identity: Identity,
        asked: Asked,
        client: &Client,
        part_bytes: usize,
    ) -> Result<Opened, ExportError> {
        let fresh = fresh_checkpoint(&identity, client);
        let started = start::start(&*store, &url, &mut identity, asked, client, fresh).await?;
        let (saved, resumed) = match started {
            Start::AlreadyComplete(tally, object) => return Ok(Opened::Complete(tally, object)),
            Start::Fresh(saved) => (saved, false),
            Start::From(saved) => (saved, true),
        };
        let cp = saved.checkpoint.clone();
        let crc = match resumed {
            true => crc32fast::Hasher::new_with_initial_len(cp.committed_crc32, cp.bytes),
            false => crc32fast::Hasher::new(),
        };
        let out = ObjectOut {
            identity: cp.identity.clone(),
            url: url.clone(),
            store: Arc::clone(&store),
            gzip,
            restart: asked.restart,
            part_bytes,
            part: Vec::new(),
            part_len: 0,
            bytes: cp.bytes,
            crc,
            ready: None,
            uploader: Uploader::start(store, url, saved),
        };
        Ok(Opened::Out(out, resumed.then_some(cp)))
    }

    /// Adds `chunk` to the part being filled (a gzip member of its own when compressing).
    pub(crate) fn write(&mut self, chunk: &[u8]) -> Result<(), ExportError> {
        if chunk.is_empty() {
            return Ok(());
        }
        let bytes = if self.gzip {
            let member = crate::export::output::gzip_member(chunk)
                .map_err(|e| ExportError::store(format!("compressing a page: {e}")))?;
            Bytes::from(member)
        } else {
            Bytes::copy_from_slice(chunk)
        };
        self.push(bytes);
        Ok(())
    }

    fn push(&mut self, bytes: Bytes) {
        self.bytes += bytes.len() as u64;
        self.crc.update(&bytes);
        self.part_len += bytes.len();
        self.part.push(bytes);
    }

    /// The part being filled, taken: its bytes as one payload.
    fn take_part(&mut self) -> PutPayload {
        self.part_len = 0;
        std::mem::take(&mut self.part).into_iter().collect()
    }

    /// Commits a page: once the part holds its least bytes, it is ready to upload, with the
    /// checkpoint that holds after it.
    pub(crate) fn commit(
        &mut self,
        next_offset: u64,
        next_key: Option<u64>,
        rows: u64,
        columns: Option<&[String]>,
        values_replaced: u64,
    ) {
        if self.part_len < self.part_bytes || self.ready.is_some() {
            return;
        }
        let mut cp = self.uploader.saved().checkpoint;
        cp.identity = self.identity.clone();
        cp.next_offset = next_offset;
        cp.next_key = next_key;
        cp.rows = rows;
        cp.bytes = self.bytes;
        cp.committed_crc32 = self.crc.clone().finalize();
        cp.columns = columns.map(<[String]>::to_vec);
        cp.values_replaced = values_replaced;
        let data = self.take_part();
        self.ready = Some(Part { data, after: cp });
    }

    /// Hands a full part to the uploader, waiting while it is busy with the one before.
    pub(crate) async fn settle(&mut self) -> Result<(), ExportError> {
        match self.ready.take() {
            Some(part) => self.uploader.send(part).await,
            None => Ok(()),
        }
    }

    /// On a stop: waits for the parts handed over to be uploaded and checkpointed. The part
    /// being filled is dropped; a resume fetches its pages again.
    pub(crate) async fn save_checkpoint(&mut self) -> Result<(), ExportError> {
        self.settle().await?;
        self.uploader.finish().await
    }

    /// What the checkpoint keeps: its rows, where it continues, and its URL.
    pub(crate) fn saved(&self) -> (Checkpoint, String) {
        (
            self.uploader.saved().checkpoint,
            self.url.side_url(CHECKPOINT),
        )
    }

    /// After a failure: an export that uploaded nothing leaves nothing behind.
    pub(crate) async fn abandon(&mut self) -> Result<(), ExportError> {
        let (cp, _) = self.saved();
        if cp.rows == 0 && cp.upload.as_ref().is_none_or(|u| u.parts.is_empty()) {
            start::abort(&*self.store, &self.url, &cp).await;
            start::abort_marked(&*self.store, &self.url, None).await?;
            start::delete(&*self.store, &self.url, CHECKPOINT).await?;
        }
        Ok(())
    }

    /// Completes the object: the last part uploaded, the record of the finished export
    /// written, the object looked for once more (create-only), the upload completed, the
    /// checkpoint removed. An export that never filled a part is one conditional put.
    pub(crate) async fn finish(mut self, tally: Tally) -> Result<ObjectReport, ExportError> {
        if self.gzip && self.bytes == 0 {
            let member = crate::export::output::gzip_member(&[])
                .map_err(|e| ExportError::store(format!("compressing: {e}")))?;
            self.push(Bytes::from(member));
        }
        // Every full part handed over is uploaded and checkpointed before the end is decided:
        // whether there is a multipart upload to complete depends on it.
        self.settle().await?;
        self.uploader.finish().await?;
        let mut record = Completed {
            version: checkpoint::VERSION,
            identity: self.identity.clone(),
            bytes: self.bytes,
            crc32: self.crc.clone().finalize(),
            tally: Some(tally),
            etag: None,
        };
        let last = self.take_part();
        let upload = self.uploader.saved().checkpoint.upload;
        let upload = upload.and_then(|u| Some((u.id?, u.parts)));
        let completed = upload.as_ref().map(|(id, _)| id.clone());
        let etag = match upload {
            Some((id, parts)) => self.complete(&id, parts, last, &record).await?,
            None => self.put_whole(last, &record).await?,
        };
        record.etag.clone_from(&etag);
        self.write_record(&record).await?;
        // Any other upload begun for this object (a run killed before its checkpoint named it)
        // is aborted; the markers go.
        start::abort_marked(&*self.store, &self.url, completed.as_deref()).await?;
        start::delete(&*self.store, &self.url, CHECKPOINT).await?;
        Ok(ObjectReport {
            url: self.url.to_string(),
            bytes: self.bytes,
            etag,
        })
    }

    /// The last part uploaded (not checkpointed: a crash before the upload completes resumes
    /// from the last full part, and this one is uploaded again under its number), the record
    /// written, the object looked for once more, the upload completed.
    async fn complete(
        &mut self,
        id: &str,
        parts: Vec<String>,
        last: PutPayload,
        record: &Completed,
    ) -> Result<Option<String>, ExportError> {
        let location = self.url.location();
        let mut parts: Vec<_> = parts
            .into_iter()
            .map(|content_id| object_store::multipart::PartId { content_id })
            .collect();
        if last.content_length() > 0 {
            let index = parts.len();
            let part = self
                .store
                .put_part(&location, &id.to_string(), index, last)
                .await
                .map_err(|e| {
                    store::failed(&self.url, &format!("uploading part {}", index + 1), e)
                })?;
            parts.push(part);
        }
        self.write_record(record).await?;
        made::refuse_if_there(&*self.store, &self.url, self.restart).await?;
        let done = self
            .store
            .complete_multipart(&location, &id.to_string(), parts)
            .await
            .map_err(|e| store::failed(&self.url, "completing the multipart upload", e))?;
        Ok(done.e_tag)
    }

    /// An export that fits one part: the record, then one put, conditional unless
    /// `--restart`.
    async fn put_whole(
        &mut self,
        data: PutPayload,
        record: &Completed,
    ) -> Result<Option<String>, ExportError> {
        self.write_record(record).await?;
        made::put_whole(&*self.store, &self.url, data.into(), self.restart).await
    }

    async fn write_record(&self, record: &Completed) -> Result<(), ExportError> {
        made::write_record(&*self.store, &self.url, record).await
    }
}

/// The checkpoint of an export to an object that starts from nothing, with this run's
/// credential fingerprinted.
fn fresh_checkpoint(identity: &Identity, client: &Client) -> Checkpoint {
    let mut identity = identity.clone();
    identity.credential = Some(client.fingerprint());
    Checkpoint {
        version: checkpoint::VERSION,
        next_offset: identity.start_offset,
        next_key: identity.start_after,
        identity,
        rows: 0,
        bytes: 0,
        committed_crc32: 0,
        columns: None,
        parts: None,
        values_replaced: 0,
        upload: None,
    }
}
