//! What a page that came back means: the cursor's synchronous `accept`, and the checks that a
//! page moves on (not the previous page again; in keyset mode, past the last key).

use super::{Cursor, Position};
use crate::decode::{Decoded, KeyIndex};
use crate::error::{Error, ErrorKind, Result};
use crate::paginate::order::{self, Disorder};
use crate::paginate::seam::Gap;
use crate::paginate::step::{Fetched, Request, Step};
use crate::paginate::{EndReason, Page, PageKeys, Summary};

impl<T> Cursor<T> {
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
        // A keyset page asked from the last key on starts with that key's row, unless it went.
        let overlap = overlap && self.overlap_sent(&keys);
        // `received` decides the end and the page size; `n` is the new rows it brings.
        let received = rows.len() as u64;
        let n = received.saturating_sub(u64::from(overlap));
        if n == 0 {
            return self.nothing_new(offset, overlap, received, keys, summary);
        }
        // Where the response's first row sits (the overlap row of a resumed walk sat before it).
        let first_offset = offset.saturating_sub(u64::from(overlap));
        let keys = match self.check_page(
            first_offset,
            print,
            keys,
            key_index.as_ref(),
            rows.len(),
            summary,
        ) {
            Ok(keys) => keys,
            Err(e) => return self.fail(e, summary),
        };
        let (skip, gap) = match self.check_seam(
            offset,
            overlap,
            keys,
            key_index.as_ref(),
            rows.len(),
            summary,
        ) {
            Ok(seam) => seam,
            Err(e) => return self.fail(e, summary),
        };
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
        let first = (offset + skip as u64).saturating_sub(u64::from(overlap));
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

    /// Keyset mode: whether a page asked from the last key on (`>=`) starts with that key's
    /// row, which was delivered already. Offset mode: the overlap row is always sent.
    fn overlap_sent(&self, keys: &Option<Result<(u64, u64)>>) -> bool {
        match self.position {
            Position::Keyset { after, .. } => {
                matches!(keys, Some(Ok((first, _))) if Some(*first) == after)
            }
            Position::Offset { .. } => true,
        }
    }

    /// Checks that a page moves on: it is not the previous page again, its keys run strictly
    /// in the walk's order (see `order`) and (keyset mode) it lies past the last key. `offset`
    /// is where its first row (the overlap row, if any) sits, `rows` how many rows it keeps.
    /// Returns the keys of its first and last rows, where known.
    fn check_page(
        &mut self,
        offset: u64,
        print: u64,
        keys: Option<Result<(u64, u64)>>,
        index: Option<&KeyIndex>,
        rows: usize,
        summary: &mut Summary,
    ) -> Result<Option<(u64, u64)>> {
        if self.previous == Some(print) {
            let why = match self.position {
                Position::Keyset { .. } => format!(
                    "the server may be ignoring the `{}` condition keyset mode seeks past each \
                     page's last key with",
                    crate::model::push_devices::KEY
                ),
                Position::Offset { .. } => format!(
                    "the server may be ignoring `offset`, or rows shifted by exactly one page \
                     ({} rows)",
                    self.size.limit()
                ),
            };
            return Err(Error::new(
                ErrorKind::Stalled,
                format!("the page repeats the previous one row for row: {why}"),
            )
            .at(&self.model, self.offset));
        }
        self.previous = Some(print);
        let keys = match keys {
            None => None,
            Some(Ok(keys)) => Some(keys),
            Some(Err(e)) => match &mut self.position {
                Position::Keyset { .. } => return Err(e.at(&self.model, self.offset)),
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
        let keys = match (keys, index) {
            (Some(_), Some(index)) => self.check_order(offset, index, rows, summary)?,
            (keys, _) => keys,
        };
        if let (Position::Keyset { direction, after }, Some((first, last))) =
            (&mut self.position, keys)
        {
            // Keyset mode: the page must lie past the last key, in the key's order (its first
            // row may be the last key's, asked for again; `check_order` saw it only once).
            let d = *direction;
            let in_order =
                after.is_none_or(|a| !d.past(a, first)) && (first == last || d.past(last, first));
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
                .at(&self.model, self.offset));
            }
            *after = Some(last);
        }
        Ok(keys)
    }

    /// Reads the keys of the page's `rows` rows and checks they run strictly in the walk's
    /// order. Returns the keys of the first and last rows kept; a row without an integer key is
    /// an error in keyset mode and turns the seam check off in offset mode, as for the edges.
    /// Keys out of order are an error where the walk trusts the order; a key shared by two
    /// rows is one in keyset mode, and in offset mode turns the seam check off, and says so.
    fn check_order(
        &mut self,
        offset: u64,
        index: &KeyIndex,
        rows: usize,
        summary: &mut Summary,
    ) -> Result<Option<(u64, u64)>> {
        let (direction, keyset) = match self.position {
            Position::Keyset { direction, .. } => (direction, true),
            Position::Offset {
                seam: Some(direction),
                ..
            } => (direction, false),
            Position::Offset { seam: None, .. } => return Ok(None),
        };
        let keys = match index.keys(rows, offset) {
            Ok(keys) => keys,
            Err(e) if keyset => return Err(e.at(&self.model, self.offset)),
            Err(e) => {
                self.seams_unchecked(offset, e.detail(), summary);
                return Ok(None);
            }
        };
        match order::check(direction, &keys) {
            None => {}
            Some(d @ Disorder::Repeated { .. }) if !keyset => {
                self.seams_unchecked(offset, &d.describe(direction, offset), summary);
            }
            Some(d) => {
                return Err(d
                    .error(direction, offset, keyset)
                    .at(&self.model, self.offset));
            }
        }
        let edges = keys.first().copied().zip(keys.last().copied());
        self.page_keys = keys;
        Ok(edges)
    }

    /// Offset mode: seams cannot be checked from `offset` on, for `why`; say so and go on.
    fn seams_unchecked(&mut self, offset: u64, why: &str, summary: &mut Summary) {
        if let Position::Offset { seam, .. } = &mut self.position {
            *seam = None;
        }
        summary.order_warning = Some(format!(
            "seams between pages could not be checked from offset {offset} on: {why}"
        ));
    }
}
