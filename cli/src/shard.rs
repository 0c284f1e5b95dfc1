//! `--shard I/N` and `--shards N`: export one of N disjoint parts of the query, split on
//! `action_id` (see `xp_export::query::Shard`), so that N processes — an orchestrator's
//! parallel tasks, a Kubernetes Indexed Job's pods — export it side by side without talking to
//! each other. Each part is an ordinary export: its own output, checkpoint, resume and summary.
//!
//! Parts that probe the key range themselves split what they find when they start, and a row
//! arriving in between with a larger key (a late row with an old `create_time`) moves it. So
//! `--plan` (with `--shards N`) probes it once and prints the split as JSON, and
//! `--key-range FIRST..LAST` gives every part that range: they split alike and send no probe.
//! A part without `--key-range` probes again at its end and fails (exit 1) if the range moved.
//!
//! What is refused (exit 2), and why — the library's rule ([`Query::check_shardable`]), said
//! in flags:
//! - no fixed upper end in the query (`--until`, or `--where "action_id <= N"`), or an end in
//!   the future: rows added while the parts start would move the split;
//! - `--since` or `--until` as a duration ago: each part would compute its own;
//! - `--shards N` without `JOB_COMPLETION_INDEX`, or with one that is not a part of N;
//! - `--offset`, `--after` and `--max-rows`: they would apply within one part, and the parts
//!   would no longer add up to the whole export. A part continues with `-o PATH --resume`.

use clap::Args;
use xp_export::query::{KeySpan, MAX_SHARDS, NotShardable, Shard, ShardPlan};
use xp_export::{Query, RawRow};

use crate::failure::Failure;
use crate::incremental::Window;

/// The environment variable `--shards N` takes the part from: Kubernetes sets it in each pod of
/// an Indexed Job, from 0 to `completions - 1`.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

#[derive(Args)]
pub struct ShardArgs {
    /// Export the I-th of N disjoint parts (0-based); --shards N takes I from the environment
    /// variable JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs). The query needs a fixed end
    /// (--until TIME, or --where "action_id <= N").
    #[arg(long, value_name = "I/N", conflicts_with = "shards")]
    shard: Option<Shard>,
    /// Export part $JOB_COMPLETION_INDEX of N: --shard with I from the environment.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_SHARDS))]
    shards: Option<u64>,
    /// With --shards N: probe the query's key range once, print the split as JSON on standard
    /// output (key_range, and each part's first_key and last_key) and export nothing. Give
    /// every part the printed key_range with --key-range.
    #[arg(long, requires = "shards", conflicts_with_all = ["shard", "key_range", "resume", "restart", "summary_json", "output"])]
    plan: bool,
    /// Split on this key range, as --plan printed it ("none": the query had no rows), instead
    /// of probing it: parts given the same range split alike, whatever rows arrive meanwhile.
    /// Without it, a part probes at its start and again at its end, and fails (exit 1) if the
    /// range moved.
    #[arg(long, value_name = "FIRST..LAST|none", value_parser = planned_span)]
    key_range: Option<Planned>,
}

/// A `--key-range`: the planned span, `None` for a query with no rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned(pub Option<KeySpan>);

/// Parses `--key-range`: `FIRST..LAST` or `none`.
fn planned_span(text: &str) -> Result<Planned, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Planned(None));
    }
    text.parse::<KeySpan>()
        .map(|span| Planned(Some(span)))
        .map_err(|e| e.to_string())
}

/// What the sharding flags ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharding {
    /// The whole export.
    Whole,
    /// `--plan --shards N`: print the split into N parts, export nothing.
    Plan(u64),
    /// One part: probed at its start and end, or split on `--key-range`.
    Part {
        shard: Shard,
        planned: Option<Planned>,
    },
}

impl ShardArgs {
    /// Whether `--shard` or `--shards` was given.
    pub fn is_set(&self) -> bool {
        self.shard.is_some() || self.shards.is_some()
    }

    /// What to do: the whole export, a plan (`--plan --shards N`), or a part (`--shard I/N`,
    /// or `--shards N` with I from [`INDEX_VAR`]), with its planned range if given.
    pub fn sharding(&self) -> Result<Sharding, Failure> {
        if let (true, Some(count)) = (self.plan, self.shards) {
            return Ok(Sharding::Plan(count));
        }
        let shard = match (self.shard, self.shards) {
            (Some(shard), _) => shard,
            (None, Some(count)) => from_env(count, std::env::var(INDEX_VAR))?,
            (None, None) if self.key_range.is_some() => {
                return Err(Failure::usage(
                    "--key-range splits a sharded export: give the part with --shard I/N or \
                     --shards N",
                ));
            }
            (None, None) => return Ok(Sharding::Whole),
        };
        Ok(Sharding::Part {
            shard,
            planned: self.key_range,
        })
    }
}

/// Part I of `count`, I read from [`INDEX_VAR`].
fn from_env(count: u64, var: Result<String, std::env::VarError>) -> Result<Shard, Failure> {
    let text = match var {
        Ok(text) => text,
        Err(std::env::VarError::NotPresent) => {
            return Err(Failure::usage(format!(
                "--shards {count} takes the part from the environment variable {INDEX_VAR}, \
                 which is not set (Kubernetes sets it in an Indexed Job's pods): set it, or \
                 give the part with --shard I/{count}"
            )));
        }
        Err(std::env::VarError::NotUnicode(text)) => text.to_string_lossy().into_owned(),
    };
    let index = text.trim().parse::<u64>().map_err(|_| {
        Failure::usage(format!(
            "{INDEX_VAR} is {text:?}, not a part number from 0 to {}",
            count - 1
        ))
    })?;
    Shard::new(index, count).map_err(|e| {
        Failure::usage(format!(
            "{INDEX_VAR}={index} with --shards {count}: {e}; is the Job's `completions` {count}?"
        ))
    })
}

