//! The seam check (offset mode, pages ordered on the unique key): each page after the first
//! starts one row early, and that row must be the last one delivered. If it is not, rows
//! shifted in between: rows delivered already are skipped, and rows that moved up out of reach
//! form a gap, fetched by key range before the page after it. A page that brings nothing but
//! the seam row is the end — unless the server caps pages at one row, which leaves no room for
//! the overlap: that is told apart with one request without it, and the check is then turned
//! off (and reported).
//!
//! This file holds what the check finds ([`Shift`]) and the gap it leaves ([`Gap`]); the
//! cursor's side, checking each page and repairing a gap, is `cursor/repair`.

use super::plan::Direction;
use super::{EndReason, Page};
use crate::decode::KeyIndex;

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
