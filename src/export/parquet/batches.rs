//! A query's pages as Arrow record batches, in the columns a Parquet export writes: for a
//! program that hands rows to Arrow (polars, DuckDB, pandas, the Python package) without a file
//! between.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt};

use super::columns::Columns;
use crate::error::{Error, ErrorKind, Result};
use crate::export::surrogates::Replaced;
use crate::model::RawRow;
use crate::paginate::{Pages, Progress, Summary};
use crate::query::Query;

/// The pages of a query, each as one [`RecordBatch`], in offset order. Made by
/// [`RecordBatches::new`].
///
/// The columns are those of a Parquet export of the same query: push-devices' typed schema (or
/// the selected fields, in `select`'s order), other models' inferred from the first page; then
/// the catch-all JSON column `extra`, which holds by field the values a column cannot hold as
/// sent and the fields the schema does not know. The schema is fixed by the first page: every
/// batch has it. A lone UTF-16 surrogate is given as U+FFFD, as the Parquet export stores it
/// ([`RecordBatches::values_replaced`] counts them). Paging, retries, memory and cancellation are those of [`Query::pages`].
///
/// Yields `Ok(batch)` for each non-empty page, then ends; or one `Err` (a page that failed
/// after its retries, or a row that is not a JSON object: [`ErrorKind::Decode`], naming its
/// offset), then ends.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::TryStreamExt;
/// use xp_export::Client;
/// use xp_export::emulator::{Config, Emulator};
/// use xp_export::export::RecordBatches;
///
/// let emu = Emulator::start(Config::default().records(2_500)).await?;
/// let client = Client::builder().api_url(emu.base_url()).apptoken(emu.apptoken()).build()?;
/// let query = client.push_actions().page_size(1000);
/// let batches: Vec<_> = RecordBatches::new(query).try_collect().await?;
/// // A batch a page; the seam check's one-row overlap keeps the second page at 999 new rows.
/// assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [1000, 999, 501]);
/// assert!(batches[0].schema().field_with_name("action_id").is_ok());
/// assert!(batches.iter().all(|b| b.schema() == batches[0].schema()));
/// # Ok(()) }
/// ```
pub struct RecordBatches {
    pages: Pages<RawRow>,
    columns: Columns,
    /// Lone UTF-16 surrogates, stored with U+FFFD as a Parquet export stores them.
    replaced: Replaced,
    done: bool,
}

impl RecordBatches {
    /// The pages of `query` as record batches (its rows kept as the server sent them until
    /// they become columns).
    pub fn new<T>(query: Query<T>) -> Self {
        let columns = Columns::new(query.model(), query.body.select.as_deref());
        RecordBatches {
            pages: query.raw_pages(),
            columns,
            replaced: Replaced::default(),
            done: false,
        }
    }

    /// What the stream did so far: pages, rows and offsets count the pages delivered.
    pub fn summary(&self) -> Summary {
        self.pages.summary()
    }

    /// A handle on the summary that can be kept while the stream is consumed.
    pub fn progress(&self) -> Progress {
        self.pages.progress()
    }

    /// String values that held a lone UTF-16 surrogate, which Arrow's UTF-8 cannot hold, given
    /// so far with U+FFFD in its place (as a Parquet export stores them): not zero means the
    /// batches differ from what the server sent.
    pub fn values_replaced(&self) -> u64 {
        self.replaced.count()
    }

    /// The schema of the batches, once the first one has fixed it.
    pub fn schema(&self) -> Option<SchemaRef> {
        self.columns.fixed().map(|_| self.columns.schema())
    }
}

impl Stream for RecordBatches {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let page = match self.pages.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(page))) => page,
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let this = &mut *self;
        let repaired = this.replaced.repair_page(page.rows(), page.offset());
        let rows = repaired.as_deref().unwrap_or(page.rows());
        let batch = this
            .columns
            .push(rows, page.offset())
            .and_then(|()| this.columns.take_batch());
        Poll::Ready(Some(batch.map_err(|e| {
            this.done = true;
            Error::new(ErrorKind::Decode, e)
        })))
    }
}

impl fmt::Debug for RecordBatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatches")
            .field("pages", &self.pages)
            .finish_non_exhaustive()
    }
}
