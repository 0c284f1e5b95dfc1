//! Keyset mode in parallel, the plan: the key space cut lazily into consecutive ranges from a
//! frontier, each sized to hold about as many rows as asked for, from the density of keys
//! seen so far. No I/O: the async side (`parallel`) asks for the next range when it has room
//! for one, and reports each range it finished with the rows it held.
//!
//! Keys are sparse and bursty (stretches of close keys separated by wide gaps), so a width in
//! keys means nothing until rows have been seen: the density (rows per key) comes from the
//! probe that found the largest key, from every range finished since, recent ones weighing
//! more, and from the rows a range's first page saw past its bound ([`Gaps`] keeps the spans
//! those rows showed empty, so that cutting resumes past them).
//!
//! The ranges tile the keys past the start with no gap and no overlap: each starts right
//! after the one before ends. The last is open above (no upper bound), so rows added past
//! the largest key during the walk are read as a sequential walk would read them; it is cut
//! as soon as a range would reach past that key, and only once.

/// The keys one range holds: past `after` and short of `before`, both exclusive (no bound
/// when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyRange {
    pub(crate) after: Option<u64>,
    pub(crate) before: Option<u64>,
}

impl KeyRange {
    /// Whether the range is open above: the last one.
    pub(crate) fn is_open(&self) -> bool {
        self.before.is_none()
    }

    /// How many keys the range spans, when it is bounded.
    #[cfg(test)]
    fn width(&self) -> Option<u64> {
        self.width_from(0)
    }

    /// How many keys the range spans from `min` on (no key lies below it), when bounded.
    fn width_from(&self, min: u64) -> Option<u64> {
        let lo = first_key(self.after)?.max(min);
        Some(self.before?.saturating_sub(lo))
    }
}

/// The first key past `after`: `None` past the largest key there can be.
fn first_key(after: Option<u64>) -> Option<u64> {
    after.map_or(Some(0), |a| a.checked_add(1))
}

/// Spans of keys found to hold no row: a range's first page is asked past the range's upper
/// bound, and the first key past the bound is where keys resume. Ranges cut inside a gap are
/// known empty without a request, and the planner cuts past it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Gaps {
    /// `(from, to)`: no key `k` with `from <= k < to`; sorted by `from`, disjoint.
    spans: Vec<(u64, u64)>,
}

impl Gaps {
    /// No key lies from `from` up to `to` (exclusive).
    pub(crate) fn add(&mut self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        let at = self.spans.partition_point(|&(f, _)| f < from);
        self.spans.insert(at, (from, to));
        // Merge spans that touch or overlap.
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.spans.len());
        for &(f, t) in &self.spans {
            match merged.last_mut() {
                Some((_, last)) if f <= *last => *last = (*last).max(t),
                _ => merged.push((f, t)),
            }
        }
        self.spans = merged;
    }

    /// Whether every key of the bounded `range` lies in one gap.
    pub(crate) fn covers(&self, range: KeyRange) -> bool {
        let (Some(lo), Some(hi)) = (first_key(range.after), range.before) else {
            return false;
        };
        self.resume(lo) >= hi
    }

    /// The first key at or past `key` that is not in a gap.
    fn resume(&self, key: u64) -> u64 {
        let at = self.spans.partition_point(|&(f, _)| f <= key);
        match at.checked_sub(1).map(|i| self.spans[i]) {
            Some((_, to)) if to > key => to,
            _ => key,
        }
    }
}

/// Rows seen over a span of keys: how dense the keys are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Density {
    pub(crate) rows: u64,
    pub(crate) keys: u64,
}

impl Density {
    /// The width that should hold `rows` rows: at the density seen; where no row was seen
    /// yet, as if every key were a row, then twice the span seen empty.
    fn width_for(self, rows: u64) -> u64 {
        match (self.rows, self.keys) {
            (0, 0) => rows.max(1),
            (0, keys) => keys.saturating_mul(2),
            (seen, keys) => {
                let w = (u128::from(rows) * u128::from(keys)).div_ceil(u128::from(seen));
                u64::try_from(w).unwrap_or(u64::MAX).max(1)
            }
        }
    }

