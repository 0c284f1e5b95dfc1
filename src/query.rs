//! The list query: conditions, select, order and page size. The builder is the request body.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::ser::SerializeTuple;
use serde::{Serialize, Serializer};

use crate::client::Client;
use crate::model::RawRow;
use crate::paginate::{Pages, Rows};

/// A comparison operator of a [`Condition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `IN`: the value is an array.
    In,
    /// `NOT IN`: the value is an array.
    NotIn,
}

impl Op {
    /// The operator as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Op {
    type Err = String;

    /// Parses `=`, `!=`, `<`, `<=`, `>`, `>=`, `in` and `not in` (any case, any spacing).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        Ok(match norm.as_str() {
            "=" | "==" => Op::Eq,
            "!=" | "<>" => Op::Ne,
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "in" => Op::In,
            "not in" => Op::NotIn,
            _ => {
                return Err(format!(
                    "unknown operator {s:?}: expected one of = != < <= > >= in, not in"
                ));
            }
        })
    }
}

/// The value side of a [`Condition`]: a number, a string, or an array of them for `IN`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Value(serde_json::Value);

impl Value {
    /// The value as JSON.
    pub fn as_json(&self) -> &serde_json::Value {
        &self.0
    }
}

macro_rules! value_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value(serde_json::Value::from(v))
            }
        }
    )*};
}
value_from!(i32, i64, u32, u64, f64, String, &str);

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value(serde_json::Value::Array(
            v.into_iter().map(|x| x.into().0).collect(),
        ))
    }
}

impl<T: Into<Value>, const N: usize> From<[T; N]> for Value {
    fn from(v: [T; N]) -> Self {
        Value::from(Vec::from(v))
    }
}

/// One `[field, operator, value]` triple; all the conditions of a query are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    field: String,
    op: Op,
    value: Value,
}

impl Condition {
    /// A condition on `field`.
    ///
    /// ```
    /// use xp_export::{Condition, Op};
    /// let c = Condition::new("create_time", Op::Gt, 1480000000);
    /// assert_eq!(serde_json::to_string(&c).unwrap(), r#"["create_time",">",1480000000]"#);
    /// ```
    pub fn new(field: impl Into<String>, op: Op, value: impl Into<Value>) -> Self {
        Condition {
            field: field.into(),
            op,
            value: value.into(),
        }
    }

    /// The field compared.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The operator.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The value compared with.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.field)?;
        t.serialize_element(self.op.as_str())?;
        t.serialize_element(&self.value)?;
        t.end()
    }
}

impl std::str::FromStr for Condition {
    type Err = String;

    /// Parses `FIELD OP VALUE`, as on the command line: `campaign_id = 245624`,
    /// `error_message != "Not personalized"`, `device_id in 1,2,3`, `create_time>1480000000`.
    /// Values that read as numbers are sent as numbers, others as strings; surrounding quotes
    /// are removed. `in` and `not in` take a comma-separated list.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let field_end = text
            .find(|c: char| c.is_whitespace() || "=!<>".contains(c))
            .unwrap_or(text.len());
        let field = &text[..field_end];
        if field.is_empty() {
            return Err(format!("{s:?} has no field: expected FIELD OP VALUE"));
        }
        if !field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(format!("{field:?} is not a field name"));
        }
        let rest = text[field_end..].trim_start();
        let lower = rest.to_ascii_lowercase();
        let word = |w: &str| {
            lower.starts_with(w) && lower[w.len()..].starts_with(|c: char| c.is_whitespace())
        };
        let (op, len) = if lower.starts_with("not") && word("not") {
            let after = lower[3..].trim_start();
            if after.starts_with("in") && after[2..].starts_with(|c: char| c.is_whitespace()) {
                (Op::NotIn, rest.len() - after.len() + 2)
            } else {
                return Err(format!("{s:?}: expected `not in` after the field"));
            }
        } else if word("in") {
            (Op::In, 2)
        } else {
            let sym: String = rest.chars().take_while(|c| "=!<>".contains(*c)).collect();
            if sym.is_empty() {
                return Err(format!(
                    "{s:?} has no operator: expected one of = != < <= > >= in, not in"
                ));
            }
            (sym.parse::<Op>()?, sym.len())
        };
        let value = rest[len..].trim();
        if value.is_empty() {
            return Err(format!("{s:?} has no value after {:?}", op.as_str()));
        }
        let value = match op {
            Op::In | Op::NotIn => {
                let items: Vec<serde_json::Value> =
                    value.split(',').map(|v| scalar(v.trim())).collect();
                if items
                    .iter()
                    .any(|v| v == &serde_json::Value::String(String::new()))
                {
                    return Err(format!("{s:?} has an empty item in its list"));
                }
                Value(serde_json::Value::Array(items))
            }
            _ => Value(scalar(value)),
        };
        Ok(Condition {
            field: field.to_string(),
            op,
            value,
        })
    }
}

