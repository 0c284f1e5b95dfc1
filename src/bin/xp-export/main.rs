//! `xp-export`: export Xtremepush list methods to NDJSON, CSV or JSON; run the emulator; demo.
//!
//! This file parses arguments, dispatches and maps the outcome to an exit code (see
//! [`failure`]): 0 success, 1 failure (retries exhausted, I/O), 2 usage or configuration, 3 the
//! API refused the request, 130 interrupted (Ctrl-C) and 143 stopped (SIGTERM) with the
//! checkpoint saved.
//!
//! # Layout
//! - `args`: the command line, and turning it into the library's client and query.
//! - `export`: the export command; `emulate`, `demo`: the other two.
//! - `report`: the progress line, the summary and `--summary-json`.
//! - `failure`: errors as messages and exit codes; `signal`: Ctrl-C and SIGTERM.
//! - `limits`: the ranges of the numeric flags; `paths`: files an export keeps apart.
//! - `credentials`: region, API URL and the one credential; `token`: reading secrets; `logging`: log lines on stderr.

mod args;
mod credentials;
mod demo;
mod emulate;
mod export;
mod failure;
mod limits;
mod logging;
mod paths;
mod report;
mod signal;
mod token;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use indicatif::ProgressBar;

use crate::args::{Cli, Command};
use crate::failure::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xp-export: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let progress = (!cli.quiet && std::io::stderr().is_terminal()).then(ProgressBar::new_spinner);
    logging::init(cli.quiet, cli.verbose, progress.clone());
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Export(args) => export::run(args, &cli, progress.as_ref()).await,
            Command::Emulate(args) => emulate::run(args, cli.quiet).await,
            Command::Demo(args) => demo::run(args, &cli, progress.as_ref()).await,
        }
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    exit_code(result)
}

/// Prints a failure's message and notes once, and gives its exit code.
fn exit_code(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`): the reader has what it wanted.
        Err(f) if f.code == 0 => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("xp-export: {}", f.message);
            for note in &f.notes {
                eprintln!("  {note}");
            }
            ExitCode::from(f.code)
        }
    }
}
