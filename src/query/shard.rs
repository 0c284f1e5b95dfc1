//! Shards: one query split into `N` disjoint parts by `action_id`, so that `N` machines export
//! it side by side without talking to each other.
//!
//! Each part probes the query's key range ([`Query::key_range`]: its smallest and largest
//! `action_id`, `min` and `max`) and takes the keys from `b(i)` up to `b(i + 1)`, where
//! `b(i) = min + floor((max - min + 1) * i / N)`: part `i` adds `action_id >= b(i)` and
//! `action_id < b(i + 1)` (the last part `action_id <= max`). The parts are disjoint, together
//! they are exactly the query's rows, and each holds `floor` or `ceil` of `(max - min + 1) / N`
//! keys of the span, so on evenly spread keys their sizes are within one key's worth of rows.
//!
//! The parts agree only if every part splits the same span, and rows added while the parts
//! start would move it. So a sharded query needs a fixed upper end ([`Query::fixed_end`]): a
//! `create_time` bound (`<`, `<=`, `=`) no later than now, or an `action_id` bound (`<`, `<=`,
//! `=`, `in`). Even then a late row (an old `create_time`, a new and larger `action_id`) moves
//! the largest key, so the span is best probed once for all parts ([`Query::plan_shards`],
//! then [`Query::shard_planned`] in each, see `plan`); a part that probes for itself
//! ([`Query::shard`]) is told to check the span again at its end
//! ([`crate::export::Export::part_of`]), and fails if it moved.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

mod plan;

pub use plan::{KeySpan, ShardSplit};

use super::{Condition, Op, Query};
use crate::error::{Error, ErrorKind, ParseError, ParseErrorKind, Result};
use crate::model::push_devices::KEY;

/// The most parts a query may be split into (the most completions of a Kubernetes Indexed Job).
pub const MAX_SHARDS: u64 = 100_000;

/// The field whose upper bound, if not in the future, fixes the end of a query over time.
const TIME_FIELD: &str = "create_time";

