//! The cursor: where paging stands, and the synchronous decision of what each page that comes
//! back means — deliver it, repair a seam first, end, or fail. No I/O: the async shell sends
//! the requests the cursor asks for and hands it what came back, in the order they were sent.
//!
//! - this file: the position, and the requests it asks for next.
//! - `accept`: what a page that came back means (deliver it, end, fail), and the checks that
//!   it moves on.
//! - `repair`: the seam check of each page and the repair of a gap it finds (see
//!   `paginate::seam`).

mod accept;
mod repair;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::plan::{Direction, Plan, Walk};
use super::seam::Gap;
use super::size::PageSize;
use super::step::{Request, Seek, Step};
use super::{EndReason, Page, Summary};
use crate::error::Error;

/// Where the walk through the result stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Position {
    /// Offset pages. `last_key` is the key of the last row delivered (known from the start when
    /// an export resumes); `seam` is the key order when seams are checked.
    Offset {
        seam: Option<Direction>,
        last_key: Option<u64>,
    },
    /// Keyset pages: the next one seeks past `after`.
    Keyset {
        direction: Direction,
        after: Option<u64>,
    },
}

/// The paging position and what has been learned about the server.
#[derive(Debug)]
pub(crate) struct Cursor<T> {
    pub(super) model: Arc<str>,
    start_offset: u64,
    max_rows: Option<u64>,
    concurrency: usize,
    /// The position of the next new row to deliver.
    pub(super) offset: u64,
    /// The position of the next new row to request (ahead of `offset` while prefetching).
    pub(super) scheduled: u64,
    /// Requests sent and not yet accepted.
    pub(super) outstanding: usize,
    pub(super) size: PageSize,
    pub(super) position: Position,
    /// Rows a shift hid, being fetched by key before anything else (see `seam`).
    pub(super) gap: Option<Gap<T>>,
    /// The next request goes without the seam check's overlap row, to tell a cap of one row
    /// from the end.
    pub(super) plain_next: bool,
    /// A fingerprint of the previous page, to catch a server that repeats itself.
    previous: Option<u64>,
    /// The keys of the page being accepted, in the order sent, as the order check read them.
    pub(super) page_keys: Vec<u64>,
    /// Offset mode, seams checked: the keys of the rows the last page delivered, in the walk's
    /// order; the rows a seam skips as delivered already must be among them.
    pub(super) recent: Vec<u64>,
    /// Rows delivered so far.
    delivered: u64,
    /// Keyset mode: the key range's upper bound (exclusive), when it has one.
    pub(super) before: Option<u64>,
}

impl<T> Cursor<T> {
    pub(crate) fn new(plan: &Plan) -> Self {
        let position = match plan.walk {
            Walk::Offset { seam } => Position::Offset {
                seam,
                // A resumed export knows the key of the last row it delivered.
                last_key: plan.start_after,
            },
            Walk::Keyset(direction) => Position::Keyset {
                direction,
                after: plan.start_after,
            },
        };
        Cursor {
            model: plan.model.clone(),
            start_offset: plan.start_offset,
            max_rows: plan.max_rows,
            concurrency: plan.concurrency,
            offset: plan.start_offset,
            scheduled: plan.start_offset,
            outstanding: 0,
            size: PageSize::Probing {
                limit: plan.page_size,
            },
            position,
            gap: None,
            plain_next: false,
            previous: None,
            page_keys: Vec::new(),
            recent: Vec::new(),
            delivered: 0,
            before: None,
        }
    }

    /// Keyset mode: a cursor for the keys past `after` and short of `before`, starting with
    /// what is known of the page size; its offsets count from 0 (see `parallel`).
    pub(crate) fn within(
        plan: &Plan,
        after: Option<u64>,
        before: Option<u64>,
        size: PageSize,
    ) -> Self {
        let mut cursor = Cursor::new(plan);
        if let Position::Keyset { after: a, .. } = &mut cursor.position {
            *a = after;
        }
        (cursor.start_offset, cursor.offset, cursor.scheduled) = (0, 0, 0);
        (cursor.before, cursor.size) = (before, size);
        cursor
    }

    /// The requests to send now. Until the page size is trusted, and always in keyset mode
    /// (each page seeks past the last key of the one before), one at a time; then up to the
    /// query's concurrency, in offset order.
    pub(crate) fn top_up(&mut self) -> Vec<Request> {
        let window = if self.prefetch() { self.concurrency } else { 1 };
        let mut out = Vec::new();
        while self.outstanding < window {
            match self.schedule() {
                Some(r) => {
                    self.outstanding += 1;
                    out.push(r);
                }
                None => break,
            }
        }
        out
    }

