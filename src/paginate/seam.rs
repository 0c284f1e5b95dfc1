//! The seam check (offset mode, pages ordered on the unique key): each page after the first
//! starts one row early, and that row must be the last one delivered. If it is not, rows
//! shifted in between: rows delivered already are skipped, and rows that moved up out of reach
//! form a gap, fetched by key range before the page after it. A page that brings nothing but
//! the seam row is the end — unless the server caps pages at one row, which leaves no room for
//! the overlap: that is told apart with one request without it, and the check is then turned
//! off (and reported).

use super::cursor::{Cursor, Position};
use super::plan::Direction;
use super::size::PageSize;
use super::step::{Fetched, Request, Seek, Step};
use super::{EndReason, Page, PageKeys, Summary};
use crate::decode::{Decoded, KeyIndex};
use crate::error::{Error, ErrorKind, Result};

/// What the first row of a page says about rows shifting since the page before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shift {
    /// The page continues where the last one ended.
    None,
    /// Rows were added before the seam: the page's first `skip` rows were delivered already.
    Added { skip: usize },
    /// Rows were removed before the seam: the page starts past rows never seen, and those
    /// between `after` and `before` moved up out of it.
    Removed { after: u64, before: u64 },
}

/// Checks a page of `rows` rows whose first row should be `last`, the last row delivered.
/// `first` is the page's first key, `index` reads the others.
pub(crate) fn check(
    direction: Direction,
    last: u64,
    first: u64,
    index: &KeyIndex,
    rows: usize,
) -> Shift {
    if first == last {
        Shift::None
    } else if direction.past(first, last) {
        Shift::Removed {
            after: last,
            before: first,
        }
    } else {
        let skip = (0..rows)
            .find(|&i| index.key(i).is_some_and(|k| direction.past(k, last)))
            .unwrap_or(rows);
        Shift::Added { skip }
    }
}

/// Rows that a shift moved out of reach, fetched by key before the page after them.
#[derive(Debug)]
pub(crate) struct Gap<T> {
    /// The order of the keys.
    pub(crate) direction: Direction,
    /// The position the gap's rows are delivered at: the held page's, which does not move
    /// until it is delivered.
    pub(crate) at: u64,
    /// Fetch keys past this one (the last row delivered)…
    pub(crate) after: u64,
    /// …and before this one (the first row of the held page), if bounded.
    pub(crate) before: Option<u64>,
    /// The page the gap comes before, delivered once the gap is filled.
    pub(crate) held: Option<Page<T>>,
    /// How the stream ends after the held page, if it does.
    pub(crate) end: Option<EndReason>,
}

impl<T> Gap<T> {
    /// Whether key `k` lies inside the gap.
    pub(crate) fn contains(&self, k: u64) -> bool {
        self.direction.past(k, self.after) && self.before.is_none_or(|b| self.direction.past(b, k))
    }
}

/// The seam check of a page, and repairing a gap: its pages come before the page held after it.
impl<T> Cursor<T> {
    /// A page of one row leaves no room for the seam check's overlap row: turn the check off,
    /// and say so.
    pub(super) fn fit_seam_to_size(&mut self, summary: &mut Summary) {
        if let Position::Offset { seam, .. } = &mut self.position
            && seam.is_some()
            && self.size.limit() < 2
        {
            *seam = None;
            summary.order_warning = Some(
                "the server caps pages at 1 row, which leaves no room for the seam check's \
                 overlap row: seams between pages were not checked, so rows added or removed \
                 during the export can come out twice or not at all; keyset mode rules this out"
                    .to_string(),
            );
        }
    }

    /// A page that brought no new row: the end, unless the seam row is gone, which means rows
    /// past the last one delivered may have moved out of reach.
    pub(super) fn nothing_new(
        &mut self,
        offset: u64,
        overlap: bool,
        received: u64,
        keys: Option<Result<(u64, u64)>>,
        summary: &mut Summary,
    ) -> Step<T> {
        if let (
            true,
            Position::Offset {
                seam: Some(direction),
                last_key: Some(last),
            },
        ) = (overlap, self.position)
        {
            let seam_row = match keys {
                Some(Ok((first, _))) => Some(first),
                _ => None,
            };
            if received == 0 || seam_row.is_some_and(|k| k != last) {
                summary.shifts_detected += 1;
                summary.shifts_repaired += 1;
                self.gap = Some(Gap {
                    direction,
                    at: self.offset,
                    after: last,
                    before: None,
                    held: None,
                    end: Some(EndReason::EmptyPage { offset }),
                });
                return Step::Continue;
            }
        }
        if let (true, PageSize::Unconfirmed { rows: 1, .. }) = (overlap, self.size)
            && received == 1
            && self.outstanding == 0
        {
            // One row, then only that row again as the seam: the end, or a server that caps
            // pages at one row, which leaves no room for the overlap. Ask once without it.
            self.plain_next = true;
            self.scheduled = self.offset;
            return Step::Continue;
        }
        let reason = match self.size {
            PageSize::Unconfirmed { offset, rows, .. } => EndReason::ShortPage { offset, rows },
            _ => EndReason::EmptyPage { offset },
        };
        self.end(reason, summary)
    }

