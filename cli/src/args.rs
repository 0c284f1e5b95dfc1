//! The command line: clap's structs, and turning them into validated library values.
//!
//! Defaults come from the library's constants; the few that are the command line's own choices
//! are named below.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use xp_export::client::DEFAULT_MAX_PAGE_BYTES;
use xp_export::export::{Format, Target};
use xp_export::query::{DEFAULT_PAGE_SIZE, Mode};
use xp_export::{Client, Condition, Query, RawRow, RetryPolicy};

use crate::credentials::AuthArgs;
use crate::failure::{Continuation, Failure};
use crate::limits::{
    MAX_OFFSET, MAX_PAGE_BYTES, MAX_PAGE_SIZE, MAX_REORDER_WINDOW, MAX_RETRIES, MAX_RETRY_MS,
    MIN_PAGE_BYTES,
};
use crate::logging::LogFormat;

/// The CLI's retry budget for a whole export (the library's default is none): enough for
/// a long export on a flaky network, not enough to hammer a server that is down.
const DEFAULT_RETRY_BUDGET: u64 = 10_000;

/// RetryPolicy's default `max_retries`.
fn default_max_retries() -> u32 {
    RetryPolicy::default().max_retries()
}

/// RetryPolicy's default `max_delay`, in milliseconds.
fn default_retry_max_ms() -> u64 {
    u64::try_from(RetryPolicy::default().max_delay().as_millis()).unwrap_or(u64::MAX)
}

#[derive(Parser)]
#[command(
    name = "xp-export",
    version,
    about = "Export everything behind the Xtremepush external API's list methods."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No progress line and no summary: errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail on stderr: -v retries and the error's chain, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log lines on stderr as text, or as one JSON object per line: retries, warnings, progress,
    /// and last the summary with the stop reason and exit code.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT", env = "XTREMEPUSH_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
    /// With --log-format json: seconds between progress lines (0: after every page).
    #[arg(long, default_value_t = 5.0, value_name = "SECS", value_parser = crate::limits::interval_secs, global = true)]
    pub progress_interval: f64,
}

