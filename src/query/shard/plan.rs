//! A split planned once: the key range probed a single time ([`Query::plan_shards`]) and given
//! to every part ([`Query::shard_planned`]), so that the parts agree whatever rows arrive
//! between their starts.
//!
//! A part that probes for itself ([`Query::shard`]) splits the span it finds when it starts,
//! and a row that arrives in between with a key past the others (a late row with an old
//! `create_time`) moves the span: parts started before and after it split differently, and
//! rows fall between them. A planned part sends no probe, so its split cannot move; rows past
//! the planned span are in no part, as rows added after an export's end are in no export.

use std::fmt;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::{Shard, ShardKeys, ShardPlan};
use crate::error::{Error, ErrorKind, ParseError, ParseErrorKind, Result};
use crate::query::Query;

/// A span of `action_id`s, both ends included: `FIRST..LAST` as text.
///
/// ```
/// use xp_export::query::KeySpan;
/// let span: KeySpan = "1000..1999".parse().unwrap();
/// assert_eq!((span.first, span.last), (1000, 1999));
/// assert_eq!(span.to_string(), "1000..1999");
/// assert!("9..3".parse::<KeySpan>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpan {
    /// The smallest key.
    pub first: u64,
    /// The largest key, not below `first`.
    pub last: u64,
}

impl fmt::Display for KeySpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.first, self.last)
    }
}

impl std::str::FromStr for KeySpan {
    type Err = ParseError;

    /// Parses `FIRST..LAST`, whole numbers with `FIRST <= LAST`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let refused = |why: String| {
            ParseError::new(
                ParseErrorKind::Shard,
                format!("{s:?} is not a key range FIRST..LAST: {why}"),
            )
        };
        let Some((first, last)) = s.trim().split_once("..") else {
            return Err(refused("give two keys and `..` between them".into()));
        };
        let key = |text: &str| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| refused(format!("{:?} is not a whole number", text.trim())))
        };
        let (first, last) = (key(first)?, key(last)?);
        if first > last {
            return Err(refused(format!(
                "the first key ({first}) is above the last ({last})"
            )));
        }
        Ok(KeySpan { first, last })
    }
}

/// The split of a query into parts, planned once by [`Query::plan_shards`]: the query's key
/// span (`None` when it has no rows) and how many parts. Give every part the same span
/// ([`Query::shard_planned`]).
///
/// As JSON (its `Serialize`): `{"count", "key_range": "FIRST..LAST" or null,
/// "query_first_key", "query_last_key", "shards": [{"index", "first_key", "last_key"}, …]}`,
/// the keys `null` where there are none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSplit {
    count: u64,
    span: Option<KeySpan>,
}

impl ShardSplit {
    /// `count` parts of `span` (`count` from 1 to [`super::MAX_SHARDS`]).
    pub fn new(count: u64, span: Option<KeySpan>) -> std::result::Result<Self, ParseError> {
        Shard::new(0, count)?;
        Ok(ShardSplit { count, span })
    }

    /// How many parts.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The query's key span; `None` when it has no rows.
    pub fn span(&self) -> Option<KeySpan> {
        self.span
    }

    /// Each part and its keys, in order.
    pub fn parts(&self) -> impl Iterator<Item = (Shard, ShardKeys)> + '_ {
        (0..self.count).map(|i| {
            let shard = Shard {
                index: i,
                count: self.count,
            };
            (shard, keys_of(shard, self.span))
        })
    }
}

impl Serialize for ShardSplit {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Parts<'a>(&'a ShardSplit);
        impl Serialize for Parts<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.count as usize))?;
                for (shard, keys) in self.0.parts() {
                    seq.serialize_element(&serde_json::json!({
                        "index": shard.index(),
                        "first_key": keys.first(),
                        "last_key": keys.last(),
                    }))?;
                }
                seq.end()
            }
        }
        let mut map = s.serialize_map(Some(5))?;
        map.serialize_entry("count", &self.count)?;
        map.serialize_entry("key_range", &self.span.map(|k| k.to_string()))?;
        map.serialize_entry("query_first_key", &self.span.map(|k| k.first))?;
        map.serialize_entry("query_last_key", &self.span.map(|k| k.last))?;
        map.serialize_entry("shards", &Parts(self))?;
        map.end()
    }
}

/// The keys of `shard` in `span`: none when the query has no rows.
fn keys_of(shard: Shard, span: Option<KeySpan>) -> ShardKeys {
    match span {
        Some(k) => shard.keys(k.first, k.last),
        None => ShardKeys::none(),
    }
}

impl<T> Query<T> {
    /// The split of this query into `count` parts, planned once: checks that shards can tile
    /// it ([`Query::check_shardable`]; an error of kind [`ErrorKind::Config`] otherwise, with
    /// nothing sent) and probes its key range ([`Query::key_range`]). Give its span to every
    /// part with [`Query::shard_planned`]: they then split alike whatever rows arrive while
    /// they start.
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// use xp_export::Op;
    /// use xp_export::query::Shard;
    /// let query = client.push_actions().filter("create_time", Op::Lt, 1_700_000_000);
    /// let split = query.plan_shards(4).await?; // once, by the orchestrator
    /// println!("{}", serde_json::to_string(&split).unwrap());
    /// // in each part, the same span:
    /// let (part, _) = query.shard_planned(Shard::new(2, 4).unwrap(), split.span())?;
    /// # let _ = part; Ok(()) }
    /// ```
    pub async fn plan_shards(&self, count: u64) -> Result<ShardSplit> {
        let split = ShardSplit::new(count, None)
            .map_err(|e| Error::new(ErrorKind::Config, e.to_string()))?;
        self.check_shardable()?;
        let span = self
            .key_range()
            .await?
            .map(|(first, last)| KeySpan { first, last });
        Ok(ShardSplit { span, ..split })
    }

    /// Part `shard` of this query, split on a span planned once ([`Query::plan_shards`];
    /// `None`: the query had no rows, and no part has any): adds the part's `action_id`
    /// conditions and sends nothing. Every part given the same span takes its own share of it,
    /// disjoint from the others' and together the span. The query must be one that shards can
    /// tile ([`Query::check_shardable`]), or it is an error of kind [`ErrorKind::Config`].
    pub fn shard_planned(
        self,
        shard: Shard,
        span: Option<KeySpan>,
    ) -> Result<(Query<T>, ShardPlan)> {
        self.check_shardable()?;
        Ok(self.split_on(shard, span, true))
    }

    /// The query kept to `shard`'s share of `span`, and what was chosen.
    pub(super) fn split_on(
        self,
        shard: Shard,
        span: Option<KeySpan>,
        planned: bool,
    ) -> (Query<T>, ShardPlan) {
        let keys = keys_of(shard, span);
        let plan = ShardPlan {
            shard,
            range: span.map(|k| (k.first, k.last)),
            keys,
            planned,
        };
        let [from, to] = keys.conditions();
        (self.condition(from).condition(to), plan)
    }
}
