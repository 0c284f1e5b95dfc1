//! Running an export job and saying what it did: the progress line while it runs, Ctrl-C and
//! SIGTERM, the summary after, and the `--summary-json` file. Shared by `export` and `demo`.

use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use xp_export::export::{Export, Format, Report};
use xp_export::query::ShardPlan;

use crate::failure::{Continuation, Failure};
use crate::logging;
use crate::report::{
    failure_json_value, progress_event, progress_fields, progress_line, summary_event,
    summary_json_value, summary_text,
};
use crate::shard;
use crate::signal::{self, Stop};

/// What the global flags ask of every command's output.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// `-q`: no progress line and no summary.
    pub quiet: bool,
    /// `-v`: how much detail.
    pub verbose: u8,
    /// `--progress-interval`: seconds between JSON progress lines.
    pub progress_interval: f64,
}

/// How an export job runs and says what it did: what the global flags ask of the output, the
/// export's `--summary-json`, the hint to continue, its shard and the signal that stops it.
pub struct Job<'a> {
    /// The output's format, for the summary.
    pub format: Format,
    pub ui: &'a Ui,
    /// The progress line, on a terminal.
    pub progress: Option<&'a ProgressBar>,
    /// `--summary-json`.
    pub summary_json: Option<&'a Path>,
    /// What the hint to continue builds on.
    pub how: Continuation,
    /// A shard's part, said in the summary.
    pub part: Option<&'a ShardPlan>,
    /// Ctrl-C, SIGTERM, SIGHUP.
    pub stop: &'a Stop,
}

/// Runs `job` until it ends or a signal stops it: the progress line while it runs, the
/// summary (unless -q) and the `--summary-json` file after.
pub async fn run_job(job: Export, how: &Job<'_>) -> Result<Report, Failure> {
    let Job {
        format,
        ui,
        progress,
        summary_json,
        how,
        part,
        stop,
    } = *how;
    if let Some(p) = progress {
        p.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("static template"));
        p.enable_steady_tick(Duration::from_millis(120));
        p.set_message("starting");
    }
    let started = Instant::now();
    let json = logging::is_json() && !ui.quiet;
    let every = Duration::from_secs_f64(ui.progress_interval);
    let mut last_line: Option<Instant> = None;
    let mut done = serde_json::Map::new();
    let extra = part.map(shard::summary_fields).unwrap_or_default();
    let result = job
        .run(
            async {
                stop.signalled().await;
            },
            |summary, rows| {
                if let Some(p) = progress {
                    p.set_message(progress_line(summary, rows, started.elapsed()));
                }
                if json {
                    done = progress_fields(summary, rows, started.elapsed());
                    if last_line.is_none_or(|at| at.elapsed() >= every) {
                        last_line = Some(Instant::now());
                        progress_event(done.clone());
                    }
                }
            },
        )
        .await;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let outcome = match result {
        Ok(report) => {
            match (ui.quiet, json) {
                (true, _) => {}
                (false, false) => {
                    let line = part.map(shard::summary_line).unwrap_or_default();
                    crate::console::err(&format!("{}{line}", summary_text(&report, format)));
                }
                (false, true) => summary_event(&report, format, &extra),
            }
            Ok(report)
        }
        Err(e) => {
            let mut f = signal::stopped_by(Failure::from_export(e, ui.verbose, how), stop.caught());
            f.details = done;
            f.details.extend(extra.clone());
            Err(f)
        }
    };
    match summary_json {
        Some(path) => with_summary_json(path, outcome, format, &extra),
        None => outcome,
    }
}

/// Writes the `--summary-json` report. A summary that cannot be written fails the command
/// (exit 1) even when the export succeeded, whose output stays where it is; after a failed
/// export, the export's failure is the one reported, with this one as a note.
fn with_summary_json(
    path: &Path,
    outcome: Result<Report, Failure>,
    format: Format,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<Report, Failure> {
    let json = match &outcome {
        Ok(report) => summary_json_value(report, format, extra),
        Err(f) => failure_json_value(f, extra),
    };
    let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    let Err(e) = std::fs::write(path, text) else {
        return outcome;
    };
    let problem = format!("cannot write the summary to {}: {e}", path.display());
    match outcome {
        Ok(report) => {
            let kept = match &report.path {
                Some(p) => format!("the export itself is complete in {}", p.display()),
                None => "the export itself is complete".to_string(),
            };
            Err(Failure::failed(format!("{problem} ({kept})")))
        }
        Err(mut f) => {
            f.notes.push(problem);
            Err(f)
        }
    }
}
