//! Keyset mode with requests in parallel: the async side of the key ranges `ranges` cuts.
//!
//! The walk, in phases (`State`):
//!
//! 1. `Probe`: two requests at once, for the smallest key past the start and for the largest
//!    keys (`action_id DESC`, a page of them): they bound the ranges, and the page's span gives
//!    the density of keys to size the first ones. No row: one open range, which is the
//!    sequential walk.
//! 2. `Walk`: ranges are cut lazily, each walked by a task of its own with the sequential
//!    keyset cursor (the same seeks, page size learning and end rules: a short page ends a
//!    range only at a trusted size, so a server that caps `limit` loses no row), sending its
//!    pages into a channel of its own. Pages are delivered from the oldest range only, so rows
//!    come out in key order, exactly as one request at a time would bring them. A range's
//!    first page is asked without the range's upper bound: a range holding less than a page
//!    ends with it, and the first key past the bound is where keys resume, so the keys
//!    between are a gap (`ranges::Gaps`): ranges cut into it end without a request once a
//!    permit would send one, the next ranges are cut from where keys resume, sized from the
//!    density of the rows seen past the bound. A wide gap in the keys costs about one
//!    request per range in flight, not one per range the widening would cut across it.
//! 3. `Done`: the open (last) range ended, or something failed; nothing more is sent.
//!
//! # Bounds
//! - At most `k` requests are in flight at once (the query's concurrency), whichever ranges
//!   they belong to; the rate governor and the retry budget are the stream's, shared.
//! - At most `2k` ranges are open (cut and not yet delivered in full). A range ahead of the
//!   one being delivered fills its channel ([`CHANNEL_PAGES`]) and then waits, holding one
//!   more page, until its turn: it does not spill to disk, so memory holds at most
//!   `2k × (CHANNEL_PAGES + 1)` pages, plus the page the consumer reads, whatever the
//!   result's size and however slowly it is consumed.
//! - Ranges are cut to take about [`RANGE_PAGES`] requests, what a range may hold while it
//!   waits: by its turn it is fetched in full.
//!
//! The summary is the stream's: requests and retries as they happen, rows, pages,
//! `next_offset` and `next_key` as pages are delivered, in key order. A resumed walk starts
//! past `next_key` and probes again from there.

mod task;

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::AbortOnDropHandle;

use super::cursor::Cursor;
use super::fetch::Fetcher;
use super::plan::Direction;
use super::ranges::{Density, Gaps, KeyRange, Planner};
use super::size::PageSize;
use super::step::{Request, Seek};
use super::summary::lock;
use super::{EndReason, Page};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;

/// Pages a range's channel holds while the range waits for its turn.
pub(crate) const CHANNEL_PAGES: usize = 3;

/// How many requests a range is cut to take: its rows fill all but half of the last page,
/// so that a range rarely ends on a full page (which takes one more request to see the end).
/// As many as a waiting range holds, so that by its turn it is fetched in full.
pub(crate) const RANGE_PAGES: u64 = CHANNEL_PAGES as u64 + 1;

/// What a range's task tells the consumer, in this order: pages, then how it ended.
enum Msg<T> {
    Page(Page<T>),
    /// The range was walked to its end, for this reason (offsets from the range's first row).
    Done(Option<EndReason>),
    /// A page failed after its retries: the stream ends with this error.
    Fail(Error),
}

/// What the range tasks of one stream share.
struct Ranges<T> {
    fetcher: Arc<Fetcher<T>>,
    /// One per request allowed in flight.
    permits: Semaphore,
    in_flight: AtomicU64,
    /// The page size once a range has trusted one: later ranges start from it.
    trusted: Mutex<Option<u64>>,
    /// Ranges walked to their end, with their rows, not yet told to the planner.
    finished: Mutex<Vec<(KeyRange, u64)>>,
    /// The gaps in the keys found so far, and the density of the keys seen past a range, not
    /// yet told to the planner (see `task`).
    gaps: Mutex<Gaps>,
    ahead: Mutex<Vec<Density>>,
}

fn guard<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A range cut and not yet delivered in full.
struct Open<T> {
    range: KeyRange,
    pages: mpsc::Receiver<Msg<T>>,
    task: AbortOnDropHandle<()>,
}

/// Where the walk stands.
enum State<T> {
    /// Nothing sent yet: the largest key is probed first.
    Probe(Arc<Ranges<T>>),
    /// Ranges are walked; pages come from the oldest.
    Walk(Box<Walk<T>>),
    /// Ended: nothing more is sent, and the ranges' tasks were dropped (cancelled).
    Done,
}

