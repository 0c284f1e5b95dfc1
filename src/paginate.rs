//! The paging state machine and the streams it drives.
//!
//! One request per step, one page per item. The machine's rules:
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
//!   after the first starts one row early, and that row must be the last one delivered. If it
//!   is not, rows shifted in between: rows delivered already are skipped, and rows that moved
//!   up out of reach are fetched by key range before the page, so none comes out twice or goes
//!   missing ([`Summary::shifts_repaired`]). Keyset mode ([`crate::Mode::Keyset`]) needs none.
//! - Once a full page has confirmed the page size, up to [`Query::concurrency`] page requests
//!   are in flight at once, and pages are delivered in offset order. When a page comes back
//!   short, nothing past it is delivered and the requests beyond it are dropped (cancelled).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use backon::Retryable;
use futures::stream::{self, BoxStream, FuturesOrdered, Stream, StreamExt, TryStreamExt};
use tokio_util::task::AbortOnDropHandle;

use crate::error::{Error, ErrorKind, Result};
use crate::governor::Governor;
use crate::model::{Decoded, Decoder};
use crate::query::{Mode, Query, RequestBody};

/// One page of rows and where it stands in the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    offset: u64,
    requested: u64,
    rows: Vec<T>,
}

impl<T> Page<T> {
    /// The offset of the page's first row.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The offset the next page starts at: this page's offset plus its rows.
    pub fn next_offset(&self) -> u64 {
        self.offset + self.rows.len() as u64
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

/// Why a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A page came back empty at `offset` (the result had no rows, or a whole number of full
    /// pages).
    EmptyPage {
        /// Where the empty page was asked for.
        offset: u64,
    },
    /// A page came back with fewer rows than asked for, at a trusted page size (or confirmed by
    /// an empty page after it).
    ShortPage {
        /// The short page's offset.
        offset: u64,
        /// How many rows it had.
        rows: u64,
    },
    /// The query's `max_rows` were delivered.
    LimitReached {
        /// How many rows were delivered.
        rows: u64,
    },
    /// A page failed after its retries; the stream's last item was that error.
    Failed {
        /// The failed page's offset: every row before it was delivered.
        offset: u64,
        /// What kind of failure it was.
        kind: ErrorKind,
    },
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::EmptyPage { offset } => write!(f, "empty page at offset {offset}"),
            EndReason::ShortPage { offset, rows } => {
                write!(f, "short page of {rows} rows at offset {offset}")
            }
            EndReason::LimitReached { rows } => write!(f, "row limit of {rows} reached"),
            EndReason::Failed { offset, kind } => write!(f, "failed at offset {offset} ({kind})"),
        }
    }
}

/// What a stream did so far: requests, rows, retries, and how it ended.
///
/// Read it from [`Rows::summary`] or [`Pages::summary`] while the stream runs (for progress) or
/// after it ended (for a report).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Summary {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Non-empty pages delivered.
    pub pages: u64,
    /// Rows delivered.
    pub rows: u64,
    /// The offset the next page would start at (in keyset mode: rows delivered, counted from
    /// the start offset).
    pub next_offset: u64,
    /// Keyset mode: the `action_id` of the last row delivered, where the next page seeks from.
    pub next_key: Option<u64>,
    /// Retries, by the kind of failure that caused them.
    pub retries: BTreeMap<ErrorKind, u64>,
    /// Time spent waiting before retries.
    pub retry_wait: Duration,
    /// The page size the server was found to cap `limit` at, if it does.
    pub learned_cap: Option<u64>,
    /// The most page requests in flight or waiting to be delivered at once: the bound on the
    /// pages held in memory (at most the query's concurrency).
    pub peak_in_flight: u64,
    /// Why the stream ended; `None` while it runs.
    pub end: Option<EndReason>,
    /// How the stream paged.
    pub mode: Mode,
    /// Offset mode: page seams where the rows had shifted since the page before (the row
    /// before the page was not the last one delivered): rows were added or removed during the
    /// export.
    pub shifts_detected: u64,
    /// Of those, the seams repaired: rows delivered already were skipped, and rows that moved
    /// out of reach were fetched by key, so none came out twice or went missing.
    pub shifts_repaired: u64,
    /// Why completeness cannot be checked for this query, if it cannot (see
    /// [`Summary::warnings`]).
    pub order_warning: Option<String>,
}

