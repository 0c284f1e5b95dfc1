//! `xp-export export` in two phases, as ripgrep turns its low-level arguments into high-level
//! ones before any work starts: [`ExportPlan::from_args`] turns the flags into the library's
//! values and finds every usage error, synchronously, before a request is sent or a file
//! written; [`ExportPlan::run`] is the export's outline.

use std::path::PathBuf;
use std::time::Duration;

use indicatif::ProgressBar;
use jiff::Timestamp;
use xp_export::export::{Export, Format, ParquetOptions, Report, Target};
use xp_export::{Query, RawRow};

use crate::args::ExportArgs;
use crate::failure::{Continuation, Failure};
use crate::incremental;
use crate::job::{Job, Ui, run_job};
use crate::paths;
use crate::shard;
use crate::signal::Stop;

/// Runs an export as the flags say.
pub async fn run(
    args: &ExportArgs,
    ui: &Ui,
    progress: Option<&ProgressBar>,
) -> Result<(), Failure> {
    let plan = ExportPlan::from_args(args, Timestamp::now()).await?;
    // Listening from before the first request (a probe, an OAuth token): a signal during a
    // probe stops the command there, as one during the export does. Not earlier: reading the
    // apptoken from standard input may wait, and Ctrl-C must end that wait.
    let stop = Stop::listen();
    plan.run(ui, progress, &stop).await
}

/// An export the flags ask for, checked: every value the library needs, nothing sent yet.
#[derive(Debug)]
pub struct ExportPlan {
    /// The query, with its window; an incremental run starts it where its state says.
    query: Query<RawRow>,
    format: Format,
    target: Target,
    /// `--csv-formula-guard`.
    formula_guard: bool,
    resume: bool,
    restart: bool,
    checkpoint_every: Duration,
    part_bytes: u64,
    parquet: ParquetOptions,
    /// `--shard` and `--plan`: the part to export, or the split to print, of a query
    /// checked to tile.
    sharding: shard::Sharding,
    /// `--state`: the incremental run, its state read and checked.
    incremental: Option<incremental::Run>,
    summary_json: Option<PathBuf>,
    /// What the hint to continue an export builds on.
    how: Continuation,
}

impl ExportPlan {
    /// The plan of `args`, times such as `--since 7d` counted back from `now`. The flags are
    /// checked in the order a user reads them, so the first mistake is the one reported. It
    /// reads the credential and the state file, and writes nothing.
    pub async fn from_args(args: &ExportArgs, now: Timestamp) -> Result<Self, Failure> {
        let (target, format) = args.target()?;
        let output = match &target {
            Target::File(path) => Some(path.as_path()),
            _ => None,
        };
        let summary = args.summary_json.as_deref();
        let state = args.incremental.state_file();
        paths::check_apart(output, summary, state, &args.auth.secret_files())?;
        let conditions = args.conditions()?;
        let sharding = args.sharding.sharding()?;
        let window = args.incremental.window(now)?;
        let client = args.client(args.timeout()?)?;
        let mut query = args.query(&client, conditions)?;
        let incremental = args.incremental.open(&query, window, args.mode).await?;
        if incremental.is_none() {
            if let Some(s) = window.since {
                query = query.since(s);
            }
            if let Some(u) = window.until {
                query = query.until(u);
            }
        }
        shard::check(&query, sharding, window)?;
        Ok(ExportPlan {
            query,
            format,
            target,
            formula_guard: args.csv_formula_guard,
            resume: args.resume,
            restart: args.restart,
            checkpoint_every: args.checkpoint_every(),
            part_bytes: args.part_bytes,
            parquet: args.parquet.options(),
            sharding,
            incremental,
            summary_json: args.summary_json.clone(),
            how: args.continuation(),
        })
    }