/// One of `count` disjoint parts of a query, `index` counted from 0.
///
/// ```
/// use xp_export::query::Shard;
/// let shard: Shard = "1/4".parse().unwrap();
/// assert_eq!((shard.index(), shard.count()), (1, 4));
/// assert!("4/4".parse::<Shard>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// Part `index` of `count`: `count` from 1 to [`MAX_SHARDS`], `index` below `count`.
    /// The error is the one `"index/count"` would give.
    pub fn new(index: u64, count: u64) -> std::result::Result<Shard, ParseError> {
        let refused = |message: String| Err(ParseError::new(ParseErrorKind::Shard, message));
        if count == 0 {
            return refused("the number of shards must be at least 1".into());
        }
        if count > MAX_SHARDS {
            return refused(format!("at most {MAX_SHARDS} shards, not {count}"));
        }
        if index >= count {
            return refused(format!(
                "shard {index} of {count} does not exist: shards count from 0, so the last is {}",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// This part's number, from 0.
    pub fn index(self) -> u64 {
        self.index
    }

    /// How many parts there are.
    pub fn count(self) -> u64 {
        self.count
    }

    /// The first key of part `i` of the span `[first, last]` (`i` up to `count`; part `count`
    /// starts one past `last`).
    fn boundary(self, first: u64, last: u64, i: u64) -> u128 {
        let span = u128::from(last) - u128::from(first) + 1;
        u128::from(first) + span * u128::from(i) / u128::from(self.count)
    }

    /// The keys this part takes of the span `[first, last]` (both included). A span with
    /// fewer keys than parts leaves some parts empty.
    pub fn keys(self, first: u64, last: u64) -> ShardKeys {
        let (first, last) = (first.min(last), first.max(last));
        ShardKeys {
            start: self.boundary(first, last, self.index),
            end: self.boundary(first, last, self.index + 1),
            last_part: self.index + 1 == self.count,
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The time now, in Unix seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl std::str::FromStr for Shard {
    type Err = ParseError;

    /// Parses `I/N`: part `I` (from 0) of `N`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let refused = |message: String| ParseError::new(ParseErrorKind::Shard, message);
        let number = |text: &str, what: &str| {
            text.trim().parse::<u64>().map_err(|_| {
                refused(format!(
                    "{s:?} is not I/N: {what} {:?} is not a whole number",
                    text.trim()
                ))
            })
        };
        let Some((index, count)) = s.split_once('/') else {
            return Err(refused(format!(
                "{s:?} is not I/N: give the part, a slash and the number of parts (\"0/4\")"
            )));
        };
        Shard::new(number(index, "the part")?, number(count, "the count")?)
    }
}

/// The `action_id`s one part takes: from [`ShardKeys::first`] to [`ShardKeys::last`], both
/// included, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShardKeys {
    /// The first key (the span's first for part 0).
    start: u128,
    /// One past the last key (the next part's start; one past the span for the last part).
    end: u128,
    /// The last part bounds itself by the span's last key, so no key past u64 is ever sent.
    last_part: bool,
}

impl ShardKeys {
    /// The keys of a part of a query with no rows: none.
    pub fn none() -> Self {
        ShardKeys {
            start: 0,
            end: 0,
            last_part: false,
        }
    }

    /// The first key, `None` when the part takes no keys.
    pub fn first(self) -> Option<u64> {
        (!self.is_empty()).then_some(self.start as u64)
    }

    /// The last key, `None` when the part takes no keys.
    pub fn last(self) -> Option<u64> {
        (!self.is_empty()).then(|| (self.end - 1) as u64)
    }

    /// How many keys the part takes (not rows: keys may have gaps).
    pub fn len(self) -> u128 {
        self.end - self.start
    }

    /// Whether the part takes no keys.
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// Whether `key` is one of this part's.
    pub fn contains(self, key: u64) -> bool {
        (self.start..self.end).contains(&u128::from(key))
    }

    /// The conditions that keep a query to these keys: `action_id >= first` and
    /// `action_id < next part's first` (the last part: `action_id <= last`). A part with no
    /// keys gets conditions no row meets.
    pub fn conditions(self) -> [Condition; 2] {
        let Some(last) = self.last() else {
            let nothing = Condition::new(KEY, Op::Lt, 0u64);
            return [nothing.clone(), nothing];
        };
        let from = Condition::new(KEY, Op::Ge, self.start as u64);
        let to = if self.last_part {
            Condition::new(KEY, Op::Le, last)
        } else {
            Condition::new(KEY, Op::Lt, self.end as u64)
        };
        [from, to]
    }
}

/// What [`Query::shard`] found and chose: the part, the query's whole key range, and this
/// part's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardPlan {
    /// Which part.
    pub shard: Shard,
    /// The smallest and largest `action_id` of the whole query; `None` when it has no rows.
    pub range: Option<(u64, u64)>,
    /// The keys of this part.
    pub keys: ShardKeys,
    /// Whether the range was planned once for every part ([`Query::shard_planned`]) rather
    /// than probed by this part ([`Query::shard`]), which must check it again at its end.
    pub planned: bool,
}

impl<T> Query<T> {
    /// The condition that fixes this query's upper end, which shards need to agree on their
    /// split: `create_time` `<`, `<=` or `=` a time (Unix seconds) not in the future, or
    /// `action_id` `<`, `<=`, `=` or `in`. Without one (an error of kind
    /// [`ErrorKind::Config`]), rows added while the parts start would move the largest key and
    /// the parts would split differently.
    pub fn fixed_end(&self) -> Result<&Condition> {
        fixed_end(&self.body.condition, now()).map_err(Error::from)
    }

    /// Whether this query can be split into shards that are disjoint and together exactly
    /// its rows: it starts at no offset and after no key, has no row limit, and has a fixed
    /// upper end ([`Query::fixed_end`]). Sends nothing.
    ///
    /// ```
    /// # let client = xp_export::Client::builder().apptoken("t").build().unwrap();
    /// use xp_export::Op;
    /// use xp_export::query::NotShardable;
    /// let bounded = client.push_actions().filter("action_id", Op::Le, 1_000);
    /// assert!(bounded.check_shardable().is_ok());
    /// let limited = bounded.max_rows(10);
    /// assert_eq!(limited.check_shardable(), Err(NotShardable::MaxRows(10)));
    /// ```
    pub fn check_shardable(&self) -> std::result::Result<(), NotShardable> {
        if self.start_offset != 0 {
            return Err(NotShardable::StartOffset(self.start_offset));
        }
        if let Some(key) = self.start_after {
            return Err(NotShardable::StartAfter(key));
        }
        if let Some(n) = self.max_rows {
            return Err(NotShardable::MaxRows(n));
        }
        fixed_end(&self.body.condition, now()).map(|_| ())
    }

    /// Part `shard` of this query, split on the key range it probes now. Parts started at
    /// different times may find different ranges: prefer [`Query::plan_shards`] once and
    /// [`Query::shard_planned`] in each part, or have the export check the range again at its
    /// end ([`crate::export::Export::part_of`]).
    ///
    /// It probes the key range ([`Query::key_range`], two requests of
    /// two rows, whose answers are checked: a server that does not order or filter as asked is
    /// an error of kind [`ErrorKind::Stalled`], not a wrong split) and adds the part's
    /// `action_id` conditions (see the module's docs). Every part
    /// of the same query over the same rows finds the same range, so the parts are disjoint
    /// and together exactly the query's rows; a query with no rows gives parts with none.
    /// The query must be one that shards can tile ([`Query::check_shardable`]): with a start
    /// offset, a start key, a row limit, or no fixed upper end, it is an error of kind
    /// [`ErrorKind::Config`] whose `source()` is the [`NotShardable`] reason, and nothing is
    /// sent.
    ///
    /// ```no_run
    /// # async fn run(client: xp_export::Client) -> Result<(), xp_export::Error> {
    /// use xp_export::Op;
    /// let query = client.push_actions().filter("create_time", Op::Lt, 1_700_000_000);
    /// let (part, plan) = query.shard("2/4".parse().unwrap()).await?;
    /// println!("action_id {:?} to {:?}", plan.keys.first(), plan.keys.last());
    /// # let _ = part; Ok(()) }
    /// ```
    pub async fn shard(self, shard: Shard) -> Result<(Query<T>, ShardPlan)> {
        self.check_shardable()?;
        let span = self
            .key_range()
            .await?
            .map(|(first, last)| KeySpan { first, last });
        Ok(self.split_on(shard, span, false))
    }
}

/// Why a query cannot be split into shards that tile it, from [`Query::check_shardable`] (and
/// the source of the error [`Query::shard`] returns then).
///
/// A start or a row limit would apply within each part, and the parts would no longer add up
/// to the whole query; an end that is missing or still to come would let rows added while the
/// parts start move the split.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NotShardable {
    /// The query starts at this offset ([`Query::start_offset`]).
    StartOffset(u64),
    /// The query starts after this key ([`Query::start_after`]).
    StartAfter(u64),
    /// The query stops after this many rows ([`Query::max_rows`]).
    MaxRows(u64),
    /// No condition fixes the query's upper end (see [`Query::fixed_end`]).
    NoFixedEnd,
    /// The query's upper end, this `create_time` condition, is not over yet at `now` (Unix
    /// seconds): rows may still arrive below it.
    EndNotOver {
        /// The condition.
        condition: Condition,
        /// The time it was checked at.
        now: u64,
    },
}

impl NotShardable {
    /// Whether the query's end is what is wrong ([`NotShardable::NoFixedEnd`],
    /// [`NotShardable::EndNotOver`]), not its start or row limit.
    pub fn is_end(&self) -> bool {
        matches!(
            self,
            NotShardable::NoFixedEnd | NotShardable::EndNotOver { .. }
        )
    }
}

impl fmt::Display for NotShardable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let within = "it would apply within each part, and the parts would no longer add up to \
                      the whole query";
        let why = "shards agree on their split only if no row can be added at its end while \
                   they start";
        match self {
            NotShardable::StartOffset(n) => {
                write!(
                    f,
                    "a sharded query cannot start at an offset ({n}): {within}"
                )
            }
            NotShardable::StartAfter(k) => write!(
                f,
                "a sharded query cannot start after a key ({KEY} {k}): {within}"
            ),
            NotShardable::MaxRows(n) => {
                write!(f, "a sharded query cannot stop after {n} rows: {within}")
            }
            NotShardable::NoFixedEnd => write!(
                f,
                "a sharded query needs a fixed upper end: a condition {TIME_FIELD} < T (or <=, \
                 =) with T in the past, or {KEY} < N (or <=, =, in), because {why}"
            ),
            NotShardable::EndNotOver { condition, now } => write!(
                f,
                "the query's end, {TIME_FIELD} {} {}, is not over yet (it is {now} now): rows \
                 may still arrive below it, and {why}",
                condition.op(),
                condition.value().as_json()
            ),
        }
    }
}

