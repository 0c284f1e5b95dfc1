//! Every push action, typed: streams `client.push_actions()` as `PushAction`s with the default
//! concurrency, counts them and prints the count. `benches/perf.py` times it against
//! `xp-export export` to a file over the same rows, the cost of typed rows over raw ones.
//!
//! `XTREMEPUSH_API_URL=... XTREMEPUSH_APPTOKEN=... cargo run --release --example typed_rows`
//! (`xp-export emulate` prints both); `cargo test` runs it against the in-process emulator.

use futures::TryStreamExt;
use xp_export::{Client, PushAction};

/// Counts the rows of every push action at `api_url`, each decoded into a [`PushAction`].
async fn count_rows(api_url: &str, apptoken: &str) -> Result<u64, xp_export::Error> {
    let client = Client::builder()
        .api_url(api_url)
        .apptoken(apptoken)
        .build()?;
    client
        .push_actions()
        .stream()
        .try_fold(0u64, |n, row: PushAction| {
            // Keep the decoded row alive to the end of its count, as a consumer would.
            std::hint::black_box(&row);
            async move { Ok(n + 1) }
        })
        .await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let rows = count_rows(&var("XTREMEPUSH_API_URL")?, &var("XTREMEPUSH_APPTOKEN")?).await?;
    println!("{rows}");
    Ok(())
}

/// Counts a data set whose size is known, a few pages and a short last one.
#[cfg(all(test, feature = "emulator"))]
#[tokio::test]
async fn counts_every_row() {
    use xp_export::emulator::{Config, Emulator};
    let emulator = Emulator::start(Config::default().records(2_500))
        .await
        .unwrap();
    let rows = count_rows(&emulator.base_url(), emulator.apptoken())
        .await
        .unwrap();
    assert_eq!(rows, 2_500);
}
