//! The span of a query's keys: its smallest and largest `action_id`, found by two requests of
//! one row each. Shards and parallel keyset walks split the span; every run of the same query
//! over the same rows finds the same span.

use futures::TryStreamExt;

use super::{Mode, Query};
use crate::error::{Error, Result};
use crate::model::PushAction;
use crate::model::push_devices::KEY;

impl<T> Query<T> {
    /// The smallest and largest `action_id` among this query's rows (its conditions; not its
    /// start, order or row limit), by two requests of one row each: `None` when it has none.
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// if let Some((first, last)) = client.push_actions().campaign(245624).key_range().await? {
    ///     println!("action_id {first} to {last}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn key_range(&self) -> Result<Option<(u64, u64)>> {
        let Some(first) = self.edge_key(false).await? else {
            return Ok(None);
        };
        match self.edge_key(true).await? {
            Some(last) if last >= first => Ok(Some((first, last))),
            Some(last) => Err(Error::new(
                crate::ErrorKind::NotEnvelope,
                format!(
                    "the API's largest {KEY} ({last}) is below its smallest ({first}): \
                     it does not order by {KEY} as asked"
                ),
            )
            .at(&self.model, 0)),
            // Every row went between the two requests: there is nothing left to split.
            None => Ok(None),
        }
    }

    /// The first `action_id` in ascending (or descending) order among the query's rows.
    async fn edge_key(&self, descending: bool) -> Result<Option<u64>> {
        let mut probe = self.with_rows::<PushAction>();
        probe.body.select = Some(vec![KEY.to_string()]);
        let direction = if descending { "DESC" } else { "ASC" };
        probe.body.order = Some(vec![format!("{KEY} {direction}")]);
        probe.page_size = 1;
        probe.max_rows = Some(1);
        probe.concurrency = 1;
        probe.mode = Mode::Offset;
        probe.start_offset = 0;
        probe.start_after = None;
        probe.seam_check = false;
        probe.hook = None;
        let row = probe.stream().try_next().await?;
        match row {
            None => Ok(None),
            Some(PushAction {
                action_id: Some(key),
                ..
            }) => Ok(Some(key)),
            Some(_) => Err(Error::new(
                crate::ErrorKind::Decode,
                format!("a row without `{KEY}`, which a key range needs"),
            )
            .at(&self.model, 0)),
        }
    }
}