/// A number where the text is one, else the text without surrounding quotes.
fn scalar(text: &str) -> serde_json::Value {
    for q in ['"', '\''] {
        if text.len() >= 2 && text.starts_with(q) && text.ends_with(q) {
            return serde_json::Value::String(text[1..text.len() - 1].to_string());
        }
    }
    if let Ok(i) = text.parse::<i64>() {
        return i.into();
    }
    if let Ok(u) = text.parse::<u64>() {
        return u.into();
    }
    if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ".-+eE".contains(c))
    {
        return f.into();
    }
    serde_json::Value::String(text.to_string())
}

/// Whether an order is on the unique key alone: `None` for no order, `Some(Ok(descending))`
/// for `action_id [ASC|DESC]`, `Some(Err(()))` for anything else.
fn key_direction(order: &[String]) -> Option<Result<bool, ()>> {
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
        [t] if t == KEYSET_KEY || *t == format!("{KEYSET_KEY} asc") => Some(Ok(false)),
        [t] if *t == format!("{KEYSET_KEY} desc") => Some(Ok(true)),
        _ => Some(Err(())),
    }
}

/// The part of the request body a query fixes: the same for every page.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct QueryBody {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) condition: Vec<Condition>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) select: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) order: Option<Vec<String>>,
}

/// One page's request body.
#[derive(Serialize)]
pub(crate) struct RequestBody<'a> {
    pub(crate) apptoken: &'a str,
    #[serde(flatten)]
    pub(crate) query: std::borrow::Cow<'a, QueryBody>,
    pub(crate) limit: u64,
    pub(crate) offset: u64,
}

/// How a query walks through the result.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `offset`/`limit` pages, in the query's order (the API's default: newest first). Fast
    /// with requests in flight, but rows added or removed during the export shift every later
    /// offset.
    #[default]
    Offset,
    /// Seek by key: a fixed order on `action_id` (ascending unless the query orders by
    /// `action_id DESC`) and a condition `action_id > last seen` instead of an offset. Rows added
    /// or removed during the export can neither duplicate nor hide a row that existed when it
    /// started, and no deep offset is ever sent. Pages are sequential by nature.
    Keyset,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "offset" => Ok(Mode::Offset),
            "keyset" => Ok(Mode::Keyset),
            _ => Err(format!("unknown mode {s:?}: expected offset or keyset")),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Offset => "offset",
            Mode::Keyset => "keyset",
        })
    }
}

/// The unique key keyset mode seeks on.
pub const KEYSET_KEY: &str = crate::model::push_devices::KEY;

/// The default number of rows asked for per request.
pub const DEFAULT_PAGE_SIZE: u64 = 1000;

/// The default number of page requests in flight at once: enough to hide a round trip of
/// latency behind the decoding and writing of the pages before it, few enough to stay polite to
/// an API whose rate limits are undocumented (see the README's Performance section).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// A query over one list model, built step by step, then run as a stream.
///
/// Made by [`Client::list`] or [`Client::push_actions`]. Nothing is sent until the stream is
/// polled.
pub struct Query<T> {
    pub(crate) client: Client,
    pub(crate) model: Arc<str>,
    pub(crate) body: QueryBody,
    pub(crate) page_size: u64,
    pub(crate) start_offset: u64,
    pub(crate) max_rows: Option<u64>,
    pub(crate) concurrency: usize,
    pub(crate) mode: Mode,
    pub(crate) start_after: Option<u64>,
    pub(crate) max_rps: Option<f64>,
    pub(crate) retry_budget: Option<u64>,
    pub(crate) seam_check: bool,
    _row: PhantomData<fn() -> T>,
}

impl<T> Clone for Query<T> {
    fn clone(&self) -> Self {
        self.with_rows()
    }
}

