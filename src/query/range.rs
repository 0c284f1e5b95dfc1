//! The span of a query's keys: its smallest and largest `action_id`, found by two requests of
//! two rows each. Shards and parallel keyset walks split the span; every run of the same query
//! over the same rows finds the same span.
//!
//! The answers are checked before they are believed, because a split taken from a server that
//! does not do as asked is silently wrong: a server that ignores `order` gives both probes the
//! same row, and every shard would take a one-key span. So each probe asks for two rows, which
//! must come in the order asked (a server that answers in one order whatever is asked fails
//! one of the two probes whenever the query has two rows); every row must meet the query's
//! conditions where they can be judged ([`Condition::admits`]); and the smallest key must not
//! be above the largest, nor any key either probe saw outside the two. An answer that fails is
//! an error of kind [`ErrorKind::Stalled`](crate::ErrorKind::Stalled) naming what the server
//! answered.

use futures::TryStreamExt;

use super::{Condition, Mode, Query};
use crate::error::{Error, ErrorKind, Result};
use crate::model::RawRow;
use crate::model::push_devices::{FIELDS, KEY};

/// One probe's direction on `action_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// `action_id ASC`: the smallest key first.
    First,
    /// `action_id DESC`: the largest key first.
    Last,
}

impl Edge {
    fn order(self) -> &'static str {
        match self {
            Edge::First => "ASC",
            Edge::Last => "DESC",
        }
    }
}

/// How many rows each probe asks for: two, so that the order they come in can be checked.
const PROBE_ROWS: u64 = 2;

impl<T> Query<T> {
    /// The smallest and largest `action_id` among this query's rows (its conditions; not its
    /// start, order or row limit), by two requests of two rows each: `None` when it has none.
    /// The answers are checked (see the module's docs): rows out of the order asked, a row
    /// outside the query's conditions, or probes that contradict each other are an error of
    /// kind [`ErrorKind::Stalled`](crate::ErrorKind::Stalled) that says what the API answered.
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// if let Some((first, last)) = client.push_actions().campaign(245624).key_range().await? {
    ///     println!("action_id {first} to {last}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn key_range(&self) -> Result<Option<(u64, u64)>> {
        let ascending = self.edge_keys(Edge::First).await?;
        let Some(&first) = ascending.first() else {
            return Ok(None);
        };
        let descending = self.edge_keys(Edge::Last).await?;
        // Every row went between the two requests: there is nothing left to split.
        let Some(&last) = descending.first() else {
            return Ok(None);
        };
        let outside = ascending
            .iter()
            .chain(&descending)
            .find(|&&k| k < first || k > last);
        if last < first || outside.is_some() {
            return Err(self.misanswered(format!(
                "its smallest {KEY} ({first}) and its largest ({last}) contradict its answers \
                 (ascending {}, descending {}): it does not order by {KEY} as asked",
                keys(&ascending),
                keys(&descending)
            )));
        }
        Ok(Some((first, last)))
    }

    /// The keys of the first rows in ascending (or descending) order among the query's rows,
    /// checked: each row has a key and meets the conditions that can be judged, and the keys
    /// come in the order asked.
    async fn edge_keys(&self, edge: Edge) -> Result<Vec<u64>> {
        let mut probe = self.with_rows::<()>();
        probe.body.select = Some(self.probe_fields());
        probe.body.order = Some(vec![format!("{KEY} {}", edge.order())]);
        probe.page_size = PROBE_ROWS;
        probe.max_rows = Some(PROBE_ROWS);
        probe.concurrency = 1;
        probe.mode = Mode::Offset;
        probe.start_offset = 0;
        probe.start_after = None;
        probe.seam_check = false;
        probe.hook = None;
        let rows: Vec<RawRow> = probe.raw_stream().try_collect().await?;
        let mut keys = Vec::with_capacity(rows.len());
        for row in &rows {
            keys.push(self.checked_key(row)?);
        }
        let in_order = keys.windows(2).all(|w| match edge {
            Edge::First => w[0] < w[1],
            Edge::Last => w[0] > w[1],
        });
        if !in_order {
            return Err(self.misanswered(format!(
                "asked for {KEY} {}, it answered {}: it does not order by {KEY} as asked",
                edge.order(),
                keys_then(&keys)
            )));
        }
        Ok(keys)
    }

    /// The fields a probe selects: the key, and every known field a condition is on, so that
    /// each answered row can be checked against the conditions.
    fn probe_fields(&self) -> Vec<String> {
        let mut fields = vec![KEY.to_string()];
        for c in &self.body.condition {
            let field = c.field();
            if FIELDS.contains(&field) && !fields.iter().any(|f| f == field) {
                fields.push(field.to_string());
            }
        }
        fields
    }

    /// The key of a probe's row, which must meet every condition that can be judged.
    fn checked_key(&self, row: &RawRow) -> Result<u64> {
        let fields: serde_json::Map<String, serde_json::Value> = row.parse().map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!("a row of the key range's probe is not a JSON object: {e}"),
            )
            .at(&self.model, 0)
        })?;
        let Some(key) = fields.get(KEY).and_then(serde_json::Value::as_u64) else {
            return Err(Error::new(
                ErrorKind::Decode,
                format!("a row without a whole-number `{KEY}`, which a key range needs"),
            )
            .at(&self.model, 0));
        };
        let outside = |c: &&Condition| {
            fields
                .get(c.field())
                .and_then(|v| c.admits(v))
                .is_some_and(|ok| !ok)
        };
        if let Some(c) = self.body.condition.iter().find(outside) {
            let value = &fields[c.field()];
            return Err(self.misanswered(format!(
                "it answered {KEY} {key} with {} {value}, outside the query's condition {} {} \
                 {}: it does not filter as asked",
                c.field(),
                c.field(),
                c.op(),
                c.value().as_json()
            )));
        }
        Ok(key)
    }

    /// The error for a probe's answer that contradicts the query.
    fn misanswered(&self, what: String) -> Error {
        Error::new(
            ErrorKind::Stalled,
            format!("the API's answer to the key range's probe cannot be trusted: {what}"),
        )
        .at(&self.model, 0)
    }
}

/// `7, 9` or `none`.
fn keys(keys: &[u64]) -> String {
    if keys.is_empty() {
        return "none".into();
    }
    keys.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `60 then 59`.
fn keys_then(keys: &[u64]) -> String {
    keys.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" then ")
}
