//! The README's library example, run against the in-process emulator instead of the real API:
//! the failed messages of one campaign, newest first, with `try_for_each`.
//!
//! `cargo run --example failed_messages`; `cargo test` runs it too (see the end of the file).

use futures::TryStreamExt;
use xp_export::emulator::{Config, Emulator};
use xp_export::{Client, Condition, Op};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let campaign = 245624;
    let config = Config::default()
        .records(50_000)
        .campaigns([campaign, 245625])
        .fault_rate(0.1);
    let emulator = Emulator::start(config).await?;

    let client = Client::builder()
        .api_url(emulator.base_url())
        .apptoken(emulator.apptoken())
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut rows = client
        .push_actions()
        .campaign(campaign)
        .failed()
        .condition(Condition::new("create_time", Op::Gt, 1480000000))
        .select([
            "campaign_id",
            "action_id",
            "create_time",
            "device_id",
            "error_message",
        ])
        .order("action_id DESC")
        .page_size(500)
        .stream();
    let mut shown = 0;
    (&mut rows)
        .try_for_each(|a| {
            shown += 1;
            if shown <= 5 {
                println!("{:?} {:?}", a.action_id, a.error_message);
            }
            async { Ok(()) }
        })
        .await?;
    let summary = rows.summary();
    println!(
        "{} failed messages in {} requests ({} retried), ended on: {}",
        summary.rows,
        summary.requests,
        summary.total_retries(),
        summary.end.map(|e| e.to_string()).unwrap_or_default()
    );
    Ok(())
}

/// Runs the example under `cargo test`, so it cannot fall behind the library.
#[cfg(test)]
#[test]
fn runs() {
    main().unwrap();
}
