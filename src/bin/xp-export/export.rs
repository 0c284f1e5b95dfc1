//! `xp-export export`: validate the flags, build the client and the query, run the job, report.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use xp_export::export::{Export, Format, Report};

use crate::args::{Cli, ExportArgs};
use crate::failure::Failure;
use crate::report::{failure_json_value, progress_line, summary_json_value, summary_text};
use crate::token;

/// Runs an export as the flags say. The flags are checked in the order a user reads them, so
/// the first mistake is the one reported.
pub async fn run(
    args: &ExportArgs,
    cli: &Cli,
    progress: Option<&ProgressBar>,
) -> Result<(), Failure> {
    let (target, format) = args.target()?;
    let conditions = args.conditions()?;
    let timeout = args.timeout()?;
    let token = token::apptoken(args.apptoken_file.as_deref())?;
    let client = args.client(token, timeout)?;
    let query = args.query(&client, conditions)?;
    let job = Export::new(query, format, target)
        .resume(args.resume)
        .restart(args.restart);
    run_job(job, format, cli, progress, args.summary_json.as_deref())
        .await
        .map(drop)
}

/// Runs `job` until it ends or Ctrl-C: the progress line while it runs, the summary (unless
/// -q) and the `--summary-json` file after.
pub async fn run_job(
    job: Export,
    format: Format,
    cli: &Cli,
    progress: Option<&ProgressBar>,
    summary_json: Option<&Path>,
) -> Result<Report, Failure> {
    if let Some(p) = progress {
        p.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("static template"));
        p.enable_steady_tick(Duration::from_millis(120));
        p.set_message("starting");
    }
    let started = std::time::Instant::now();
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let result = job
        .run(stop, |summary, rows| {
            if let Some(p) = progress {
                p.set_message(progress_line(summary, rows, started.elapsed()));
            }
        })
        .await;
    if let Some(p) = progress {
        p.finish_and_clear();
    }
    let outcome = match result {
        Ok(report) => {
            if !cli.quiet {
                eprint!("{}", summary_text(&report, format));
            }
            Ok(report)
        }
        Err(e) => Err(Failure::from_export(e, cli.verbose)),
    };
    if let Some(path) = summary_json {
        write_summary_json(path, &outcome, format);
    }
    outcome
}

/// Writes the `--summary-json` report; a failure to write it is said, not fatal.
fn write_summary_json(path: &Path, outcome: &Result<Report, Failure>, format: Format) {
    let json = match outcome {
        Ok(report) => summary_json_value(report, format),
        Err(f) => failure_json_value(f),
    };
    let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    if let Err(e) = std::fs::write(path, text) {
        eprintln!(
            "xp-export: cannot write the summary to {}: {e}",
            path.display()
        );
    }
}
