//! `xp-export`: export Xtremepush list methods to NDJSON, CSV or JSON; run the emulator; demo.
//!
//! This file parses arguments, calls the library and maps errors to exit codes:
//! 0 success, 1 failure (retries exhausted, I/O), 2 usage or configuration, 3 the API refused
//! the request, 130 interrupted (Ctrl-C) with the checkpoint saved.

use std::io::{IsTerminal, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use xp_export::emulator::{self, Emulator, Fault, RetryAfter};
use xp_export::export::{Export, ExportError, Format, Report, Target};
use xp_export::{
    Client, Condition, DEFAULT_API_URL, EndReason, ErrorKind, Mode, RawRow, RetryPolicy, Summary,
};

const TOKEN_ENV: &str = "XTREMEPUSH_APPTOKEN";

#[derive(Parser)]
#[command(
    name = "xp-export",
    version,
    about = "Export everything behind the Xtremepush external API's list methods."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress line and no summary: errors only.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// More detail on stderr: -v retries and the error's chain, -vv debug, -vvv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Export every row of a list model to NDJSON, CSV or JSON.
    Export(Box<ExportArgs>),
    /// Run the API emulator in the foreground (for trying the CLI or another client).
    Emulate(EmulateArgs),
    /// Export the failed messages of a campaign from a built-in emulator, with faults injected.
    Demo(DemoArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// The list model: push-devices (the push actions of campaigns), or any other.
    #[arg(default_value = "push-devices")]
    model: String,
    /// The API base URL.
    #[arg(long, env = "XTREMEPUSH_API_URL", default_value = DEFAULT_API_URL)]
    api_url: String,
    /// A file holding the apptoken ("-" reads standard input); else $XTREMEPUSH_APPTOKEN.
    #[arg(long, value_name = "PATH")]
    apptoken_file: Option<PathBuf>,
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
    order: Vec<String>,
    /// Rows asked for per request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    page_size: u64,
    /// Page requests in flight at once (pages still arrive in order).
    #[arg(long, default_value_t = xp_export::DEFAULT_CONCURRENCY as u64, value_parser = clap::value_parser!(u64).range(1..=64), value_name = "K")]
    concurrency: u64,
    /// ndjson, csv or json; default from the output's extension, else ndjson.
    #[arg(long)]
    format: Option<Format>,
    /// Where to write: a file (".gz" compresses), or "-" for standard output.
    #[arg(short, long, default_value = "-", value_name = "PATH|-")]
    output: String,
    /// Continue an interrupted export into the same output file.
    #[arg(long)]
    resume: bool,
    /// Start at this offset instead of 0 (to continue an export to standard output).
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// offset: pages by offset, fast with requests in flight, seams checked and repaired;
    /// keyset: seeks on action_id, no deep offsets, sequential pages.
    #[arg(long, default_value = "offset", value_name = "offset|keyset")]
    mode: Mode,
    /// Offset mode: do not overlap pages by one row to check and repair seams where rows
    /// shifted (saves one row per page; shifts then go unnoticed).
    #[arg(long)]
    no_seam_check: bool,
    /// Keyset mode: start after this action_id (to continue an export to standard output).
    #[arg(long, value_name = "ACTION_ID")]
    after: Option<u64>,
    /// Stop after this many rows.
    #[arg(long, value_name = "N")]
    max_rows: Option<u64>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    timeout: f64,
    /// How many times a failed page is tried again.
    #[arg(long, default_value_t = 8, value_name = "N")]
    max_retries: u32,
    /// Cap the export's requests at this many per second, concurrent ones included (a 429
    /// halves the rate in force either way, and it recovers slowly).
    #[arg(long, value_name = "RPS")]
    max_rps: Option<f64>,
    /// How many retries the whole export may spend before it fails.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    retry_budget: u64,
    /// The wait before the first retry, doubled for each next one (full jitter).
    #[arg(long, default_value_t = 200, value_name = "MS")]
    retry_base_ms: u64,
    /// The longest wait between two tries, also the clamp for Retry-After.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    retry_max_ms: u64,
    /// The largest response accepted for one page, in bytes (a larger or endless one fails).
    #[arg(long, default_value_t = xp_export::DEFAULT_MAX_PAGE_BYTES, value_name = "BYTES")]
    max_page_bytes: u64,
    /// Also write the completeness report (rows, pages, retries by cause, stop reason, learned
    /// cap, shifts, warnings) to this file as JSON.
    #[arg(long, value_name = "PATH")]
    summary_json: Option<PathBuf>,
    /// Allow plain http:// to an address other than this machine (the apptoken travels in clear).
    #[arg(long)]
    allow_insecure_http: bool,
}

#[derive(Args)]
struct EmulateArgs {
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// How many push actions the data set holds.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// The data set's and the faults' random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Silently cap `limit` at this many rows.
    #[arg(long)]
    max_limit: Option<usize>,
    /// Milliseconds added to every reply.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// The share of requests that fail (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Which faults: 500, 502, 503, 429, reset, truncate, envelope, stall, status:CODE.
    #[arg(long, value_delimiter = ',')]
    faults: Vec<String>,
    /// The apptoken the emulator accepts.
    #[arg(long, default_value = "emulator-token")]
    apptoken: String,
}

#[derive(Args)]
struct DemoArgs {
    /// Where to write the failed messages.
    #[arg(short, long, default_value = "xp-export-demo-failed.csv")]
    output: PathBuf,
    /// How many push actions the built-in emulator holds.
    #[arg(long, default_value_t = 400_000)]
    records: usize,
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
    /// Further lines: how to resume, the error's chain at -v.
    notes: Vec<String>,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
            notes: Vec::new(),
        }
    }
}

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
    init_logging(cli.quiet, cli.verbose, progress.clone());
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Export(args) => export(args, &cli, progress.as_ref()).await,
            Command::Emulate(args) => emulate(args, cli.quiet).await,
            Command::Demo(args) => demo(args, &cli, progress.as_ref()).await,
        }
    });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
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

