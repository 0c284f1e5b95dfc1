//! How an object is made, for every format: one conditional put when it fits a part, the
//! create-only look just before a multipart upload is completed, and the record of the finished
//! export beside it.

use object_store::{ObjectStoreExt, PutMode};

use super::start::{self, RECORD};
use super::store::{self, Store};
use super::url::ObjectUrl;
use crate::export::error::ExportError;
use crate::export::lock::Completed;
use crate::export::sealed;

/// The whole object in one put: create-only (the store refuses it over an object, `If-None-Match`
/// or generation 0) unless `restart`. Its ETag.
pub(crate) async fn put_whole(
    store: &dyn Store,
    url: &ObjectUrl,
    data: bytes::Bytes,
    restart: bool,
) -> Result<Option<String>, ExportError> {
    let mode = if restart {
        PutMode::Overwrite
    } else {
        PutMode::Create
    };
    match store::put_if(store, &url.location(), data, mode).await {
        Ok(put) => Ok(put.e_tag),
        Err(object_store::Error::AlreadyExists { .. }) => Err(appeared(store, url).await),
        Err(e) => Err(store::failed(url, "writing the object", e)),
    }
}

/// Create-only, before a multipart upload is completed: the object must not have appeared
/// while the export ran (unless `restart`).
pub(crate) async fn refuse_if_there(
    store: &dyn Store,
    url: &ObjectUrl,
    restart: bool,
) -> Result<(), ExportError> {
    if restart {
        return Ok(());
    }
    match start::head(store, url).await? {
        Some(_) => Err(appeared(store, url).await),
        None => Ok(()),
    }
}

/// Writes the record of the finished export beside the object (before the object is made,
/// and again with its ETag after).
pub(crate) async fn write_record(
    store: &dyn Store,
    url: &ObjectUrl,
    record: &Completed,
) -> Result<(), ExportError> {
    let bytes = sealed::seal(record).map_err(|e| ExportError::store(e.to_string()))?;
    store
        .put(&url.side(RECORD), bytes.into())
        .await
        .map(drop)
        .map_err(|e| store::failed(url, "writing the record of the finished export", e))
}

/// The object appeared while the export ran: create-only refuses to replace it. The record
/// written just before goes (best effort): it would otherwise stand beside an object this
/// export did not write. The checkpoint and the upload stay for `--resume` once the other
/// object is gone, or `--restart`.
async fn appeared(store: &dyn Store, url: &ObjectUrl) -> ExportError {
    let _ = store.delete(&url.side(RECORD)).await;
    ExportError::output(format!(
        "{url} appeared while this export ran (another writer created it), and an export does \
         not replace an object: add --restart to export again and replace it"
    ))
}
