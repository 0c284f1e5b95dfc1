//! A daily incremental export from code: each run writes the rows added since the last complete
//! run to a file of its own, and only then records where it got to, so a run that fails or is
//! killed is simply repeated by the next. The state file holds the query (never the apptoken),
//! the newest `action_id` and its `create_time`.
//!
//! `cargo run --example daily` — two runs against the in-process emulator, rows added between.

use std::path::Path;

use xp_export::Client;
use xp_export::emulator::{Config, Emulator};
use xp_export::export::{Finished, Format, Incremental, Target};

/// One day's run: the new push actions into `out`, then the state.
async fn run_once(
    client: &Client,
    state: &Path,
    out: &Path,
) -> Result<Vec<u64>, Box<dyn std::error::Error>> {
    let query = client.push_actions().page_size(500);
    let run = Incremental::open(state, &query)?;
    match run.previous() {
        Some(last) => println!("  continuing after action_id {}", last.action_id),
        None => println!("  first run: everything"),
    }
    let report = run
        .export(run.query().await?, Format::Ndjson, Target::File(out.into()))
        .run(std::future::pending(), |_, _| {})
        .await?;
    // Only now, with the output complete, does the state move.
    if let Finished::Saved(Some(newest)) = run.finish(&report).await? {
        println!(
            "  {} new rows; the state now ends at action_id {}",
            report.rows_new.unwrap_or_default(),
            newest.action_id
        );
    }
    let text = std::fs::read_to_string(out)?;
    let ids = text
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).map(|v| v["action_id"].as_u64())
        })
        .collect::<Result<Option<Vec<u64>>, _>>()?
        .ok_or("a row without an action_id")?;
    Ok(ids)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emulator = Emulator::start(Config::default().records(2_000)).await?;
    let client = Client::builder()
        .api_url(emulator.base_url())
        .apptoken(emulator.apptoken())
        .build()?;
    let dir = std::env::temp_dir().join(format!("xp-export-daily-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let state = dir.join("push-actions.state.json");

    println!("day 1:");
    let day1 = run_once(&client, &state, &dir.join("day-1.ndjson")).await?;
    emulator.insert(345); // the rows the next day brings
    println!("day 2:");
    let day2 = run_once(&client, &state, &dir.join("day-2.ndjson")).await?;
    let leaked = std::fs::read_to_string(&state)?.contains(emulator.apptoken());
    std::fs::remove_dir_all(&dir)?;

    let records = emulator.records();
    let all: Vec<u64> = records.iter().map(|r| r.action_id).collect();
    if day1 != all[..2_000] {
        return Err("day 1 is not the whole data set, in key order".into());
    }
    if day2 != all[2_000..] {
        return Err(format!(
            "day 2 has {} rows, not exactly the 345 new ones",
            day2.len()
        )
        .into());
    }
    if leaked {
        return Err("the state holds the apptoken".into());
    }
    println!(
        "day 1: {} rows; day 2: exactly the {} new ones",
        day1.len(),
        day2.len()
    );
    Ok(())
}

/// Runs the example under `cargo test`, so it cannot fall behind the library.
#[cfg(test)]
#[test]
fn runs() {
    main().unwrap();
}