impl Summary {
    /// What stands between this export and a guarantee that every row that existed when it
    /// started came out exactly once. Empty when nothing does.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(o) = &self.order_warning {
            w.push(o.clone());
        }
        if self.shifts_detected > self.shifts_repaired {
            w.push(format!(
                "rows shifted between pages {} time(s) during the export and {} could not be \
                 repaired: the output may hold duplicates or miss rows there; keyset mode rules \
                 this out",
                self.shifts_detected,
                self.shifts_detected - self.shifts_repaired
            ));
        }
        if let Some(EndReason::Failed { offset, kind }) = &self.end {
            w.push(format!(
                "incomplete: the export stopped at offset {offset} ({kind})"
            ));
        }
        w
    }

    /// All retries, whatever their cause.
    pub fn total_retries(&self) -> u64 {
        self.retries.values().sum()
    }
}

type Shared = Arc<Mutex<Summary>>;

fn lock(s: &Shared) -> MutexGuard<'_, Summary> {
    // A panic while holding the lock leaves plain counters behind: still worth reading.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The stream of pages of a query, in offset order. Made by [`Query::pages`].
///
/// Yields `Ok(page)` for each non-empty page, then ends; or yields one `Err` when a page fails
/// after its retries, then ends. It is `Send`, `Unpin` and `'static`.
pub struct Pages<T> {
    inner: BoxStream<'static, Result<Page<T>>>,
    summary: Shared,
}

/// The stream of rows of a query. Made by [`Query::stream`].
///
/// Pages are fetched one at a time as the rows are consumed, so memory holds one page whatever
/// the size of the result. See the [module rules](crate::paginate) for how it pages and ends.
///
/// # Errors
/// When a page fails after its retries (or cannot be retried: a refusal such as HTTP 401, a row
/// that does not decode) the stream yields one `Err` naming the model, the offset and the cause,
/// then ends. Every row before that offset was yielded. With `try_for_each` the error is
/// returned as soon as it arrives; the rows already handled stay handled, and
/// [`Error::offset`] says where to start again ([`Query::start_offset`]).
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
pub struct Rows<T> {
    inner: BoxStream<'static, Result<T>>,
    summary: Shared,
}

impl<T> Pages<T> {
    /// What the stream did so far.
    pub fn summary(&self) -> Summary {
        lock(&self.summary).clone()
    }
}

impl<T> Rows<T> {
    /// What the stream did so far.
    pub fn summary(&self) -> Summary {
        lock(&self.summary).clone()
    }
}

impl<T> Stream for Pages<T> {
    type Item = Result<Page<T>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T> Stream for Rows<T> {
    type Item = Result<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<T: Send + 'static> Rows<T> {
    pub(crate) fn new(pages: Pages<T>) -> Self {
        let summary = pages.summary.clone();
        let inner = pages
            .map_ok(|page| stream::iter(page.rows.into_iter().map(Ok)))
            .try_flatten()
            .fuse()
            .boxed();
        Rows { inner, summary }
    }
}

/// Where the paging stands.
enum State<T> {
    /// More pages may come: the cursor knows where, and holds the requests in flight.
    Next(Box<Cursor<T>>),
    /// The stream has ended: nothing more is sent, and requests still in flight were dropped.
    Done,
}

/// What every request of one stream shares: the query, how rows are decoded, and the summary
/// it reports into.
struct Fetcher<T> {
    query: Query<T>,
    decode: Decoder<T>,
    summary: Shared,
    governor: Governor,
}

/// What one request asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seek {
    /// `limit` rows from `offset`.
    Offset(u64),
    /// Keyset: rows past `after` (and before `before`, when set), in key order.
    Keys {
        after: Option<u64>,
        before: Option<u64>,
        descending: bool,
    },
}

