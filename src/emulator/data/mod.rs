//! The emulator's synthetic data set: a growing list of records plus the prepared JSON of
//! each. The row type, its fields, the generator and the JSON writer have files of their own.

mod chunk;
mod field;
mod generate;
mod json;
mod record;

use std::sync::Arc;

use chunk::RowJson;
use generate::Generator;

pub(crate) use field::{Field, Value};
pub use generate::DEFAULT_CAMPAIGNS;
pub use generate::ERROR_MESSAGES;
pub use record::Record;

/// The records plus the full JSON of each, serialised once (in parallel chunks), and the
/// generator that inserted rows continue from.
///
/// The data set only ever grows at its end (new rows have higher `action_id`s), so row
/// indices stay valid and every query path serves inserted rows like generated ones.
pub(crate) struct Dataset {
    /// In ascending `action_id` order. Shared with the snapshots handed out by
    /// [`Emulator::records`](crate::emulator::Emulator::records): an insertion appends in
    /// place when no snapshot is alive, and copies the vector once (copy-on-write) when one
    /// is.
    pub(crate) records: Arc<Vec<Record>>,
    /// The JSON of every record, by index.
    json: RowJson,
    generator: Generator,
}

impl Dataset {
    /// Generates and serialises the data set.
    pub(crate) fn new(n: usize, seed: u64, campaigns: &[u64]) -> Dataset {
        let mut generator = Generator::new(seed, campaigns);
        let mut records = Vec::with_capacity(n);
        generator.extend(&mut records, n);
        let json = RowJson::new(&records);
        Dataset {
            records: Arc::new(records),
            json,
            generator,
        }
    }

    /// Appends `n` new records continuing the generator (ids above, times not below every
    /// existing one) and prepares their JSON. Amortised O(n), unless a snapshot of the
    /// records is alive, which costs one copy of the record vector.
    pub(crate) fn insert(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        let records = Arc::make_mut(&mut self.records);
        let start = records.len();
        self.generator.extend(records, n);
        for r in &records[start..] {
            self.json.push(r);
        }
        debug_assert_eq!(self.json.len(), records.len());
    }

    /// The prepared JSON of record `i`.
    pub(crate) fn row_json(&self, i: usize) -> &[u8] {
        self.json.get(i)
    }
}

#[cfg(test)]
mod tests {
    use super::chunk::CHUNK_ROWS;
    use super::generate::generate;
    use super::*;

    /// Each row's prepared JSON parses to the record's own JSON.
    fn assert_rows_json(ds: &Dataset, rows: impl IntoIterator<Item = usize>) {
        for i in rows {
            let parsed: serde_json::Value = serde_json::from_slice(ds.row_json(i)).unwrap();
            assert_eq!(parsed, ds.records[i].to_json(), "row {i}");
        }
    }

    #[test]
    fn prepared_json_matches_serde() {
        let ds = Dataset::new(500, 1, &DEFAULT_CAMPAIGNS);
        assert_rows_json(&ds, 0..ds.records.len());
        // Field order on the wire.
        let text = std::str::from_utf8(ds.row_json(0)).unwrap();
        let mut last = 0;
        for f in Field::ALL {
            let pos = text.find(&format!("\"{}\":", f.name())).unwrap();
            assert!(pos >= last);
            last = pos;
        }
    }

    #[test]
    fn rows_across_chunk_boundaries() {
        let n = 2 * CHUNK_ROWS + 5;
        let ds = Dataset::new(n, 2, &DEFAULT_CAMPAIGNS);
        assert_rows_json(
            &ds,
            [
                0,
                CHUNK_ROWS - 1,
                CHUNK_ROWS,
                CHUNK_ROWS + 1,
                2 * CHUNK_ROWS,
                n - 1,
            ],
        );
    }

    #[test]
    fn insert_continues_the_data_set() {
        let mut ds = Dataset::new(1_000, 4, &[3, 9]);
        let before = ds.records.clone();
        ds.insert(0);
        assert!(
            Arc::ptr_eq(&before, &ds.records),
            "inserting nothing copies nothing"
        );
        for n in [1, 37, 500] {
            ds.insert(n);
        }
        // Exactly the rows a larger generation gives: same gaps, times and distributions.
        assert_eq!(*ds.records, generate(1_538, 4, &[3, 9]));
        // The snapshot taken before is untouched.
        assert_eq!(*before, generate(1_000, 4, &[3, 9]));
        let max = before.last().unwrap();
        for r in &ds.records[1_000..] {
            assert!(r.action_id > max.action_id && r.create_time >= max.create_time);
            assert!([3, 9].contains(&r.campaign_id));
        }
        assert_rows_json(&ds, 0..ds.records.len());
    }

    #[test]
    fn insert_appends_in_place_without_snapshots() {
        let mut ds = Dataset::new(10, 1, &DEFAULT_CAMPAIGNS);
        let ptr = Arc::as_ptr(&ds.records);
        for _ in 0..100 {
            ds.insert(3);
        }
        assert_eq!(ds.records.len(), 310);
        assert_eq!(
            Arc::as_ptr(&ds.records),
            ptr,
            "no copy without a live snapshot"
        );
        let snapshot = ds.records.clone();
        ds.insert(1);
        assert!(!Arc::ptr_eq(&snapshot, &ds.records), "copy-on-write");
        assert_eq!(snapshot.len(), 310);
        let ptr = Arc::as_ptr(&ds.records);
        drop(snapshot);
        ds.insert(1);
        assert_eq!(Arc::as_ptr(&ds.records), ptr);
    }

    #[test]
    fn insert_across_chunk_boundaries() {
        let mut ds = Dataset::new(CHUNK_ROWS - 3, 6, &DEFAULT_CAMPAIGNS);
        ds.insert(2);
        ds.insert(5);
        ds.insert(CHUNK_ROWS);
        let n = 2 * CHUNK_ROWS + 4;
        assert_eq!(ds.records.len(), n);
        assert_eq!(ds.json.chunk_count(), 3);
        assert_rows_json(
            &ds,
            [
                CHUNK_ROWS - 4,
                CHUNK_ROWS - 2,
                CHUNK_ROWS - 1,
                CHUNK_ROWS,
                CHUNK_ROWS + 3,
                2 * CHUNK_ROWS - 1,
                2 * CHUNK_ROWS,
                n - 1,
            ],
        );
    }

    #[test]
    fn inserting_into_an_empty_data_set() {
        let mut ds = Dataset::new(0, 2, &DEFAULT_CAMPAIGNS);
        assert!(ds.records.is_empty());
        ds.insert(20);
        assert_eq!(*ds.records, generate(20, 2, &DEFAULT_CAMPAIGNS));
        assert_rows_json(&ds, [19]);
    }
}

#[cfg(test)]
mod timing {
    #[test]
    #[ignore]
    fn time_5m() {
        let t = std::time::Instant::now();
        let mut d = super::Dataset::new(5_000_000, 1, &super::DEFAULT_CAMPAIGNS);
        eprintln!("generate and serialise {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for _ in 0..1_000 {
            d.insert(10);
        }
        eprintln!("1000 insertions of 10 {:?}", t.elapsed());
        let t = std::time::Instant::now();
        drop(d);
        eprintln!("drop {:?}", t.elapsed());
    }
}
