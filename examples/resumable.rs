//! An export that can be stopped and started again without losing or repeating a row: the
//! library's [`Export`] writes the file through a partial file and a sealed checkpoint, and a
//! resumed run cuts the partial file back to the last checkpoint and continues from there. It
//! shows a progress line from the stream's events. Written only with what the rustdoc shows.
//!
//! `cargo run --example resumable` — it stops itself after about 4,000 rows once, then resumes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::export::{Export, ExportErrorKind, Format, Report, Target, partial_path};
use xp_export::{Client, Event};

/// Exports every push action to `out`, resuming what an earlier run left; stops on its own
/// once `stop_after` rows are in the file, if given.
async fn run(
    client: &Client,
    out: &Path,
    stop_after: Option<u64>,
) -> Result<Option<Report>, Box<dyn std::error::Error>> {
    let retries = Arc::new(AtomicU64::new(0));
    let seen = retries.clone();
    let query = client.push_actions().page_size(1000).on_event(move |e| {
        if let Event::Retry {
            offset, kind, wait, ..
        } = e
        {
            seen.fetch_add(1, Ordering::Relaxed);
            eprintln!("  retrying offset {offset} after {kind}, in {wait:?}");
        }
    });
    let stop = Notify::new();
    let job = Export::new(query, Format::Ndjson, Target::File(out.into()))
        .resume(true)
        .run(stop.notified(), |summary, rows| {
            eprintln!(
                "  {rows} rows in the file, {} requests, {} retries",
                summary.requests,
                retries.load(Ordering::Relaxed)
            );
            if stop_after.is_some_and(|n| rows >= n) {
                stop.notify_one(); // as Ctrl-C would: the checkpoint is saved first
            }
        });
    match job.await {
        Ok(report) => Ok(Some(report)),
        Err(e) if e.kind() == ExportErrorKind::Interrupted => {
            println!(
                "stopped with {} rows saved in {}",
                e.rows().unwrap_or_default(),
                e.partial().unwrap_or(out).display()
            );
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start(Config::default().records(12_345)).await?;
    emulator.inject([Fault::Unavailable(None), Fault::Reset]);
    let client = Client::builder()
        .api_url(emulator.base_url())
        .apptoken(emulator.apptoken())
        .build()?;
    let dir = std::env::temp_dir().join(format!("xp-export-resumable-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("push-actions.ndjson");

    println!("first run, stopped after about 4,000 rows:");
    if run(&client, &out, Some(4_000)).await?.is_some() {
        return Err("the first run was meant to stop half-way".into());
    }
    if out.exists() || !partial_path(&out).exists() {
        return Err("a stopped export leaves its partial file, not the output".into());
    }
    println!("second run, from the checkpoint:");
    let report = run(&client, &out, None)
        .await?
        .ok_or("the second run stopped")?;
    let text = std::fs::read_to_string(&out)?;
    std::fs::remove_dir_all(&dir)?;
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["action_id"].as_u64())
        .collect();
    let mut expected: Vec<u64> = emulator.records().iter().map(|r| r.action_id).collect();
    expected.reverse(); // newest first, as the API pages
    println!(
        "resumed at offset {:?}: {} rows in this run, {} in the file",
        report.resumed_at, report.summary.rows, report.rows_in_output
    );
    if ids != expected {
        return Err("the two runs together are not the data set, row for row".into());
    }
    println!("every row exactly once, in order");
    Ok(())
}

/// Runs the example under `cargo test`, so it cannot fall behind the library.
#[cfg(test)]
#[test]
fn runs() {
    main().unwrap();
}
