//! The list query: conditions, select, order and page size. The builder is the request body.
//!
//! - `condition`: [`Condition`], [`Op`] and [`ConditionValue`], and the `--where` parser.
//! - `range`: [`Query::key_range`], the span of the query's keys.
//! - `time_window`: [`Query::since`] and [`Query::until`], a time window on `create_time`.
//! - `shard`: [`Shard`], one of N disjoint parts of a query by key, and [`Query::shard`].
//!
//! What a query means for paging (the order pages are asked in, the seam check, keyset
//! seeks) is decided next to its only user, in `crate::paginate`.

mod condition;
mod range;
mod shard;
mod time_window;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;

use crate::client::Client;
use crate::error::{ParseError, ParseErrorKind};
use crate::event::{Event, Hook};
use crate::model::{PushAction, push_devices};

pub use condition::{Condition, ConditionValue, Op};
pub use shard::{KeySpan, MAX_SHARDS, NotShardable, Shard, ShardKeys, ShardPlan, ShardSplit};

impl Client {
    /// A query over `list/push-devices`, the push actions of campaigns.
    pub fn push_actions(&self) -> Query<PushAction> {
        self.list(push_devices::NAME)
    }

    /// A query over any list model (`list/<model>`), its rows decoded as `T`
    /// (`serde_json::Value` keeps every field, sorted by name unless serde_json's
    /// `preserve_order` feature is on; [`Query::raw_stream`] keeps their bytes, in the server's
    /// order).
    pub fn list<T>(&self, model: &str) -> Query<T> {
        Query::new(self.clone(), model)
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
    /// started, and no deep offset is ever sent. Pages are sequential by nature within a key
    /// range; with [`Query::concurrency`] set above 1, several ranges are walked at once.
    Keyset,
}

impl std::str::FromStr for Mode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "offset" => Ok(Mode::Offset),
            "keyset" => Ok(Mode::Keyset),
            _ => Err(ParseError::new(
                ParseErrorKind::Mode,
                format!("unknown mode {s:?}: expected offset or keyset"),
            )),
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

/// The default number of rows asked for per request.
pub const DEFAULT_PAGE_SIZE: u64 = 1000;

/// The default number of page requests in flight at once: enough to hide a round trip of
/// latency behind the decoding and writing of the pages before it, few enough to stay polite to
/// an API whose rate limits are undocumented (see the README's Performance section).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The default reorder window, in bytes: 64 MiB. Pages that come back before the page to
/// deliver next (while it waits out a backoff, say) wait in it; see [`Query::reorder_window`].
pub const DEFAULT_REORDER_WINDOW: u64 = 64 << 20;

/// The most page requests a query may have in flight at once: past this, a stream would hold
/// hundreds of pages in memory and look like an attack to the API.
pub const MAX_CONCURRENCY: usize = 256;

/// A query over one list model, built step by step, then run as a stream.
///
/// Made by [`Client::list`] or [`Client::push_actions`]. Nothing is sent until the stream is
/// polled. [`Query::stream`], [`Query::pages`], [`Query::raw_stream`] and [`Query::raw_pages`]
/// (in [`crate::paginate`]) run it.
pub struct Query<T> {
    pub(crate) client: Client,
    pub(crate) model: Arc<str>,
    pub(crate) body: QueryBody,
    pub(crate) page_size: u64,
    pub(crate) start_offset: u64,
    pub(crate) max_rows: Option<u64>,
    pub(crate) concurrency: usize,
    /// Whether [`Query::concurrency`] was called: keyset mode walks key ranges in parallel
    /// only when asked to.
    pub(crate) concurrency_set: bool,
    pub(crate) mode: Mode,
    pub(crate) start_after: Option<u64>,
    pub(crate) max_rps: Option<f64>,
    pub(crate) retry_budget: Option<u64>,
    pub(crate) reorder_window: u64,
    pub(crate) seam_check: bool,
    pub(crate) hook: Option<Hook>,
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
            .field("reorder_window", &self.reorder_window)
            .field("hook", &self.hook.as_ref().map(|_| "set"))
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
            concurrency_set: false,
            mode: Mode::Offset,
            start_after: None,
            max_rps: None,
            retry_budget: None,
            reorder_window: DEFAULT_REORDER_WINDOW,
            seam_check: true,
            hook: None,
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
    pub fn filter(
        self,
        field: impl Into<String>,
        op: Op,
        value: impl Into<ConditionValue>,
    ) -> Self {
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
    /// lower is detected and followed; see [`Pages`](crate::Pages).
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
    /// strictly one request at a time; at most [`MAX_CONCURRENCY`], past which the stream fails
    /// with a configuration error). Prefetching starts once a full page has confirmed the
    /// page size; rows still arrive in offset order. A page waiting out its backoff holds no
    /// request slot: the pages after it go on, and wait in the reorder window
    /// ([`Query::reorder_window`]) until it arrives.
    ///
    /// In [`Mode::Keyset`] (ascending, without [`Query::max_rows`]), setting it above 1 walks up
    /// to `k` key ranges at once, each page by page, and still delivers the rows in key order,
    /// the same rows as one request at a time; memory then holds at most
    /// `2k × 4` pages (see [`crate::paginate`]). Left at its default, keyset mode pages one
    /// request at a time: the ranges cost a few requests more than a sequential walk, so they
    /// are asked for, not assumed.
    #[must_use]
    pub fn concurrency(mut self, k: usize) -> Self {
        self.concurrency = k.max(1);
        self.concurrency_set = true;
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

    /// How many bytes of pages that came back early may wait for the page to deliver next
    /// (default [`DEFAULT_REORDER_WINDOW`], 64 MiB). A page waiting out its backoff before a
    /// retry holds none of the [`Query::concurrency`] request slots, so the pages after it go
    /// on being fetched and wait here; once they fill the window, no new page is asked for
    /// until that page arrives (its retries still go). Memory holds at most the window plus
    /// one page per request slot. A tiny window still completes: pages then go little further
    /// ahead than the requests on the wire (0 acts as 1 byte: the page to deliver next is
    /// always asked for). Keyset key ranges in parallel
    /// bound their pages apart.
    #[must_use]
    pub fn reorder_window(mut self, bytes: u64) -> Self {
        self.reorder_window = bytes;
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

    /// Hands every [`Event`] of the stream — each page accepted, each retry with its cause and
    /// wait — to `hook` as it happens: for a progress line, metrics, or a log of your own.
    /// The hook runs on the stream's tasks, so it must be quick and must not block. (The same
    /// retries are also `tracing` warnings, target `xp_export::paginate::fetch`.)
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// use futures::TryStreamExt;
    /// use xp_export::Event;
    /// let rows = client
    ///     .push_actions()
    ///     .on_event(|e| match e {
    ///         Event::Retry { offset, kind, wait, .. } => {
    ///             eprintln!("offset {offset}: {kind}, retrying in {wait:?}")
    ///         }
    ///         Event::Page { offset, rows, .. } => eprintln!("{rows} rows at {offset}"),
    ///         _ => {}
    ///     })
    ///     .stream();
    /// # let _ = rows; Ok(()) }
    /// ```
    #[must_use]
    pub fn on_event(mut self, hook: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.hook = Some(std::sync::Arc::new(hook));
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
}

impl<T> Query<T> {
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
            concurrency_set: self.concurrency_set,
            mode: self.mode,
            start_after: self.start_after,
            max_rps: self.max_rps,
            retry_budget: self.retry_budget,
            reorder_window: self.reorder_window,
            seam_check: self.seam_check,
            hook: self.hook.clone(),
            _row: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests;
