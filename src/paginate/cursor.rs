//! The cursor: where paging stands, and the synchronous decision of what each page that comes
//! back means — deliver it, repair a seam first, end, or fail. No I/O: the async shell sends
//! the requests the cursor asks for and hands it what came back, in the order they were sent.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use super::plan::{Direction, Plan, Walk};
use super::seam::Gap;
use super::size::PageSize;
use super::step::{Fetched, Request, Seek, Step};
use super::{EndReason, Page, PageKeys, Summary};
use crate::decode::Decoded;
use crate::error::{Error, ErrorKind, Result};

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

    /// Whether [`Cursor::next_request`] has a request, for a shell that bounds the requests
    /// ahead itself (see `window`): any number once prefetching at a concurrency above 1, else
    /// one at a time, as [`Cursor::top_up`]; none once `max_rows` needs no more.
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
        let (seek_keys, overlap) = match self.position {
            Position::Offset { seam, last_key } => (
                false,
                seam.is_some()
                    && !std::mem::take(&mut self.plain_next)
                    && self.scheduled > 0
                    && (self.scheduled > self.start_offset || last_key.is_some()),
            ),
            Position::Keyset { .. } => (true, false),
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

    /// Decides what a page that came back means. Pages must be handed over in the order their
    /// requests were made.
    pub(crate) fn accept(&mut self, fetched: Fetched<T>, summary: &mut Summary) -> Step<T> {
        self.outstanding = self.outstanding.saturating_sub(1);
        let Fetched { request, result } = fetched;
        let Request {
            position: offset,
            ask,
            overlap,
            ..
        } = request;
        debug_assert_eq!(offset, self.offset);
        let Decoded {
            mut rows,
            print,
            keys,
            key_index,
        } = match result {
            Ok(page) => page,
            Err(e) => return self.fail(e, summary),
        };
        self.keep_asked(&mut rows, offset, ask);
        // `received` decides the end and the page size; `n` is the new rows it brings.
        let received = rows.len() as u64;
        let n = received.saturating_sub(u64::from(overlap));
        if n == 0 {
            return self.nothing_new(offset, overlap, received, keys, summary);
        }
        let keys = match self.check_page(offset, print, keys, summary) {
            Ok(keys) => keys,
            Err(e) => return self.fail(e, summary),
        };
        let (skip, gap) = self.check_seam(
            offset,
            overlap,
            keys,
            key_index.as_ref(),
            rows.len(),
            summary,
        );
        let new_rows: Vec<T> = rows.drain(skip.min(rows.len())..).collect();
        if skip > usize::from(overlap) || gap.is_some() {
            summary.shifts_repaired += 1;
        }

        let ends = self
            .size
            .observe(&self.model, offset, received, ask, summary);
        self.fit_seam_to_size(summary);
        self.offset = self.offset.saturating_add(n);
        if self.outstanding == 0 {
            self.scheduled = self.offset;
        }
        let first = offset - u64::from(overlap) + skip as u64;
        let page = Page {
            offset: first.min(self.offset),
            requested: ask,
            keys: PageKeys::read(keys, key_index, skip, new_rows.len()),
            rows: new_rows,
            repair: false,
        };
        let end = ends.then_some(EndReason::ShortPage { offset, rows: n });
        if let Some((direction, after, before)) = gap {
            self.gap = Some(Gap {
                direction,
                at: page.offset,
                after,
                before: Some(before),
                held: Some(page),
                end,
            });
            return Step::Continue;
        }
        self.deliver(page, end, summary)
    }

    /// Keeps the first `ask` rows: the rows past them belong to the next page, already asked for.
    fn keep_asked(&self, rows: &mut Vec<T>, offset: u64, ask: u64) {
        if rows.len() as u64 > ask {
            tracing::warn!(
                model = %self.model,
                offset,
                asked = ask,
                got = rows.len(),
                "the server sent more rows than asked for; keeping the first {ask}"
            );
            rows.truncate(ask as usize);
        }
    }

    /// Checks that a page moves on: it is not the previous page again, and (keyset mode) it
    /// lies past the last key. Returns the keys of its first and last rows, where known.
    fn check_page(
        &mut self,
        offset: u64,
        print: u64,
        keys: Option<Result<(u64, u64)>>,
        summary: &mut Summary,
    ) -> Result<Option<(u64, u64)>> {
        if self.previous == Some(print) {
            return Err(Error::new(
                ErrorKind::Stalled,
                format!(
                    "the page repeats the previous one row for row: the server may be ignoring \
                     `offset`, or rows shifted by exactly one page ({} rows)",
                    self.size.limit()
                ),
            )
            .at(&self.model, offset));
        }
        self.previous = Some(print);
        let keys = match keys {
            None => None,
            Some(Ok(keys)) => Some(keys),
            Some(Err(e)) => match &mut self.position {
                Position::Keyset { .. } => return Err(e.at(&self.model, offset)),
                Position::Offset { seam, .. } => {
                    // Offset mode only checks seams with the key: without it, say so and go on.
                    *seam = None;
                    summary.order_warning = Some(format!(
                        "seams between pages could not be checked from offset {offset} on: {}",
                        e.detail()
                    ));
                    None
                }
            },
        };
        if let (Position::Keyset { direction, after }, Some((first, last))) =
            (&mut self.position, keys)
        {
            // Keyset mode: the page must lie past the last key, in the key's order.
            let d = *direction;
            let in_order =
                after.is_none_or(|a| d.past(first, a)) && (first == last || d.past(last, first));
            if !in_order {
                let asked = match after {
                    Some(a) => format!("for rows after action_id {a}"),
                    None => "from the first key".to_string(),
                };
                return Err(Error::new(
                    ErrorKind::Stalled,
                    format!(
                        "the server did not honour the keyset seek: asked {asked}, it sent a \
                         page from action_id {first} to {last}"
                    ),
                )
                .at(&self.model, offset));
            }
            *after = Some(last);
        }
        Ok(keys)
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