    /// The density with a range's rows added; what came before counts half, so the width
    /// follows the keys as they thin out or crowd.
    fn add(self, rows: u64, keys: u64) -> Density {
        Density {
            rows: rows.saturating_add(self.rows / 2),
            keys: keys.saturating_add(self.keys / 2),
        }
    }
}

/// Where the cutting stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Planner {
    /// Ranges are still to be cut, the next one past `after` (the frontier); `min` and `max`
    /// are the smallest and largest keys when the walk began; `width` the last range's;
    /// `floor` where keys resume past the gaps found so far (ranges are sized from there,
    /// while densities count every key, gaps included, as the keys' spread is what they
    /// measure).
    Cutting {
        after: Option<u64>,
        min: u64,
        max: u64,
        floor: u64,
        density: Density,
        width: u64,
    },
    /// The open range was cut: there is no next range.
    Done,
}

/// How much wider than the range before a range may be cut: ranges that came back empty (a
/// gap in the keys) widen the next ones, but not at once to the end of the keys.
const GROWTH: u64 = 4;

impl Planner {
    /// Ranges past `after` (from the first key without it), over `keys`, the smallest and
    /// largest keys found when the walk began (`None`: there was none, and one open range
    /// reads whatever comes), sized from `density` to begin with.
    pub(crate) fn new(after: Option<u64>, keys: Option<(u64, u64)>, density: Density) -> Planner {
        // With no keys, any width reaches past 0: the first range is the open one.
        let (min, max) = keys.unwrap_or((0, 0));
        Planner::Cutting {
            after,
            min,
            max,
            floor: min,
            density,
            width: 0,
        }
    }

    /// The next range, sized to hold about `rows` rows past the gaps found so far; `None`
    /// once the open one was cut.
    pub(crate) fn next_past(&mut self, rows: u64, gaps: &Gaps) -> Option<KeyRange> {
        if let Planner::Cutting {
            after, min, floor, ..
        } = self
            && let Some(lo) = first_key(*after)
        {
            // A gap from the frontier on: the range starts at the frontier (the ranges tile
            // the keys) and is sized from where keys resume.
            *floor = (*floor).max(gaps.resume(lo.max(*min)));
        }
        self.next(rows)
    }

    /// The next range, sized to hold about `rows` rows; `None` once the open one was cut.
    pub(crate) fn next(&mut self, rows: u64) -> Option<KeyRange> {
        let Planner::Cutting {
            after,
            min,
            max,
            floor,
            density,
            width,
        } = self
        else {
            return None;
        };
        let start = *after;
        let mut w = density.width_for(rows);
        if *width > 0 {
            w = w.min(width.saturating_mul(GROWTH));
        }
        // The first range starts at the start, but holds no key below the smallest one.
        let end = first_key(start).and_then(|lo| lo.max(*min).max(*floor).checked_add(w));
        match end {
            Some(before) if before <= *max => {
                (*after, *width) = (Some(before - 1), w);
                Some(KeyRange {
                    after: start,
                    before: Some(before),
                })
            }
            _ => {
                *self = Planner::Done;
                Some(KeyRange {
                    after: start,
                    before: None,
                })
            }
        }
    }

    /// Rows seen past a range, where the next ranges are cut (the rows a range's first page
    /// brought from past its bound): the next ranges are sized from them, at once.
    pub(crate) fn seen_ahead(&mut self, seen: Density) {
        if let Planner::Cutting { density, width, .. } = self
            && seen.rows > 0
        {
            *density = density.add(seen.rows, seen.keys);
            // Measured, not guessed from a gap: no step-by-step widening.
            *width = 0;
        }
    }

