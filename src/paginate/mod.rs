//! The paging state machine and the streams it drives.
//!
//! One page per item, in offset order. The rules:
//!
//! - Nothing is sent before the stream is first polled.
//! - The offset advances by the rows *received*, never by the rows asked for.
//! - An empty page ends the stream. A short page (fewer rows than asked for) ends it too once the
//!   page size is trusted: the API does not document its maximum `limit`, so the first short page
//!   is confirmed by one more request at the next offset. If that request brings rows, the server
//!   caps `limit`: the cap becomes the page size (reported in [`Summary::learned_cap`]) and paging
//!   goes on. A full page, of the asked or the learned size, makes the size trusted.
//! - A page identical to the previous one is an error ([`ErrorKind::Stalled`](crate::ErrorKind::Stalled)), not a loop.
//! - A page that still fails after its retries ends the stream: one `Err`, then `None`.
//! - The seam check (offset mode, pages ordered by `action_id`, on by default): every page
//!   after the first starts one row early, and that row must be the last one delivered, so a
//!   page of `limit` rows brings `limit − 1` new ones. If it
//!   is not, rows shifted in between: rows delivered already are skipped, and rows that moved
//!   up out of reach are fetched by key range before the page, so none comes out twice or goes
//!   missing ([`Summary::shifts_repaired`]). Keyset mode ([`crate::query::Mode::Keyset`]) needs none.
//! - The order check (keyset mode, and offset mode where seams are checked): every page's keys
//!   must run strictly in the walk's order, row after row. A page out of order (a server that
//!   does not honour `order`) is an error ([`ErrorKind::Stalled`](crate::ErrorKind::Stalled),
//!   not retried) naming the keys and their offsets. Keyset pages past a key ask from that key
//!   on (`>=`), its row again, so that a key shared by two rows across a page boundary shows:
//!   in keyset mode that is an error too (a seek cannot page exactly on a key that is not
//!   unique), and offset mode turns its seam check off for it and says so
//!   ([`Summary::warnings`]).
//! - Once a full page has confirmed the page size, up to [`Query::concurrency`] page requests
//!   are on the wire at once, and pages are delivered in offset order. A page waiting out its
//!   backoff before a retry holds no request slot: the pages after it go on being fetched, and
//!   those that come back before it wait in a reorder window bounded in bytes
//!   ([`Query::reorder_window`]); while the window is full, no new page is asked for until the
//!   page to deliver next arrives. When a page comes back short, nothing past it is delivered
//!   and the requests beyond it are dropped (cancelled).
//! - Keyset mode, ascending, with [`Query::concurrency`] set above 1 (and no `max_rows`): the
//!   keys are cut into consecutive ranges sized from the density of keys seen, up to `k` of
//!   them walked at once, each page by page by the rules above; pages are delivered from the
//!   oldest range only, so the rows are those of a sequential walk, in the same order. A range
//!   ahead waits once it holds its share of pages (no spill to disk): memory holds at most
//!   `2k × 4` pages. Descending keyset mode stays sequential.
//!
//! # Reading a stream
//! To count or sum while streaming, fold, or read the rows in a loop with
//! `while let Some(row) = rows.try_next().await?`. A closure returning
//! `async move { count += 1; .. }` counts into a copy and leaves `count` at 0 (the compiler
//! only warns: "value captured by `count` is never read").
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = xp_export::emulator::Emulator::start(
//! #     xp_export::emulator::Config::default().records(1_000).campaigns([245624]),
//! # )
//! # .await?;
//! # let client = xp_export::Client::builder()
//! #     .api_url(emulator.base_url())
//! #     .apptoken(emulator.apptoken())
//! #     .build()?;
//! use futures::TryStreamExt;
//! let failed = client
//!     .push_actions()
//!     .campaign(245624)
//!     .failed()
//!     .stream()
//!     .try_fold(0u64, |n, _action| async move { Ok(n + 1) })
//!     .await?;
//! assert!(failed > 0);
//! # Ok(()) }
//! ```
//!
//! # Runtime
//! The streams need a [tokio](https://docs.rs/tokio) runtime with its I/O and time drivers
//! (`#[tokio::main]`, `#[tokio::test]`, current-thread or multi-thread alike): each page request
//! runs as a task of its own, and the HTTP client is tokio's. Under any other executor, such as
//! `futures::executor::block_on`, the first poll panics with "there is no reactor running, must
//! be called from the context of a Tokio 1.x runtime".
//!
//! # What a stream holds and sends
//! - [`Rows`] and [`Pages`] are `Send + 'static`, so they can be moved into `tokio::spawn`; they
//!   are not `Sync`: one task polls a stream at a time.
//! - Nothing is sent before the first poll. Dropping a stream, or a future that owns it
//!   (`rows.try_for_each(..)` cut short by a timeout), cancels its requests in flight and their
//!   retries: nothing more is sent. A timeout around `rows.try_next()` drops only that call;
//!   the requests go on.
//! - Memory holds the page being read, one page per request in flight ([`Query::concurrency`]),
//!   and the pages that came back early while one before them waits out a retry, up to the
//!   reorder window's bytes (64 MiB by default; and, while a seam is repaired, the rows
//!   fetched for it). A [`RawRow`] keeps its page's body alive for as long as it is kept.
//! - With the seam check (offset mode, on by default), each page after the first asks for
//!   `limit` rows from one row before its offset: the first is the row delivered last, so the
//!   page brings `limit − 1` new rows. [`Query::seam_check`]`(false)` makes it `limit`.
//! - `client.list::<serde_json::Value>(..)` sorts each row's fields by name, as a
//!   `serde_json::Map` does unless serde_json's `preserve_order` feature is on somewhere in the
//!   build. [`Query::raw_stream`] keeps the server's field order, and its bytes.
//!
//! # Layout
//! - `plan`: what a query means for paging, checked once (order, seam check, keyset seeks).
//! - `cursor`: where paging stands and the requests it asks for; the synchronous `accept` that
//!   decides what each page means (`cursor/accept`), and the seam check of each page with the
//!   repair of a gap (`cursor/repair`); unit-tested without a server.
//! - `size`: what is known about the page size (probing, one short page unconfirmed, trusted).
//! - `seam`: what the seam check finds, and the gap it leaves to repair.
//! - `step`: what the cursor and the shell tell each other (requests, results, next steps).
//! - `fetch`: one page sent, decoded and retried.
//! - `reorder`: the reorder window, bounded in bytes, kept apart from the request slots: a
//!   page waiting to be retried holds no slot; pages that came back early wait in the window
//!   (no I/O).
//! - `shell`: the async side that sends what the cursor asks for, each page a task that holds
//!   a slot only while on the wire, and hands the cursor the pages in order.
//! - `ranges`: keyset mode in parallel, the plan: key ranges cut from a frontier (no I/O).
//! - `parallel`: keyset mode in parallel, the async side: a task per range (`parallel/task`),
//!   pages delivered in key order.
//! - `summary`: [`Summary`] and [`EndReason`].
//! - this file: [`Pages`] and the stream around the shell.

mod cursor;
mod fetch;
mod order;
mod parallel;
mod plan;
mod progress;
mod ranges;
mod reorder;
mod rows;
mod seam;
mod shell;
mod size;
mod step;
mod summary;

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream, Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::decode::{Decoder, KeyIndex, decode_raw, decode_typed};
use crate::error::Result;
use crate::model::RawRow;
use crate::query::Query;
use cursor::Cursor;
use fetch::Fetcher;
use plan::Plan;
use shell::Shell;
use step::Step;
use summary::{Shared, lock};

pub use progress::Progress;
pub use rows::Rows;
pub use summary::{EndReason, Summary, thousands};

#[cfg(feature = "export")]
pub(crate) use plan::key_direction;

/// One page of rows and where it stands in the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub(crate) offset: u64,
    pub(crate) requested: u64,
    pub(crate) rows: Vec<T>,
    /// Rows fetched by key to repair a seam: they do not move the offset.
    pub(crate) repair: bool,
    /// Where the stream reads keys: every row's key, on demand.
    pub(crate) keys: Option<PageKeys>,
}

