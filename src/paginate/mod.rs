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
//! - A page identical to the previous one is an error ([`ErrorKind::Stalled`]), not a loop.
//! - A page that still fails after its retries ends the stream: one `Err`, then `None`.
//! - The seam check (offset mode, pages ordered by `action_id`, on by default): every page
//!   after the first starts one row early, and that row must be the last one delivered, so a
//!   page of `limit` rows brings `limit − 1` new ones. If it
//!   is not, rows shifted in between: rows delivered already are skipped, and rows that moved
//!   up out of reach are fetched by key range before the page, so none comes out twice or goes
//!   missing ([`Summary::shifts_repaired`]). Keyset mode ([`crate::Mode::Keyset`]) needs none.
//! - Once a full page has confirmed the page size, up to [`Query::concurrency`] page requests
//!   are in flight at once, and pages are delivered in offset order. When a page comes back
//!   short, nothing past it is delivered and the requests beyond it are dropped (cancelled).
//! - Keyset mode, ascending, with [`Query::concurrency`] set above 1 (and no `max_rows`): the
//!   keys are cut into consecutive ranges sized from the density of keys seen, up to `k` of
//!   them walked at once, each page by page by the rules above; pages are delivered from the
//!   oldest range only, so the rows are those of a sequential walk, in the same order. A range
//!   ahead waits once it holds its share of pages (no spill to disk): memory holds at most
//!   `2k × 4` pages. Descending keyset mode stays sequential.
//!
//! # Layout
//! - `plan`: what a query means for paging, checked once (order, seam check, keyset seeks).
//! - `cursor`: where paging stands, and the synchronous `accept` that decides what each page
//!   means; unit-tested without a server.
//! - `size`: what is known about the page size (probing, one short page unconfirmed, trusted).
//! - `seam`: the seam check and the gaps it repairs.
//! - `step`: what the cursor and the shell tell each other (requests, results, next steps).
//! - `fetch`: one page sent, decoded and retried.
//! - `ranges`: keyset mode in parallel, the plan: key ranges cut from a frontier (no I/O).
//! - `parallel`: keyset mode in parallel, the async side: a task per range (`parallel/task`),
//!   pages delivered in key order.
//! - `summary`: [`Summary`] and [`EndReason`].
//! - this file: [`Pages`] and [`Rows`], the async shell that sends what the cursor asks for.

mod cursor;
mod fetch;
mod parallel;
mod plan;
mod progress;
mod ranges;
mod rows;
mod seam;
mod size;
mod step;
mod summary;

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream, FuturesOrdered, Stream, StreamExt};
use serde::de::DeserializeOwned;
use tokio_util::task::AbortOnDropHandle;

use crate::decode::{Decoder, KeyIndex, decode_raw, decode_typed};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::model::RawRow;
use crate::query::Query;
use cursor::Cursor;
use fetch::Fetcher;
use plan::Plan;
use step::{Fetched, Request, Step};
use summary::{Shared, lock};

pub use progress::Progress;
pub use rows::Rows;
pub use summary::{EndReason, Summary};

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
/// task polls it at a time. Like [`Rows`], it needs a tokio runtime, holds up to
/// [`Query::concurrency`] pages, and cancels its requests in flight when dropped.
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

/// The async side of paging: sends what the cursor asks for and hands it what comes back.
struct Shell<T> {
    fetcher: Arc<Fetcher<T>>,
    cursor: Cursor<T>,
    /// Requests in flight, oldest first; results are taken in that order. Each runs as a task
    /// of its own, so pages decode on every core while the consumer handles earlier ones;
    /// dropping the handle cancels the request.
    in_flight: FuturesOrdered<AbortOnDropHandle<Fetched<T>>>,
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
                let shell = Box::new(Shell {
                    cursor: Cursor::new(&plan),
                    fetcher: Fetcher::new(plan, decode, summary.clone()),
                    in_flight: FuturesOrdered::new(),
                });
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

impl<T: Send + 'static> Shell<T> {
    /// Sends a request, which runs as a task of its own.
    fn send(&mut self, request: Request) {
        let fetcher = self.fetcher.clone();
        self.in_flight
            .push_back(AbortOnDropHandle::new(tokio::spawn(async move {
                let result = fetcher.fetch(&request).await;
                Fetched { request, result }
            })));
        let held = self.in_flight.len() as u64;
        let mut s = lock(&self.fetcher.summary);
        s.peak_in_flight = s.peak_in_flight.max(held);
    }

    /// What comes next: a repair of the seam, or the oldest page in flight (topped up first).
    async fn next(&mut self) -> Step<T> {
        if let Some(request) = self.cursor.repair_request() {
            let result = self.fetcher.fetch(&request).await;
            let fetched = Fetched { request, result };
            return self
                .cursor
                .accept_repair(fetched, &mut lock(&self.fetcher.summary));
        }
        for request in self.cursor.top_up() {
            self.send(request);
        }
        if let Some(step) = self.cursor.idle(&mut lock(&self.fetcher.summary)) {
            return step;
        }
        let fetched = match self.in_flight.next().await {
            Some(Ok(fetched)) => fetched,
            // A panic in the request task is a bug: let it surface where the stream is polled.
            Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Some(Err(e)) => {
                let e = Error::new(
                    ErrorKind::Network,
                    format!("the page request was cancelled: {e}"),
                );
                return self.cursor.fail(e, &mut lock(&self.fetcher.summary));
            }
            None => {
                let reason = EndReason::LimitReached {
                    rows: lock(&self.fetcher.summary).rows,
                };
                lock(&self.fetcher.summary).end = Some(reason.clone());
                return Step::End;
            }
        };
        self.cursor
            .accept(fetched, &mut lock(&self.fetcher.summary))
    }

    /// Tells the hook, if there is one, of a page about to be delivered.
    fn tell(&self, step: &Step<T>) {
        if let (Step::Deliver(page, _), Some(hook)) = (step, &self.fetcher.plan.hook) {
            hook(&Event::Page {
                offset: page.offset,
                rows: page.rows.len() as u64,
            });
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