#[derive(Subcommand)]
pub enum Command {
    /// Export every row of a list model to NDJSON, CSV or JSON.
    ///
    /// A flag given twice takes its last value, so the hint to continue an export ("add
    /// `--offset N` to the same command") works on a command that already has one.
    #[command(args_override_self = true, after_long_help = crate::failure::EXIT_CODES)]
    Export(Box<ExportArgs>),
    /// Run the API emulator in the foreground (for trying the CLI or another client).
    Emulate(crate::emulate::EmulateArgs),
    /// Export the failed messages of a campaign from a built-in emulator, with faults injected.
    Demo(crate::demo::DemoArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// The list model: push-devices (the push actions of campaigns), or any other.
    #[arg(default_value = xp_export::model::push_devices::NAME)]
    model: String,
    /// Region, API URL and the one credential.
    #[command(flatten)]
    pub auth: AuthArgs,
    /// A condition, repeatable: "FIELD OP VALUE" with OP one of = != < <= > >= in, not in
    /// ("device_id in 1,2,3").
    #[arg(long = "where", value_name = "FIELD OP VALUE")]
    conditions: Vec<String>,
    /// Only this campaign: --where "campaign_id = ID".
    #[arg(long, value_name = "ID")]
    campaign: Option<u64>,
    /// Only failed messages: --where "error = 1".
    #[arg(long)]
    failed: bool,
    /// The fields to export, in this order (also the CSV columns).
    #[arg(long, value_delimiter = ',', value_name = "a,b,c")]
    select: Option<Vec<String>>,
    /// Sort order, repeatable: "action_id DESC".
    #[arg(long)]
    pub order: Vec<String>,
    /// Rows asked for per request.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(u64).range(1..=MAX_PAGE_SIZE))]
    page_size: u64,
    /// Page requests in flight at once (pages still arrive in order). Offset mode: default 4.
    /// Keyset mode: K key ranges walked at once, rows still in key order; one request at a
    /// time unless given.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64), value_name = "K")]
    concurrency: Option<u64>,
    /// ndjson, csv, json or parquet; default from the output's extension, else ndjson.
    #[arg(long)]
    format: Option<Format>,
    /// CSV for people opening it in a spreadsheet: a text value starting with =, +, -, @, tab
    /// or carriage return gets a leading ' so the spreadsheet shows it instead of running it
    /// as a formula. This changes those values; without it every value is written as sent.
    #[arg(long)]
    pub csv_formula_guard: bool,
    /// Where to write: a file (".gz" compresses; ".parquet" is Parquet; also file://PATH), an
    /// object in a bucket (s3://BUCKET/KEY, gs://BUCKET/KEY, az://CONTAINER/KEY; credentials
    /// from the cloud's environment), or "-" for standard output.
    #[arg(short, long, default_value = "-", value_name = "PATH|URL|-")]
    output: String,
    /// Continue an interrupted export into the same output file or object.
    #[arg(long)]
    pub resume: bool,
    /// Discard what an interrupted export left beside the output file and start over.
    #[arg(long, conflicts_with = "resume")]
    pub restart: bool,
    /// Save the checkpoint of a file export at most this often (and at the end, on a stop and on
    /// a failure); 0 saves it after every page. A crash loses at most the pages since, which
    /// --resume fetches again.
    #[arg(long, default_value_t = xp_export::export::DEFAULT_CHECKPOINT_EVERY.as_secs_f64(), value_name = "SECS", value_parser = crate::limits::checkpoint_secs)]
    checkpoint_every: f64,
    /// An object output (s3://, gs://, az://): the least bytes of each part of its multipart
    /// upload, the last aside; the checkpoint in the bucket is saved after each. From 5 MiB (S3's
    /// least part) to 5 GiB; an upload has at most 10,000 parts, so the default holds objects up
    /// to 78 GiB.
    #[arg(long, default_value_t = xp_export::export::object::PART_BYTES as u64, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(xp_export::export::object::MIN_PART_BYTES as u64..=xp_export::export::object::MAX_PART_BYTES as u64))]
    pub part_bytes: u64,
    /// Start at this offset instead of 0 (to continue an export to standard output).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=MAX_OFFSET))]
    pub offset: u64,
    /// offset: pages by offset, fast with requests in flight, seams checked and repaired;
    /// keyset: seeks on action_id, no deep offsets, sequential pages (key ranges in parallel
    /// with --concurrency).
    #[arg(long, default_value_t = Mode::default(), value_name = "offset|keyset", default_value_if("state", clap::builder::ArgPredicate::IsPresent, "keyset"))]
    pub mode: Mode,
    /// Offset mode: do not overlap pages by one row to check and repair seams where rows
    /// shifted (saves one row per page; shifts then go unnoticed).
    #[arg(long)]
    no_seam_check: bool,
    /// Keyset mode: start after this action_id. Offset mode, with --offset N: the action_id of
    /// the row before offset N, which the seam check compares against (both to continue an
    /// export to standard output).
    #[arg(long, value_name = "ACTION_ID")]
    pub after: Option<u64>,
    /// Stop after this many rows.
    #[arg(long, value_name = "N", value_parser = crate::limits::at_least_one)]
    pub max_rows: Option<u64>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = xp_export::client::DEFAULT_TIMEOUT.as_secs_f64(), value_name = "SECS", value_parser = crate::limits::timeout_secs)]
    timeout: f64,
    /// How many times a failed page is tried again.
    #[arg(long, default_value_t = default_max_retries(), value_name = "N", value_parser = clap::value_parser!(u32).range(..=i64::from(MAX_RETRIES)))]
    max_retries: u32,
    /// Cap the export's requests at this many per second, concurrent ones included (a 429
    /// halves the rate in force either way, and it recovers slowly).
    #[arg(long, value_name = "RPS", value_parser = crate::limits::rps)]
    max_rps: Option<f64>,
    /// How many retries the whole export may spend before it fails.
    #[arg(long, default_value_t = DEFAULT_RETRY_BUDGET, value_name = "N")]
    retry_budget: u64,
    /// The wait before the first retry, doubled for each next one (full jitter).
    #[arg(long, default_value_t = RetryPolicy::default().base_delay().as_millis() as u64, value_name = "MS", value_parser = clap::value_parser!(u64).range(..=MAX_RETRY_MS))]
    retry_base_ms: u64,
    /// The longest wait between two tries, also the clamp for Retry-After.
    #[arg(long, default_value_t = default_retry_max_ms(), value_name = "MS", value_parser = clap::value_parser!(u64).range(..=MAX_RETRY_MS))]
    retry_max_ms: u64,
    /// The largest response accepted for one page, in bytes (a larger or endless one fails).
    #[arg(long, default_value_t = DEFAULT_MAX_PAGE_BYTES, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(MIN_PAGE_BYTES..=MAX_PAGE_BYTES))]
    max_page_bytes: u64,
    /// Bytes of pages that came back early (while a page before them waits out its backoff)
    /// that may wait to be written in order; once full, no new page is asked for.
    #[arg(long, default_value_t = xp_export::query::DEFAULT_REORDER_WINDOW, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(..=MAX_REORDER_WINDOW))]
    reorder_window: u64,
    /// One of N disjoint parts of the export: --shard I/N, or --shards N.
    #[command(flatten)]
    pub sharding: crate::shard::ShardArgs,
    /// Also write the completeness report (rows, pages, retries by cause, stop reason, learned
    /// cap, shifts, warnings) to this file as JSON.
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// Allow plain http:// to an address other than this machine (the apptoken travels in clear).
    #[arg(long)]
    allow_insecure_http: bool,
    /// --since, --until, --state and --lookback.
    #[command(flatten)]
    pub incremental: crate::incremental::IncrementalArgs,
    /// --row-group-rows, --row-group-bytes and --parquet-compression.
    #[command(flatten)]
    pub parquet: crate::parquet::ParquetArgs,
}

