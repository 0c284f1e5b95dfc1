//! Time windows (`--since`, `--until`) and incremental runs (`--state`, `--lookback`): the
//! flags, turned into the library's values.
//!
//! A window is two conditions on `create_time`, half-open: `[since, until)`
//! (`Query::since`, `Query::until`). An incremental run is the library's
//! `xp_export::export::Incremental`: keyset order after the newest `action_id` the state
//! records (or a lookback before it), the state replaced only once the output is complete.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use jiff::Timestamp;
use xp_export::export::object::ObjectUrl;
use xp_export::export::{Export, ExportError, ExportErrorKind, Finished, Incremental, Report};
use xp_export::query::Mode;
use xp_export::{Query, RawRow};

use crate::failure::{Exit, Failure};
use crate::time::{is_ago, parse_duration, parse_time, rfc3339};

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
    /// backfill is a fixed window, and a daily run is one export. Also an object
    /// (s3://BUCKET/KEY, gs://…, az://…), replaced only if no other run replaced it meanwhile.
    #[arg(long, value_name = "PATH|URL", conflicts_with_all = ["shard", "shards"])]
    pub state: Option<PathBuf>,
    /// With --state: also read again the rows created within DURATION ("14h", "7d") before the
    /// last run's newest row (their delivery, open and click change after the send).
    #[arg(long, value_name = "DURATION", requires = "state")]
    lookback: Option<String>,
}

/// The window the flags ask for, in Unix seconds, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// `--since`.
    pub since: Option<i64>,
    /// `--until`.
    pub until: Option<i64>,
    /// Whether either is a duration ago, which moves with the time a run starts.
    pub moving: bool,
}

impl IncrementalArgs {
    /// `--since` and `--until` at `now`; an empty window is a usage error.
    pub fn window(&self, now: Timestamp) -> Result<Window, Failure> {
        let parse = |flag, text: &Option<String>| {
            text.as_deref()
                .map(|t| parse_time(flag, t, now))
                .transpose()
        };
        let since = parse("--since", &self.since)?;
        let until = parse("--until", &self.until)?;
        if let (Some(s), Some(u)) = (since, until)
            && s >= u
        {
            return Err(Failure::usage(format!(
                "--since ({}) must be before --until ({}): the window [since, until) is empty",
                shown(s),
                shown(u)
            )));
        }
        let moving = [&self.since, &self.until]
            .into_iter()
            .flatten()
            .any(|t| is_ago(t));
        Ok(Window {
            since,
            until,
            moving,
        })
    }

    /// `--state` when it names a file (not an object in a bucket).
    pub fn state_file(&self) -> Option<&std::path::Path> {
        self.state
            .as_deref()
            .filter(|p| !p.to_str().is_some_and(is_object_url))
    }

    /// The incremental run `--state` asks for, its state read and checked (no request to the
    /// API), or `None` without `--state`. `mode` is `--mode` (keyset unless given).
    pub async fn open(
        &self,
        query: &Query<RawRow>,
        window: Window,
        mode: Mode,
    ) -> Result<Option<Run>, Failure> {
        let lookback = self
            .lookback
            .as_deref()
            .map(|d| parse_duration("--lookback", d))
            .transpose()?;
        let Some(path) = &self.state else {
            return Ok(None);
        };
        if window.until.is_some() {
            return Err(Failure::usage(
                "--until does not go with --state: an incremental run exports up to the newest \
                 row (use --since and --until without --state for a fixed window)",
            ));
        }
        if mode != Mode::Keyset {
            return Err(Failure::usage(
                "--state runs in keyset mode (ascending action_id): leave out --mode offset",
            ));
        }
        let mut run = match path.to_str().filter(|p| is_object_url(p)) {
            Some(url) => {
                let url = ObjectUrl::parse(url.strip_prefix("file://").unwrap_or(url))
                    .map_err(|e| Failure::usage(format!("--state {e}")))?;
                Incremental::open_object(url, None, query)
                    .await
                    .map_err(|e| state_failure(path, &e))?
            }
            None => {
                let path = path
                    .to_str()
                    .and_then(|p| p.strip_prefix("file://"))
                    .map_or_else(|| path.clone(), PathBuf::from);
                Incremental::open(&path, query).map_err(|e| state_failure(&path, &e))?
            }
        };
        if let Some(s) = window.since {
            run = run.since(s);
        }
        if let Some(secs) = lookback {
            run = run.lookback(Duration::from_secs(secs.unsigned_abs()));
        }
        Ok(Some(Run {
            run,
            since: self.since.is_some(),
            lookback: self.lookback.is_some(),
        }))
    }
}

