//! Time windows (`--since`, `--until`) and incremental runs (`--state`, `--lookback`).
//!
//! A window is two conditions on `create_time`, half-open: `[since, until)`. An incremental
//! run walks the query in keyset order (ascending `action_id`) after the newest `action_id`
//! the state records, or, with `--lookback D`, after the first row created within `D` before
//! that row; it writes the state only once its output is complete. `action_id` is the merge
//! key: every row the run reads at or below the last newest key is counted as re-read.

use std::path::PathBuf;

use clap::Args;
use futures::TryStreamExt;
use jiff::Timestamp;
use serde_json::Value;
use xp_export::export::{Export, Report};
use xp_export::{ErrorKind, Mode, Op, Query, RawRow};

use crate::failure::Failure;
use crate::state::{self, State};
use crate::time::{parse_duration, parse_time, rfc3339};

#[derive(Args)]
pub struct IncrementalArgs {
    /// Only rows created at or after TIME: an RFC 3339 date (midnight UTC) or date-time (UTC
    /// unless an offset is given), Unix seconds, or a duration ago ("7d", "36h"). With
    /// --state: where the first run starts.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only rows created before TIME (the same forms as --since); windows that share their
    /// ends never share a row.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Incremental: export only what is new since the run that wrote PATH (keyset order), and
    /// record this run there once its output is complete. Not with --shard: each part of a
    /// backfill is a fixed window, and a daily run is one export.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["shard", "shards"])]
    pub state: Option<PathBuf>,
    /// With --state: also read again the rows created within DURATION ("14h", "7d") before the
    /// last run's newest row (their delivery, open and click change after the send).
    #[arg(long, value_name = "DURATION", requires = "state")]
    lookback: Option<String>,
}

/// An incremental run under way: what it needs to write the state once its output is done.
pub struct Incremental {
    path: PathBuf,
    /// The query without its start: its identity, and the request for the newest row's time.
    base: Query<RawRow>,
    /// The newest row of the runs before (key, create_time).
    previous: Option<(u64, Option<i64>)>,
}

impl IncrementalArgs {
    /// The query with its window, or, with `--state`, in keyset order from where the state says;
    /// checks the flags that go with them. `mode` and `order` are the export's flags.
    pub async fn apply(
        &self,
        query: Query<RawRow>,
        mode: Mode,
        order: &[String],
    ) -> Result<(Query<RawRow>, Option<Incremental>), Failure> {
        let now = Timestamp::now();
        let since = self
            .since
            .as_deref()
            .map(|t| parse_time("--since", t, now))
            .transpose()?;
        let until = self
            .until
            .as_deref()
            .map(|t| parse_time("--until", t, now))
            .transpose()?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(Failure::usage(format!(
                "--since ({}) must be before --until ({}): the window [since, until) is empty",
                shown(s),
                shown(u)
            )));
        }
        let lookback = self
            .lookback
            .as_deref()
            .map(|d| parse_duration("--lookback", d))
            .transpose()?;
        let Some(path) = &self.state else {
            let query = match since {
                Some(s) => query.since(s),
                None => query,
            };
            return Ok((until.map_or(query.clone(), |u| query.until(u)), None));
        };
        check_keyset(mode, order, until.is_some())?;
        let base = query.mode(Mode::Keyset);
        let previous = match state::read(path)? {
            Some(st) => {
                st.check_same_query(path, base.model(), &base.identity())?;
                st.newest_action_id.map(|k| (k, st.newest_create_time))
            }
            None => None,
        };
        let query = match previous {
            Some((last, time)) => {
                if since.is_some() {
                    crate::logging::warning(&format!(
                        "--since applies to the first run only: --state {} continues after \
                         action_id {last}",
                        path.display()
                    ));
                }
                let start = start_key(&base, last, time, lookback).await?;
                match start {
                    Some(key) => base.clone().start_after(key),
                    None => base.clone(),
                }
            }
            None => since.map_or(base.clone(), |s| base.clone().since(s)),
        };
        let inc = Incremental {
            path: path.clone(),
            base,
            previous,
        };
        Ok((query, Some(inc)))
    }
}

impl Incremental {
    /// The export, counting rows above the last newest key as new.
    pub fn count(&self, job: Export) -> Export {
        job.count_new_after(self.previous.map_or(0, |(k, _)| k))
    }

