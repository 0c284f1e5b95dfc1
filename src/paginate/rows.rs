//! [`Rows`]: the rows of a query one by one, with a summary that counts what was handed out.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures::stream::{Stream, StreamExt};

use super::progress::Handed;
use super::{Pages, Progress, Summary};
use crate::error::Result;

/// The stream of rows of a query. Made by [`Query::stream`](crate::Query::stream).
///
/// Pages are fetched as the rows are consumed: memory holds the page being read, one page per
/// request in flight ([`Query::concurrency`](crate::Query::concurrency)) and the pages that
/// came back early, up to the reorder window's bytes (while a seam is repaired, the rows
/// fetched for it besides), whatever the size of the result; in keyset mode with key ranges in parallel, `2 × concurrency × 4` pages. See the
/// [module rules](crate::paginate) for how it pages and ends.
///
/// # Runtime, threads and cancellation
/// - It needs a tokio runtime (I/O and time enabled; either flavour): each page request is a
///   tokio task. Polled under another executor (`futures::executor::block_on`), it panics:
///   "there is no reactor running".
/// - It is `Send`, `Unpin` and `'static`, so it can move into `tokio::spawn`; it is not
///   `Sync`. To read rows and then the [`summary`](Rows::summary), consume `&mut rows`
///   (`while let Some(row) = rows.try_next().await?`, or `(&mut rows).try_for_each(..)`).
/// - Dropping it, or a future that owns it (`rows.try_for_each(..)` cut short by a timeout),
///   cancels its requests in flight and their retries; nothing more is sent. A timeout around
///   `rows.try_next()` drops only that call: the requests go on, and the next poll takes up
///   where it stopped.
///
/// # Errors
/// When a page fails after its retries (or cannot be retried: a refusal such as HTTP 401, a row
/// that does not decode) the stream yields one `Err` naming the model, the offset and the cause,
/// then ends. Every row before that offset was yielded. With `try_for_each` the error is
/// returned as soon as it arrives; the rows already handled stay handled, and
/// [`Error::offset`](crate::Error::offset) says where to start again
/// ([`Query::start_offset`](crate::Query::start_offset)).
///
/// # Examples
/// ```no_run
/// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
/// use futures::TryStreamExt;
/// let mut rows = client.push_actions().campaign(245624).stream();
/// while let Some(action) = rows.try_next().await? {
///     println!("{:?}", action.action_id);
/// }
/// println!("{:?}", rows.summary().end);
/// # Ok(()) }
/// ```
///
/// The summary counts the rows handed out, so it is a safe checkpoint between two rows:
/// [`Summary::next_offset`] and [`Summary::next_key`] say where to continue. To read it while
/// `try_for_each` consumes the stream, take a [`Progress`] handle first, or lend the stream
/// with `(&mut rows)`:
///
/// ```no_run
/// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
/// use futures::TryStreamExt;
/// let mut rows = client.push_actions().campaign(245624).stream();
/// (&mut rows).try_for_each(|_action| async { Ok(()) }).await?;
/// println!("{} rows", rows.summary().rows);
/// # Ok(()) }
/// ```
pub struct Rows<T> {
    pages: Pages<T>,
    /// The rest of the page being read.
    current: std::vec::IntoIter<T>,
    handed: Arc<Handed>,
    /// Where the stream stood before its first page: next offset and key.
    start: (u64, Option<u64>),
}

impl<T> Rows<T> {
    pub(crate) fn new(pages: Pages<T>) -> Self {
        let s = pages.summary();
        Rows {
            pages,
            current: Vec::new().into_iter(),
            handed: Arc::default(),
            start: (s.next_offset, s.next_key),
        }
    }

    /// What the stream did so far: rows, [`Summary::next_offset`] and [`Summary::next_key`]
    /// count the rows handed out; [`Summary::buffered_rows`] the rows fetched and not yet.
    pub fn summary(&self) -> Summary {
        self.progress().summary()
    }

    /// A handle on the summary that can be kept while the stream is consumed (by
    /// `try_for_each`, say): see [`Progress`].
    pub fn progress(&self) -> Progress {
        Progress::new(self.pages.summary.clone(), Some(self.handed.clone()))
    }
}

// Nothing in `Rows` is pinned: its rows are moved out of a `Vec`, its pages stream is boxed.
impl<T> Unpin for Rows<T> {}

impl<T> Stream for Rows<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(row) = this.current.next() {
                this.handed.row();
                return Poll::Ready(Some(Ok(row)));
            }
            match ready!(this.pages.poll_next_unpin(cx)) {
                Some(Ok(page)) => {
                    let len = page.rows.len() as u64;
                    this.handed
                        .page(page.offset, page.repair, page.keys, len, this.start);
                    this.current = page.rows.into_iter();
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl<T> fmt::Debug for Rows<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows")
            .field("summary", &self.summary())
            .finish_non_exhaustive()
    }
}