/// Whether `text` names an object in a bucket (any `SCHEME://` but `file://`).
fn is_object_url(text: &str) -> bool {
    ObjectUrl::is_url(text) && !text.starts_with("file://")
}

/// An incremental run, with the flags its warnings name.
#[derive(Debug)]
pub struct Run {
    run: Incremental,
    /// `--since` was given: with a state to continue, it applies to the first run only.
    since: bool,
    /// `--lookback` was given.
    lookback: bool,
}

/// Opening the state failed: say which flag to change.
fn state_failure(path: &std::path::Path, e: &ExportError) -> Failure {
    let message = xp_export::error::chain(e);
    match e.kind() {
        ExportErrorKind::Query => Failure::usage(format!(
            "--state {}: {message}: leave out --order",
            path.display()
        )),
        _ => Failure {
            code: Exit::of_export(e).code(),
            message: format!("--state: {message}"),
            ..Default::default()
        },
    }
}

impl Run {
    /// The query this run exports, with the warnings of flags that do not apply this time.
    pub async fn start(&self) -> Result<Query<RawRow>, Failure> {
        let run = &self.run;
        if self.since
            && run.previous().is_none()
            && let Some(first) = run.first_since()
            && run.continues()
        {
            crate::logging::warning(&format!(
                "--since applies to the first run only: --state {} continues from the first \
                 run's --since {} (it found no row)",
                run.path().display(),
                shown(first)
            ));
        }
        if let Some(last) = run.previous() {
            if self.since {
                crate::logging::warning(&format!(
                    "--since applies to the first run only: --state {} continues after action_id {}",
                    run.path().display(),
                    last.action_id
                ));
            }
            if self.lookback && last.create_time.is_none() {
                crate::logging::warning(
                    "the state does not know its newest row's create_time: --lookback reads nothing \
                 again this time",
                );
            }
        }
        run.query().await.map_err(|e| request_failure(&e))
    }

    /// The export, counting rows above the last newest key as new.
    pub fn count(&self, job: Export) -> Export {
        self.run.count(job)
    }

    /// What stays as it was when this run's state is not written after `report`'s complete
    /// export.
    pub fn kept(&self, report: &Report) -> String {
        let output = match &report.path {
            Some(p) => format!("the export itself is complete in {}", p.display()),
            None => "the export itself is complete".to_string(),
        };
        format!(
            "{output}; --state {} is left as it was, and the next run repeats this window",
            self.run.path().display()
        )
    }

    /// After a complete export: the state replaced. Exit 1 when it cannot be written; the export
    /// stays where it is and the next run repeats this window.
    pub async fn finish(self, report: &Report) -> Result<(), Failure> {
        let run = self.run;
        let shown = run.path().display().to_string();
        match run.finish(report).await {
            Ok(Finished::Unchanged) => {
                let output = report
                    .path
                    .as_ref()
                    .map_or_else(|| "the output".to_string(), |p| p.display().to_string());
                crate::logging::warning(&format!(
                    "--state {shown} is left as it was: --resume found {output} already complete \
                     (an earlier run wrote it and did not record it), so which rows it holds is \
                     not this run's to say. The same command finds it complete again: run it \
                     without --resume to export this window again into {output} and record it, \
                     or export into another output"
                ));
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ExportErrorKind::Api => Err(request_failure(&e)),
            Err(e) => {
                let kept = match &report.path {
                    Some(p) => format!("the export itself is complete in {}", p.display()),
                    None => "the export itself is complete".to_string(),
                };
                let cause = e
                    .io_error()
                    .map_or_else(|| xp_export::error::chain(&e), ToString::to_string);
                Err(Failure::failed(format!(
                    "cannot write --state {shown}: {cause} ({kept}; the next run repeats this window)"
                )))
            }
        }
    }
}

/// A probe of the state's own rows failed, with the exit code an export's failure would have.
fn request_failure(e: &ExportError) -> Failure {
    Failure {
        code: Exit::of_export(e).code(),
        message: xp_export::error::chain(e),
        ..Default::default()
    }
}

/// Unix seconds as RFC 3339, for messages.
fn shown(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| secs.to_string(), rfc3339)
}
