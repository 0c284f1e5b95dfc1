//! Running an export job and saying what it did: the progress line while it runs, Ctrl-C,
//! SIGTERM and SIGHUP, the `--summary-json` file after, and last the one summary. Shared by
//! `export` and `demo`.

use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use xp_export::Summary;
use xp_export::export::{Export, Format, Report};
use xp_export::query::ShardPlan;

use crate::failure::{Continuation, Exit, Failure};
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

/// Runs `job` until it ends or a signal stops it, with the progress line while it runs; then,
/// after an export that ended well, `after` (the incremental state); then the `--summary-json`
/// file; and last, once nothing is left that can fail, the summary of a command that ended well
/// (unless -q). A command that failed at any of these steps returns its failure for `main` to
/// print as the summary: one summary either way, saying how the command ended.
pub async fn run_job(
    job: Export,
    how: &Job<'_>,
    after: impl AsyncFnOnce(&Report) -> Result<(), Failure>,
) -> Result<Report, Failure> {
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
    // The stream's summary at the last page written, for the summary of a run that stops.
    let mut last = Summary::default();
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
                if json && last_line.is_none_or(|at| at.elapsed() >= every) {
                    last_line = Some(Instant::now());
                    let elapsed = started.elapsed();
                    progress_event(
                        &progress_line(summary, rows, elapsed),
                        progress_fields(summary, rows, elapsed),
                    );
                }
                last.clone_from(summary);
            },
        )
        .await;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let outcome = match result {
        Ok(report) => match after(&report).await {
            Ok(()) => Ok(report),
            Err(f) => Err(with_details(f, &report, &extra)),
        },
        Err(e) => {
            // How far it got, timed now: the whole run, not up to its last page.
            let rows = e.rows().unwrap_or_default();
            let mut f = signal::stopped_by(Failure::from_export(e, ui.verbose, how), stop.caught());
            f.details = progress_fields(&last, rows, started.elapsed());
            f.details.extend(extra.clone());
            Err(f)
        }
    };
    let outcome = match summary_json {
        Some(path) => with_summary_json(path, outcome, format, &extra),
        None => outcome,
    };
    if let Ok(report) = &outcome {
        match (ui.quiet, json) {
            (true, _) => {}
            (false, false) => {
                let line = part.map(shard::summary_line).unwrap_or_default();
                crate::console::err(&format!("{}{line}", summary_text(report, format)));
            }
            (false, true) => summary_event(report, format, &extra),
        }
    }
    outcome
}

/// A failure after a complete export (its state or summary not written), with what the export
/// did: its rows, pages, retries and time, and `extra`.
fn with_details(
    mut f: Failure,
    report: &Report,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Failure {
    f.details = progress_fields(&report.summary, report.rows_in_output, report.elapsed);
    f.details.insert(
        "output".into(),
        report.path.as_ref().map(|p| p.display().to_string()).into(),
    );
    f.details.extend(extra.clone());
    f
}

/// Writes the `--summary-json` report of the command's outcome. A summary that cannot be
/// written fails the command (exit 1) even when the export succeeded, whose output stays where
/// it is; after a command that failed, its failure is the one reported, with this one as a
/// note.
fn with_summary_json(
    path: &Path,
    outcome: Result<Report, Failure>,
    format: Format,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<Report, Failure> {
    // A finished output whose record does not count its rows (an earlier build's) reports
    // less than the summary its export wrote: that one stays.
    if let Ok(report) = &outcome
        && report.already_complete
        && !report.rows_known
        && path.exists()
    {
        return outcome;
    }
    // A run refused before it changed anything (exit 2) leaves the summary of a complete
    // export as it is: that output still stands, and its report says more than this refusal.
    if let Err(f) = &outcome
        && f.code == Exit::Usage.code()
        && reports_complete(path)
    {
        let mut f = outcome.unwrap_err();
        f.notes.push(format!(
            "{} is left as it was: it reports a complete export, and this run changed nothing",
            path.display()
        ));
        return Err(f);
    }
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
            let f = Failure::failed(format!("{problem} ({kept})"));
            Err(with_details(f, &report, extra))
        }
        Err(mut f) => {
            f.notes.push(problem);
            Err(f)
        }
    }
}

/// Whether the file at `path` is the `--summary-json` report of a complete export.
fn reports_complete(path: &Path) -> bool {
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&text)
        .is_ok_and(|json| json.get("complete") == Some(&serde_json::Value::Bool(true)))
}
