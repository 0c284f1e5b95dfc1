//! How an object export starts, given what the bucket holds: the object, the checkpoint beside
//! it, the record of a finished export. Decided with a few reads before any page is fetched, so
//! a bucket that is not there, a permission refused or credentials the store rejects fail the
//! export before it asks the API for anything; then claimed with a conditional write.

use object_store::{Error as StoreError, GetOptions, ObjectMeta, ObjectStoreExt, PutMode};

use super::ObjectReport;
use super::store::{self, Store};
use super::upload::{self, CHECKPOINT, Saved};
use super::url::ObjectUrl;
use crate::client::Client;
use crate::export::checkpoint::{self, Checkpoint, Identity, Upload};
use crate::export::error::ExportError;
use crate::export::lock::{Completed, Tally};
use crate::export::resume::Asked;
use crate::export::sealed;

/// The name of the record of a finished export in the hidden folder beside the object.
pub(crate) const RECORD: &str = "complete.json";

/// Where an object export starts.
pub(crate) enum Start {
    /// From the start, with this run's claim saved as the checkpoint.
    Fresh(Saved),
    /// From the checkpoint an earlier run saved, claimed by this run.
    From(Saved),
    /// `--resume` of an object this program finished with this export: what its record says,
    /// and the object.
    AlreadyComplete(Option<Tally>, ObjectReport),
}

/// Decides how the export to `url` starts and claims it: a checkpoint is continued with
/// `--resume`, discarded (its upload aborted) with `--restart`, and otherwise refused; an
/// object already there is replaced only with `--restart`. `identity` takes the checkpoint's
/// credential fingerprint when it is this credential's.
pub(crate) async fn start(
    store: &dyn Store,
    url: &ObjectUrl,
    identity: &mut Identity,
    asked: Asked,
    client: &Client,
    fresh: Checkpoint,
) -> Result<Start, ExportError> {
    reachable(store, url).await?;
    if asked.restart {
        // Even a damaged or lost checkpoint goes: every upload begun is aborted by its marker.
        if let Ok(Some((cp, _))) = read_checkpoint(store, url).await {
            abort(store, url, &cp).await;
        }
        abort_marked(store, url, None).await?;
        delete(store, url, RECORD).await?;
        delete(store, url, CHECKPOINT).await?;
        return claim_fresh(store, url, fresh).await;
    }
    let found = read_checkpoint(store, url).await?;
    let object = head(store, url).await?;
    if !asked.resume {
        if found.is_some() {
            return Err(ExportError::resume(format!(
                "{url} has an interrupted export ({} is there), or one still running: add \
                 --resume to continue it, or --restart to discard it and start over (once no \
                 run is exporting to it: --restart aborts a running export's upload)",
                url.side_url(CHECKPOINT)
            )));
        }
        if object.is_some() {
            return Err(exists(url));
        }
        return claim_fresh(store, url, fresh).await;
    }
    let finished = match &object {
        Some(meta) => finished(store, url, identity, client, meta).await?,
        None => Err("is not there".to_string()),
    };
    match found {
        Some((cp, version)) => {
            check_fits(url, &cp, identity, client)?;
            if let Ok((tally, object)) = finished {
                // Stopped between completing the upload and removing the checkpoint (for
                // Parquet, maybe before removing the parts it names).
                #[cfg(feature = "parquet")]
                for i in 0..cp.parts.as_ref().map_or(0, |p| p.files.len()) {
                    let name = crate::export::parquet::part_name(i);
                    delete(store, url, &format!("parts/{name}")).await?;
                }
                abort_marked(store, url, None).await?;
                delete(store, url, CHECKPOINT).await?;
                return Ok(Start::AlreadyComplete(tally, object));
            }
            if cp.rows == 0 && cp.upload.as_ref().is_none_or(|u| u.parts.is_empty()) {
                // Nothing was uploaded: start over (an upload begun goes), under this run's
                // claim.
                abort(store, url, &cp).await;
                abort_marked(store, url, None).await?;
                return claim(store, url, fresh, PutMode::Update(version)).await;
            }
            let mut cp = cp;
            let upload = cp.upload.get_or_insert_with(|| Upload {
                claim: String::new(),
                id: None,
                parts: Vec::new(),
            });
            upload.claim = upload::claim();
            let version = upload::write(store, url, &cp, PutMode::Update(version)).await?;
            Ok(Start::From(Saved {
                checkpoint: cp,
                version,
            }))
        }
        None => match (finished, &object) {
            (Ok((tally, object)), _) => Ok(Start::AlreadyComplete(tally, object)),
            (Err(why), Some(_)) => Err(ExportError::resume(format!(
                "nothing to resume: {url} {why}; run without --resume and with --restart to \
                 export again and replace it"
            ))),
            (Err(_), None) => claim_fresh(store, url, fresh).await,
        },
    }
}