/// The keys of a page's rows, read from the response body when asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageKeys {
    pub(crate) index: Arc<KeyIndex>,
    /// How many rows of the response come before the page's first row (the seam check's
    /// overlap row, and rows delivered already).
    pub(crate) skip: usize,
    /// The key of the page's last row.
    pub(crate) last: u64,
}

impl PageKeys {
    /// The keys of a page of `rows` rows that starts `skip` rows into the response, where
    /// they were read.
    pub(crate) fn read(
        keys: Option<(u64, u64)>,
        index: Option<KeyIndex>,
        skip: usize,
        rows: usize,
    ) -> Option<PageKeys> {
        let (index, (_, last)) = (index?, keys?);
        (rows > 0).then(|| PageKeys {
            index: Arc::new(index),
            skip,
            last,
        })
    }

    /// The key of the page's row `i`.
    pub(crate) fn key(&self, i: usize) -> Option<u64> {
        self.index.key(self.skip + i)
    }
}

impl<T> Page<T> {
    /// The offset of the page's first row.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset the next page starts at: this page's offset plus its rows (rows fetched by
    /// key to repair a seam do not move it).
    pub fn next_offset(&self) -> u64 {
        if self.repair {
            self.offset
        } else {
            self.offset + self.rows.len() as u64
        }
    }

