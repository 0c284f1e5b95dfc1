//! `--shard I/N` and `--shards N`: export one of N disjoint parts of the query, split on
//! `action_id` (see `xp_export::query::Shard`), so that N processes — an orchestrator's
//! parallel tasks, a Kubernetes Indexed Job's pods — export it side by side without talking to
//! each other. Each part is an ordinary export: its own output, checkpoint, resume and summary.
//!
//! What is refused (exit 2), and why:
//! - no fixed upper end in the query (`--until`, or `--where "action_id <= N"`), or an end in
//!   the future: rows added while the parts start would move the split;
//! - `--shards N` without `JOB_COMPLETION_INDEX`, or with one that is not a part of N;
//! - `--offset`, `--after` and `--max-rows`: they would apply within one part, and the parts
//!   would no longer add up to the whole export. A part continues with `-o PATH --resume`.

use clap::Args;
use xp_export::query::{MAX_SHARDS, Shard, ShardPlan};
use xp_export::{ErrorKind, Query, RawRow};

use crate::failure::Failure;

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
}

impl ShardArgs {
    /// Whether `--shard` or `--shards` was given.
    pub fn is_set(&self) -> bool {
        self.shard.is_some() || self.shards.is_some()
    }

    /// Which part to export, if any: `--shard I/N`, or `--shards N` with I from
    /// [`INDEX_VAR`].
    pub fn shard(&self) -> Result<Option<Shard>, Failure> {
        match (self.shard, self.shards) {
            (Some(shard), _) => Ok(Some(shard)),
            (None, None) => Ok(None),
            (None, Some(count)) => from_env(count, std::env::var(INDEX_VAR)).map(Some),
        }
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

/// Refuses the flags with which the parts would not add up to the whole export.
pub fn check_tiling(
    shard: Shard,
    offset: u64,
    after: Option<u64>,
    max_rows: Option<u64>,
) -> Result<(), Failure> {
    let clash = [
        (offset != 0, "--offset"),
        (after.is_some(), "--after"),
        (max_rows.is_some(), "--max-rows"),
    ];
    match clash.iter().find(|(given, _)| *given) {
        Some((_, flag)) => Err(Failure::usage(format!(
            "{flag} cannot be used with --shard or --shards: it would apply within part \
             {shard}, and the parts would no longer add up to the whole export; a part \
             continues with -o PATH --resume"
        ))),
        None => Ok(()),
    }
}

/// The query kept to part `shard`: checks its fixed end, probes its key range and adds the
/// part's `action_id` conditions. A query with no end is a usage error (exit 2); a probe the
/// API refuses exits 3, one that fails otherwise 1 (worth retrying).
pub async fn split(
    query: Query<RawRow>,
    shard: Shard,
) -> Result<(Query<RawRow>, ShardPlan), Failure> {
    if let Err(e) = query.fixed_end() {
        return Err(Failure::usage(format!(
            "--shard {shard}: {e}; give --until TIME with a TIME in the past, or \
             --where \"action_id <= N\""
        )));
    }
    query.shard(shard).await.map_err(|e| {
        let mut f = Failure::failed(format!(
            "--shard {shard}: could not find the query's key range to split it: {}",
            xp_export::error::chain(&e)
        ));
        f.code = match e.kind() {
            ErrorKind::Refused | ErrorKind::Redirected => 3,
            ErrorKind::Config => 2,
            _ => 1,
        };
        f
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
