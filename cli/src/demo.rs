//! `xp-export demo`: export a campaign's failed messages from a built-in, faulty emulator, and
//! check the file against the emulator's data set.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use xp_export::emulator::{self, Emulator, Fault, RetryAfter};
use xp_export::export::{Export, Format, Report, Target};
use xp_export::query::DEFAULT_PAGE_SIZE;
use xp_export::{Client, RawRow, RetryPolicy};

use clap::Args;
use clap::builder::RangedU64ValueParser;

use xp_export::paginate::thousands;

use crate::console::say;
use crate::emulate::DEFAULT_EMULATOR_PORT;
use crate::failure::{Continuation, Failure};
use crate::job::{Job, Ui, run_job};
use crate::limits::MAX_DEMO_RECORDS;

/// The demo's faults: 15% of requests fail in every way a flaky API does.
const FAULT_RATE: f64 = 0.15;
/// The demo's silent page-size cap, below the default page size so the cap is learned.
const MAX_LIMIT: usize = 500;
/// The fields the demo exports, in CSV column order.
const FIELDS: [&str; 5] = [
    "action_id",
    "campaign_id",
    "create_time",
    "device_id",
    "error_message",
];

/// Starts the faulty emulator, exports one campaign's failed messages from it and checks the
/// file against the emulator's data set.
pub async fn run(args: &DemoArgs, ui: &Ui, progress: Option<&ProgressBar>) -> Result<(), Failure> {
    let stop = crate::signal::Stop::listen();
    let emu = start_emulator(args.records).await?;
    let campaign = emu
        .records()
        .first()
        .map(|r| r.campaign_id)
        .unwrap_or(xp_export::emulator::DEFAULT_CAMPAIGNS[0]);
    if !ui.quiet {
        tell(&format!(
            "xp-export demo: a built-in API with {} push actions, 15% of requests failing \
             (500, 502, 503, resets, cut-off bodies) and a silent cap of {MAX_LIMIT} rows per page.\n\
             Exporting the failed messages of campaign {campaign} with --page-size {DEFAULT_PAGE_SIZE} to {} …",
            thousands(emu.records().len() as u64),
            args.output.display()
        ));
    }
    let client = Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .retry(RetryPolicy::default().with_base_delay(Duration::from_millis(20)))
        .build()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let query = client
        .list::<RawRow>(xp_export::model::push_devices::NAME)
        .campaign(campaign)
        .failed()
        .select(FIELDS);
    let format = Format::from_path(&args.output).0.unwrap_or(Format::Csv);
    // The demo's file is its own: what a killed demo left is discarded.
    let job = Export::new(query, format, Target::File(args.output.clone())).restart(true);
    let how = Job {
        format,
        ui,
        progress,
        summary_json: None,
        how: Continuation::default(),
        part: None,
        stop: &stop,
    };
    // The check is part of the run: a file that fails it is the demo's one summary.
    let checked = async |_: &Report| check(&emu, campaign, &args.output, format);
    let report = run_job(job, &how, checked).await?;
    let faults = emu
        .request_log()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    if !ui.quiet {
        tell(&format!(
            "Checked against the emulator's data set: all {} failed messages of the campaign are \
             in {}, newest first, each exactly once, through {faults} injected faults.\n\
             Next: `xp-export emulate` serves the same API on 127.0.0.1:{DEFAULT_EMULATOR_PORT} for your own exports.",
            thousands(report.rows_in_output),
            args.output.display(),
        ));
    }
    Ok(())
}

/// One of the demo's paragraphs for the reader: as text, or with `--log-format json` one JSON
/// line (target `xp_export_cli::demo`), its lines joined.
fn tell(text: &str) {
    if crate::logging::is_json() {
        let mut fields = serde_json::Map::new();
        fields.insert("event".into(), "demo".into());
        let message = text.replace('\n', " ");
        crate::logging::json_line("INFO", "xp_export_cli::demo", &message, fields);
    } else {
        say!("{text}");
    }
}

/// The built-in emulator with `records` push actions, faults and a silent cap.
async fn start_emulator(records: usize) -> Result<Emulator, Failure> {
    let config = emulator::Config::default()
        .records(records)
        .fault_rate(FAULT_RATE)
        .fault_kinds([
            Fault::InternalError,
            Fault::BadGatewayHtml,
            Fault::Unavailable(Some(RetryAfter::Seconds(0))),
            Fault::Reset,
            Fault::Truncated,
            Fault::EnvelopeFailure,
        ])
        .max_limit(MAX_LIMIT);
    Emulator::start(config)
        .await
        .map_err(|e| Failure::failed(format!("cannot start the built-in emulator: {e}")))
}

/// Checks the file against the emulator's own data: every failed message of the campaign,
/// newest first, each exactly once.
fn check(emu: &Emulator, campaign: u64, path: &Path, format: Format) -> Result<(), Failure> {
    let expected: Vec<String> = emu
        .records()
        .iter()
        .rev()
        .filter(|r| r.campaign_id == campaign && r.error == 1)
        .map(|r| r.action_id.to_string())
        .collect();
    let written = written_ids(path, format)
        .map_err(|e| Failure::failed(format!("cannot read back {}: {e}", path.display())))?;
    if written != expected {
        return Err(Failure::failed(format!(
            "{} does not match the emulator's data: {} rows written, {} expected",
            path.display(),
            written.len(),
            expected.len()
        )));
    }
    Ok(())
}

/// The `action_id` of every row in an export file (CSV with that column, NDJSON or JSON;
/// gzip-compressed when the name ends in `.gz`).
fn written_ids(path: &Path, format: Format) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    if Format::from_path(path).1 {
        flate2::read::MultiGzDecoder::new(file).read_to_string(&mut text)
    } else {
        std::io::BufReader::new(file).read_to_string(&mut text)
    }
    .map_err(|e| e.to_string())?;
    let id_of = |v: serde_json::Value| v["action_id"].to_string();
    match format {
        Format::Csv => {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let col = reader
                .headers()
                .map_err(|e| e.to_string())?
                .iter()
                .position(|h| h == "action_id")
                .ok_or("no action_id column")?;
            reader
                .records()
                .map(|r| r.map(|r| r[col].to_string()).map_err(|e| e.to_string()))
                .collect()
        }
        Format::Ndjson => text
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .map(id_of)
                    .map_err(|e| e.to_string())
            })
            .collect(),
        Format::Json => serde_json::from_str::<Vec<serde_json::Value>>(&text)
            .map(|rows| rows.into_iter().map(id_of).collect())
            .map_err(|e| e.to_string()),
        Format::Parquet => Err("the demo checks CSV, NDJSON or JSON files".into()),
    }
}

#[derive(Args)]
pub struct DemoArgs {
    /// Where to write the failed messages.
    #[arg(short, long, default_value = "xp-export-demo-failed.csv")]
    pub output: PathBuf,
    /// How many push actions the built-in emulator holds.
    #[arg(long, default_value_t = 400_000, value_parser = demo_records())]
    pub records: usize,
}

/// `demo --records`: up to [`MAX_DEMO_RECORDS`] (the check holds every record in memory).
fn demo_records() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(..=MAX_DEMO_RECORDS)
}
