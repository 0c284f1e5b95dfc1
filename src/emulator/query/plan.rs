//! Running a parsed query over the data set: narrowing by binary search on monotonic
//! fields, the `action_id` fast paths, the general filter-and-sort, and the page window.

use std::ops::Range;

use crate::emulator::data::{Dataset, Field, Row};
use crate::emulator::query::Query;
use crate::emulator::query::order::{Dir, compare_rows};

/// The rows `skip..skip + take` of `len` rows, clamped to them.
fn window(len: usize, skip: usize, take: usize) -> Range<usize> {
    let start = skip.min(len);
    start..start.saturating_add(take).min(len)
}

impl Query {
    /// When the order is fully determined by `action_id` (the default, or `action_id` as
    /// first key, which is unique), its direction.
    fn action_id_order(&self) -> Option<Dir> {
        match self.order.first() {
            None => Some(Dir::Desc),
            Some((Field::ActionId, dir)) => Some(*dir),
            Some(_) => None,
        }
    }

    /// Whether the page can be computed in time proportional to at most `inline_rows`
    /// rows (no conditions, `action_id` order, a small enough effective limit).
    pub(crate) fn is_cheap(&self, max_limit: Option<usize>, inline_rows: u64) -> bool {
        if !self.conditions.is_empty() || self.action_id_order().is_none() {
            return false;
        }
        let max_limit = max_limit.map(|m| m as u64);
        match (self.limit, max_limit) {
            (Some(l), Some(m)) => l.min(m) <= inline_rows,
            (Some(l), None) | (None, Some(l)) => l <= inline_rows,
            (None, None) => false,
        }
    }