/// The ranges open, oldest first, and where delivery stands.
struct Walk<T> {
    ranges: Arc<Ranges<T>>,
    planner: Planner,
    open: VecDeque<Open<T>>,
    /// The offset of the oldest range's first row (rows delivered, from the start offset).
    head_offset: u64,
    /// The offset after the last row delivered.
    next_offset: u64,
    /// The key of the last row delivered.
    last_key: Option<u64>,
}

/// The pages of a keyset walk over key ranges in parallel (the plan's `key_ranges` of them).
pub(super) fn pages<T: Send + 'static>(
    fetcher: Arc<Fetcher<T>>,
) -> BoxStream<'static, Result<Page<T>>> {
    let ranges = Arc::new(Ranges {
        permits: Semaphore::new(fetcher.plan.key_ranges),
        in_flight: AtomicU64::new(0),
        trusted: Mutex::new(None),
        finished: Mutex::default(),
        gaps: Mutex::default(),
        ahead: Mutex::default(),
        fetcher,
    });
    stream::unfold(State::Probe(ranges), step).boxed()
}

/// One page: probe first if need be, then the next page of the oldest range.
async fn step<T: Send + 'static>(state: State<T>) -> Option<(Result<Page<T>>, State<T>)> {
    let mut walk = match state {
        State::Done => return None,
        State::Walk(walk) => walk,
        State::Probe(ranges) => match Walk::begin(ranges.clone()).await {
            Ok(walk) => Box::new(walk),
            Err(e) => {
                let offset = ranges.fetcher.plan.start_offset;
                fail(&ranges, &e, offset);
                return Some((Err(e), State::Done));
            }
        },
    };
    match walk.next().await {
        Some(Ok(page)) => Some((Ok(page), State::Walk(walk))),
        Some(Err(e)) => Some((Err(e), State::Done)),
        None => None,
    }
}

/// The keys of a probe's first and last rows; `None` for no row.
fn edge(keys: Option<Result<(u64, u64)>>) -> Result<Option<(u64, u64)>> {
    keys.transpose()
}

/// Records the failure that ends the stream, at `offset`.
fn fail<T>(ranges: &Ranges<T>, e: &Error, offset: u64) {
    lock(&ranges.fetcher.summary).end = Some(EndReason::Failed {
        offset,
        kind: e.kind(),
    });
}