fn init_logging(quiet: bool, verbose: u8, progress: Option<ProgressBar>) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "error",
        (false, 1) => "warn",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let writer = move || LogWriter {
        progress: progress.clone(),
        buf: Vec::new(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Writes log lines to stderr without tearing the progress line.
struct LogWriter {
    progress: Option<ProgressBar>,
    buf: Vec<u8>,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let write = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &buf);
        };
        match &self.progress {
            Some(p) => p.suspend(write),
            None => write(),
        }
    }
}

/// Reads the apptoken from the file named, or the environment; never from argv.
fn apptoken(file: Option<&Path>) -> Result<String, Failure> {
    let token = match file {
        Some(path) if path == Path::new("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                Failure::usage(format!("cannot read the apptoken from standard input: {e}"))
            })?;
            s
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "cannot read the apptoken file {}: {e}",
                path.display()
            ))
        })?,
        None => std::env::var(TOKEN_ENV).unwrap_or_default(),
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        let place = match file {
            Some(p) => format!("the apptoken file {} is empty", p.display()),
            None => format!(
                "no apptoken: set {TOKEN_ENV}, or pass --apptoken-file PATH (a file holding it)"
            ),
        };
        return Err(Failure::usage(place));
    }
    Ok(token)
}

async fn export(
    args: &ExportArgs,
    cli: &Cli,
    progress: Option<&ProgressBar>,
) -> Result<(), Failure> {
    let (target, path_format) = match args.output.as_str() {
        "-" => (Target::Stdout, None),
        path => {
            let (format, _) = Format::from_path(Path::new(path));
            (Target::File(PathBuf::from(path)), format)
        }
    };
    if args.resume && target == Target::Stdout {
        return Err(Failure::usage(
            "--resume needs -o PATH: an export to standard output cannot be resumed (use --offset)",
        ));
    }
    let format = args.format.or(path_format).unwrap_or(Format::Ndjson);
    let mut conditions = Vec::new();
    for text in &args.conditions {
        conditions.push(
            text.parse::<Condition>()
                .map_err(|e| Failure::usage(format!("bad --where: {e}")))?,
        );
    }
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(Failure::usage(
            "--timeout must be a positive number of seconds",
        ));
    }
    let token = apptoken(args.apptoken_file.as_deref())?;
    let client = Client::builder()
        .api_url(&args.api_url)
        .allow_insecure_http(args.allow_insecure_http)
        .apptoken(token)
        .timeout(Duration::from_secs_f64(args.timeout))
        .max_page_bytes(args.max_page_bytes)
        .retry(
            RetryPolicy::default()
                .max_retries(args.max_retries)
                .base_delay(Duration::from_millis(args.retry_base_ms))
                .max_delay(Duration::from_millis(args.retry_max_ms)),
        )
        .build()
        .map_err(|e| Failure::usage(e.to_string()))?;

    let mut query = client
        .list::<RawRow>(&args.model)
        .page_size(args.page_size)
        .concurrency(args.concurrency as usize)
        .retry_budget(args.retry_budget)
        .seam_check(!args.no_seam_check)
        .mode(args.mode)
        .start_offset(args.offset);
    if let Some(rps) = args.max_rps {
        if !(rps.is_finite() && rps > 0.0) {
            return Err(Failure::usage("--max-rps must be a positive number"));
        }
        query = query.max_rps(rps);
    }
    if let Some(key) = args.after {
        if args.mode != Mode::Keyset {
            return Err(Failure::usage(
                "--after goes with --mode keyset (offset mode uses --offset)",
            ));
        }
        query = query.start_after(key);
    }
    if let Some(id) = args.campaign {
        query = query.campaign(id);
    }
    if args.failed {
        query = query.failed();
    }
    for c in conditions {
        query = query.condition(c);
    }
    if let Some(fields) = &args.select {
        query = query.select(fields.iter().map(|f| f.trim().to_string()));
    }
    for o in &args.order {
        query = query.order(o);
    }
    if let Some(n) = args.max_rows {
        query = query.max_rows(n);
    }
    let job = Export::new(query, format, target.clone()).resume(args.resume);
    run_job(job, format, cli, progress, args.summary_json.as_deref())
        .await
        .map(drop)
}