    /// A range was walked to its end and held `rows` rows: the next ranges are sized from it.
    pub(crate) fn finished(&mut self, range: KeyRange, rows: u64) {
        if let Planner::Cutting { density, min, .. } = self
            && let Some(keys) = range.width_from(*min)
        {
            *density = density.add(rows, keys);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys `start + stride * i` for `i < n`.
    fn keys(start: u64, stride: u64, n: u64) -> Vec<u64> {
        (0..n).map(|i| start + stride * i).collect()
    }

    /// Cuts ranges over `data` (sorted keys) until the open one, each asked to hold `rows`
    /// rows, finishing each with the rows it holds; returns the ranges and their rows.
    fn cut(mut planner: Planner, data: &[u64], rows: u64) -> Vec<(KeyRange, u64)> {
        let mut out = Vec::new();
        while let Some(range) = planner.next(rows) {
            let held = data
                .iter()
                .filter(|&&k| range.after.is_none_or(|a| k > a))
                .filter(|&&k| range.before.is_none_or(|b| k < b))
                .count() as u64;
            planner.finished(range, held);
            out.push((range, held));
            assert!(out.len() < 100_000, "the cutting ends");
        }
        out
    }

    /// Every range starts where the one before ended; only the last is open.
    fn assert_tiles(ranges: &[(KeyRange, u64)], after: Option<u64>) {
        assert_eq!(
            ranges[0].0.after, after,
            "the first range starts at the start"
        );
        for pair in ranges.windows(2) {
            let (a, b) = (pair[0].0, pair[1].0);
            let end = a.before.expect("only the last range is open");
            assert_eq!(
                b.after,
                Some(end - 1),
                "{a:?} then {b:?}: no gap, no overlap"
            );
        }
        assert!(ranges.last().unwrap().0.is_open(), "the last range is open");
    }

    #[test]
    fn ranges_tile_the_keys_and_the_last_is_open() {
        let data = keys(1_000, 4, 10_000);
        let max = *data.last().unwrap();
        for (after, density) in [
            (None, Density::default()),
            (Some(1_500), Density::default()),
            (None, Density { rows: 1, keys: 4 }),
            (Some(7), Density { rows: 3, keys: 1 }),
        ] {
            let ranges = cut(
                Planner::new(after, Some((data[0], max)), density),
                &data,
                300,
            );
            assert_tiles(&ranges, after);
            let held: u64 = ranges.iter().map(|r| r.1).sum();
            let past = data
                .iter()
                .filter(|&&k| after.is_none_or(|a| k > a))
                .count();
            assert_eq!(held, past as u64, "every key past the start in one range");
            let open = ranges.last().unwrap().0;
            assert!(
                first_key(open.after).unwrap() <= max,
                "{open:?} starts by {max}"
            );
        }
    }

    #[test]
    fn widths_follow_the_density_of_keys() {
        // One row every 4 keys: 300 rows span 1,200 keys.
        let mut p = Planner::new(
            None,
            Some((0, u64::MAX / 2)),
            Density {
                rows: 99,
                keys: 396,
            },
        );
        assert_eq!(p.next(300).unwrap().width(), Some(1_200));
        // A range of 1,200 keys held 1,200 rows (keys crowd): the next ones narrow.
        p.finished(
            KeyRange {
                after: Some(10),
                before: Some(1_211),
            },
            1_200,
        );
        let narrower = p.next(300).unwrap().width().unwrap();
        assert!(narrower < 1_200 / 2, "{narrower}");
        // Bursts of 50 rows 2,500 keys apart: ranges settle near 300 rows each.
        let data: Vec<u64> = (0..20_000u64)
            .map(|i| (i / 50) * 2_700 + (i % 50) * 4)
            .collect();
        let ranges = cut(
            Planner::new(
                None,
                Some((data[0], *data.last().unwrap())),
                Density::default(),
            ),
            &data,
            300,
        );
        assert_tiles(&ranges, None);
        let settled = &ranges[ranges.len() / 2..ranges.len() - 1];
        for (range, held) in settled {
            assert!((150..=600).contains(held), "{range:?} held {held}");
        }
    }

    #[test]
    fn gaps_merge_and_cover_only_ranges_wholly_inside() {
        let mut gaps = Gaps::default();
        gaps.add(100, 200);
        gaps.add(150, 300);
        gaps.add(300, 400);
        gaps.add(500, 500);
        assert_eq!(
            gaps.spans,
            [(100, 400)],
            "touching spans merge, empty ones vanish"
        );
        let range = |after, before| KeyRange {
            after: Some(after),
            before: Some(before),
        };
        assert!(gaps.covers(range(99, 400)), "keys 100..399");
        assert!(!gaps.covers(range(98, 400)), "key 99 is not in the gap");
        assert!(!gaps.covers(range(99, 401)), "key 400 is not in the gap");
        assert!(!gaps.covers(KeyRange {
            after: Some(150),
            before: None
        }));
        // The planner sizes the next range from where keys resume past a gap at its frontier.
        let mut p = Planner::new(Some(99), Some((0, 10_000)), Density { rows: 1, keys: 1 });
        let next = p.next_past(50, &gaps).unwrap();
        assert_eq!((next.after, next.before), (Some(99), Some(450)));
    }

    #[test]
    fn empty_ranges_widen_the_next_ones() {
        let mut p = Planner::new(None, Some((0, u64::MAX / 2)), Density::default());
        let first = p.next(100).unwrap();
        assert_eq!(first.width(), Some(100), "no density yet: a row per key");
        p.finished(first, 0);
        let second = p.next(100).unwrap();
        assert_eq!(second.width(), Some(200));
        p.finished(second, 0);
        assert!(p.next(100).unwrap().width().unwrap() > 200);
    }

    #[test]
    fn no_range_is_cut_below_the_smallest_key_and_gaps_widen_ranges_step_by_step() {
        // Keys from 1,000,000 on, one every 4: the first range starts at the start, and
        // reaches past the smallest key by the width for its rows.
        let mut p = Planner::new(
            None,
            Some((1_000_000, 9_000_000)),
            Density { rows: 1, keys: 4 },
        );
        let first = p.next(100).unwrap();
        assert_eq!(first.after, None);
        assert_eq!(first.before, Some(1_000_400));
        // Its rows are counted over the keys from the smallest one, not from 0.
        let mut q = p.clone();
        q.finished(first, 100);
        let next = q.next(100).unwrap().width().unwrap();
        assert!((400..=410).contains(&next), "{next}");
        // A long stretch without keys: each range at most four times the one before.
        let (mut previous, mut range) = (400, first);
        for _ in 0..6 {
            p.finished(range, 0);
            range = p.next(100).unwrap();
            let width = range.width().unwrap();
            assert!(
                width > previous && width <= 4 * previous,
                "{previous} then {width}"
            );
            previous = width;
        }
    }

    #[test]
    fn a_start_past_the_largest_key_or_no_key_gives_one_open_range() {
        for (after, keys) in [
            (Some(500), Some((7, 400))),
            (Some(400), Some((7, 400))),
            (None, None),
        ] {
            let mut p = Planner::new(after, keys, Density { rows: 1, keys: 1 });
            assert_eq!(
                p.next(1_000),
                Some(KeyRange {
                    after,
                    before: None
                })
            );
            assert_eq!(p.next(1_000), None, "open once");
            assert_eq!(p, Planner::Done);
        }
        // The range that would reach past the largest key is the open one.
        let mut p = Planner::new(None, Some((0, 150)), Density { rows: 1, keys: 1 });
        let first = p.next(100).unwrap();
        assert_eq!(first.before, Some(100));
        let last = p.next(100).unwrap();
        assert_eq!((last.after, last.before), (Some(99), None));
        assert_eq!(p.next(100), None);
    }
}