/// The bucket answers a listing of the hidden folder: it exists and these credentials may read
/// it.
async fn reachable(store: &dyn Store, url: &ObjectUrl) -> Result<(), ExportError> {
    let folder = url.side("");
    store
        .list_with_delimiter(Some(&folder))
        .await
        .map(drop)
        .map_err(|e| store::failed(url, store::FIRST_LOOK, e))
}

fn exists(url: &ObjectUrl) -> ExportError {
    ExportError::output(format!(
        "{url} exists: an export does not replace an object; add --restart to replace it, or \
         give another key"
    ))
}

async fn claim_fresh(
    store: &dyn Store,
    url: &ObjectUrl,
    fresh: Checkpoint,
) -> Result<Start, ExportError> {
    claim(store, url, fresh, PutMode::Create).await
}

/// Starts from nothing: `fresh`, with this run's claim, saved as the checkpoint (create-only,
/// or over the version read).
async fn claim(
    store: &dyn Store,
    url: &ObjectUrl,
    mut fresh: Checkpoint,
    mode: PutMode,
) -> Result<Start, ExportError> {
    fresh.upload = Some(Upload {
        claim: upload::claim(),
        id: None,
        parts: Vec::new(),
    });
    let version = upload::write(store, url, &fresh, mode).await?;
    Ok(Start::Fresh(Saved {
        checkpoint: fresh,
        version,
    }))
}

/// The checkpoint beside the object and its version, if there is one; a damaged one is
/// refused.
async fn read_checkpoint(
    store: &dyn Store,
    url: &ObjectUrl,
) -> Result<Option<(Checkpoint, object_store::UpdateVersion)>, ExportError> {
    let Some((bytes, meta)) = get(store, url, CHECKPOINT).await? else {
        return Ok(None);
    };
    let cp: Checkpoint = sealed::unseal(&bytes).map_err(|e| {
        ExportError::resume(format!(
            "cannot resume from {}: {e}; add --restart to start over",
            url.side_url(CHECKPOINT)
        ))
    })?;
    let version = object_store::UpdateVersion {
        e_tag: meta.e_tag,
        version: meta.version,
    };
    Ok(Some((cp, version)))
}

/// The checkpoint is of this export: same version, endpoint, credential, query and format.
fn check_fits(
    url: &ObjectUrl,
    cp: &Checkpoint,
    identity: &mut Identity,
    client: &Client,
) -> Result<(), ExportError> {
    if cp.version != checkpoint::VERSION {
        return Err(ExportError::resume(format!(
            "{} has version {}, this program writes version {}: add --restart to start over",
            url.side_url(CHECKPOINT),
            cp.version,
            checkpoint::VERSION
        )));
    }
    identity.fingerprint_as(&cp.identity, client);
    if let Some(diff) = cp.identity.difference(identity) {
        return Err(ExportError::resume(format!(
            "cannot resume {url}: it was started with a different export ({diff}); run the \
             original command with --resume, or add --restart to start over"
        )));
    }
    Ok(())
}

/// Whether the object is one this program finished with this export and not changed since:
/// its record's tally, or why not.
async fn finished(
    store: &dyn Store,
    url: &ObjectUrl,
    identity: &mut Identity,
    client: &Client,
    meta: &ObjectMeta,
) -> Result<Result<(Option<Tally>, ObjectReport), String>, ExportError> {
    let Some((bytes, _)) = get(store, url, RECORD).await? else {
        return Ok(Err(
            "was not written by a finished export of this program".into()
        ));
    };
    let Ok(done) = sealed::unseal::<Completed>(&bytes) else {
        return Ok(Err(format!(
            "has a damaged record ({})",
            url.side_url(RECORD)
        )));
    };
    if done.version != checkpoint::VERSION {
        return Ok(Err("was finished by another version of this program".into()));
    }
    identity.fingerprint_as(&done.identity, client);
    if let Some(diff) = done.identity.difference(identity) {
        return Ok(Err(format!("was finished by a different export ({diff})")));
    }
    let same = meta.size == done.bytes
        && done
            .etag
            .as_ref()
            .is_none_or(|etag| meta.e_tag.as_ref() == Some(etag));
    if !same {
        return Ok(Err("changed after this program finished it".into()));
    }
    let object = ObjectReport {
        url: url.to_string(),
        bytes: meta.size,
        etag: meta.e_tag.clone(),
    };
    Ok(Ok((done.tally, object)))
}