async fn run_job(
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
        Err(e) => Err(failure(e, cli.verbose)),
    };
    if let Some(path) = summary_json {
        let json = match &outcome {
            Ok(report) => summary_json_value(report, format),
            Err(f) => serde_json::json!({
                "complete": false,
                "exit_code": f.code,
                "error": f.message,
                "notes": f.notes,
            }),
        };
        let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(path, text) {
            eprintln!(
                "xp-export: cannot write the summary to {}: {e}",
                path.display()
            );
        }
    }
    outcome
}

/// The completeness report as JSON, for `--summary-json`.
fn summary_json_value(r: &Report, format: Format) -> serde_json::Value {
    let s = &r.summary;
    let retries: serde_json::Map<String, serde_json::Value> = s
        .retries
        .iter()
        .map(|(k, n)| (k.to_string(), (*n).into()))
        .collect();
    let finished = r.already_complete
        || matches!(
            s.end,
            Some(
                EndReason::EmptyPage { .. }
                    | EndReason::ShortPage { .. }
                    | EndReason::LimitReached { .. }
            )
        );
    let warnings = s.warnings();
    serde_json::json!({
        "complete": finished,
        "guaranteed": finished && warnings.is_empty(),
        "output": r.path.as_ref().map(|p| p.display().to_string()),
        "format": format.to_string(),
        "mode": s.mode.to_string(),
        "rows": r.rows,
        "rows_this_run": s.rows,
        "resumed_at": r.resumed_at,
        "pages": s.pages,
        "requests": s.requests,
        "retries": retries,
        "retries_total": s.total_retries(),
        "retry_wait_seconds": s.retry_wait.as_secs_f64(),
        "learned_cap": s.learned_cap,
        "shifts_detected": s.shifts_detected,
        "shifts_repaired": s.shifts_repaired,
        "end": s.end.as_ref().map(|e| e.to_string()),
        "next_offset": s.next_offset,
        "next_key": s.next_key,
        "elapsed_seconds": r.elapsed.as_secs_f64(),
        "warnings": warnings,
        "fields_not_in_csv": r.left_out_fields,
    })
}

fn progress_line(s: &Summary, rows: u64, elapsed: Duration) -> String {
    let rate = s.rows as f64 / elapsed.as_secs_f64().max(1e-3);
    format!(
        "{} rows · {} pages · {} rows/s · {} retries",
        thousands(rows),
        thousands(s.pages),
        thousands(rate as u64),
        s.total_retries()
    )
}

