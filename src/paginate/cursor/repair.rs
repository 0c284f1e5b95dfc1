//! The seam check of each page, and repairing a gap: its pages come before the page held after
//! it (see `paginate::seam` for what a seam and a gap are).

use super::{Cursor, Position};
use crate::decode::{Decoded, KeyIndex};
use crate::error::{Error, ErrorKind, Result};
use crate::paginate::plan::Direction;
use crate::paginate::seam::{Gap, Shift, check};
use crate::paginate::size::PageSize;
use crate::paginate::step::{Fetched, Request, Seek, Step};
use crate::paginate::{EndReason, Page, PageKeys, Summary};

/// What the seam check decided of a page: how many of its rows to skip, and the gap to fetch
/// by key before it (its order, and the keys it lies between), if there is one.
pub(super) type Seam = (usize, Option<(Direction, u64, u64)>);

impl<T> Cursor<T> {
    /// A page of one row leaves no room for the seam check's overlap row (or keyset mode's):
    /// turn the check off, and say so.
    pub(super) fn fit_seam_to_size(&mut self, summary: &mut Summary) {
        if let Position::Keyset { .. } = self.position
            && self.size.limit() < 2
            && summary.order_warning.is_none()
        {
            summary.order_warning = Some(
                "pages of 1 row leave no room for keyset mode's overlap row: a key shared by \
                 two rows across pages would not be seen (`action_id` is unique in the API's \
                 data, so this only matters for a server that breaks that)"
                    .to_string(),
            );
        }
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
        // Keyset mode overlaps from its first page on (past a key): no page told the size yet.
        let keyset = matches!(self.position, Position::Keyset { .. });
        let one_row = match self.size {
            PageSize::Unconfirmed { rows: 1, .. } => true,
            PageSize::Probing { .. } => keyset,
            _ => false,
        };
        if overlap && one_row && received == 1 && self.outstanding == 0 {
            // One row, then only that row again as the seam (or, in keyset mode, only the row
            // of the key sought from): the end, or a server that caps pages at one row, which
            // leaves no room for the overlap. Ask once without it.
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
    /// to fetch by key before the page, if there is one. Rows taken for delivered already must
    /// be among the last page's, where they would sit: a server that orders each page but not
    /// the pages among themselves sends rows never delivered there, which skipping would lose.
    pub(super) fn check_seam(
        &mut self,
        offset: u64,
        overlap: bool,
        keys: Option<(u64, u64)>,
        index: Option<&KeyIndex>,
        rows: usize,
        summary: &mut Summary,
    ) -> Result<Seam> {
        let mut skip = usize::from(overlap);
        let mut gap = None;
        let page_keys = std::mem::take(&mut self.page_keys);
        let (
            Position::Offset {
                seam: Some(d),
                last_key,
            },
            Some((first, last)),
            Some(index),
        ) = (&mut self.position, keys, index)
        else {
            return Ok((skip, gap));
        };
        let page_keys = (page_keys.len() == rows).then_some(page_keys);
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
                Shift::Added { skip: s } => {
                    let skipped = page_keys
                        .as_deref()
                        .map_or(&[][..], |k| &k[..s.min(k.len())]);
                    if let Some(i) = never_delivered(*d, &self.recent, skipped) {
                        let first_offset = offset.saturating_sub(u64::from(overlap));
                        return Err(Error::new(
                            ErrorKind::Stalled,
                            format!(
                                "the server does not honour `order` across pages: the row at \
                                 offset {} has action_id {}, which comes before action_id {prev} \
                                 (the last row delivered) but was not among the rows the page \
                                 before delivered; skipping it as delivered would lose it, and \
                                 retrying cannot help",
                                first_offset + i as u64,
                                skipped[i]
                            ),
                        )
                        .at(&self.model, self.offset));
                    }
                    skip = s
                }
                Shift::Removed { after, before } => {
                    skip = 0;
                    gap = Some((*d, after, before));
                }
            }
        }
        if skip < rows {
            *last_key = Some(last);
            self.recent = page_keys.map_or_else(Vec::new, |mut k| k.split_off(skip.min(k.len())));
        }
        Ok((skip, gap))
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

/// The index of the first of `skipped` (keys a seam takes for delivered already) that lies
/// within the keys of `recent` (the rows the page before delivered, in `d`'s order) without
/// being one of them; keys before `recent`'s first cannot be told and pass.
fn never_delivered(d: Direction, recent: &[u64], skipped: &[u64]) -> Option<usize> {
    let from = *recent.first()?;
    skipped.iter().position(|&k| {
        let within = k == from || d.past(k, from);
        let among = recent
            .binary_search_by(|&r| {
                if r == k {
                    std::cmp::Ordering::Equal
                } else if d.past(r, k) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Less
                }
            })
            .is_ok();
        within && !among
    })
}