    /// After a complete export: the state with the newest row (never going back to an older
    /// one) and the time now, replaced atomically. Exit 1 when it cannot be written; the
    /// export stays where it is and the next run repeats this window.
    pub async fn finish(self, report: &Report) -> Result<(), Failure> {
        let shown = self.path.display().to_string();
        if report.already_complete {
            crate::logging::warning(&format!(
                "--state {shown} is left as it was: --resume found the output already complete, \
                 so the next run repeats this window"
            ));
            return Ok(());
        }
        let reached = report.summary.next_key;
        let newest = match (self.previous, reached) {
            (Some((old, time)), Some(key)) if key <= old => Some((old, time)),
            (Some((old, time)), None) => Some((old, time)),
            (_, Some(key)) => Some((key, self.create_time(key).await?)),
            (None, None) => None,
        };
        let state = State::new(
            self.base.model(),
            self.base.identity(),
            newest,
            rfc3339(
                Timestamp::from_second(Timestamp::now().as_second())
                    .unwrap_or(Timestamp::UNIX_EPOCH),
            ),
        );
        state::write(&self.path, &state).map_err(|e| {
            let kept = match &report.path {
                Some(p) => format!("the export itself is complete in {}", p.display()),
                None => "the export itself is complete".to_string(),
            };
            Failure::failed(format!(
                "cannot write --state {shown}: {e} ({kept}; the next run repeats this window)"
            ))
        })
    }

    /// The `create_time` of the row `key`, by a one-row request; `None` when it has none.
    async fn create_time(&self, key: u64) -> Result<Option<i64>, Failure> {
        let probe = self
            .base
            .clone()
            .filter(xp_export::KEYSET_KEY, Op::Eq, key)
            .select([xp_export::KEYSET_KEY, "create_time"])
            .mode(Mode::Offset)
            .seam_check(false)
            .start_offset(0)
            .page_size(1)
            .max_rows(1)
            .concurrency(1);
        let row = probe
            .raw_stream()
            .try_next()
            .await
            .map_err(|e| api_failure("finding the newest row's create_time", &e))?;
        let time = row
            .and_then(|r| serde_json::from_slice::<Value>(r.as_bytes()).ok())
            .and_then(|v| v["create_time"].as_i64());
        Ok(time)
    }
}

/// Where the walk starts: after the last newest key, or with a lookback, before the first row
/// created within it (whichever is earlier); `None`: from the first row.
async fn start_key(
    base: &Query<RawRow>,
    last: u64,
    time: Option<i64>,
    lookback: Option<i64>,
) -> Result<Option<u64>, Failure> {
    let Some(back) = lookback else {
        return Ok(Some(last));
    };
    let Some(time) = time else {
        crate::logging::warning(
            "the state does not know its newest row's create_time: --lookback reads nothing again \
             this time",
        );
        return Ok(Some(last));
    };
    let window = base.clone().since(time.saturating_sub(back));
    let range = window
        .key_range()
        .await
        .map_err(|e| api_failure("finding the first row of --lookback", &e))?;
    Ok(match range {
        Some((first, _)) if first <= last => first.checked_sub(1),
        _ => Some(last),
    })
}

/// With `--state`: keyset order on `action_id` ascending, the order a state can continue;
/// no `--until`.
fn check_keyset(mode: Mode, order: &[String], until: bool) -> Result<(), Failure> {
    if until {
        return Err(Failure::usage(
            "--until does not go with --state: an incremental run exports up to the newest row \
             (use --since and --until without --state for a fixed window)",
        ));
    }
    if mode != Mode::Keyset {
        return Err(Failure::usage(
            "--state runs in keyset mode (ascending action_id): leave out --mode offset",
        ));
    }
    let ascending = |o: &String| {
        let words: Vec<String> = o.split_whitespace().map(str::to_ascii_lowercase).collect();
        matches!(words.as_slice(), [k] if k == "action_id")
            || matches!(words.as_slice(), [k, d] if k == "action_id" && d == "asc")
    };
    if order.iter().all(ascending) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "--state walks in ascending action_id, the order a state can continue: leave out \
         --order {:?}",
        order.join(", ")
    )))
}

/// A failed request for the window's or state's own rows, with the exit code an export's
/// failure would have.
fn api_failure(doing: &str, e: &xp_export::Error) -> Failure {
    let code = match e.kind() {
        ErrorKind::Refused | ErrorKind::Redirected => 3,
        ErrorKind::Config => 2,
        _ => 1,
    };
    Failure {
        code,
        message: format!("{doing}: {}", xp_export::error::chain(e)),
        ..Default::default()
    }
}

/// Unix seconds as RFC 3339, for messages.
fn shown(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), rfc3339)
}