impl std::error::Error for NotShardable {}

impl From<NotShardable> for Error {
    fn from(reason: NotShardable) -> Self {
        Error::new(ErrorKind::Config, reason.to_string()).with_source(reason)
    }
}

/// The first of `conditions` that fixes the upper end of the rows (see [`Query::fixed_end`]),
/// with `now` in Unix seconds; or why none does.
fn fixed_end(conditions: &[Condition], now: u64) -> std::result::Result<&Condition, NotShardable> {
    let mut future = None;
    for c in conditions {
        let value = c.value().as_json();
        let upper = matches!(c.op(), Op::Lt | Op::Le | Op::Eq);
        if c.field() == KEY {
            let fixed = match (c.op(), value) {
                (Op::In, serde_json::Value::Array(items)) => {
                    !items.is_empty() && items.iter().all(|v| v.is_number())
                }
                (Op::Lt | Op::Le | Op::Eq, v) => v.is_number(),
                _ => false,
            };
            if fixed {
                return Ok(c);
            }
        } else if c.field() == TIME_FIELD && upper && value.is_number() {
            // The last second the bound lets in must be over: `< T` lets in T - 1.
            let last_second = value.as_f64().unwrap_or(f64::INFINITY);
            let last_second = if c.op() == Op::Lt {
                last_second - 1.0
            } else {
                last_second
            };
            if last_second < now as f64 {
                return Ok(c);
            }
            future = Some(c);
        }
    }
    Err(match future {
        Some(c) => NotShardable::EndNotOver {
            condition: c.clone(),
            now,
        },
        None => NotShardable::NoFixedEnd,
    })
}

#[cfg(test)]
mod tests;
