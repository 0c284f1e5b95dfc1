//! The emulator's synthetic data set: a length and the function that computes row `i`, so
//! memory does not grow with the number of rows. The row types, their fields, the row
//! function and the JSON writer have files of their own.

mod field;
mod record;
mod row;
mod synth;

use std::sync::Arc;

use synth::Synth;

pub(crate) use field::{Field, Value};
pub use record::Record;
pub use row::ERROR_MESSAGES;
pub(crate) use row::Row;
pub use synth::DEFAULT_CAMPAIGNS;

/// The most rows a data set holds: sizes and insertions beyond it are clamped. Far beyond
/// what a test or a benchmark reads, and low enough that every `action_id` and
/// `create_time` stays exact in a JSON number read as a double.
pub const MAX_RECORDS: usize = 1 << 40;

/// The rows `0..len` of a seed and campaign list, each computed from its index on demand
/// (row `i` is the same whatever `len` is, so insertions are just a longer `len`).
///
/// The data set only ever grows at its end (new rows have higher `action_id`s), so row
/// indices stay valid and every query path serves inserted rows like generated ones.
/// Cloning it is cheap and gives a snapshot.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    synth: Arc<Synth>,
    len: usize,
}

impl Dataset {
    /// The first `n` rows (at most [`MAX_RECORDS`]) of `seed` over `campaigns`. O(1).
    pub(crate) fn new(n: usize, seed: u64, campaigns: &[u64]) -> Dataset {
        Dataset {
            synth: Arc::new(Synth::new(seed, campaigns)),
            len: n.min(MAX_RECORDS),
        }
    }

    /// Appends `n` new rows, the next ones of the seed: ids above, times not below every
    /// existing one. O(1).
    pub(crate) fn insert(&mut self, n: usize) {
        self.len = self.len.saturating_add(n).min(MAX_RECORDS);
    }

    /// The number of rows.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Row `i` (also for `i >= len`: the rows a later insertion adds).
    pub(crate) fn row(&self, i: usize) -> Row {
        self.synth.row(i as u64)
    }

    /// For `action_id` and `create_time`, which never decrease with the index: the value
    /// of row `i` without computing the rest of it. `None` for other fields.
    fn monotonic_key(&self, field: Field, i: usize) -> Option<i64> {
        match field {
            Field::ActionId => Some(self.synth.action_id(i as u64) as i64),
            Field::CreateTime => Some(self.synth.create_time(i as u64)),
            _ => None,
        }
    }

    /// The first index whose value of the monotonic `field` fails `pred` (which must hold
    /// for a prefix of the rows), by binary search; `None` when `field` is not monotonic.
    pub(crate) fn partition_point(
        &self,
        field: Field,
        pred: impl Fn(i64) -> bool,
    ) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if pred(self.monotonic_key(field, mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        self.monotonic_key(field, 0).map(|_| lo)
    }

    /// Every row as a [`Record`], in ascending `action_id` order: memory in proportion to
    /// the data set.
    pub(crate) fn records(&self) -> Vec<Record> {
        (0..self.len).map(|i| self.row(i).to_record()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_the_records_json() {
        let ds = Dataset::new(2_000, 1, &DEFAULT_CAMPAIGNS);
        let records = ds.records();
        for (i, r) in records.iter().enumerate() {
            let mut out = Vec::new();
            ds.row(i).write_json(&mut out);
            let parsed: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, r.to_json(), "row {i}");
        }
        // Field order on the wire.
        let mut out = Vec::new();
        ds.row(0).write_json(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        let mut last = 0;
        for f in Field::ALL {
            let pos = text.find(&format!("\"{}\":", f.name())).unwrap();
            assert!(pos >= last);
            last = pos;
        }
    }

    #[test]
    fn insert_continues_the_data_set() {
        let mut ds = Dataset::new(1_000, 4, &[3, 9]);
        let before = ds.clone();
        for n in [0, 1, 37, 500] {
            ds.insert(n);
        }
        // Exactly the rows a larger data set has: same gaps, times and distributions.
        assert_eq!(ds.records(), Dataset::new(1_538, 4, &[3, 9]).records());
        assert_eq!(before.len(), 1_000, "a clone is a snapshot");
        let max = before.row(999);
        for i in 1_000..ds.len() {
            let r = ds.row(i);
            assert!(r.action_id > max.action_id && r.create_time >= max.create_time);
            assert!([3, 9].contains(&r.campaign_id));
        }
        let mut empty = Dataset::new(0, 2, &DEFAULT_CAMPAIGNS);
        assert!(empty.records().is_empty());
        empty.insert(20);
        assert_eq!(empty.records(), Dataset::new(20, 2, &[]).records());
    }

    #[test]
    fn sizes_are_clamped() {
        let mut ds = Dataset::new(usize::MAX, 1, &[]);
        assert_eq!(ds.len(), MAX_RECORDS);
        ds.insert(usize::MAX);
        assert_eq!(ds.len(), MAX_RECORDS);
        let last = ds.row(MAX_RECORDS - 1);
        assert!(last.action_id > ds.row(MAX_RECORDS - 2).action_id);
        assert!(i64::try_from(last.action_id).is_ok());
    }

    #[test]
    fn partition_point_finds_monotonic_values() {
        let ds = Dataset::new(5_000, 3, &DEFAULT_CAMPAIGNS);
        let records = ds.records();
        for k in [0, 1, 17, 2_500, 4_999] {
            let id = records[k].action_id as i64;
            let t = records[k].create_time;
            assert_eq!(ds.partition_point(Field::ActionId, |v| v < id), Some(k));
            let want = records.partition_point(|r| r.create_time <= t);
            assert_eq!(
                ds.partition_point(Field::CreateTime, |v| v <= t),
                Some(want)
            );
        }
        assert_eq!(ds.partition_point(Field::ActionId, |_| true), Some(5_000));
        assert_eq!(ds.partition_point(Field::DeviceId, |_| true), None);
        let empty = Dataset::new(0, 3, &[]);
        assert_eq!(empty.partition_point(Field::ActionId, |_| true), Some(0));
    }
}

#[cfg(test)]
mod timing {
    #[test]
    #[ignore]
    fn time_50m() {
        let t = std::time::Instant::now();
        let d = super::Dataset::new(50_000_000, 1, &super::DEFAULT_CAMPAIGNS);
        let mut out = Vec::new();
        for i in 0..1_000_000 {
            d.row(i).write_json(&mut out);
            out.clear();
        }
        eprintln!("1M rows computed and written {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let id = d.row(31_234_567).action_id as i64;
        let at = d.partition_point(super::Field::ActionId, |v| v < id);
        eprintln!("seek {at:?} {:?}", t.elapsed());
    }
}
