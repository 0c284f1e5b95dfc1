//! A state kept in a bucket (`--state s3://…`): read with its version (ETag or generation) when
//! a run opens it, and replaced only over that version once the run's output is complete. A
//! store cannot lock an object as a file is locked; the conditional write does the lock's work:
//! of two runs on one state at once, the second to finish fails naming the conflict and leaves
//! the state as the first wrote it (its own output stays; the next run repeats its window).

use std::path::PathBuf;
use std::sync::Arc;

use object_store::{Error as StoreError, GetOptions, PutMode, UpdateVersion};

use super::state::{self, State};
use crate::export::error::ExportError;
use crate::export::object::{ObjectUrl, Store, failed};
use crate::export::sealed;

/// A state in a bucket, and the version this run read of it (`None`: there was none).
pub(crate) struct InBucket {
    pub url: ObjectUrl,
    pub store: Arc<dyn Store>,
    pub version: Option<UpdateVersion>,
}

impl std::fmt::Debug for InBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InBucket({})", self.url)
    }
}

impl InBucket {
    /// The URL as the state's messages name it.
    pub(crate) fn shown(&self) -> PathBuf {
        PathBuf::from(self.url.to_string())
    }
}

/// Reads the state at `url` (`None` on a first run), with its version.
pub(crate) async fn read(
    url: ObjectUrl,
    store: Arc<dyn Store>,
) -> Result<(InBucket, Option<State>), ExportError> {
    let shown = PathBuf::from(url.to_string());
    let got = match store.get_opts(&url.location(), GetOptions::default()).await {
        Ok(got) => Some(got),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(state_err(failed(&url, "cannot read the state", e))),
    };
    let Some(got) = got else {
        // A first run: the bucket must answer now, not after the whole export.
        let folder = url
            .key()
            .rsplit_once('/')
            .map(|(folder, _)| crate::export::object::raw_key(folder));
        store
            .list_with_delimiter(folder.as_ref())
            .await
            .map_err(|e| state_err(failed(&url, crate::export::object::FIRST_LOOK, e)))?;
        return Ok((
            InBucket {
                url,
                store,
                version: None,
            },
            None,
        ));
    };
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    let bytes = got
        .bytes()
        .await
        .map_err(|e| state_err(failed(&url, "cannot read the state", e)))?;
    let state = state::parse(&shown, &bytes)?;
    Ok((
        InBucket {
            url,
            store,
            version: Some(version),
        },
        Some(state),
    ))
}

/// Replaces the state, only over the version read (or, on a first run, only if there is still
/// none).
pub(crate) async fn write(at: &InBucket, state: &State) -> Result<(), ExportError> {
    let bytes = sealed::seal(state).map_err(|e| ExportError::state(e.to_string()))?;
    let mode = match &at.version {
        Some(v) => PutMode::Update(v.clone()),
        None => PutMode::Create,
    };
    match crate::export::object::put_if(&*at.store, &at.url.location(), bytes.into(), mode).await {
        Ok(_) => Ok(()),
        Err(StoreError::AlreadyExists { .. } | StoreError::Precondition { .. }) => {
            Err(ExportError::busy(format!(
                "the state {} changed since this run read it: another run on it finished \
                 meanwhile, and this one does not write over what it recorded",
                at.url
            )))
        }
        Err(e) => Err(failed(&at.url, "cannot write the state", e)),
    }
}

/// A store's failure with the state, as a state error.
fn state_err(e: ExportError) -> ExportError {
    ExportError::state(format!("the state: {}", crate::error::chain(&e)))
}