/// A page request's outcome, with what it was sent for.
struct Fetched<T> {
    /// The position of the page's first new row.
    offset: u64,
    /// The `limit` sent.
    ask: u64,
    /// Whether the first row returned is the previous page's last (the seam check).
    overlap: bool,
    result: Result<Decoded<T>>,
}

/// Rows that a shift hid between two pages, being fetched by key before the page after them.
struct Gap<T> {
    /// Fetch keys past this one (the last row delivered)…
    after: u64,
    /// …and before this one (the first row of the held page), if bounded.
    before: Option<u64>,
    /// The page the gap comes before, delivered once the gap is filled.
    held: Option<Page<T>>,
    /// How the stream ends after the held page, if it does.
    end: Option<EndReason>,
}

/// The paging position, what has been learned about the server, and the requests in flight.
struct Cursor<T> {
    fetcher: Arc<Fetcher<T>>,
    /// The position of the next new row to deliver.
    offset: u64,
    /// The position of the next new row to request (ahead of `offset` while prefetching).
    scheduled: u64,
    /// The `limit` to send: the page size, or the learned cap.
    limit: u64,
    /// Whether a short page can be believed to be the end. Prefetching waits for it.
    trusted: bool,
    /// A short page seen at an untrusted size, `(offset, rows)`: the next request confirms it.
    unconfirmed_short: Option<(u64, u64)>,
    /// A fingerprint of the previous page, to catch a server that repeats itself.
    previous: Option<u64>,
    /// Rows delivered so far.
    delivered: u64,
    /// Keyset mode: the key of the last row delivered (the next page seeks past it), and
    /// whether keys descend.
    after: Option<u64>,
    descending: bool,
    /// Offset mode on the unique key: whether it descends. Each request after the first then
    /// asks for one row more, starting one row earlier, and that row must be the last one
    /// delivered: if it is not, rows shifted, and the seam is repaired.
    seam: Option<bool>,
    /// Offset mode: the key of the last row delivered.
    last_key: Option<u64>,
    /// Rows a shift hid, being fetched before the page after them.
    gap: Option<Gap<T>>,
    /// Requests in flight, oldest first; results are taken in that order. Each runs as a task
    /// of its own, so pages decode on every core while the consumer handles earlier ones;
    /// dropping the handle cancels the request.
    in_flight: FuturesOrdered<AbortOnDropHandle<Fetched<T>>>,
}

impl<T: Send + 'static> Pages<T> {
    pub(crate) fn new(query: Query<T>, decode: Decoder<T>) -> Self {
        let summary: Shared = Arc::new(Mutex::new(Summary {
            next_offset: query.start_offset,
            next_key: query.start_after,
            mode: query.mode,
            order_warning: query.order_warning(),
            ..Summary::default()
        }));
        let cursor = Cursor {
            offset: query.start_offset,
            scheduled: query.start_offset,
            limit: query.page_size,
            trusted: false,
            unconfirmed_short: None,
            previous: None,
            delivered: 0,
            after: query.start_after.filter(|_| query.mode == Mode::Keyset),
            descending: false,
            seam: query.seam_order().filter(|_| query.page_size >= 2),
            // Offset mode: a resumed export knows the key of the last row it delivered.
            last_key: query.start_after.filter(|_| query.mode == Mode::Offset),
            gap: None,
            in_flight: FuturesOrdered::new(),
            fetcher: Arc::new(Fetcher {
                governor: Governor::new(query.max_rps, query.retry_budget),
                query,
                decode,
                summary: summary.clone(),
            }),
        };
        // Fused: polling after the end gives `None` again, and sends nothing.
        let inner = stream::unfold(State::Next(Box::new(cursor)), step)
            .fuse()
            .boxed();
        Pages { inner, summary }
    }
}