fn summary_text(r: &Report, format: Format) -> String {
    let where_to = match &r.path {
        Some(p) => p.display().to_string(),
        None => "standard output".to_string(),
    };
    if r.already_complete {
        return format!("xp-export: nothing to resume: {where_to} is already complete\n");
    }
    let s = &r.summary;
    let secs = r.elapsed.as_secs_f64();
    let mut out = format!(
        "xp-export: exported {} rows ({format}) to {where_to}\n",
        thousands(r.rows)
    );
    if let Some(at) = r.resumed_at {
        out += &format!(
            "  resumed at offset {at}: {} rows in this run\n",
            thousands(s.rows)
        );
    }
    out += &format!(
        "  pages {} · requests {} · {:.2} s · {} rows/s\n",
        thousands(s.pages),
        thousands(s.requests),
        secs,
        thousands((s.rows as f64 / secs.max(1e-3)) as u64)
    );
    if s.total_retries() > 0 {
        let causes: Vec<String> = s.retries.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out += &format!(
            "  retries: {} ({}), {:.2} s waited\n",
            s.total_retries(),
            causes.join(", "),
            s.retry_wait.as_secs_f64()
        );
    } else {
        out += "  retries: 0\n";
    }
    if let Some(end) = &s.end {
        out += &format!("  stopped on: {end}\n");
    }
    if let Some(cap) = s.learned_cap {
        out += &format!("  the server caps the page size at {cap} rows (learned cap)\n");
    }
    out += &format!(
        "  mode: {}; rows shifted between pages: {} seam(s), {} repaired\n",
        s.mode, s.shifts_detected, s.shifts_repaired
    );
    for w in s.warnings() {
        out += &format!("  warning: {w}\n");
    }
    if !r.left_out_fields.is_empty() {
        out += &format!(
            "  fields not in the CSV columns: {} (add them with --select, or use ndjson)\n",
            r.left_out_fields.join(", ")
        );
    }
    out
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Maps an export's error to its exit code and message.
fn failure(e: ExportError, verbose: u8) -> Failure {
    let mut notes = Vec::new();
    if verbose > 0 {
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            notes.push(format!("caused by: {s}"));
            source = s.source();
        }
    }
    let resume_note = |rows: u64,
                       partial: &Option<PathBuf>,
                       offset: Option<u64>,
                       key: Option<u64>| match (partial, key) {
        (Some(p), _) => format!(
            "{} rows are saved in {}; run the same command with --resume to continue",
            thousands(rows),
            p.display()
        ),
        (None, Some(key)) => format!(
            "{} rows were written; add --after {key} to the same command to continue",
            thousands(rows)
        ),
        (None, None) => format!(
            "{} rows were written; add --offset {} to the same command to continue",
            thousands(rows),
            offset.unwrap_or(rows)
        ),
    };
    match e {
        ExportError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Failure {
                code: 0,
                message: String::new(),
                notes: Vec::new(),
            }
        }
        ExportError::Api {
            source,
            rows,
            next_key,
            partial,
        } => {
            let code = match source.kind() {
                ErrorKind::Refused => 3,
                ErrorKind::Config => 2,
                _ => 1,
            };
            if code != 3 && code != 2 {
                notes.insert(0, resume_note(rows, &partial, source.offset(), next_key));
            }
            Failure {
                code,
                message: source.to_string(),
                notes,
            }
        }
        ExportError::Interrupted {
            next_offset,
            next_key,
            rows,
            ref partial,
        } => {
            notes.insert(0, resume_note(rows, partial, Some(next_offset), next_key));
            Failure {
                code: 130,
                message: e.to_string(),
                notes,
            }
        }
        ExportError::Resume(message) => Failure {
            code: 2,
            message,
            notes,
        },
        other => Failure {
            code: 1,
            message: other.to_string(),
            notes,
        },
    }
}

fn parse_faults(kinds: &[String]) -> Result<Vec<Fault>, Failure> {
    kinds
        .iter()
        .map(|k| {
            k.trim()
                .parse::<Fault>()
                .map_err(|e| Failure::usage(format!("bad --faults: {e}")))
        })
        .collect()
}