    /// Whether pages may be asked for ahead of the one to deliver next: in offset mode, once
    /// the page size is trusted.
    fn prefetch(&self) -> bool {
        matches!(self.size, PageSize::Trusted { .. })
            && matches!(self.position, Position::Offset { .. })
    }

    /// Whether [`Cursor::next_request`] has a request to give, for a shell that bounds the
    /// requests ahead itself (see `reorder`): any number ahead once prefetching at a
    /// concurrency above 1, else one at a time, as in [`Cursor::top_up`] (a concurrency of 1
    /// pages strictly one after another); none once `max_rows` needs no more.
    pub(crate) fn may_request(&self) -> bool {
        let ahead = self.prefetch() && self.concurrency > 1;
        (ahead || self.outstanding == 0)
            && self
                .max_rows
                .is_none_or(|max| self.scheduled - self.start_offset < max)
    }

    /// The next request to send, when [`Cursor::may_request`].
    pub(crate) fn next_request(&mut self) -> Option<Request> {
        if !self.may_request() {
            return None;
        }
        let request = self.schedule()?;
        self.outstanding += 1;
        Some(request)
    }

    /// With nothing in flight and nothing more to ask for, the stream has its rows.
    pub(crate) fn idle(&mut self, summary: &mut Summary) -> Option<Step<T>> {
        (self.outstanding == 0 && self.gap.is_none()).then(|| {
            self.end(
                EndReason::LimitReached {
                    rows: self.delivered,
                },
                summary,
            )
        })
    }

    /// The next request at `scheduled`, unless `max_rows` needs no more.
    fn schedule(&mut self) -> Option<Request> {
        let before = self.scheduled - self.start_offset;
        // The seam check: after the first row of the result, start one row early — from the
        // first page on when it continues an export whose last key is known (so its pages line
        // up with an uninterrupted one), from the second otherwise.
        // Keyset mode overlaps too: each page past a key seeks from that key on (`>=`), so a
        // second row with it shows instead of being skipped (see `order`); a resumed walk's
        // pages line up with an uninterrupted one's.
        let plain = std::mem::take(&mut self.plain_next);
        let (seek_keys, overlap) = match self.position {
            Position::Offset { seam, last_key } => (
                false,
                seam.is_some()
                    && !plain
                    && self.scheduled > 0
                    && (self.scheduled > self.start_offset || last_key.is_some()),
            ),
            Position::Keyset { after, .. } => {
                (true, after.is_some() && !plain && self.size.limit() >= 2)
            }
        };
        let room = self.size.limit() - u64::from(overlap);
        let new = match self.max_rows {
            Some(max) if before >= max => return None,
            Some(max) => room.min(max - before),
            None => room,
        };
        let seek = match self.position {
            Position::Keyset { direction, after } => Seek::Keys {
                after,
                before: self.before,
                direction,
            },
            Position::Offset { .. } => Seek::Offset(self.scheduled - u64::from(overlap)),
        };
        let request = Request {
            seek,
            position: self.scheduled,
            ask: new + u64::from(overlap),
            overlap,
            want_keys: seek_keys || matches!(self.position, Position::Offset { seam: Some(_), .. }),
        };
        self.scheduled = self.scheduled.saturating_add(new);
        Some(request)
    }

    /// Delivers `page`; the stream ends after it with `end`, if given.
    pub(super) fn deliver(
        &mut self,
        page: Page<T>,
        end: Option<EndReason>,
        summary: &mut Summary,
    ) -> Step<T> {
        let n = page.rows.len() as u64;
        self.delivered += n;
        summary.pages += 1;
        summary.rows += n;
        summary.next_offset = page.next_offset();
        if let Some(key) = page.last_key() {
            summary.next_key = Some(key);
        }
        if let Some(reason) = &end {
            summary.end = Some(reason.clone());
        }
        Step::Deliver(page, end)
    }

    /// Ends the stream for `reason`.
    pub(super) fn end(&self, reason: EndReason, summary: &mut Summary) -> Step<T> {
        summary.end = Some(reason.clone());
        Step::End
    }

    /// Ends the stream with an error as its last item.
    pub(crate) fn fail(&self, e: Error, summary: &mut Summary) -> Step<T> {
        summary.end = Some(EndReason::Failed {
            // While a gap is repaired, the held page after it is not delivered yet.
            offset: self.gap.as_ref().map_or(self.offset, |g| g.at),
            kind: e.kind(),
        });
        Step::Fail(e)
    }
}