impl<T: Send + 'static> Cursor<T> {
    fn query(&self) -> &Query<T> {
        &self.fetcher.query
    }

    fn summary(&self) -> MutexGuard<'_, Summary> {
        lock(&self.fetcher.summary)
    }

    /// Sends a request, which runs as a task of its own.
    fn send(&mut self, offset: u64, ask: u64, overlap: bool, seek: Seek) {
        let want_keys = matches!(seek, Seek::Keys { .. }) || self.seam.is_some();
        let fetcher = self.fetcher.clone();
        self.in_flight
            .push_back(AbortOnDropHandle::new(tokio::spawn(async move {
                let result = fetch(&fetcher, seek, offset, ask, want_keys).await;
                Fetched {
                    offset,
                    ask,
                    overlap,
                    result,
                }
            })));
        let held = self.in_flight.len() as u64;
        let mut s = self.summary();
        s.peak_in_flight = s.peak_in_flight.max(held);
    }

    /// Sends the next request, at `scheduled`, unless `max_rows` needs no more.
    fn schedule(&mut self) -> bool {
        let q = self.query();
        let before = self.scheduled - q.start_offset;
        // The seam check: after the first row of the result, start one row early — from the
        // first page on when it continues an export whose last key is known (so its pages line
        // up with an uninterrupted one), from the second otherwise.
        let overlap = self.seam.is_some()
            && self.scheduled > 0
            && (self.scheduled > q.start_offset || self.last_key.is_some());
        let room = self.limit - u64::from(overlap);
        let new = match q.max_rows {
            Some(max) if before >= max => return false,
            Some(max) => room.min(max - before),
            None => room,
        };
        let position = self.scheduled;
        let seek = match q.mode {
            Mode::Keyset => Seek::Keys {
                after: self.after,
                before: None,
                descending: self.descending,
            },
            Mode::Offset => Seek::Offset(position - u64::from(overlap)),
        };
        self.send(position, new + u64::from(overlap), overlap, seek);
        self.scheduled += new;
        true
    }

    /// Ends the stream for `reason`; requests still in flight are dropped with the cursor.
    fn finish(&self, reason: EndReason) -> Option<(Result<Page<T>>, State<T>)> {
        self.summary().end = Some(reason);
        None
    }

    /// Ends the stream with an error as its last item.
    fn fail(&self, e: Error) -> Option<(Result<Page<T>>, State<T>)> {
        self.summary().end = Some(EndReason::Failed {
            offset: self.offset,
            kind: e.kind(),
        });
        Some((Err(e), State::Done))
    }

    /// Counts a delivered page.
    fn delivered_page(&mut self, n: u64) {
        self.delivered += n;
        let key = match self.query().mode {
            Mode::Keyset => self.after,
            Mode::Offset => self.last_key,
        };
        let offset = self.offset;
        let mut s = self.summary();
        s.pages += 1;
        s.rows += n;
        s.next_offset = offset;
        s.next_key = key;
    }
}

/// Whether key `a` comes after key `b` in the order (`descending` or not).
fn past(a: u64, b: u64, descending: bool) -> bool {
    if descending { a < b } else { a > b }
}

