//! One key range walked to its end by a task of its own: requests under the stream's permits,
//! pages sent into the range's channel in order, waiting while it is full.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::{Msg, Ranges, guard};
use crate::decode::Decoded;
use crate::error::{Error, ErrorKind, Result};
use crate::paginate::cursor::Cursor;
use crate::paginate::ranges::KeyRange;
use crate::paginate::size::PageSize;
use crate::paginate::step::{Fetched, Request, Step};
use crate::paginate::summary::lock;
use crate::paginate::{Page, Summary};

impl<T: Send + 'static> Ranges<T> {
    /// One request, when one of the `k` permits is free; counted in the peak in flight.
    pub(super) async fn fetch(&self, request: &Request) -> Result<Decoded<T>> {
        // The semaphore is never closed: an `Err` cannot come, and would only skip the wait.
        let _permit = self.permits.acquire().await;
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
        let end = loop {
            let Some(request) = cursor.top_up().pop() else {
                break own.end.clone();
            };
            let result = self.fetch(&request).await;
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
                }
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