    /// The seam check: rows before the first one past the last row delivered were delivered
    /// already; a first new row that is not the one right after it means rows moved up past
    /// the seam, out of this page. Returns how many of the page's `rows` to skip, and the gap
    /// to fetch by key before the page, if there is one.
    pub(super) fn check_seam(
        &mut self,
        offset: u64,
        overlap: bool,
        keys: Option<(u64, u64)>,
        index: Option<&KeyIndex>,
        rows: usize,
        summary: &mut Summary,
    ) -> (usize, Option<(Direction, u64, u64)>) {
        let mut skip = usize::from(overlap);
        let mut gap = None;
        let (
            Position::Offset {
                seam: Some(d),
                last_key,
            },
            Some((first, last)),
            Some(index),
        ) = (&mut self.position, keys, index)
        else {
            return (skip, gap);
        };
        if let (true, Some(prev)) = (overlap, *last_key) {
            let shift = check(*d, prev, first, index, rows);
            if shift != Shift::None {
                summary.shifts_detected += 1;
                tracing::warn!(
                    model = %self.model,
                    offset,
                    first,
                    previous = prev,
                    "rows shifted between pages during the export; repairing the seam"
                );
            }
            match shift {
                Shift::None => {}
                Shift::Added { skip: s } => skip = s,
                Shift::Removed { after, before } => {
                    skip = 0;
                    gap = Some((*d, after, before));
                }
            }
        }
        if skip < rows {
            *last_key = Some(last);
        }
        (skip, gap)
    }

    /// The request that fetches the next rows of the gap being repaired, if one is.
    pub(crate) fn repair_request(&self) -> Option<Request> {
        let gap = self.gap.as_ref()?;
        Some(Request {
            seek: Seek::Keys {
                after: Some(gap.after),
                before: gap.before,
                direction: gap.direction,
            },
            position: gap.at,
            ask: self.size.limit(),
            overlap: false,
            want_keys: true,
        })
    }

    /// Decides what a page of the gap being repaired means: its rows come before the held
    /// page; once the gap is empty, the held page comes.
    pub(crate) fn accept_repair(&mut self, fetched: Fetched<T>, summary: &mut Summary) -> Step<T> {
        let Some(gap) = self.gap.as_mut() else {
            return Step::Fail(Error::new(ErrorKind::Stalled, "no seam is being repaired"));
        };
        let Decoded {
            rows,
            keys,
            key_index,
            ..
        } = match fetched.result {
            Ok(page) => page,
            Err(e) => return self.fail(e, summary),
        };
        match keys {
            Some(Ok((first, last))) => {
                if !(gap.contains(first) && gap.contains(last)) {
                    let e = Error::new(
                        ErrorKind::Stalled,
                        format!(
                            "the server did not honour the key range while repairing a seam: \
                             asked for the rows after action_id {}{}, the page runs from \
                             {first} to {last}",
                            gap.after,
                            gap.before
                                .map(|b| format!(" and before {b}"))
                                .unwrap_or_default()
                        ),
                    )
                    .at(&self.model, self.offset);
                    return self.fail(e, summary);
                }
                gap.after = last;
                let page = Page {
                    offset: gap.at,
                    requested: self.size.limit(),
                    keys: key_index
                        .filter(|_| !rows.is_empty())
                        .map(|index| PageKeys {
                            index: std::sync::Arc::new(index),
                            skip: 0,
                            last,
                        }),
                    rows,
                    repair: true,
                };
                self.deliver(page, None, summary)
            }
            Some(Err(e)) => {
                let e = e.at(&self.model, self.offset);
                self.fail(e, summary)
            }
            None => {
                // The gap is empty: now the page that came after it.
                let Some(gap) = self.gap.take() else {
                    return Step::End;
                };
                match gap.held {
                    Some(page) => self.deliver(page, gap.end, summary),
                    None => {
                        let reason = gap.end.unwrap_or(EndReason::EmptyPage {
                            offset: self.offset,
                        });
                        self.end(reason, summary)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Input, decode_raw};

    fn index(keys: &[u64]) -> KeyIndex {
        let rows: Vec<String> = keys
            .iter()
            .map(|k| format!(r#"{{"action_id":{k}}}"#))
            .collect();
        let body = bytes::Bytes::from(format!(r#"{{"success":true,"data":[{}]}}"#, rows.join(",")));
        let input = Input {
            want_keys: true,
            ..Input::new(&body)
        };
        decode_raw(input).unwrap().key_index.unwrap()
    }

    #[test]
    fn seams_tell_added_removed_and_unchanged_rows_apart() {
        let desc = Direction::Descending;
        // The last row delivered was 90; the page should start with it.
        assert_eq!(check(desc, 90, 90, &index(&[90, 89, 88]), 3), Shift::None);
        // Two rows added before the seam: 92 and 91 were delivered already, and so was 90.
        assert_eq!(
            check(desc, 90, 92, &index(&[92, 91, 90, 89]), 4),
            Shift::Added { skip: 3 }
        );
        // 90 itself was removed: the page starts at 89, past rows never seen.
        assert_eq!(
            check(desc, 90, 87, &index(&[87, 86]), 2),
            Shift::Removed {
                after: 90,
                before: 87
            }
        );
        // Ascending keys: the same seams, mirrored.
        let asc = Direction::Ascending;
        assert_eq!(
            check(asc, 10, 8, &index(&[8, 9, 10, 11]), 4),
            Shift::Added { skip: 3 }
        );
        assert_eq!(
            check(asc, 10, 13, &index(&[13]), 1),
            Shift::Removed {
                after: 10,
                before: 13
            }
        );
        // Every row was delivered already.
        assert_eq!(
            check(desc, 90, 95, &index(&[95, 94]), 2),
            Shift::Added { skip: 2 }
        );
    }

    #[test]
    fn a_gap_holds_the_keys_strictly_between_its_ends() {
        let gap: Gap<()> = Gap {
            direction: Direction::Descending,
            at: 0,
            after: 90,
            before: Some(85),
            held: None,
            end: None,
        };
        assert!(!gap.contains(90));
        assert!(gap.contains(89) && gap.contains(86));
        assert!(!gap.contains(85));
        let open = Gap::<()> {
            before: None,
            ..gap
        };
        assert!(open.contains(1));
    }
}