async fn emulate(args: &EmulateArgs, quiet: bool) -> Result<(), Failure> {
    if !(0.0..=1.0).contains(&args.fault_rate) {
        return Err(Failure::usage("--fault-rate must be between 0 and 1"));
    }
    let mut config = emulator::Config::default()
        .records(args.records)
        .seed(args.seed)
        .apptoken(args.apptoken.clone())
        .latency(Duration::from_millis(args.latency_ms))
        .fault_rate(args.fault_rate);
    if let Some(m) = args.max_limit {
        config = config.max_limit(m);
    }
    if !args.faults.is_empty() {
        config = config.fault_kinds(parse_faults(&args.faults)?);
    }
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    if !quiet {
        eprintln!(
            "xp-export: emulator with {} push actions listening; Ctrl-C stops it",
            thousands(args.records as u64)
        );
    }
    // The URL and the token on stdout, for scripts.
    println!("XTREMEPUSH_API_URL=http://{local}/api/external");
    println!("XTREMEPUSH_APPTOKEN={}", args.apptoken);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    emulator::run(listener, config, shutdown)
        .await
        .map_err(|e| Failure {
            code: 1,
            message: format!("the emulator stopped: {e}"),
            notes: Vec::new(),
        })
}

async fn demo(args: &DemoArgs, cli: &Cli, progress: Option<&ProgressBar>) -> Result<(), Failure> {
    let config = emulator::Config::default()
        .records(args.records)
        .fault_rate(0.15)
        .fault_kinds([
            Fault::InternalError,
            Fault::BadGatewayHtml,
            Fault::Unavailable(Some(RetryAfter::Seconds(0))),
            Fault::Reset,
            Fault::Truncated,
            Fault::EnvelopeFailure,
        ])
        .max_limit(500);
    let emu = Emulator::start(config).await.map_err(|e| Failure {
        code: 1,
        message: format!("cannot start the built-in emulator: {e}"),
        notes: Vec::new(),
    })?;
    let campaign = emu
        .records()
        .first()
        .map(|r| r.campaign_id)
        .unwrap_or(245624);
    if !cli.quiet {
        eprintln!(
            "xp-export demo: a built-in API with {} push actions, 15% of requests failing \
             (500, 502, 503, resets, cut-off bodies) and a silent cap of 500 rows per page.\n\
             Exporting the failed messages of campaign {campaign} with --page-size 1000 to {} …",
            thousands(emu.records().len() as u64),
            args.output.display()
        );
    }
    let client = Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .retry(RetryPolicy::default().base_delay(Duration::from_millis(20)))
        .build()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let query = client
        .list::<RawRow>(xp_export::model::push_devices::NAME)
        .campaign(campaign)
        .failed()
        .select([
            "action_id",
            "campaign_id",
            "create_time",
            "device_id",
            "error_message",
        ]);
    let format = Format::from_path(&args.output).0.unwrap_or(Format::Csv);
    let job = Export::new(query, format, Target::File(args.output.clone()));
    let report = run_job(job, format, cli, progress, None).await?;
    let faults = emu
        .request_log()
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    // Check the file against the emulator's own data: every failed message of the campaign,
    // newest first, each exactly once.
    let expected: Vec<String> = emu
        .records()
        .iter()
        .rev()
        .filter(|r| r.campaign_id == campaign && r.error == 1)
        .map(|r| r.action_id.to_string())
        .collect();
    let written = written_ids(&args.output, format).map_err(|e| Failure {
        code: 1,
        message: format!("cannot read back {}: {e}", args.output.display()),
        notes: Vec::new(),
    })?;
    if written != expected {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} does not match the emulator's data: {} rows written, {} expected",
                args.output.display(),
                written.len(),
                expected.len()
            ),
            notes: Vec::new(),
        });
    }
    if !cli.quiet {
        eprintln!(
            "Checked against the emulator's data set: all {} failed messages of the campaign are \
             in {}, newest first, each exactly once, through {faults} injected faults.\n\
             Next: `xp-export emulate` serves the same API on 127.0.0.1:8080 for your own exports.",
            thousands(report.rows),
            args.output.display(),
        );
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
    }
}
