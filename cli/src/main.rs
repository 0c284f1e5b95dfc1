//! `xp-export`: export Xtremepush list methods to NDJSON, CSV or JSON; run the emulator; demo.
//!
//! This file parses arguments, dispatches and maps the outcome to an exit code (see
//! [`failure`]): 0 success, 1 failure (retries exhausted, I/O), 2 usage or configuration, 3 the
//! API refused the request, 129 stopped (SIGHUP), 130 interrupted (Ctrl-C) and 143 stopped
//! (SIGTERM) with the checkpoint saved.
//!
//! # Layout
//! Each file and what it holds is listed once, in the repository's `ARCHITECTURE.md` (a test
//! fails when a file is missing from it).

#![deny(clippy::print_stderr, clippy::print_stdout)]

mod args;
mod console;
mod credentials;
mod demo;
mod emulate;
mod export;
mod failure;
mod incremental;
mod job;
mod limits;
mod logging;
mod parquet;
mod paths;
mod report;
mod shard;
mod signal;
mod time;
mod token;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use indicatif::ProgressBar;

use crate::args::{Cli, Command};
use crate::console::say;
use crate::failure::{Exit, Failure};
use crate::job::Ui;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return bad_command_line(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say!("xp-export: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let text = cli.log_format == logging::LogFormat::Text;
    let progress =
        (text && !cli.quiet && std::io::stderr().is_terminal()).then(ProgressBar::new_spinner);
    logging::init(cli.log_format, cli.quiet, cli.verbose, progress.clone());
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
        progress_interval: cli.progress_interval,
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Export(args) => export::run(args, &ui, progress.as_ref()).await,
            Command::Emulate(args) => emulate::run(args, cli.quiet).await,
            Command::Demo(args) => demo::run(args, &ui, progress.as_ref()).await,
        }
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    // The runtime's last log lines (connections closing, at -vvv) come before the summary.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    logging::finish();
    exit_code(result)
}

/// A command line clap cannot parse: its message, or with `--log-format json` (or
/// `XTREMEPUSH_LOG_FORMAT=json`) the JSON summary line of a usage error; exit 2. `--help` and
/// `--version` print as they do.
fn bad_command_line(e: clap::Error) -> ExitCode {
    if !e.use_stderr() || !logging::asked_for_json(std::env::args_os()) {
        e.exit()
    }
    let text = e.render().to_string();
    let message = text
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ");
    logging::init(logging::LogFormat::Json, false, 0, None);
    report::failure_event(&Failure::usage(message));
    ExitCode::from(Exit::Usage.code())
}

/// Prints a failure's message and notes once (in JSON, as the summary line), and gives its
/// exit code.
fn exit_code(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if logging::is_json() => {
            report::failure_event(&f);
            ExitCode::from(f.code)
        }
        // A closed pipe (`| head`): the reader has what it wanted.
        Err(f) if f.code == 0 => ExitCode::SUCCESS,
        Err(f) => {
            say!("xp-export: {}", f.message);
            for note in &f.notes {
                say!("  {note}");
            }
            ExitCode::from(f.code)
        }
    }
}