/// One page: keep the requests in flight topped up, take the oldest, decide what comes next.
async fn step<T: Send + 'static>(state: State<T>) -> Option<(Result<Page<T>>, State<T>)> {
    let State::Next(mut c) = state else {
        return None;
    };
    match validate(c.query()) {
        Ok(descending) => c.descending = descending,
        Err(e) => return c.fail(e),
    }
    if c.gap.is_some() {
        return fill_gap(c).await;
    }
    if c.in_flight.is_empty() && !c.schedule() {
        return c.finish(EndReason::LimitReached { rows: c.delivered });
    }
    if c.trusted && c.query().mode == Mode::Offset {
        // The page size is known: ask for the next pages before they are needed. (Keyset pages
        // are sequential by nature: each seeks past the last key of the one before.)
        while c.in_flight.len() < c.query().concurrency.max(1) && c.schedule() {}
    }
    let Fetched {
        offset,
        ask,
        overlap,
        result,
    } = match c.in_flight.next().await {
        Some(Ok(fetched)) => fetched,
        // A panic in the request task is a bug: let it surface where the stream is polled.
        Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Some(Err(e)) => {
            return c.fail(Error::new(
                ErrorKind::Network,
                format!("the page request was cancelled: {e}"),
            ));
        }
        None => return c.finish(EndReason::LimitReached { rows: c.delivered }),
    };
    debug_assert_eq!(offset, c.offset);
    let Decoded {
        mut rows,
        print: fingerprint,
        keys,
        key_index,
    } = match result {
        Ok(page) => page,
        Err(e) => return c.fail(e),
    };
    if rows.len() as u64 > ask {
        // More than asked for: the rows past `ask` belong to the next page, already asked for.
        tracing::warn!(
            model = %c.query().model,
            offset,
            asked = ask,
            got = rows.len(),
            "the server sent more rows than asked for; keeping the first {ask}"
        );
        rows.truncate(ask as usize);
    }
    // `received` decides the end and the page size; `n` is the new rows it brings.
    let received = rows.len() as u64;
    let n = received.saturating_sub(u64::from(overlap));
    if n == 0 {
        if let (true, Some(last)) = (overlap, c.last_key) {
            // Nothing new, and the seam row is gone or is another row: rows shifted, and rows
            // past the last one delivered may have moved out of reach. Fetch them by key.
            let seam_row = match keys.as_ref() {
                Some(Ok((first, _))) => Some(*first),
                _ => None,
            };
            if received == 0 || seam_row.is_some_and(|k| k != last) {
                let end = Some(EndReason::EmptyPage { offset });
                return open_gap(c, last, None, None, end).await;
            }
        }
        let reason = match c.unconfirmed_short {
            Some((offset, rows)) => EndReason::ShortPage { offset, rows },
            None => EndReason::EmptyPage { offset },
        };
        return c.finish(reason);
    }
    if c.previous == Some(fingerprint) {
        let e = Error::new(
            ErrorKind::Stalled,
            format!(
                "the page repeats the previous one row for row: the server may be ignoring \
                 `offset`, or rows shifted by exactly one page ({} rows)",
                c.limit
            ),
        )
        .at(&c.query().model, offset);
        return c.fail(e);
    }
    c.previous = Some(fingerprint);
    let keys = match keys {
        None => None,
        Some(Ok(keys)) => Some(keys),
        Some(Err(e)) if c.query().mode == Mode::Keyset => {
            return c.fail(e.at(&c.query().model, offset));
        }
        Some(Err(e)) => {
            // Offset mode only checks seams with the key: without it, say so and go on.
            c.seam = None;
            c.summary().order_warning = Some(format!(
                "seams between pages could not be checked from offset {offset} on: {}",
                e.detail()
            ));
            None
        }
    };
    if let (Mode::Keyset, Some((first, last))) = (c.query().mode, keys) {
        // Keyset mode: the page must lie past the last key, in the key's order.
        let d = c.descending;
        let in_order = c.after.is_none_or(|after| past(first, after, d))
            && (first == last || past(last, first, d));
        if !in_order {
            let e = Error::new(
                ErrorKind::Stalled,
                format!(
                    "the server did not honour the keyset seek: after action_id {:?} the page runs \
                     from {first} to {last}",
                    c.after
                ),
            )
            .at(&c.query().model, offset);
            return c.fail(e);
        }
        c.after = Some(last);
    }

    // The seam check (offset mode on the unique key): rows before the first one past the last
    // row delivered were delivered already; a first new row that is not the one right after it
    // means rows moved up past the seam, out of this page.
    let mut skip = usize::from(overlap);
    let mut gap: Option<(u64, u64)> = None;
    if let (Some(d), Some((first, last)), Some(index)) = (c.seam, keys, &key_index) {
        if let (true, Some(prev)) = (overlap, c.last_key)
            && first != prev
        {
            c.summary().shifts_detected += 1;
            if past(first, prev, d) {
                // Rows were removed before the seam: the page starts past rows never seen,
                // and the rows between moved up out of it: fetch them by key.
                skip = 0;
                gap = Some((prev, first));
            } else {
                // Rows were added before the seam: skip the ones delivered already.
                skip = (0..rows.len())
                    .find(|&i| index.key(i).is_some_and(|k| past(k, prev, d)))
                    .unwrap_or(rows.len());
            }
            tracing::warn!(
                model = %c.query().model,
                offset,
                first,
                previous = prev,
                "rows shifted between pages during the export; repairing the seam"
            );
        }
        if skip < rows.len() {
            c.last_key = Some(last);
        }
    }
    let new_rows: Vec<T> = rows.drain(skip.min(rows.len())..).collect();
    if skip > usize::from(overlap) || gap.is_some() {
        c.summary().shifts_repaired += 1;
    }

    // Decide what this page says about the end and the page size.
    let mut ends = false;
    if let Some((_, short_rows)) = c.unconfirmed_short.take() {
        // The request after an unconfirmed short page brought rows: that page was not the end.
        if received >= ask {
            c.trusted = true;
        } else {
            let cap = short_rows.max(received);
            tracing::warn!(
                model = %c.query().model,
                offset,
                asked = c.limit,
                cap,
                "the server caps the page size at {cap} rows ({} were asked for); paging on with {cap}",
                c.limit
            );
            c.summary().learned_cap = Some(cap);
            c.limit = cap;
            c.trusted = true;
            ends = received < cap;
        }
    } else if received >= ask {
        c.trusted = true;
    } else if c.trusted {
        ends = true;
    } else {
        c.unconfirmed_short = Some((offset, received));
    }

    c.offset += n;
    if c.in_flight.is_empty() {
        c.scheduled = c.offset;
    }
    let page = Page {
        offset,
        requested: ask,
        rows: new_rows,
    };
    let end = ends.then_some(EndReason::ShortPage { offset, rows: n });
    if let Some((after, before)) = gap {
        return open_gap(c, after, Some(before), Some(page), end).await;
    }
    finish_page(c, page, end)
}