impl<T> fmt::Debug for Query<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Query")
            .field("model", &self.model)
            .field("condition", &self.body.condition)
            .field("select", &self.body.select)
            .field("order", &self.body.order)
            .field("page_size", &self.page_size)
            .field("start_offset", &self.start_offset)
            .field("max_rows", &self.max_rows)
            .field("concurrency", &self.concurrency)
            .field("mode", &self.mode)
            .field("start_after", &self.start_after)
            .field("max_rps", &self.max_rps)
            .field("retry_budget", &self.retry_budget)
            .finish()
    }
}

impl<T> Query<T> {
    pub(crate) fn new(client: Client, model: &str) -> Self {
        Query {
            client,
            model: model.into(),
            body: QueryBody::default(),
            page_size: DEFAULT_PAGE_SIZE,
            start_offset: 0,
            max_rows: None,
            concurrency: DEFAULT_CONCURRENCY,
            mode: Mode::Offset,
            start_after: None,
            max_rps: None,
            retry_budget: None,
            seam_check: true,
            _row: PhantomData,
        }
    }

    /// Adds a condition; all conditions are ANDed.
    #[must_use]
    pub fn condition(mut self, c: Condition) -> Self {
        self.body.condition.push(c);
        self
    }

    /// Adds `field op value`: shorthand for [`Query::condition`].
    #[must_use]
    pub fn filter(self, field: impl Into<String>, op: Op, value: impl Into<Value>) -> Self {
        self.condition(Condition::new(field, op, value))
    }

    /// Only the rows of this campaign: `["campaign_id", "=", id]`.
    #[must_use]
    pub fn campaign(self, id: u64) -> Self {
        self.filter("campaign_id", Op::Eq, id)
    }

    /// Only the failed messages: `["error", "=", 1]`.
    #[must_use]
    pub fn failed(self) -> Self {
        self.filter("error", Op::Eq, 1)
    }

    /// The fields to return, in this order. Without it the API returns every field.
    #[must_use]
    pub fn select<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.body.select = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    /// Adds an order term such as `"action_id DESC"`; terms apply in the order they are added.
    #[must_use]
    pub fn order(mut self, term: impl Into<String>) -> Self {
        self.body
            .order
            .get_or_insert_with(Vec::new)
            .push(term.into());
        self
    }

    /// How many rows to ask for per request (the `limit`), default 1000. A server that caps it
    /// lower is detected and followed; see [`Pages`].
    #[must_use]
    pub fn page_size(mut self, n: u64) -> Self {
        self.page_size = n;
        self
    }

    /// Starts at this offset instead of 0 (to continue an export that stopped).
    #[must_use]
    pub fn start_offset(mut self, offset: u64) -> Self {
        self.start_offset = offset;
        self
    }

    /// How many page requests may be in flight at once (default [`DEFAULT_CONCURRENCY`]; 1 pages
    /// strictly one request at a time). Prefetching starts once a full page has confirmed the
    /// page size; rows still arrive in offset order, and memory holds at most this many pages.
    #[must_use]
    pub fn concurrency(mut self, k: usize) -> Self {
        self.concurrency = k.max(1);
        self
    }

    /// How to walk through the result: [`Mode::Offset`] (the default) or [`Mode::Keyset`].
    #[must_use]
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Offset mode: whether each page after the first starts one row early, so that the row
    /// before it can be checked against the last one delivered and a seam where rows shifted
    /// repaired (default on, whenever pages are ordered by `action_id`). Off, pages take
    /// exactly `limit` new rows each and shifts go unnoticed.
    #[must_use]
    pub fn seam_check(mut self, on: bool) -> Self {
        self.seam_check = on;
        self
    }

    /// Caps the requests of this stream, concurrent ones included, at this many per second
    /// (a token bucket). A 429 halves the rate in force and recovers it slowly.
    #[must_use]
    pub fn max_rps(mut self, rps: f64) -> Self {
        self.max_rps = Some(rps);
        self
    }

    /// Caps the retries the whole stream may spend; once spent, the next failure ends the
    /// stream with an error that says so. Default: no cap beyond each page's own.
    #[must_use]
    pub fn retry_budget(mut self, retries: u64) -> Self {
        self.retry_budget = Some(retries);
        self
    }

    /// Keyset mode: starts after this `action_id` (to continue an export that stopped). In
    /// offset mode, with [`Query::start_offset`]: the `action_id` of the last row delivered
    /// before that offset, which the first page's seam is checked against.
    #[must_use]
    pub fn start_after(mut self, key: u64) -> Self {
        self.start_after = Some(key);
        self
    }