impl ExportArgs {
    /// Where to write and in which format: `--format`, else the output's extension, else
    /// NDJSON. Standard output cannot be resumed.
    pub fn target(&self) -> Result<(Target, Format), Failure> {
        let (target, path_format) =
            Target::parse(&self.output).map_err(|e| Failure::usage(format!("-o {e}")))?;
        if self.resume && target == Target::Stdout {
            return Err(Failure::usage(
                "--resume needs -o PATH: an export to standard output cannot be resumed (use --offset)",
            ));
        }
        let format = self.format.or(path_format).unwrap_or(Format::Ndjson);
        if self.csv_formula_guard && format != Format::Csv {
            return Err(Failure::usage(format!(
                "--csv-formula-guard is for CSV output, and this export writes {format}: \
                 leave it out, or write CSV (--format csv or -o NAME.csv)"
            )));
        }
        Ok((target, format))
    }

    /// The `--where` conditions, parsed.
    pub fn conditions(&self) -> Result<Vec<Condition>, Failure> {
        self.conditions
            .iter()
            .map(|text| {
                text.parse::<Condition>()
                    .map_err(|e| Failure::usage(format!("bad --where: {e}")))
            })
            .collect()
    }

    /// `--checkpoint-every` (its range is checked as it is parsed).
    pub fn checkpoint_every(&self) -> Duration {
        Duration::try_from_secs_f64(self.checkpoint_every).unwrap_or_default()
    }

    /// `--timeout` (its range is checked as it is parsed).
    pub fn timeout(&self) -> Result<Duration, Failure> {
        Duration::try_from_secs_f64(self.timeout)
            .map_err(|_| Failure::usage("--timeout must be a positive number of seconds"))
    }

    /// What the hint to continue an export to standard output builds on.
    pub fn continuation(&self) -> Continuation {
        Continuation {
            keyset: self.mode == Mode::Keyset,
            start_offset: self.offset,
            max_rows: self.max_rows,
            sharded: self.sharding.is_set(),
        }
    }