    /// Runs the export: where it starts, which part, the job, and only once the output is
    /// complete, the incremental state. A signal (`stop`) cuts short any of them.
    pub async fn run(
        self,
        ui: &Ui,
        progress: Option<&ProgressBar>,
        stop: &Stop,
    ) -> Result<(), Failure> {
        const NOTHING: &str = "nothing was written";
        // An incremental run starts after the state's newest row (or a lookback before it).
        let query = match &self.incremental {
            Some(run) => {
                let doing = "finding where the --state run starts";
                stop.or_stopped(doing, NOTHING, run.start()).await?
            }
            None => self.query,
        };
        // A part keeps to its share of the planned or probed key range; a self-probed part
        // probes again at its end.
        let (whole, (query, part)) = match self.sharding {
            shard::Sharding::Plan(count) => {
                let doing = format!("finding the query's key range for --plan --shards {count}");
                let plan = stop
                    .or_stopped(&doing, NOTHING, shard::plan(&query, count))
                    .await?;
                // The plan is the command's result: a plan not written is a failure, not
                // a line dropped as a closed stdout's progress would be.
                return shard::print_plan(&plan);
            }
            shard::Sharding::Part { shard, planned } => {
                let doing = format!("finding the query's key range for --shard {shard}");
                let split = shard::split(query.clone(), shard, planned);
                let (q, p) = stop.or_stopped(&doing, NOTHING, split).await?;
                (Some(query), (q, Some(p)))
            }
            shard::Sharding::Whole => (None, (query, None)),
        };
        let mut job = Export::new(query, self.format, self.target)
            .resume(self.resume)
            .restart(self.restart)
            .csv_formula_guard(self.formula_guard)
            .checkpoint_every(self.checkpoint_every)
            .part_bytes(self.part_bytes as usize)
            .parquet(self.parquet);
        if let Some(run) = &self.incremental {
            job = run.count(job);
        }
        if let (Some(whole), Some(plan)) = (&whole, &part) {
            job = job.part_of(whole, plan);
        }
        let summary_json = self.summary_json.as_deref();
        let how = Job {
            format: self.format,
            ui,
            progress,
            summary_json,
            how: self.how,
            part: part.as_ref(),
            stop,
        };
        // Only with the output complete: a run that failed leaves the state as it was.
        let record = async |report: &Report| match self.incremental {
            Some(run) => {
                let kept = run.kept(report);
                let doing = "recording the --state run";
                stop.or_stopped(doing, &kept, run.finish(report)).await
            }
            None => Ok(()),
        };
        run_job(job, &how, record).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use clap::Parser;
    use xp_export::query::{Mode, Shard};

    use super::*;
    use crate::args::{Cli, Command};

    /// 2026-11-29T00:00:00Z.
    const NOW: i64 = 1_795_910_400;

    /// The plan of `xp-export export ARGS --apptoken-file DIR/token`.
    fn plan(dir: &Path, args: &[&str]) -> Result<ExportPlan, Failure> {
        let token = dir.join("token");
        std::fs::write(&token, "an-apptoken\n").unwrap();
        let token = token.display().to_string();
        let mut argv = vec!["xp-export", "export", "--apptoken-file", &token];
        argv.extend(args);
        let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        let Command::Export(export) = &cli.command else {
            panic!("not an export")
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(ExportPlan::from_args(
                export,
                Timestamp::from_second(NOW).unwrap(),
            ))
    }

    /// The usage error of `args`, after checking that nothing was written beside the token.
    fn refused(args: &[&str]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let out = plan(dir.path(), args);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["token"], "{args:?}: a file was written");
        match out {
            Ok(p) => panic!("{args:?}: planned {p:?}"),
            Err(f) => {
                assert_eq!(f.code, 2, "{args:?}: {}", f.message);
                f.message
            }
        }
    }

    #[test]
    fn flags_become_the_librarys_query_window_and_target() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.csv.gz");
        let p = plan(
            dir.path(),
            &[
                "--campaign",
                "7",
                "--where",
                "error = 1",
                "--since",
                "2026-11-01",
                "--until",
                "1d",
                "-o",
                out.to_str().unwrap(),
            ],
        )
        .unwrap_or_else(|f| panic!("{}", f.message));
        assert_eq!(
            p.query.identity(),
            serde_json::json!({"condition": [
                ["campaign_id", "=", 7],
                ["error", "=", 1],
                ["create_time", ">=", 1_793_491_200],
                ["create_time", "<", NOW - 86_400]
            ]})
        );
        assert_eq!(p.format, Format::Csv);
        assert_eq!(p.target, Target::File(out));
        assert!(p.sharding == shard::Sharding::Whole && p.incremental.is_none());
    }

    #[test]
    fn a_state_plans_a_keyset_run_and_reads_nothing_it_does_not_own() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let p = plan(
            dir.path(),
            &["--state", state.to_str().unwrap(), "--since", "7d"],
        )
        .unwrap_or_else(|f| panic!("{}", f.message));
        let run = p.incremental.expect("an incremental run");
        assert!(format!("{run:?}").contains("Keyset"), "{run:?}");
        // The window of a first run is the state's start, not part of the query it records.
        assert_eq!(p.query.identity(), serde_json::json!({}));
        assert_eq!(p.query.mode(Mode::Keyset).identity(), serde_json::json!({}));
        assert!(!state.exists(), "planning writes no state");
    }

    #[test]
    fn every_usage_error_is_found_before_any_request_or_file() {
        let bounded = ["--where", "action_id <= 100"];
        let cases: &[(&[&str], &str)] = &[
            (&["--resume"], "--resume needs -o PATH"),
            (&["--where", "campaign_id ~ 7"], "bad --where"),
            (&["--select", "a,,b"], "empty field name"),
            (&["--after", "5"], "--after in offset mode"),
            (
                &["--since", "2026-11-02", "--until", "2026-11-01"],
                "is empty",
            ),
            (&["--since", "last week"], "is not a time"),
            (
                &["--state", "s.json", "--until", "2026-11-01"],
                "--until does not go with --state",
            ),
            (&["--state", "s.json", "--mode", "offset"], "keyset mode"),
            (
                &["--state", "s.json", "--order", "action_id DESC"],
                "ascending action_id",
            ),
            (
                &["--state", "s.json", "--lookback", "soon"],
                "is not a duration",
            ),
            (&["--shard", "0/2"], "needs a fixed upper end"),
            (&["--shard", "0/2", "--until", "7d"], "not a duration ago"),
            (
                &["--shard", "0/2", "--since", "2026-11-01", "--until", "7d"],
                "not a duration ago",
            ),
        ];
        for (args, says) in cases {
            let message = refused(args);
            assert!(message.contains(says), "{args:?}: {message}");
        }
        let tiled: &[(&[&str], &str)] = &[
            (&["--offset", "10"], "--offset cannot be used with --shard"),
            (
                &["--mode", "keyset", "--after", "5"],
                "--after cannot be used with --shard",
            ),
            (
                &["--max-rows", "3"],
                "--max-rows cannot be used with --shard",
            ),
        ];
        for (args, says) in tiled {
            let mut all = vec!["--shard", "0/2"];
            all.extend(bounded);
            all.extend(*args);
            let message = refused(&all);
            assert!(message.contains(says), "{all:?}: {message}");
            assert!(message.contains("no longer add up"), "{message}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fixed = plan(dir.path(), &["--shard", "1/2", "--until", "2026-11-01"])
            .unwrap_or_else(|f| panic!("{}", f.message));
        let part = Shard::new(1, 2).unwrap();
        assert_eq!(
            fixed.sharding,
            shard::Sharding::Part {
                shard: part,
                planned: None
            }
        );
    }
}
