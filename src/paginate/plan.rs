//! What a query means for paging, worked out once before the first request: the order pages are
//! asked in, whether their seams can be checked, which way keyset mode seeks, and the body of
//! each kind of request.

use std::sync::Arc;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::event::Hook;
use crate::model::push_devices::{self, KEY};
use crate::query::{Condition, MAX_CONCURRENCY, Mode, Op, Query, QueryBody};

/// Which way keys run in the order pages come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Ascending,
    Descending,
}

impl Direction {
    fn descending(descending: bool) -> Self {
        if descending {
            Direction::Descending
        } else {
            Direction::Ascending
        }
    }

    pub(crate) fn is_descending(self) -> bool {
        self == Direction::Descending
    }

    /// Whether key `a` comes after key `b` in this order.
    pub(crate) fn past(self, a: u64, b: u64) -> bool {
        match self {
            Direction::Ascending => a > b,
            Direction::Descending => a < b,
        }
    }
}

/// How the pages of a query are walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// `offset`/`limit` pages; `seam` is the key order when each page's seam is checked.
    Offset { seam: Option<Direction> },
    /// Seek past the last key, in this order.
    Keyset(Direction),
}

/// A query, checked and ready to page.
pub(crate) struct Plan {
    pub(crate) client: Client,
    pub(crate) model: Arc<str>,
    /// The query's own conditions, select and order.
    query: QueryBody,
    /// What offset pages send: the query, with the model's default order where it sets none.
    offset_body: QueryBody,
    pub(crate) walk: Walk,
    pub(crate) page_size: u64,
    pub(crate) start_offset: u64,
    pub(crate) start_after: Option<u64>,
    pub(crate) max_rows: Option<u64>,
    pub(crate) concurrency: usize,
    /// Keyset mode: how many key ranges are walked at once (1: one request at a time).
    pub(crate) key_ranges: usize,
    pub(crate) max_rps: Option<f64>,
    pub(crate) retry_budget: Option<u64>,
    /// Bytes of pages that came back early the stream may hold (see `window`).
    pub(crate) reorder_window: u64,
    pub(crate) hook: Option<Hook>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("model", &self.model)
            .field("walk", &self.walk)
            .field("page_size", &self.page_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Checks the query: a list model name, a page size, and (keyset mode) an order and select
    /// that allow seeking on the key.
    pub(crate) fn new<T>(q: &Query<T>) -> Result<Plan> {
        let model_ok = !q.model.is_empty()
            && q.model
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !model_ok {
            return Err(Error::config(format!(
                "{:?} is not a list model name (letters, digits, '-' and '_')",
                q.model
            )));
        }
        if q.page_size == 0 {
            return Err(
                Error::config("the page size must be at least 1").at(&q.model, q.start_offset)
            );
        }
        if q.concurrency > MAX_CONCURRENCY {
            return Err(Error::config(format!(
                "at most {MAX_CONCURRENCY} page requests may be in flight at once, not {}",
                q.concurrency
            )));
        }
        if let Some(rps) = q.max_rps
            && !(rps.is_finite() && rps > 0.0)
        {
            return Err(Error::config(format!(
                "the request rate cap must be a positive number of requests per second, not {rps}"
            )));
        }
        let walk = match q.mode {
            Mode::Offset => Walk::Offset {
                seam: seam_order(q).filter(|_| q.page_size >= 2),
            },
            Mode::Keyset => Walk::Keyset(
                keyset_direction(q).map_err(|e| Error::config(e).at(&q.model, q.start_offset))?,
            ),
        };
        // Ranges in parallel when asked for, ascending and with no row limit; else sequential.
        let parallel =
            walk == Walk::Keyset(Direction::Ascending) && q.concurrency_set && q.max_rows.is_none();
        let mut offset_body = q.body.clone();
        if offset_body.order.is_none()
            && let Some(order) = default_order(q)
        {
            offset_body.order = Some(vec![order.to_string()]);
        }
        Ok(Plan {
            client: q.client.clone(),
            model: q.model.clone(),
            query: q.body.clone(),
            offset_body,
            walk,
            page_size: q.page_size,
            start_offset: q.start_offset,
            start_after: q.start_after,
            max_rows: q.max_rows,
            concurrency: q.concurrency.max(1),
            key_ranges: if parallel { q.concurrency.max(1) } else { 1 },
            max_rps: q.max_rps,
            retry_budget: q.retry_budget,
            reorder_window: q.reorder_window,
            hook: q.hook.clone(),
        })
    }

    /// What an offset page sends besides `limit` and `offset`.
    pub(crate) fn offset_body(&self) -> &QueryBody {
        &self.offset_body
    }

    /// What a page that seeks by key sends besides `limit` (its `offset` is 0): the query, past
    /// `after` and short of `before` when set (to fetch rows a shift moved between two pages),
    /// ordered on the key; from `after` on, itself included, when `from_after` (a keyset page's
    /// overlap row, see `order`).
    pub(crate) fn keyset_body(
        &self,
        after: Option<u64>,
        before: Option<u64>,
        direction: Direction,
        from_after: bool,
    ) -> QueryBody {
        keyset_body(&self.query, after, before, direction, from_after)
    }
}

fn keyset_body(
    query: &QueryBody,
    after: Option<u64>,
    before: Option<u64>,
    direction: Direction,
    from_after: bool,
) -> QueryBody {
    let mut body = query.clone();
    let (past, short_of) = match (direction, from_after) {
        (Direction::Descending, false) => (Op::Lt, Op::Gt),
        (Direction::Descending, true) => (Op::Le, Op::Gt),
        (Direction::Ascending, false) => (Op::Gt, Op::Lt),
        (Direction::Ascending, true) => (Op::Ge, Op::Lt),
    };
    if let Some(key) = after {
        body.condition.push(Condition::new(KEY, past, key));
    }
    if let Some(key) = before {
        body.condition.push(Condition::new(KEY, short_of, key));
    }
    let way = if direction.is_descending() {
        "DESC"
    } else {
        "ASC"
    };
    body.order = Some(vec![format!("{KEY} {way}")]);
    body
}

/// The order sent when the query sets none: for push-devices, `action_id DESC` — the API's own
/// default as observed (newest first), made explicit so that pages are stable and their seams
/// can be checked. Other models keep the server's default.
fn default_order<T>(q: &Query<T>) -> Option<&'static str> {
    (q.mode == Mode::Offset && &*q.model == push_devices::NAME)
        .then_some(push_devices::DEFAULT_ORDER)
}

