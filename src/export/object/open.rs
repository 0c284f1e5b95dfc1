//! How an export to an object opens: the store (given, or from the URL's environment), then a
//! text format's upload or Parquet's staging, fresh or from the checkpoint in the bucket.

use std::sync::Arc;

#[cfg(feature = "parquet")]
use super::Store;
use super::{ObjectOut, ObjectUrl, Opened as OpenedText};
use crate::export::error::ExportError;
#[cfg(feature = "parquet")]
use crate::export::format::Format;
#[cfg(feature = "parquet")]
use crate::export::lock::OutputLock;
#[cfg(feature = "parquet")]
use crate::export::parquet;
use crate::export::sink::{self, Sink};
use crate::export::{Export, Opened};

impl Export {
    /// Opens an object output, fresh or where its checkpoint in the bucket says to resume.
    pub(in crate::export) async fn open_object(
        &self,
        url: &ObjectUrl,
    ) -> Result<Opened, ExportError> {
        if self
            .keep_apart
            .as_ref()
            .is_some_and(|state| state.as_os_str() == url.to_string().as_str())
        {
            return Err(ExportError::state(format!(
                "the state {url} is the output: the export and the state would write over each \
                 other; give the state an object of its own"
            )));
        }
        let store = match &self.store {
            Some(store) => Arc::clone(&store.0),
            None => super::from_env(url, self.part_bytes)?,
        };
        #[cfg(feature = "parquet")]
        if self.format == Format::Parquet {
            return self.open_object_parquet(url, store).await;
        }
        let opened = ObjectOut::open(
            store,
            url.clone(),
            self.gzip,
            self.identity(),
            self.asked,
            &self.query.client,
            self.part_bytes,
        )
        .await?;
        Ok(match opened {
            OpenedText::Complete(tally, object) => Opened::Complete(
                tally,
                sink::Made {
                    object: Some(object),
                    ..sink::Made::default()
                },
            ),
            OpenedText::Out(out, checkpoint) => {
                let encoder = self.encoder(checkpoint.as_ref());
                let sink = Sink::Object {
                    encoder,
                    out: Box::new(out),
                    buf: Vec::with_capacity(1 << 20),
                };
                Opened::Sink(sink, checkpoint)
            }
        })
    }

    /// Opens a Parquet export to an object: a Parquet file export in a staging folder, fresh or
    /// from the parts the bucket keeps.
    #[cfg(feature = "parquet")]
    async fn open_object_parquet(
        &self,
        url: &ObjectUrl,
        store: Arc<dyn Store>,
    ) -> Result<Opened, ExportError> {
        let opened = super::ObjectParquet::open(
            store,
            url.clone(),
            self.identity(),
            self.asked,
            &self.query.client,
            self.part_bytes,
        )
        .await?;
        let (bucket, checkpoint) = match opened {
            super::OpenedParquet::Complete(tally, object) => {
                let made = sink::Made {
                    object: Some(object),
                    parquet: tally.as_ref().and_then(|t| t.parquet.clone()),
                    ..sink::Made::default()
                };
                return Ok(Opened::Complete(tally, made));
            }
            super::OpenedParquet::Out(bucket, checkpoint) => (bucket, checkpoint),
        };
        let local = bucket.local().to_path_buf();
        let lock = OutputLock::acquire(&local)?;
        // The identity the bucket's checkpoint records (its credential's fingerprint too).
        let identity = bucket.saved().0.identity;
        let select = self.query.body.select.as_deref();
        let out = parquet::ParquetOut::open(
            &local,
            identity,
            lock,
            checkpoint.as_ref(),
            select,
            self.parquet.clone(),
        )?;
        let sink = Sink::ObjectParquet {
            out: Box::new(out),
            bucket: Box::new(bucket),
        };
        Ok(Opened::Sink(sink, checkpoint))
    }
}
