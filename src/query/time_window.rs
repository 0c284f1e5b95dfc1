//! Time windows on `create_time` (integer Unix seconds): [`Query::since`] and
//! [`Query::until`], a half-open interval, so windows that tile a period give, together,
//! exactly its rows.

use super::{Op, Query};

/// The field the windows are on: when the push action was created, in Unix seconds.
const CREATE_TIME: &str = "create_time";

impl<T> Query<T> {
    /// Only the rows created at or after `unix_secs`: `["create_time", ">=", unix_secs]`.
    ///
    /// With [`Query::until`] it makes a half-open window `[since, until)`: windows that share
    /// their ends (day by day, say) never both hold a row, and together hold every row of the
    /// period they cover.
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// use futures::TryStreamExt;
    /// // 2026-11-01T00:00:00Z to 2026-11-02T00:00:00Z: one day, the next day starts at `until`.
    /// let day = client.push_actions().since(1_793_491_200).until(1_793_577_600);
    /// let rows: Vec<_> = day.stream().try_collect().await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    #[must_use]
    pub fn since(self, unix_secs: i64) -> Self {
        self.filter(CREATE_TIME, Op::Ge, unix_secs)
    }

    /// Only the rows created before `unix_secs`: `["create_time", "<", unix_secs]`; the row
    /// created at `unix_secs` belongs to the window that starts there.
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// use futures::TryStreamExt;
    /// // Everything created before 2026-11-01T00:00:00Z.
    /// let rows: Vec<_> = client.push_actions().until(1_793_491_200).stream().try_collect().await?;
    /// # let _ = rows; Ok(()) }
    /// ```
    #[must_use]
    pub fn until(self, unix_secs: i64) -> Self {
        self.filter(CREATE_TIME, Op::Lt, unix_secs)
    }
}

#[cfg(test)]
mod tests {
    use crate::Client;
    use serde_json::json;

    #[test]
    fn a_window_is_two_conditions_on_create_time_half_open() {
        let q = Client::for_tests()
            .push_actions()
            .campaign(7)
            .since(1_793_491_200)
            .until(1_793_577_600);
        assert_eq!(
            q.identity(),
            json!({"condition": [
                ["campaign_id", "=", 7],
                ["create_time", ">=", 1_793_491_200],
                ["create_time", "<", 1_793_577_600]
            ]})
        );
    }
}
