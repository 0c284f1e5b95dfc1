//! The order check: every page's keys must run strictly in the walk's order (ascending or
//! descending `action_id`), row after row. Everything that trusts the order leans on it: a
//! keyset seek past a page's last key, the seam check's overlap row, the key ranges walked in
//! parallel. A server that sends a page's rows out of order (it does not honour `order`) would
//! make a seek skip the rows it sent early and send again the ones it sent late; a key shared
//! by two rows (the key is not unique) across a page boundary would make the seek skip the
//! second row. Neither is seen from a page's first and last keys alone.
//!
//! No I/O: the cursor reads the keys of a page (`decode::KeyIndex::keys`) and asks [`check`];
//! what it does about a [`Disorder`] depends on the mode (see `cursor/accept`).

use super::plan::Direction;
use crate::error::{Error, ErrorKind};
use crate::model::push_devices::KEY;

/// Where a page's keys stop running strictly in the walk's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disorder {
    /// Rows `index` and `index + 1` share `key`: the key is not unique.
    Repeated { index: usize, key: u64 },
    /// Row `index + 1`'s key `next` comes before row `index`'s `key` in the walk's order: the
    /// server does not honour `order`.
    Reversed { index: usize, key: u64, next: u64 },
}

/// The first place where `keys` (a page's, in the order sent) do not run strictly in
/// `direction`'s order; `None` when they do.
pub(crate) fn check(direction: Direction, keys: &[u64]) -> Option<Disorder> {
    keys.windows(2).enumerate().find_map(|(index, pair)| {
        let (key, next) = (pair[0], pair[1]);
        if key == next {
            Some(Disorder::Repeated { index, key })
        } else if direction.past(next, key) {
            None
        } else {
            Some(Disorder::Reversed { index, key, next })
        }
    })
}

impl Disorder {
    /// What went wrong, for a page whose first row (the overlap row, if any) sits at `offset`.
    pub(crate) fn describe(self, direction: Direction, offset: u64) -> String {
        let way = if direction.is_descending() {
            "DESC"
        } else {
            "ASC"
        };
        match self {
            Disorder::Repeated { index, key } => {
                let at = offset + index as u64;
                format!(
                    "more than one row has {KEY} {key} (at offsets {at} and {})",
                    at + 1
                )
            }
            Disorder::Reversed { index, key, next } => {
                let at = offset + index as u64;
                format!(
                    "the server does not honour `order` ({KEY} {way}): the row at offset {} has \
                     {KEY} {next}, which does not come after {KEY} {key} at offset {at}",
                    at + 1
                )
            }
        }
    }

    /// The error that ends a walk that trusts the order: a keyset walk (`keyset`), or offset
    /// pages whose seams are checked on the key.
    pub(crate) fn error(self, direction: Direction, offset: u64, keyset: bool) -> Error {
        let what = self.describe(direction, offset);
        let why = match (self, keyset) {
            (Disorder::Repeated { .. }, _) => format!(
                "keyset mode seeks past each page's last key, so it needs `{KEY}` unique: rows \
                 sharing a key across a page boundary would be skipped; export these rows in \
                 offset mode"
            ),
            (Disorder::Reversed { .. }, true) => "seeking past the page's last key would skip \
                 rows or send them twice, and retrying cannot help"
                .to_string(),
            (Disorder::Reversed { .. }, false) => "the seam check between pages would take \
                 rows for shifted and send them twice, and retrying cannot help"
                .to_string(),
        };
        Error::new(ErrorKind::Stalled, format!("{what}: {why}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_run_strictly_in_the_walks_order() {
        let (asc, desc) = (Direction::Ascending, Direction::Descending);
        let table: [(Direction, &[u64], Option<Disorder>); 8] = [
            (asc, &[], None),
            (asc, &[7], None),
            (asc, &[1, 2, 5, 9], None),
            (desc, &[9, 5, 2, 1], None),
            // A server that swaps a page's last two rows.
            (
                asc,
                &[1, 2, 4, 3],
                Some(Disorder::Reversed {
                    index: 2,
                    key: 4,
                    next: 3,
                }),
            ),
            (
                desc,
                &[9, 5, 6],
                Some(Disorder::Reversed {
                    index: 1,
                    key: 5,
                    next: 6,
                }),
            ),
            // A key shared by two rows, whichever the way.
            (
                asc,
                &[1, 2, 2, 3],
                Some(Disorder::Repeated { index: 1, key: 2 }),
            ),
            (desc, &[4, 4], Some(Disorder::Repeated { index: 0, key: 4 })),
        ];
        for (direction, keys, expected) in table {
            assert_eq!(check(direction, keys), expected, "{direction:?} {keys:?}");
        }
    }

    #[test]
    fn the_error_names_the_key_the_offset_and_the_way_out() {
        let swapped = Disorder::Reversed {
            index: 98,
            key: 100,
            next: 99,
        };
        let e = swapped.error(Direction::Ascending, 200, true);
        assert_eq!(e.kind(), ErrorKind::Stalled);
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(
            text.contains("does not honour `order` (action_id ASC)")
                && text.contains("offset 299 has action_id 99")
                && text.contains("action_id 100 at offset 298"),
            "{text}"
        );
        let shared = Disorder::Repeated { index: 0, key: 4 }.error(Direction::Descending, 6, true);
        let text = shared.to_string();
        assert!(
            text.contains("more than one row has action_id 4 (at offsets 6 and 7)")
                && text.contains("offset mode"),
            "{text}"
        );
    }
}