/// Refuses a query the parts of `shard` would not tile (the library's
/// [`Query::check_shardable`]), naming the flag to change; sends nothing. `window` is
/// `--since`/`--until`: a duration ago would mean another time in every part.
pub fn check(query: &Query<RawRow>, sharding: Sharding, window: Window) -> Result<(), Failure> {
    let shard = match sharding {
        Sharding::Whole => return Ok(()),
        Sharding::Plan(count) => format!("--plan --shards {count}"),
        Sharding::Part { shard, .. } => format!("--shard {shard}"),
    };
    let flag = match query.check_shardable() {
        Ok(()) if window.moving => {
            return Err(Failure::usage(format!(
                "{shard}: --since and --until must be fixed times (RFC 3339 or Unix \
                 seconds), not a duration ago: each part would compute its own, and the parts \
                 would no longer add up to the whole export"
            )));
        }
        Ok(()) => return Ok(()),
        Err(NotShardable::StartOffset(_)) => "--offset",
        Err(NotShardable::StartAfter(_)) => "--after",
        Err(NotShardable::MaxRows(_)) => "--max-rows",
        Err(e) => {
            return Err(Failure::usage(format!(
                "{shard}: {e}; give --until TIME with a TIME in the past, or \
                 --where \"action_id <= N\""
            )));
        }
    };
    Err(Failure::usage(format!(
        "{flag} cannot be used with --shard or --shards: it would apply within each part \
         ({shard}), and the parts would no longer add up to the whole export; a part \
         continues with -o PATH --resume"
    )))
}

/// `--plan`: the split of `query` into `count` parts, probed once, as one line of JSON. A
/// probe the API refuses exits 3, one that fails otherwise 1.
pub async fn plan(query: &Query<RawRow>, count: u64) -> Result<String, Failure> {
    let split = query.plan_shards(count).await.map_err(|e| {
        Failure::from_api(
            &format!("--plan --shards {count}: could not find the query's key range"),
            &e,
        )
    })?;
    Ok(serde_json::to_string(&split).expect("a split is JSON"))
}

/// Writes the plan to standard output, one JSON line; a plan that could not be written fails
/// the command (exit 1), since an orchestrator reads its parts' key ranges from it.
pub fn print_plan(plan: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{plan}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(format!("--plan: writing the plan to standard output: {e}")))
}

/// The query kept to part `shard` ([`check`]ed): splits the planned range, or probes its key
/// range, and adds the part's `action_id` conditions. A probe the API refuses exits 3, one
/// that fails otherwise 1 (worth retrying).
pub async fn split(
    query: Query<RawRow>,
    shard: Shard,
    planned: Option<Planned>,
) -> Result<(Query<RawRow>, ShardPlan), Failure> {
    if let Some(Planned(span)) = planned {
        return query
            .shard_planned(shard, span)
            .map_err(|e| Failure::from_api(&format!("--shard {shard}"), &e));
    }
    query.shard(shard).await.map_err(|e| {
        Failure::from_api(
            &format!("--shard {shard}: could not find the query's key range to split it"),
            &e,
        )
    })
}

/// The summary's line about the part: which, its keys, and the query's.
pub fn summary_line(plan: &ShardPlan) -> String {
    let shard = plan.shard;
    let Some((first, last)) = plan.range else {
        return format!("  shard {shard}: the query has no rows, so neither has this part\n");
    };
    match (plan.keys.first(), plan.keys.last()) {
        (Some(from), Some(to)) => {
            format!("  shard {shard}: action_id {from} to {to}, of the query's {first} to {last}\n")
        }
        _ => format!(
            "  shard {shard}: no keys: the query's action_id {first} to {last} has fewer keys \
             than there are shards\n"
        ),
    }
}

/// The part for the JSON summary: `{"shard": {"index", "count", "first_key", "last_key",
/// "query_first_key", "query_last_key"}}`, the keys `null` where there are none.
pub fn summary_fields(plan: &ShardPlan) -> serde_json::Map<String, serde_json::Value> {
    let shard = serde_json::json!({
        "index": plan.shard.index(),
        "count": plan.shard.count(),
        "first_key": plan.keys.first(),
        "last_key": plan.keys.last(),
        "query_first_key": plan.range.map(|r| r.0),
        "query_last_key": plan.range.map(|r| r.1),
    });
    let mut fields = serde_json::Map::new();
    fields.insert("shard".into(), shard);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::env::VarError;

    #[test]
    fn the_part_comes_from_the_environment_or_a_clear_usage_error() {
        let shard = from_env(4, Ok(" 3 ".into())).unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!((shard.index(), shard.count()), (3, 4));
        let cases = [
            (Err(VarError::NotPresent), "which is not set"),
            (
                Ok("x".to_string()),
                "JOB_COMPLETION_INDEX is \"x\", not a part number from 0 to 3",
            ),
            (Ok("-1".to_string()), "not a part number"),
            (Ok(String::new()), "not a part number"),
            (
                Ok("4".to_string()),
                "JOB_COMPLETION_INDEX=4 with --shards 4",
            ),
        ];
        for (var, message) in cases {
            let f = from_env(4, var).unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.message.contains(message), "{}", f.message);
        }
    }
}