    /// Stops after this many rows, asking for no more than that.
    #[must_use]
    pub fn max_rows(mut self, n: u64) -> Self {
        self.max_rows = Some(n);
        self
    }

    /// The list model this query reads, e.g. `push-devices`.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// Conditions, select and order as JSON: what identifies the query, without the apptoken.
    pub fn identity(&self) -> serde_json::Value {
        serde_json::to_value(&self.body).unwrap_or_default()
    }

    /// The request body for one page (tests, and the export checkpoint's query fingerprint).
    pub(crate) fn request_body(&self, offset: u64, limit: u64) -> RequestBody<'_> {
        let query = match (&self.body.order, self.default_order()) {
            (None, Some(order)) => {
                let mut body = self.body.clone();
                body.order = Some(vec![order.to_string()]);
                std::borrow::Cow::Owned(body)
            }
            _ => std::borrow::Cow::Borrowed(&self.body),
        };
        RequestBody {
            apptoken: self.client.apptoken(),
            query,
            limit,
            offset,
        }
    }

    /// The order sent when the query sets none: for push-devices, `action_id DESC` — the
    /// API's own default as observed (newest first), made explicit so that pages are stable
    /// and their seams can be checked. Other models keep the server's default.
    fn default_order(&self) -> Option<&'static str> {
        use crate::model::push_devices;
        (self.mode == Mode::Offset && &*self.model == push_devices::NAME)
            .then_some(push_devices::DEFAULT_ORDER)
    }

    /// Offset mode: whether pages are ordered on the unique key, and which way (`Some(true)`
    /// for descending), so that each page's first key can be checked against the last key of
    /// the page before. `None` when the order is on something else (or unknown).
    pub(crate) fn seam_order(&self) -> Option<bool> {
        if self.mode != Mode::Offset || !self.seam_check {
            return None;
        }
        if let Some(select) = &self.body.select
            && !select.iter().any(|f| f == KEYSET_KEY)
        {
            return None;
        }
        let order = match (&self.body.order, self.default_order()) {
            (Some(order), _) => order.clone(),
            (None, Some(order)) => vec![order.to_string()],
            (None, None) => return None,
        };
        match key_direction(&order) {
            Some(Ok(descending)) => Some(descending),
            _ => None,
        }
    }

    /// Why completeness cannot be checked for this query, if it cannot.
    pub(crate) fn order_warning(&self) -> Option<String> {
        if self.mode != Mode::Offset || self.seam_order().is_some() {
            return None;
        }
        if !self.seam_check {
            return Some(
                "the seam check is off: rows added or removed during the export can come out \
                 twice or not at all, unnoticed"
                    .to_string(),
            );
        }
        let order = match &self.body.order {
            Some(o) => format!("by {}", o.join(", ")),
            None => "in the server's default order".to_string(),
        };
        Some(format!(
            "pages are ordered {order}, not by the unique `{KEYSET_KEY}` (or it is not selected): \
             rows added, removed or tied during the export can come out twice or not at all, \
             unnoticed; order by {KEYSET_KEY} or use keyset mode"
        ))
    }

    /// Keyset mode: whether the key is walked in descending order (`action_id DESC`), or an
    /// error when the query's order or select do not allow seeking on the key.
    pub(crate) fn keyset_descending(&self) -> Result<bool, String> {
        if let Some(select) = &self.body.select
            && !select.iter().any(|f| f == KEYSET_KEY)
        {
            return Err(format!(
                "keyset mode needs `{KEYSET_KEY}` among the selected fields"
            ));
        }
        match key_direction(self.body.order.as_deref().unwrap_or_default()) {
            None => Ok(false),
            Some(Ok(descending)) => Ok(descending),
            Some(Err(())) => Err(format!(
                "keyset mode orders by `{KEYSET_KEY}`: leave the order out, or use \"{KEYSET_KEY} ASC\" \
                 or \"{KEYSET_KEY} DESC\""
            )),
        }
    }

    /// The query part of a page's body that seeks by key: past `after`, and short of
    /// `before` when set (to fetch rows a shift moved between two pages).
    pub(crate) fn keyset_body(
        &self,
        after: Option<u64>,
        before: Option<u64>,
        descending: bool,
    ) -> QueryBody {
        let mut body = self.body.clone();
        let (past, short_of) = if descending {
            (Op::Lt, Op::Gt)
        } else {
            (Op::Gt, Op::Lt)
        };
        if let Some(key) = after {
            body.condition.push(Condition::new(KEYSET_KEY, past, key));
        }
        if let Some(key) = before {
            body.condition
                .push(Condition::new(KEYSET_KEY, short_of, key));
        }
        body.order = Some(vec![format!(
            "{KEYSET_KEY} {}",
            if descending { "DESC" } else { "ASC" }
        )]);
        body
    }
}