impl<T: Send + 'static> Walk<T> {
    /// Probes the smallest and the largest keys past the start, at once, and plans the
    /// ranges from them.
    async fn begin(ranges: Arc<Ranges<T>>) -> Result<Walk<T>> {
        let plan = &ranges.fetcher.plan;
        let probe = |seek, ask| Request {
            seek,
            position: plan.start_offset,
            ask,
            overlap: false,
            want_keys: true,
        };
        let smallest = probe(
            Seek::Keys {
                after: plan.start_after,
                before: None,
                direction: Direction::Ascending,
            },
            1,
        );
        // Newest first, down to the start: past the start is short of it, this way round.
        let largest = probe(
            Seek::Keys {
                after: None,
                before: plan.start_after,
                direction: Direction::Descending,
            },
            plan.page_size,
        );
        let (smallest, largest) =
            futures::future::join(ranges.fetch(&smallest), ranges.fetch(&largest)).await;
        let min = edge(smallest?.keys)?.map(|(first, _)| first);
        let largest = largest?;
        let rows = largest.rows.len().saturating_sub(1) as u64;
        let (keys, density) = match (min, edge(largest.keys)?) {
            // Rows removed between the two probes can leave either without the other's.
            (_, None) => (None, Density::default()),
            (min, Some((max, lowest))) if lowest <= max => {
                let min = min.unwrap_or(lowest).min(lowest);
                let keys = max - lowest;
                (Some((min, max)), Density { rows, keys })
            }
            (min, max) => {
                return Err(Error::new(
                    ErrorKind::Stalled,
                    format!(
                        "the server did not order by action_id as asked: the smallest key \
                         {min:?}, the largest keys {max:?}"
                    ),
                )
                .at(&plan.model, plan.start_offset));
            }
        };
        let (start, after) = (plan.start_offset, plan.start_after);
        Ok(Walk {
            planner: Planner::new(after, keys, density),
            ranges,
            open: VecDeque::new(),
            head_offset: start,
            next_offset: start,
            last_key: after,
        })
    }

    /// Cuts ranges and starts their tasks while fewer than `2k` are open.
    fn open_ranges(&mut self) {
        for (range, rows) in std::mem::take(&mut *guard(&self.ranges.finished)) {
            self.planner.finished(range, rows);
        }
        for seen in std::mem::take(&mut *guard(&self.ranges.ahead)) {
            self.planner.seen_ahead(seen);
        }
        let plan = &self.ranges.fetcher.plan;
        while self.open.len() < 2 * plan.key_ranges {
            let size = match *guard(&self.ranges.trusted) {
                Some(limit) => PageSize::Trusted { limit },
                None => PageSize::Probing {
                    limit: plan.page_size,
                },
            };
            let rows = RANGE_PAGES.saturating_mul(size.limit()) - size.limit().div_ceil(2);
            let gaps = guard(&self.ranges.gaps).clone();
            let Some(range) = self.planner.next_past(rows, &gaps) else {
                break;
            };
            let (tx, rx) = mpsc::channel(CHANNEL_PAGES);
            let cursor = Cursor::within(plan, range.after, range.before, size);
            let task = tokio::spawn(self.ranges.clone().walk(range, cursor, tx));
            self.open.push_back(Open {
                range,
                pages: rx,
                task: AbortOnDropHandle::new(task),
            });
        }
    }

    /// The next page of the oldest range; `None` once the open range has ended.
    async fn next(&mut self) -> Option<Result<Page<T>>> {
        loop {
            self.open_ranges();
            let head = self.open.front_mut()?;
            match head.pages.recv().await {
                Some(Msg::Page(page)) => return Some(self.deliver(page)),
                Some(Msg::Done(end)) => {
                    let done = self.open.pop_front()?;
                    if done.range.is_open() {
                        self.end(end);
                        return None;
                    }
                    self.head_offset = self.next_offset;
                }
                Some(Msg::Fail(e)) => {
                    // Every row before the failed page was delivered: it stood at the offset
                    // after them, not at the one its range counted from its own first row.
                    let e = e.at(&self.ranges.fetcher.plan.model, self.next_offset);
                    fail(&self.ranges, &e, self.next_offset);
                    return Some(Err(e));
                }
                None => {
                    // The task ended without a word: it panicked, which is a bug.
                    let done = self.open.pop_front()?;
                    if let Err(e) = done.task.await
                        && e.is_panic()
                    {
                        std::panic::resume_unwind(e.into_panic());
                    }
                    let e = Error::new(ErrorKind::Network, "a key range's task was cancelled");
                    fail(&self.ranges, &e, self.next_offset);
                    return Some(Err(e));
                }
            }
        }
    }

    /// Delivers a page of the oldest range: its offsets moved to the stream's, its keys
    /// checked to follow the last one delivered, the summary and the hook told.
    fn deliver(&mut self, mut page: Page<T>) -> Result<Page<T>> {
        let plan = &self.ranges.fetcher.plan;
        page.offset += self.head_offset;
        let first = page.keys.as_ref().and_then(|k| k.key(0));
        if let (Some(first), Some(last)) = (first, self.last_key)
            && first <= last
        {
            let e = Error::new(
                ErrorKind::Stalled,
                format!(
                    "the server did not honour the key ranges: action_id {first} came after \
                     {last}"
                ),
            )
            .at(&plan.model, page.offset);
            fail(&self.ranges, &e, self.next_offset);
            return Err(e);
        }
        let n = page.rows.len() as u64;
        self.next_offset = page.next_offset();
        self.last_key = page.last_key().or(self.last_key);
        {
            let mut s = lock(&self.ranges.fetcher.summary);
            s.pages += 1;
            s.rows += n;
            s.next_offset = self.next_offset;
            s.next_key = self.last_key;
        }
        if let Some(hook) = &plan.hook {
            hook(&Event::Page {
                offset: page.offset,
                rows: n,
            });
        }
        Ok(page)
    }

    /// The open range ended, for `end` (its offsets from the range's first row).
    fn end(&mut self, end: Option<EndReason>) {
        let at = self.head_offset;
        let reason = match end {
            Some(EndReason::ShortPage { offset, rows }) => EndReason::ShortPage {
                offset: offset + at,
                rows,
            },
            Some(EndReason::EmptyPage { offset }) => EndReason::EmptyPage {
                offset: offset + at,
            },
            Some(other) => other,
            None => EndReason::EmptyPage {
                offset: self.next_offset,
            },
        };
        lock(&self.ranges.fetcher.summary).end = Some(reason);
    }
}
