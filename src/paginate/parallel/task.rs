//! One key range walked to its end by a task of its own: requests under the stream's permits,
//! pages sent into the range's channel in order, waiting while it is full.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{Msg, Ranges, guard};
use crate::decode::Decoded;
use crate::error::{Error, ErrorKind, Result};
use crate::paginate::cursor::Cursor;
use crate::paginate::order;
use crate::paginate::plan::Direction;
use crate::paginate::ranges::{Density, KeyRange};
use crate::paginate::size::PageSize;
use crate::paginate::step::{Fetched, Request, Seek, Step};
use crate::paginate::summary::lock;
use crate::paginate::{Page, Summary};

impl<T: Send + 'static> Ranges<T> {
    /// One request, when one of the `k` permits is free; counted in the peak in flight.
    pub(super) async fn fetch(&self, request: &Request) -> Result<Decoded<T>> {
        // The semaphore is never closed: an `Err` cannot come, and would only skip the wait.
        let _permit = self.permits.acquire().await;
        self.fetch_held(request).await
    }

    /// One request, its permit held by the caller.
    async fn fetch_held(&self, request: &Request) -> Result<Decoded<T>> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut s = lock(&self.fetcher.summary);
            s.peak_in_flight = s.peak_in_flight.max(now);
        }
        let result = self.fetcher.fetch(request).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Walks one range to its end with the sequential cursor, sending its pages in order;
    /// waits while its channel is full. Ends quietly when the consumer has gone.
    pub(super) async fn walk(
        self: Arc<Self>,
        range: KeyRange,
        mut cursor: Cursor<T>,
        tx: mpsc::Sender<Msg<T>>,
    ) {
        // The range's own ends and learning; the stream's summary counts what is delivered.
        let mut own = Summary::default();
        let mut rows = 0u64;
        let mut first = true;
        let end = loop {
            let Some(request) = cursor.top_up().pop() else {
                break own.end.clone();
            };
            // The range's first page asks past its upper bound too: a range that holds less
            // than a page ends with it, and the first key past the range tells where keys
            // resume, so the ranges cut into a gap in the keys are not walked one by one.
            let probe = std::mem::take(&mut first) && range.before.is_some();
            let result = match self.fetch_in(&request, range, probe).await {
                Some(result) => result,
                // Known to be empty (a gap another range found): no request.
                None => break None,
            };
            let (result, ended) = match result {
                Ok(page) if probe => match self.cut_at_bound(page, range, request.position) {
                    Ok((page, ended)) => (Ok(page), ended),
                    Err(e) => (Err(e), false),
                },
                other => (other, false),
            };
            let step = cursor.accept(Fetched { request, result }, &mut own);
            self.learn(&cursor, &own);
            match step {
                Step::Deliver(page, end) => {
                    if let Err(e) = self.within(&page, range) {
                        let _ = tx.send(Msg::Fail(e)).await;
                        return;
                    }
                    rows += page.rows.len() as u64;
                    if tx.send(Msg::Page(page)).await.is_err() {
                        return;
                    }
                    if end.is_some() {
                        break end;
                    }
                    // The rows past the range showed that it holds no more.
                    if ended {
                        break None;
                    }
                }
                Step::Continue if ended => break None,
                Step::Continue => {}
                Step::End => break own.end.clone(),
                Step::Fail(e) => {
                    let _ = tx.send(Msg::Fail(e)).await;
                    return;
                }
            }
        };
        guard(&self.finished).push((range, rows));
        let _ = tx.send(Msg::Done(end)).await;
    }

    /// One request of `range`, or none when the range lies in a gap found meanwhile (checked
    /// once a permit is held, so ranges waiting for one skip a gap found while they waited).
    /// A `probe` is sent without the range's upper bound.
    async fn fetch_in(
        &self,
        request: &Request,
        range: KeyRange,
        probe: bool,
    ) -> Option<Result<Decoded<T>>> {
        let _permit = self.permits.acquire().await;
        if range.before.is_some() && guard(&self.gaps).covers(range) {
            return None;
        }
        let mut wire = *request;
        if let (true, Seek::Keys { before, .. }) = (probe, &mut wire.seek) {
            *before = None;
        }
        Some(self.fetch_held(&wire).await)
    }

    /// A probe's page cut at the range's upper bound: its rows short of the bound, and
    /// whether rows past it came (then the range holds no more), whose first key is where keys
    /// resume past the range: the keys between are a gap, told to the planner and the ranges.
    fn cut_at_bound(
        &self,
        mut page: Decoded<T>,
        range: KeyRange,
        offset: u64,
    ) -> Result<(Decoded<T>, bool)> {
        let (Some(before), Some(index)) = (range.before, page.key_index.as_ref()) else {
            return Ok((page, false));
        };
        let keys = match index.keys(page.rows.len(), offset) {
            Ok(keys) => keys,
            // The cursor names the row without a key.
            Err(_) => return Ok((page, false)),
        };
        if let Some(d) = order::check(Direction::Ascending, &keys) {
            return Err(d.error(Direction::Ascending, offset, true));
        }
        let Some(cut) = keys.iter().position(|&k| k >= before) else {
            return Ok((page, false));
        };
        guard(&self.gaps).add(before, keys[cut]);
        let past = &keys[cut..];
        if let [first, .., last] = past {
            guard(&self.ahead).push(Density {
                rows: past.len() as u64 - 1,
                keys: last - first,
            });
        }
        page.rows.truncate(cut);
        page.keys = (cut > 0).then(|| Ok((keys[0], keys[cut - 1])));
        Ok((page, true))
    }

    /// Shares what a range learned of the page size with the ranges cut after it.
    fn learn(&self, cursor: &Cursor<T>, own: &Summary) {
        if let PageSize::Trusted { limit } = cursor.size {
            *guard(&self.trusted) = Some(limit);
        }
        if let Some(cap) = own.learned_cap {
            lock(&self.fetcher.summary).learned_cap = Some(cap);
        }
    }

    /// Checks that a page lies short of its range's upper bound (the cursor checks the lower).
    fn within(&self, page: &Page<T>, range: KeyRange) -> Result<()> {
        match (page.last_key(), range.before) {
            (Some(last), Some(before)) if last >= before => Err(Error::new(
                ErrorKind::Stalled,
                format!(
                    "the server did not honour the keyset seek: asked for rows short of \
                     action_id {before}, it sent action_id {last}"
                ),
            )
            .at(&self.fetcher.plan.model, page.offset)),
            _ => Ok(()),
        }
    }
}
