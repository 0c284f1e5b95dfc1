//! `xp-export emulate`: the API emulator in the foreground, for trying the CLI or another
//! client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use xp_export::emulator::{self, Fault};

use clap::Args;
use clap::builder::RangedU64ValueParser;

use xp_export::paginate::thousands;

use crate::console::{say, say_out};
use crate::failure::Failure;
use crate::limits::{MAX_LATENCY_MS, MAX_RECORDS};

/// The port `xp-export emulate` listens on unless told otherwise.
pub const DEFAULT_EMULATOR_PORT: u16 = 8080;

/// `--faults`: the fault kinds, each as `Fault` parses it.
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

/// Serves the emulator on 127.0.0.1 until Ctrl-C or SIGTERM; prints its URL, apptoken, client ID
/// and client secret on stdout.
pub async fn run(args: &EmulateArgs, quiet: bool) -> Result<(), Failure> {
    let mut config = emulator::Config::default()
        .records(args.records)
        .seed(args.seed)
        .apptoken(args.apptoken.clone())
        .client_id(emulator::DEFAULT_CLIENT_ID)
        .client_secret(emulator::DEFAULT_CLIENT_SECRET)
        .latency(Duration::from_millis(args.latency_ms))
        .fault_rate(args.fault_rate);
    if let Some(m) = args.max_limit {
        config = config.max_limit(m);
    }
    if !args.faults.is_empty() {
        config = config.fault_kinds(parse_faults(&args.faults)?);
    }
    // Listening before the URL is printed: a script that reads it and stops the emulator at
    // once gets a clean stop.
    let mut signals = crate::signal::Signals::listen();
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
    if !quiet {
        let text = format!(
            "emulator with {} push actions listening; Ctrl-C stops it",
            thousands(args.records as u64)
        );
        if crate::logging::is_json() {
            let mut fields = serde_json::Map::new();
            fields.insert("event".into(), "listening".into());
            fields.insert("records".into(), args.records.into());
            fields.insert("address".into(), local.to_string().into());
            crate::logging::json_line("INFO", "xp_export_cli::emulate", &text, fields);
        } else {
            say!("xp-export: {text}");
        }
    }
    // The URL and the token on stdout, for scripts.
    say_out!("XTREMEPUSH_API_URL=http://{local}/api/external");
    say_out!("XTREMEPUSH_APPTOKEN={}", args.apptoken);
    say_out!("XTREMEPUSH_CLIENT_ID={}", emulator::DEFAULT_CLIENT_ID);
    say_out!(
        "XTREMEPUSH_CLIENT_SECRET={}",
        emulator::DEFAULT_CLIENT_SECRET
    );
    let shutdown = async {
        signals.next().await;
    };
    emulator::run(listener, config, shutdown)
        .await
        .map_err(|e| Failure::failed(format!("the emulator stopped: {e}")))
}

#[derive(Args)]
pub struct EmulateArgs {
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_EMULATOR_PORT)]
    pub port: u16,
    /// How many push actions the data set holds.
    #[arg(long, default_value_t = 100_000, value_parser = records())]
    pub records: usize,
    /// The data set's and the faults' random seed.
    #[arg(long, default_value_t = xp_export::emulator::DEFAULT_SEED)]
    pub seed: u64,
    /// Silently cap `limit` at this many rows (at least 1).
    #[arg(long, value_parser = clap::builder::TypedValueParser::map(crate::limits::at_least_one, |n| usize::try_from(n).unwrap_or(usize::MAX)))]
    pub max_limit: Option<usize>,
    /// Milliseconds added to every reply.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(..=MAX_LATENCY_MS))]
    pub latency_ms: u64,
    /// The share of requests that fail (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = crate::limits::share)]
    pub fault_rate: f64,
    /// Which faults: 500, 502, 503, 429, reset, truncate, envelope, stall, status:CODE.
    #[arg(long, value_delimiter = ',')]
    pub faults: Vec<String>,
    /// The apptoken the emulator accepts.
    #[arg(long, default_value = xp_export::emulator::DEFAULT_APPTOKEN)]
    pub apptoken: String,
}

/// `emulate --records`: up to [`MAX_RECORDS`] (rows are computed on demand).
fn records() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(..=MAX_RECORDS)
}
