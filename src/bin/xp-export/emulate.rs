//! `xp-export emulate`: the API emulator in the foreground, for trying the CLI or another
//! client.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use xp_export::emulator::{self, Fault};

use crate::args::EmulateArgs;
use crate::failure::Failure;
use crate::report::thousands;

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
    let signals = crate::signal::Signals::listen();
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
    println!("XTREMEPUSH_CLIENT_ID={}", emulator::DEFAULT_CLIENT_ID);
    println!(
        "XTREMEPUSH_CLIENT_SECRET={}",
        emulator::DEFAULT_CLIENT_SECRET
    );
    let shutdown = async {
        signals.first().await;
    };
    emulator::run(listener, config, shutdown)
        .await
        .map_err(|e| Failure::failed(format!("the emulator stopped: {e}")))
}