    /// The rows of the page, in answer order, computed from the data set. `max_limit` caps
    /// the page size.
    ///
    /// Without conditions in `action_id` order it computes only the page's rows. Conditions
    /// on `action_id` and `create_time` narrow the rows to scan by binary search; the rest
    /// are checked row by row, lazily in `action_id` order (a keyset page computes little
    /// more than its rows), and another order sorts every matching row.
    pub(crate) fn run(&self, ds: &Dataset, max_limit: Option<usize>) -> Vec<Row> {
        let mut take = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        if let Some(m) = max_limit {
            take = take.min(m);
        }
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        if take == 0 {
            return Vec::new();
        }
        // Narrow by binary search on monotonic fields.
        let (mut lo, mut hi) = (0, ds.len());
        for c in &self.conditions {
            if let Some((a, b)) = c.narrow(ds) {
                lo = lo.max(a);
                hi = hi.min(b);
            }
        }
        if lo >= hi {
            return Vec::new();
        }
        let matches = |r: &Row| self.conditions.iter().all(|c| c.matches(r));
        let row = |i: usize| ds.row(i);
        match self.action_id_order() {
            Some(dir) if self.conditions.is_empty() => {
                let w = window(hi - lo, skip, take);
                match dir {
                    Dir::Asc => (lo + w.start..lo + w.end).map(row).collect(),
                    Dir::Desc => (hi - w.end..hi - w.start).rev().map(row).collect(),
                }
            }
            Some(Dir::Asc) => (lo..hi)
                .map(row)
                .filter(matches)
                .skip(skip)
                .take(take)
                .collect(),
            Some(Dir::Desc) => (lo..hi)
                .rev()
                .map(row)
                .filter(matches)
                .skip(skip)
                .take(take)
                .collect(),
            None => {
                // Ties fall back to the primary-key (ascending action_id) order.
                let mut rows: Vec<Row> = (lo..hi).map(row).filter(matches).collect();
                rows.sort_by(|a, b| {
                    compare_rows(&self.order, a, b).then(a.action_id.cmp(&b.action_id))
                });
                let w = window(rows.len(), skip, take);
                rows.truncate(w.end);
                rows.drain(..w.start);
                rows
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{ds, ids, parse};
    use super::*;
    use crate::emulator::data::DEFAULT_CAMPAIGNS;
    use crate::emulator::envelope::render_page;

    /// The reference semantics: filter everything, sort, window.
    fn naive(ds: &Dataset, q: &Query) -> Vec<u64> {
        let mut rows: Vec<Row> = (0..ds.len())
            .map(|i| ds.row(i))
            .filter(|r| q.conditions.iter().all(|c| c.matches(r)))
            .collect();
        let order = if q.order.is_empty() {
            vec![(Field::ActionId, Dir::Desc)]
        } else {
            q.order.clone()
        };
        rows.sort_by(|a, b| compare_rows(&order, a, b).then(a.action_id.cmp(&b.action_id)));
        let skip = q.offset as usize;
        let take = q.limit.map_or(usize::MAX, |l| l as usize);
        ids(&rows.into_iter().skip(skip).take(take).collect::<Vec<_>>())
    }

    #[test]
    fn fast_paths_agree_with_the_naive_plan() {
        let ds = ds();
        let mid = ds.row(1_500).action_id;
        let t = ds.row(700).create_time;
        let bodies = [
            json!({}),
            json!({"limit": 10}),
            json!({"limit": 10, "offset": 2_995}),
            json!({"limit": 10, "offset": 5_000}),
            json!({"order": ["action_id ASC"], "limit": 25, "offset": 40}),
            json!({"order": ["action_id"], "offset": 2_990}),
            json!({"condition": [["action_id", "<", mid]], "limit": 50}),
            json!({"condition": [["action_id", "<", mid.to_string()]], "order": ["action_id ASC"], "limit": 50, "offset": 3}),
            json!({"condition": [["action_id", ">=", mid], ["error", "=", 1]], "limit": 20}),
            json!({"condition": [["action_id", "=", mid]]}),
            json!({"condition": [["action_id", "<=", mid as f64 + 0.5], ["action_id", ">", mid as f64 - 100.5]]}),
            json!({"condition": [["create_time", "=", t]], "order": ["action_id ASC"]}),
            json!({"condition": [["create_time", ">", t], ["create_time", "<", t + 100]]}),
            json!({"condition": [["campaign_id", "IN", [245624, "245626"]]], "order": ["create_time DESC", "device_id"], "limit": 30, "offset": 10}),
            json!({"condition": [["platform", "!=", "web"]], "order": ["profile_id"], "limit": 40}),
            json!({"order": ["error_message DESC", "campaign_id ASC"], "limit": 40, "offset": 100}),
            json!({"condition": [["action_id", ">", mid], ["action_id", "<", mid]]}),
            json!({"limit": 0}),
            json!({"offset": u64::MAX, "limit": u64::MAX}),
            json!({"offset": 2_999, "limit": u64::MAX, "order": ["action_id ASC"]}),
            json!({"condition": [["error", "=", 1]], "offset": u64::MAX, "limit": u64::MAX}),
            json!({"order": ["device_id"], "offset": u64::MAX}),
        ];
        // The same rows, partly inserted after generation: every path must serve inserted
        // rows exactly like generated ones.
        let mut grown = Dataset::new(1_000, 11, &DEFAULT_CAMPAIGNS);
        grown.insert(1_499);
        grown.insert(1);
        grown.insert(500);
        assert_eq!(grown.records(), ds.records());
        for body in bodies {
            let q = parse(body.clone()).unwrap();
            let rows = q.run(&ds, None);
            assert_eq!(ids(&rows), naive(&ds, &q), "{body}");
            let grown_rows = q.run(&grown, None);
            assert_eq!(grown_rows, rows, "grown: {body}");
            for select in [None, Some(&[Field::Platform, Field::ActionId][..])] {
                let page: serde_json::Value =
                    serde_json::from_slice(&render_page(&grown_rows, select)).unwrap();
                assert_eq!(page["data"].as_array().unwrap().len(), rows.len());
            }
        }
    }

    #[test]
    fn pages_see_rows_inserted_meanwhile() {
        let mut ds = Dataset::new(500, 3, &DEFAULT_CAMPAIGNS);
        // Default order: new rows come first.
        let old_max = ds.row(499).action_id;
        ds.insert(30);
        let first = parse(json!({"limit": 40})).unwrap().run(&ds, None);
        let want: Vec<Row> = (490..530).rev().map(|i| ds.row(i)).collect();
        assert_eq!(first, want);
        assert!(ids(&first[..30]).iter().all(|&id| id > old_max));
        // Keyset paging ascending sees every inserted row once, in order, at the end.
        let mut got = Vec::new();
        let mut last = 0u64;
        loop {
            let q = parse(json!({
                "condition": [["action_id", ">", last]],
                "order": ["action_id ASC"],
                "limit": 100,
            }))
            .unwrap();
            let page = ids(&q.run(&ds, None));
            let Some(&l) = page.last() else { break };
            last = l;
            got.extend(page);
            if got.len() < 1_000 {
                ds.insert(45);
            }
        }
        let all: Vec<u64> = ds.records().iter().map(|r| r.action_id).collect();
        assert_eq!(got, all);
        assert!(ds.len() > 1_000);
    }

    #[test]
    fn max_limit_caps_silently() {
        let ds = ds();
        let q = parse(json!({"limit": 100, "offset": 10})).unwrap();
        let rows = q.run(&ds, Some(30));
        assert_eq!(rows.len(), 30);
        assert_eq!(ids(&rows), naive(&ds, &q)[..30]);
        assert_eq!(parse(json!({})).unwrap().run(&ds, Some(7)).len(), 7);
    }
}