/// Whether an order is on the unique key alone: `None` for no order, `Some(Ok(descending))`
/// for `action_id [ASC|DESC]`, `Some(Err(()))` for anything else.
pub(crate) fn key_direction(order: &[String]) -> Option<Result<bool, ()>> {
    let terms: Vec<String> = order
        .iter()
        .map(|t| {
            t.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
        .collect();
    match terms.as_slice() {
        [] => None,
        [t] if t == KEY || *t == format!("{KEY} asc") => Some(Ok(false)),
        [t] if *t == format!("{KEY} desc") => Some(Ok(true)),
        _ => Some(Err(())),
    }
}

/// Whether the key is among the selected fields (all are, without a select).
fn key_selected(body: &QueryBody) -> bool {
    body.select
        .as_ref()
        .is_none_or(|select| select.iter().any(|f| f == KEY))
}

/// Offset mode: whether pages are ordered on the unique key, and which way, so that each page's
/// first key can be checked against the last key of the page before. `None` when the order is
/// on something else (or unknown), or the seam check is off.
fn seam_order<T>(q: &Query<T>) -> Option<Direction> {
    if q.mode != Mode::Offset || !q.seam_check || !key_selected(&q.body) {
        return None;
    }
    let order = match (&q.body.order, default_order(q)) {
        (Some(order), _) => order.clone(),
        (None, Some(order)) => vec![order.to_string()],
        (None, None) => return None,
    };
    match key_direction(&order) {
        Some(Ok(descending)) => Some(Direction::descending(descending)),
        _ => None,
    }
}

/// Why completeness cannot be checked for this query, if it cannot.
pub(crate) fn order_warning<T>(q: &Query<T>) -> Option<String> {
    if q.mode != Mode::Offset || seam_order(q).is_some() {
        return None;
    }
    if !q.seam_check {
        return Some(
            "the seam check is off: rows added or removed during the export can come out \
             twice or not at all, unnoticed"
                .to_string(),
        );
    }
    let order = match &q.body.order {
        Some(o) => format!("by {}", o.join(", ")),
        None => "in the server's default order".to_string(),
    };
    Some(format!(
        "pages are ordered {order}, not by the unique `{KEY}` (or it is not selected): \
         rows added, removed or tied during the export can come out twice or not at all, \
         unnoticed; order by {KEY} or use keyset mode"
    ))
}

/// Keyset mode: which way the key is walked (descending for `action_id DESC`), or why the
/// query's order or select do not allow seeking on the key.
fn keyset_direction<T>(q: &Query<T>) -> Result<Direction, String> {
    if !key_selected(&q.body) {
        return Err(format!(
            "keyset mode needs `{KEY}` among the selected fields"
        ));
    }
    match key_direction(q.body.order.as_deref().unwrap_or_default()) {
        None => Ok(Direction::Ascending),
        Some(Ok(descending)) => Ok(Direction::descending(descending)),
        Some(Err(())) => Err(format!(
            "keyset mode orders by `{KEY}`: leave the order out, or use \"{KEY} ASC\" \
             or \"{KEY} DESC\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Client {
        Client::for_tests()
    }

    #[test]
    fn keyset_pages_seek_past_the_last_key() {
        let q = client().push_actions().campaign(7).mode(Mode::Keyset);
        assert_eq!(keyset_direction(&q), Ok(Direction::Ascending));
        let seek = keyset_body(&q.body, Some(1234), None, Direction::Ascending, false);
        let body = q.client.page_request(q.model(), &seek, 500, 0).unwrap();
        assert_eq!(
            body.body_json(),
            json!({
                "apptoken": "t0ken",
                "condition": [["campaign_id", "=", 7], ["action_id", ">", 1234]],
                "order": ["action_id ASC"],
                "limit": 500,
                "offset": 0
            })
        );
        let first = serde_json::to_value(keyset_body(
            &q.body,
            None,
            None,
            Direction::Ascending,
            false,
        ))
        .unwrap();
        assert_eq!(
            first,
            json!({"condition": [["campaign_id", "=", 7]], "order": ["action_id ASC"]})
        );
        let desc = q.clone().order("action_id  desc");
        assert_eq!(keyset_direction(&desc), Ok(Direction::Descending));
        let body = keyset_body(&desc.body, Some(99), Some(10), Direction::Descending, false);
        let body = serde_json::to_value(body).unwrap();
        assert_eq!(body["condition"][1], json!(["action_id", "<", 99]));
        // A page that overlaps the one before asks from its last key on.
        let from = keyset_body(&q.body, Some(1234), None, Direction::Ascending, true);
        let from = serde_json::to_value(from).unwrap();
        assert_eq!(from["condition"][1], json!(["action_id", ">=", 1234]));
        let from = keyset_body(&desc.body, Some(99), None, Direction::Descending, true);
        let from = serde_json::to_value(from).unwrap();
        assert_eq!(from["condition"][1], json!(["action_id", "<=", 99]));
        assert_eq!(body["condition"][2], json!(["action_id", ">", 10]));
        assert_eq!(body["order"], json!(["action_id DESC"]));
    }

    #[test]
    fn keyset_needs_the_key_in_select_and_order() {
        let q = client().push_actions().mode(Mode::Keyset);
        let e = keyset_direction(&q.clone().select(["device_id"])).unwrap_err();
        assert!(e.contains("`action_id` among the selected fields"), "{e}");
        let e = keyset_direction(&q.clone().order("create_time DESC")).unwrap_err();
        assert!(e.contains("keyset mode orders by `action_id`"), "{e}");
        assert_eq!(
            keyset_direction(&q.select(["action_id", "device_id"])),
            Ok(Direction::Ascending)
        );
    }

    #[test]
    fn push_devices_pages_are_ordered_on_the_key_unless_the_query_orders_them() {
        let q = client().push_actions().campaign(7);
        let plan = Plan::new(&q).unwrap();
        assert_eq!(
            plan.offset_body().order,
            Some(vec!["action_id DESC".into()])
        );
        assert_eq!(
            plan.walk,
            Walk::Offset {
                seam: Some(Direction::Descending)
            }
        );
        assert_eq!(order_warning(&q), None);

        let by_time = Plan::new(&q.clone().order("create_time")).unwrap();
        assert_eq!(by_time.walk, Walk::Offset { seam: None });
        let warning = order_warning(&q.clone().order("create_time")).unwrap();
        assert!(warning.contains("ordered by create_time"), "{warning}");

        let off = q.clone().seam_check(false);
        assert_eq!(Plan::new(&off).unwrap().walk, Walk::Offset { seam: None });
        assert!(order_warning(&off).unwrap().contains("seam check is off"));

        let other = client().list::<serde_json::Value>("campaign");
        assert_eq!(Plan::new(&other).unwrap().offset_body().order, None);
        assert_eq!(Plan::new(&other).unwrap().walk, Walk::Offset { seam: None });
    }

    #[test]
    fn a_bad_model_or_page_size_is_refused() {
        let e = Plan::new(&client().list::<serde_json::Value>("push devices")).unwrap_err();
        assert!(e.to_string().contains("is not a list model name"), "{e}");
        let e = Plan::new(&client().push_actions().page_size(0)).unwrap_err();
        assert!(
            e.to_string().contains("page size must be at least 1"),
            "{e}"
        );
    }
}