impl<T: DeserializeOwned + Send + 'static> Query<T> {
    /// The rows, one by one, across as many pages as it takes.
    ///
    /// See [`Rows`] for how the stream pages, retries and ends.
    pub fn stream(self) -> Rows<T> {
        Rows::new(self.pages())
    }

    /// The pages, each with its offset and rows: for exports that checkpoint between pages.
    pub fn pages(self) -> Pages<T> {
        Pages::new(self, crate::model::decode_typed::<T>)
    }
}

impl<T> Query<T> {
    /// The rows exactly as the server sent them ([`RawRow`]: shared slices of each response,
    /// no decoding into a type, no copy), paged like [`Query::stream`].
    pub fn raw_stream(self) -> Rows<RawRow> {
        Rows::new(self.raw_pages())
    }

    /// The pages of rows exactly as the server sent them: what an export writes.
    pub fn raw_pages(self) -> Pages<RawRow> {
        Pages::new(self.with_rows(), crate::model::decode_raw)
    }

    /// The same query, its rows decoded as `U`.
    pub(crate) fn with_rows<U>(&self) -> Query<U> {
        Query {
            client: self.client.clone(),
            model: self.model.clone(),
            body: self.body.clone(),
            page_size: self.page_size,
            start_offset: self.start_offset,
            max_rows: self.max_rows,
            concurrency: self.concurrency,
            mode: self.mode,
            start_after: self.start_after,
            max_rps: self.max_rps,
            retry_budget: self.retry_budget,
            seam_check: self.seam_check,
            _row: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PushAction;
    use serde_json::json;

    fn client() -> Client {
        Client::builder().apptoken("t0ken").build().unwrap()
    }

    #[test]
    fn the_builder_is_the_request_body() {
        let q = client()
            .push_actions()
            .campaign(245624)
            .failed()
            .condition(Condition::new("create_time", Op::Gt, 1480000000))
            .filter("device_id", Op::In, [1, 2, 3])
            .filter("error_message", Op::NotIn, vec!["a", "b"])
            .filter("update_time", Op::Ge, "1717229073")
            .filter("click", Op::Ne, 0)
            .filter("open", Op::Le, 1)
            .filter("delivery", Op::Lt, 2)
            .select([
                "campaign_id",
                "action_id",
                "create_time",
                "device_id",
                "error_message",
            ])
            .order("action_id DESC")
            .order("create_time")
            .page_size(500);
        let body = serde_json::to_value(q.request_body(1500, 500)).unwrap();
        assert_eq!(
            body,
            json!({
                "apptoken": "t0ken",
                "condition": [
                    ["campaign_id", "=", 245624],
                    ["error", "=", 1],
                    ["create_time", ">", 1480000000],
                    ["device_id", "IN", [1, 2, 3]],
                    ["error_message", "NOT IN", ["a", "b"]],
                    ["update_time", ">=", "1717229073"],
                    ["click", "!=", 0],
                    ["open", "<=", 1],
                    ["delivery", "<", 2]
                ],
                "select": ["campaign_id", "action_id", "create_time", "device_id", "error_message"],
                "order": ["action_id DESC", "create_time"],
                "limit": 500,
                "offset": 1500
            })
        );
        assert_eq!(q.model(), "push-devices");
    }

    #[test]
    fn keyset_pages_seek_past_the_last_key() {
        let q = client().push_actions().campaign(7).mode(Mode::Keyset);
        assert_eq!(q.keyset_descending(), Ok(false));
        let body = RequestBody {
            apptoken: "t0ken",
            query: std::borrow::Cow::Owned(q.keyset_body(Some(1234), None, false)),
            limit: 500,
            offset: 0,
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            json!({
                "apptoken": "t0ken",
                "condition": [["campaign_id", "=", 7], ["action_id", ">", 1234]],
                "order": ["action_id ASC"],
                "limit": 500,
                "offset": 0
            })
        );
        let first = serde_json::to_value(q.keyset_body(None, None, false)).unwrap();
        assert_eq!(
            first,
            json!({"condition": [["campaign_id", "=", 7]], "order": ["action_id ASC"]})
        );
        let desc = q.clone().order("action_id  desc");
        assert_eq!(desc.keyset_descending(), Ok(true));
        let body = serde_json::to_value(desc.keyset_body(Some(99), Some(10), true)).unwrap();
        assert_eq!(body["condition"][1], json!(["action_id", "<", 99]));
        assert_eq!(body["condition"][2], json!(["action_id", ">", 10]));
        assert_eq!(body["order"], json!(["action_id DESC"]));
    }

    #[test]
    fn keyset_needs_the_key_in_select_and_order() {
        let q = client().push_actions().mode(Mode::Keyset);
        let e = q
            .clone()
            .select(["device_id"])
            .keyset_descending()
            .unwrap_err();
        assert!(e.contains("`action_id` among the selected fields"), "{e}");
        let e = q
            .clone()
            .order("create_time DESC")
            .keyset_descending()
            .unwrap_err();
        assert!(e.contains("keyset mode orders by `action_id`"), "{e}");
        assert_eq!(
            q.select(["action_id", "device_id"]).keyset_descending(),
            Ok(false)
        );
    }

    #[test]
    fn an_empty_query_sends_only_token_limit_and_offset() {
        let q = client().list::<PushAction>("campaign");
        let body = serde_json::to_string(&q.request_body(0, 1000)).unwrap();
        assert_eq!(body, r#"{"apptoken":"t0ken","limit":1000,"offset":0}"#);
    }

    #[test]
    fn query_debug_hides_the_token() {
        let q = client().push_actions().campaign(1);
        let s = format!("{q:?}");
        assert!(!s.contains("t0ken"), "{s}");
        assert!(s.contains("campaign_id"), "{s}");
    }

    #[test]
    fn conditions_parse_from_text() {
        let cases = [
            ("campaign_id = 245624", json!(["campaign_id", "=", 245624])),
            ("error=1", json!(["error", "=", 1])),
            (
                "create_time>1480000000",
                json!(["create_time", ">", 1480000000]),
            ),
            (
                "create_time >= 1480000000",
                json!(["create_time", ">=", 1480000000]),
            ),
            ("device_id in 1,2, 3", json!(["device_id", "IN", [1, 2, 3]])),
            ("device_id IN 1", json!(["device_id", "IN", [1]])),
            (
                "error_message not in a, \"b, c\"",
                json!(["error_message", "NOT IN", ["a", "\"b", "c\""]]),
            ),
            (
                "error_message NOT IN x,y",
                json!(["error_message", "NOT IN", ["x", "y"]]),
            ),
            (
                "error_message != \"Not personalized\"",
                json!(["error_message", "!=", "Not personalized"]),
            ),
            (
                "error_message = Not personalized",
                json!(["error_message", "=", "Not personalized"]),
            ),
            (
                "update_time <= '1717229073'",
                json!(["update_time", "<=", "1717229073"]),
            ),
            ("score < 1.5", json!(["score", "<", 1.5])),
            ("inbox = 1", json!(["inbox", "=", 1])),
            ("notes = in progress", json!(["notes", "=", "in progress"])),
        ];
        for (text, expected) in cases {
            let c: Condition = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(serde_json::to_value(&c).unwrap(), expected, "{text}");
        }
        let errors = [
            ("", "has no field"),
            ("= 1", "has no field"),
            ("campaign_id", "has no operator"),
            ("campaign_id 1", "has no operator"),
            ("campaign_id =", "has no value"),
            ("campaign_id => 1", "unknown operator \"=>\""),
            ("device_id in 1,,2", "empty item"),
            ("device_id not 1", "expected `not in`"),
            ("a-b = 1", "not a field name"),
        ];
        for (text, message) in errors {
            let e = text.parse::<Condition>().unwrap_err();
            assert!(e.contains(message), "{text}: {e}");
        }
    }

    #[test]
    fn operators_parse_from_text() {
        let cases = [
            ("=", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            ("<=", Op::Le),
            (">", Op::Gt),
            (">=", Op::Ge),
            ("in", Op::In),
            ("IN", Op::In),
            ("not in", Op::NotIn),
            ("NOT   IN", Op::NotIn),
        ];
        for (text, op) in cases {
            assert_eq!(text.parse::<Op>(), Ok(op), "{text}");
        }
        let err = "like".parse::<Op>().unwrap_err();
        assert!(err.contains("unknown operator \"like\""), "{err}");
    }
}