/// The object's metadata, `None` when it is not there.
pub(crate) async fn head(
    store: &dyn Store,
    url: &ObjectUrl,
) -> Result<Option<ObjectMeta>, ExportError> {
    match store.head(&url.location()).await {
        Ok(meta) => Ok(Some(meta)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(store::failed(url, store::FIRST_LOOK, e)),
    }
}

/// A hidden key's bytes and metadata, `None` when it is not there.
async fn get(
    store: &dyn Store,
    url: &ObjectUrl,
    file: &str,
) -> Result<Option<(bytes::Bytes, ObjectMeta)>, ExportError> {
    let got = match store.get_opts(&url.side(file), GetOptions::default()).await {
        Ok(got) => got,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => {
            return Err(store::failed(
                url,
                &format!("reading {}", url.side_url(file)),
                e,
            ));
        }
    };
    let meta = got.meta.clone();
    let bytes = got
        .bytes()
        .await
        .map_err(|e| store::failed(url, &format!("reading {}", url.side_url(file)), e))?;
    Ok(Some((bytes, meta)))
}

/// Removes a hidden key beside the object (nothing when it is not there).
pub(crate) async fn delete(
    store: &dyn Store,
    url: &ObjectUrl,
    file: &str,
) -> Result<(), ExportError> {
    match store.delete(&url.side(file)).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(store::failed(
            url,
            &format!("removing {}", url.side_url(file)),
            e,
        )),
    }
}

/// Aborts the upload a checkpoint records, if any: an open upload costs money and never
/// expires by itself. One already gone (completed or aborted) is fine.
pub(crate) async fn abort(store: &dyn Store, url: &ObjectUrl, cp: &Checkpoint) {
    if let Some(id) = cp.upload.as_ref().and_then(|u| u.id.as_ref()) {
        let _ = store.abort_multipart(&url.location(), id).await;
    }
}

/// The hidden folder of the markers of uploads begun, beside the checkpoint: each names one
/// upload's id, written as soon as the upload is created, so that an upload is found and
/// aborted even when the checkpoint that recorded it was lost, edited or never saved.
const UPLOADS: &str = "uploads/";

/// Starts a multipart upload of `url`'s object and leaves its marker.
pub(crate) async fn create_upload(
    store: &dyn Store,
    url: &ObjectUrl,
) -> Result<String, ExportError> {
    let id = store
        .create_multipart(&url.location())
        .await
        .map_err(|e| store::failed(url, "starting the multipart upload", e))?;
    // `id-` first: Azure's uploads have an empty id, and a marker must still be a key inside
    // the folder.
    let marker = url.side(&format!("{UPLOADS}id-{}", hex(&id)));
    store
        .put(&marker, id.clone().into_bytes().into())
        .await
        .map_err(|e| store::failed(url, "recording the multipart upload", e))?;
    Ok(id)
}

/// Aborts every upload a marker names but `keep`, and removes their markers (and `keep`'s).
pub(crate) async fn abort_marked(
    store: &dyn Store,
    url: &ObjectUrl,
    keep: Option<&str>,
) -> Result<(), ExportError> {
    use futures::TryStreamExt;
    let folder = url.side(UPLOADS.trim_end_matches('/'));
    let markers: Vec<ObjectMeta> = store
        .list(Some(&folder))
        .try_collect()
        .await
        .map_err(|e| store::failed(url, "listing the uploads begun", e))?;
    for marker in markers {
        let id = store
            .get(&marker.location)
            .await
            .map_err(|e| store::failed(url, "reading an upload's marker", e))?
            .bytes()
            .await
            .map_err(|e| store::failed(url, "reading an upload's marker", e))?;
        let id = String::from_utf8_lossy(&id).into_owned();
        if keep != Some(id.as_str()) {
            match store.abort_multipart(&url.location(), &id).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(store::failed(url, "aborting an upload left open", e)),
            }
        }
        match store.delete(&marker.location).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(store::failed(url, "removing an upload's marker", e)),
        }
    }
    Ok(())
}

/// `text` in lowercase hex: an upload id as a key's name, whatever characters it holds.
fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}