/// Delivers `page`; the stream ends after it with `end`, if given.
fn finish_page<T: Send + 'static>(
    mut c: Box<Cursor<T>>,
    page: Page<T>,
    end: Option<EndReason>,
) -> Option<(Result<Page<T>>, State<T>)> {
    c.delivered_page(page.rows.len() as u64);
    match end {
        Some(reason) => {
            c.summary().end = Some(reason);
            Some((Ok(page), State::Done))
        }
        None => Some((Ok(page), State::Next(c))),
    }
}

/// Starts fetching, by key, the rows a shift moved out of reach: those past `after` (and
/// before `before`), to be delivered before `held`.
async fn open_gap<T: Send + 'static>(
    mut c: Box<Cursor<T>>,
    after: u64,
    before: Option<u64>,
    held: Option<Page<T>>,
    end: Option<EndReason>,
) -> Option<(Result<Page<T>>, State<T>)> {
    if held.is_none() {
        c.summary().shifts_detected += 1;
        c.summary().shifts_repaired += 1;
    }
    c.gap = Some(Gap {
        after,
        before,
        held,
        end,
    });
    fill_gap(c).await
}

/// One page of a gap; once the gap is empty, the page held after it.
async fn fill_gap<T: Send + 'static>(mut c: Box<Cursor<T>>) -> Option<(Result<Page<T>>, State<T>)> {
    let gap = c.gap.as_ref()?;
    let descending = c.seam?;
    let seek = Seek::Keys {
        after: Some(gap.after),
        before: gap.before,
        descending,
    };
    let (after, before) = (gap.after, gap.before);
    let result = fetch(&c.fetcher, seek, c.offset, c.limit, true).await;
    let Decoded { rows, keys, .. } = match result {
        Ok(page) => page,
        Err(e) => return c.fail(e),
    };
    match keys {
        Some(Ok((first, last))) => {
            let inside = |k: u64| {
                past(k, after, descending) && before.is_none_or(|b| past(b, k, descending))
            };
            if !(inside(first) && inside(last)) {
                let e = Error::new(
                    ErrorKind::Stalled,
                    format!(
                        "the server did not honour the key range while repairing a seam: \
                         between action_id {after} and {before:?} the page runs from {first} to {last}"
                    ),
                )
                .at(&c.query().model, c.offset);
                return c.fail(e);
            }
            if let Some(g) = c.gap.as_mut() {
                g.after = last;
            }
            let page = Page {
                offset: c.offset,
                requested: c.limit,
                rows,
            };
            c.delivered_page(page.rows.len() as u64);
            Some((Ok(page), State::Next(c)))
        }
        Some(Err(e)) => c.fail(e.at(&c.query().model, c.offset)),
        None => {
            // The gap is empty: now the page that came after it.
            let gap = c.gap.take()?;
            match gap.held {
                Some(page) => finish_page(c, page, gap.end),
                None => c.finish(gap.end.unwrap_or(EndReason::EmptyPage { offset: c.offset })),
            }
        }
    }
}