    /// The `action_id` of the page's last row, where the stream reads keys (keyset mode, and
    /// offset mode with the seam check): with [`Page::next_offset`], where to continue from
    /// ([`Query::start_after`]).
    pub fn last_key(&self) -> Option<u64> {
        self.keys.as_ref().map(|k| k.last)
    }

    /// The `limit` this page was asked for with.
    pub fn requested(&self) -> u64 {
        self.requested
    }

    /// The page's rows, in the order the API sent them.
    pub fn rows(&self) -> &[T] {
        &self.rows
    }

    /// Takes the rows out of the page.
    pub fn into_rows(self) -> Vec<T> {
        self.rows
    }
}

/// The stream of pages of a query, in offset order. Made by [`Query::pages`].
///
/// Yields `Ok(page)` for each non-empty page, then ends; or yields one `Err` when a page fails
/// after its retries, then ends.
///
/// It is `Send`, `Unpin` and `'static` (it can move into `tokio::spawn`), but not `Sync`: one
/// task polls it at a time. Like [`Rows`], it needs a tokio runtime, holds the pages that came
/// back early up to [`Query::reorder_window`] bytes (plus one per request on the wire), and
/// cancels its requests in flight when dropped.
pub struct Pages<T> {
    inner: BoxStream<'static, Result<Page<T>>>,
    summary: Shared,
}

impl<T> Pages<T> {
    /// What the stream did so far: pages, rows and offsets count the pages delivered.
    pub fn summary(&self) -> Summary {
        lock(&self.summary).clone()
    }

    /// A handle on the summary that can be kept while the stream is consumed: see
    /// [`Progress`].
    pub fn progress(&self) -> Progress {
        Progress::new(self.summary.clone(), None)
    }
}

impl<T> Stream for Pages<T> {
    type Item = Result<Page<T>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T> fmt::Debug for Pages<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages")
            .field("summary", &self.summary())
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned + Send + 'static> Query<T> {
    /// The rows, one by one, across as many pages as it takes.
    ///
    /// See [`Rows`] for how the stream pages, retries and ends.
    pub fn stream(self) -> Rows<T> {
        Rows::new(self.pages())
    }

    /// The pages, each with its offset and rows: for exports that checkpoint between pages.
    pub fn pages(self) -> Pages<T> {
        Pages::new(&self, decode_typed::<T>)
    }
}

impl<T> Query<T> {
    /// The rows exactly as the server sent them ([`RawRow`]: shared slices of each response,
    /// no decoding into a type, no copy), paged like [`Query::stream`].
    pub fn raw_stream(self) -> Rows<RawRow> {
        Rows::new(self.raw_pages())
    }

    /// The pages of rows exactly as the server sent them: what an export writes.
    pub fn raw_pages(self) -> Pages<RawRow> {
        Pages::new(&self, decode_raw)
    }
}

/// Where the paging stands.
enum State<T> {
    /// More pages may come.
    Next(Box<Shell<T>>),
    /// The stream has ended: nothing more is sent, and requests still in flight were dropped.
    Done,
}

impl<T: Send + 'static> Pages<T> {
    fn new<Q>(query: &Query<Q>, decode: Decoder<T>) -> Self {
        let summary: Shared = Arc::new(Mutex::new(Summary {
            next_offset: query.start_offset,
            next_key: query.start_after,
            mode: query.mode,
            order_warning: plan::order_warning(query),
            ..Summary::default()
        }));
        let inner = match Plan::new(query) {
            Ok(plan) if plan.key_ranges > 1 => {
                parallel::pages(Fetcher::new(plan, decode, summary.clone()))
            }
            Ok(plan) => {
                let cursor = Cursor::new(&plan);
                let fetcher = Fetcher::new(plan, decode, summary.clone());
                let shell = Box::new(Shell::new(fetcher, cursor));
                stream::unfold(State::Next(shell), step).boxed()
            }
            Err(e) => {
                // Nothing is sent: the query's mistake is the stream's one item.
                lock(&summary).end = Some(EndReason::Failed {
                    offset: query.start_offset,
                    kind: e.kind(),
                });
                stream::once(async move { Err(e) }).boxed()
            }
        };
        // Fused: polling after the end gives `None` again, and sends nothing.
        Pages {
            inner: inner.fuse().boxed(),
            summary,
        }
    }
}

/// One page: ask the shell for steps until one delivers a page or ends the stream.
async fn step<T: Send + 'static>(state: State<T>) -> Option<(Result<Page<T>>, State<T>)> {
    let State::Next(mut shell) = state else {
        return None;
    };
    loop {
        let next = shell.next().await;
        shell.tell(&next);
        return match next {
            Step::Deliver(page, None) => Some((Ok(page), State::Next(shell))),
            Step::Deliver(page, Some(_)) => Some((Ok(page), State::Done)),
            Step::Continue => continue,
            Step::End => None,
            Step::Fail(e) => Some((Err(e), State::Done)),
        };
    }
}
