//! A consumer that can be stopped and started again without losing or repeating a row: it
//! checkpoints from the rows it has handled (the summary counts rows handed out, so it is safe
//! between any two rows), shows a progress line from the stream's events, and on start
//! continues from its checkpoint. Written only with what the rustdoc shows.
//!
//! `cargo run --example resumable` — it stops itself half-way once, then resumes.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::TryStreamExt;
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::{Client, Event, PushAction};

/// Where a run got to: the offset after the last row handled and that row's key.
#[derive(serde::Serialize, serde::Deserialize, Default, Debug)]
struct Checkpoint {
    next_offset: u64,
    next_key: Option<u64>,
    handled: u64,
}

fn load(path: &Path) -> Checkpoint {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save(path: &Path, cp: &Checkpoint) -> std::io::Result<()> {
    // Write beside it, then rename: a crash leaves the old checkpoint or the new one.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(cp)?)?;
    std::fs::rename(tmp, path)
}

/// Handles rows from the checkpoint on; stops after `stop_after` rows if given.
async fn run(
    client: &Client,
    path: &Path,
    stop_after: Option<u64>,
    out: &mut Vec<u64>,
) -> Result<u64, Box<dyn std::error::Error>> {
    let mut cp = load(path);
    let retries = Arc::new(AtomicU64::new(0));
    let seen = retries.clone();
    let mut query = client
        .push_actions()
        .page_size(1000)
        .start_offset(cp.next_offset)
        .on_event(move |e| {
            if let Event::Retry {
                offset, kind, wait, ..
            } = e
            {
                seen.fetch_add(1, Ordering::Relaxed);
                eprintln!("  retrying offset {offset} after {kind}, in {wait:?}");
            }
        });
    if let Some(key) = cp.next_key {
        query = query.start_after(key);
    }
    let mut rows = query.stream();
    let progress = rows.progress();
    let before = cp.handled;
    let mut handled = 0u64;
    while let Some(action) = rows.try_next().await? {
        let action: PushAction = action;
        out.extend(action.action_id); // handle the row: here, keep its key
        handled += 1;
        let stop = Some(handled) == stop_after;
        if handled.is_multiple_of(2_500) || stop {
            let s = progress.summary();
            cp = Checkpoint {
                next_offset: s.next_offset,
                next_key: s.next_key,
                handled: before + handled,
            };
            save(path, &cp)?;
            eprintln!(
                "  {} rows handled, next offset {}, {} requests, {} retries",
                cp.handled,
                s.next_offset,
                s.requests,
                retries.load(Ordering::Relaxed)
            );
            if stop {
                return Ok(cp.handled);
            }
        }
    }
    let s = progress.summary();
    cp = Checkpoint {
        next_offset: s.next_offset,
        next_key: s.next_key,
        handled: before + handled,
    };
    save(path, &cp)?;
    Ok(cp.handled)
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
    let path = dir.join("checkpoint.json");

    println!("first run, stopped after 4,321 rows:");
    let mut ids = Vec::new();
    let first = run(&client, &path, Some(4_321), &mut ids).await?;
    println!("second run, from the checkpoint:");
    let total = run(&client, &path, None, &mut ids).await?;
    std::fs::remove_dir_all(&dir)?;
    let mut expected: Vec<u64> = emulator.records().iter().map(|r| r.action_id).collect();
    expected.reverse(); // newest first, as the API pages
    println!("handled {first} rows, then the rest: {total} in all");
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