    /// The client: URLs, the one credential, timeout, page-size limit and retry policy.
    pub fn client(&self, timeout: Duration) -> Result<Client, Failure> {
        if self.retry_max_ms < self.retry_base_ms {
            return Err(Failure::usage(format!(
                "--retry-max-ms ({}) must be at least --retry-base-ms ({}): the longest wait \
                 cannot be shorter than the first",
                self.retry_max_ms, self.retry_base_ms
            )));
        }
        self.auth
            .builder()?
            .allow_insecure_http(self.allow_insecure_http)
            .timeout(timeout)
            .max_page_bytes(self.max_page_bytes)
            .retry(
                RetryPolicy::default()
                    .with_max_retries(self.max_retries)
                    .with_base_delay(Duration::from_millis(self.retry_base_ms))
                    .with_max_delay(Duration::from_millis(self.retry_max_ms)),
            )
            .build()
            .map_err(|e| Failure::usage(e.to_string()))
    }

    /// The query over the model: paging, where to start, conditions, fields and order.
    pub fn query(
        &self,
        client: &Client,
        conditions: Vec<Condition>,
    ) -> Result<Query<RawRow>, Failure> {
        let mut query = client
            .list::<RawRow>(&self.model)
            .page_size(self.page_size)
            .retry_budget(self.retry_budget)
            .reorder_window(self.reorder_window)
            .seam_check(!self.no_seam_check)
            .mode(self.mode)
            .start_offset(self.offset);
        if let Some(k) = self.concurrency {
            query = query.concurrency(k as usize);
        }
        if let Some(rps) = self.max_rps {
            query = query.max_rps(rps);
        }
        if let Some(key) = self.after()? {
            query = query.start_after(key);
        }
        if let Some(id) = self.campaign {
            query = query.campaign(id);
        }
        if self.failed {
            query = query.failed();
        }
        for c in conditions {
            query = query.condition(c);
        }
        if let Some(fields) = self.fields()? {
            query = query.select(fields);
        }
        for o in &self.order {
            if o.trim().is_empty() {
                return Err(Failure::usage(
                    "--order is empty: give a field, and ASC or DESC (\"action_id DESC\")",
                ));
            }
            query = query.order(o);
        }
        if let Some(n) = self.max_rows {
            query = query.max_rows(n);
        }
        Ok(query)
    }
}

impl ExportArgs {
    /// `--after`: keyset mode seeks past it; offset mode takes it with `--offset N` as the key
    /// of the row before N, for the seam check to compare with.
    fn after(&self) -> Result<Option<u64>, Failure> {
        let Some(key) = self.after else {
            return Ok(None);
        };
        if self.mode == Mode::Keyset {
            return Ok(Some(key));
        }
        if self.offset == 0 {
            return Err(Failure::usage(
                "--after in offset mode is the action_id of the row before --offset N, for the \
                 seam check: give --offset N too, or use --mode keyset",
            ));
        }
        if self.no_seam_check {
            return Err(Failure::usage(
                "--after in offset mode is for the seam check, which --no-seam-check turns \
                 off: leave one of the two out",
            ));
        }
        Ok(Some(key))
    }

    /// `--select`: each name given once, none empty (the server would only answer 400).
    fn fields(&self) -> Result<Option<Vec<String>>, Failure> {
        let Some(fields) = &self.select else {
            return Ok(None);
        };
        let mut names: Vec<String> = Vec::with_capacity(fields.len());
        for f in fields.iter().map(|f| f.trim()) {
            if f.is_empty() {
                return Err(Failure::usage(
                    "--select has an empty field name: separate the names with single commas \
                     (--select action_id,error_message)",
                ));
            }
            if names.iter().any(|n| n == f) {
                return Err(Failure::usage(format!(
                    "--select names {f} twice: name each field once"
                )));
            }
            names.push(f.to_string());
        }
        if names.is_empty() {
            return Err(Failure::usage(
                "--select names no field: leave it out for every field",
            ));
        }
        Ok(Some(names))
    }
}