/// Checks the query before the first request; for keyset mode, says whether keys descend.
fn validate<T>(q: &Query<T>) -> Result<bool> {
    let model_ok = !q.model.is_empty()
        && q.model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !model_ok {
        return Err(Error::config(format!(
            "{:?} is not a list model name (letters, digits, '-' and '_')",
            q.model
        )));
    }
    if q.page_size == 0 {
        return Err(Error::config("the page size must be at least 1").at(&q.model, q.start_offset));
    }
    match q.mode {
        Mode::Offset => Ok(false),
        Mode::Keyset => q
            .keyset_descending()
            .map_err(|e| Error::config(e).at(&q.model, q.start_offset)),
    }
}

/// Fetches and decodes one page, retrying the whole of it (send, body, decode) per the policy.
/// `offset` is the position errors name; `want_keys` asks the decoder for the rows' keys.
async fn fetch<T>(
    f: &Fetcher<T>,
    seek: Seek,
    offset: u64,
    ask: u64,
    want_keys: bool,
) -> Result<Decoded<T>> {
    let query = &f.query;
    let model: &str = &query.model;
    let serialised = match seek {
        Seek::Offset(at) => serde_json::to_vec(&query.request_body(at, ask)),
        Seek::Keys {
            after,
            before,
            descending,
        } => serde_json::to_vec(&RequestBody {
            apptoken: query.client.apptoken(),
            query: std::borrow::Cow::Owned(query.keyset_body(after, before, descending)),
            limit: ask,
            offset: 0,
        }),
    };
    let body = bytes::Bytes::from(
        serialised
            .map_err(|e| Error::config("the query could not be serialised").with_source(e))?,
    );
    let policy = query.client.retry_policy().clone();
    let mut rng = policy.rng();
    let mut retries = 0u32;
    let mut waits = 0u32;
    let cap = policy.get_max_delay();
    let attempt = || {
        let body = body.clone();
        async move {
            f.governor.acquire().await;
            lock(&f.summary).requests += 1;
            let resp = query
                .client
                .post_page(model, body)
                .await
                .map_err(|e| e.at(model, offset))?;
            let page = (f.decode)(
                &resp.bytes,
                resp.status,
                &resp.content_type,
                offset,
                want_keys,
            )
            .map_err(|e| e.with_retry_after(resp.retry_after).at(model, offset));
            match &page {
                Ok(_) => f.governor.succeeded(),
                Err(e) if e.kind() == ErrorKind::RateLimited => {
                    f.governor.rate_limited(e.retry_after().map(|d| d.min(cap)))
                }
                Err(_) => {}
            }
            page
        }
    };
    let mut budget_spent = false;
    let result = attempt
        .retry(policy.backoff())
        .when(|e: &Error| {
            if !e.is_retryable() {
                false
            } else if f.governor.spend_retry() {
                true
            } else {
                budget_spent = true;
                false
            }
        })
        .adjust(|e: &Error, delay| {
            waits += 1;
            delay.map(|d| policy.wait(d, e, waits == 1, &mut rng))
        })
        .notify(|e: &Error, wait: Duration| {
            retries += 1;
            {
                let mut s = lock(&f.summary);
                *s.retries.entry(e.kind()).or_default() += 1;
                s.retry_wait += wait;
            }
            tracing::warn!(
                model,
                offset,
                attempt = retries,
                cause = %e.detail(),
                kind = %e.kind(),
                wait_ms = wait.as_millis() as u64,
                "retrying page"
            );
        })
        .await;
    result.map_err(|e| {
        let e = e.with_attempts(retries + 1);
        match (budget_spent, f.governor.budget()) {
            (true, Some(budget)) => e.with_note(format!(
                "the export's retry budget of {budget} retries is spent"
            )),
            _ => e,
        }
    })
}
