//! Keyset mode with key ranges walked in parallel (`--mode keyset --concurrency K`): the rows
//! of a sequential keyset walk, in the same order, with at most K requests in flight and a
//! bounded number of pages held however slowly the rows are read.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{emulator, emulator_client, ids};
use futures::{StreamExt, TryStreamExt};
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::query::Mode;
use xp_export::{Event, PushAction, Query};

/// The push actions in keyset mode, one request at a time.
fn keyset(emu: &Emulator, page_size: u64) -> Query<PushAction> {
    emulator_client(emu)
        .push_actions()
        .mode(Mode::Keyset)
        .page_size(page_size)
        .concurrency(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_in_parallel_give_the_rows_of_a_sequential_walk_in_order() {
    let emu = emulator(20_000).await;
    let campaign = emu.records()[0].campaign_id;
    let all: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let after = all[7_777];
    type Shape = Box<dyn Fn(Query<PushAction>) -> Query<PushAction>>;
    let cases: [(&str, Shape); 3] = [
        ("every row", Box::new(|q| q)),
        (
            "one campaign (sparse keys)",
            Box::new(move |q| q.campaign(campaign)),
        ),
        ("after a key", Box::new(move |q| q.start_after(after))),
    ];
    for (case, shape) in cases {
        let (expected, sequential) = ids(shape(keyset(&emu, 100))).await;
        assert!(expected.len() > 100, "{case}: {}", expected.len());
        for k in [2, 4, 8] {
            let pages = Arc::new(Mutex::new(Vec::new()));
            let log = pages.clone();
            let q = shape(keyset(&emu, 100)).concurrency(k).on_event(move |e| {
                if let Event::Page { offset, rows } = e {
                    log.lock().unwrap().push((*offset, *rows));
                }
            });
            let (got, s) = ids(q).await;
            eprintln!(
                "DEBUG {case} k={k} requests {} seq {} pages {}",
                s.requests, sequential.requests, s.pages
            );
            assert_eq!(
                got, expected,
                "{case}, k = {k}: the same rows in the same order"
            );
            assert!(
                (2..=k as u64).contains(&s.peak_in_flight),
                "{case}, k = {k}: ranges walked at once, at most k requests: {s:?}"
            );
            assert!(s.is_complete(), "{case}, k = {k}: {s:?}");
            assert_eq!(s.next_key, sequential.next_key, "{case}, k = {k}");
            assert_eq!(s.rows, expected.len() as u64, "{case}, k = {k}");
            assert_eq!(s.next_offset, sequential.next_offset, "{case}, k = {k}");
            // Pages are told in order, each starting where the one before ended.
            let pages = pages.lock().unwrap().clone();
            assert_eq!(pages.len() as u64, s.pages, "{case}, k = {k}");
            for pair in pages.windows(2) {
                assert_eq!(pair[0].0 + pair[0].1, pair[1].0, "{case}, k = {k}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_run_in_parallel_up_to_the_concurrency() {
    let emu = Emulator::start(
        Config::default()
            .records(5_000)
            .latency(Duration::from_millis(5)),
    )
    .await
    .unwrap();
    let (_, s) = ids(keyset(&emu, 100).concurrency(4)).await;
    assert!(
        (2..=4).contains(&s.peak_in_flight),
        "ranges are walked at once, at most 4 requests in flight: {s:?}"
    );
    // Newest first stays one request at a time, whatever the concurrency.
    let (got, s) = ids(keyset(&emu, 100).order("action_id DESC").concurrency(4)).await;
    let newest_first: Vec<u64> = emu.records().iter().rev().map(|r| r.action_id).collect();
    assert_eq!(got, newest_first);
    assert_eq!(s.peak_in_flight, 1, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_caps_the_page_size_or_fails_loses_no_row() {
    let clean = emulator(6_000).await;
    let expected: Vec<u64> = clean.records().iter().map(|r| r.action_id).collect();
    for k in [2, 4, 8] {
        let capped = Emulator::start(Config::default().records(6_000).max_limit(150))
            .await
            .unwrap();
        let (got, s) = ids(keyset(&capped, 500).concurrency(k)).await;
        assert_eq!(got, expected, "k = {k}: a cap of 150");
        assert_eq!(s.learned_cap, Some(150), "k = {k}");

        let faulty = Emulator::start(
            Config::default()
                .records(6_000)
                .max_limit(150)
                .fault_rate(0.3)
                .fault_kinds([
                    Fault::InternalError,
                    Fault::Reset,
                    Fault::Truncated,
                    Fault::EnvelopeFailure,
                ]),
        )
        .await
        .unwrap();
        let (got, s) = ids(keyset(&faulty, 200).concurrency(k)).await;
        assert_eq!(got, expected, "k = {k}: faults and a cap");
        assert!(s.total_retries() > 0, "k = {k}: {s:?}");
        assert!(s.peak_in_flight <= k as u64, "k = {k}: {s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_added_during_the_walk_neither_duplicate_nor_hide_a_row() {
    for k in [2, 4, 8] {
        let emu = Emulator::start(Config::default().records(5_000).insert_per_request(37))
            .await
            .unwrap();
        let at_start: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
        let (got, s) = ids(keyset(&emu, 200).concurrency(k)).await;
        let at_end: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
        let unique: HashSet<u64> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "k = {k}: no row twice");
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "k = {k}: strictly increasing keys"
        );
        assert_eq!(
            &got[..at_start.len()],
            &at_start[..],
            "k = {k}: every row that existed"
        );
        assert!(
            got.len() > at_start.len(),
            "k = {k}: rows added meanwhile follow"
        );
        assert_eq!(
            &at_end[..got.len()],
            &got[..],
            "k = {k}: a prefix of the rows at the end"
        );
        assert!(s.is_complete(), "k = {k}: {s:?}");
    }
}

/// The server's request count once it has stopped growing.
async fn settled_requests(emu: &Emulator) -> u64 {
    let mut last = emu.requests();
    let mut still = 0;
    while still < 5 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        let now = emu.requests();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_bounds_the_pages_fetched_ahead() {
    let emu = emulator(50_000).await;
    let expected: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let k = 2u64;
    let mut pages = keyset(&emu, 100).concurrency(k as usize).pages();
    let first = pages.next().await.unwrap().unwrap();
    // The reader pauses: the ranges ahead fill their channels, then wait.
    let ahead = settled_requests(&emu).await;
    // The probe, the page read, and per open range (2k of them) its channel and the page it
    // holds while waiting, plus one request that confirms a short page's end.
    let bound = 2 + 2 * k * (3 + 1) + 2 * k;
    assert!(
        ahead <= bound,
        "{ahead} requests while the reader paused (500 pages in all), bound {bound}"
    );
    let mut got: Vec<u64> = first.rows().iter().map(|a| a.action_id.unwrap()).collect();
    while let Some(page) = pages.try_next().await.unwrap() {
        got.extend(page.rows().iter().map(|a| a.action_id.unwrap()));
    }
    assert_eq!(got, expected, "nothing lost to the pause");
}

/// A server of keys `4, 8, .. 4n` that honours `action_id >` and `>=`, the order and `limit`; and
/// `action_id <` unless `ignore_before`; failing with HTTP 500 every request for keys past
/// `fail_past`.
struct Keys {
    n: u64,
    ignore_before: bool,
    fail_past: Option<u64>,
}

impl wiremock::Respond for Keys {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let mut keys: Vec<u64> = (1..=self.n).map(|i| i * 4).collect();
        for c in body["condition"].as_array().into_iter().flatten() {
            let v = c[2].as_u64().unwrap();
            if c[1] == ">" || c[1] == ">=" {
                if self.fail_past.is_some_and(|f| v >= f) {
                    return wiremock::ResponseTemplate::new(500);
                }
                keys.retain(|&k| k > v || (c[1] == ">=" && k == v));
            } else if c[1] == "<" && !self.ignore_before {
                keys.retain(|&k| k < v);
            }
        }
        if body["order"][0] == "action_id DESC" {
            keys.reverse();
        }
        let limit = body["limit"].as_u64().unwrap() as usize;
        let data: Vec<serde_json::Value> = keys
            .iter()
            .take(limit)
            .map(|k| serde_json::json!({"action_id": k}))
            .collect();
        wiremock::ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"code": 200, "success": true, "data": data}))
    }
}

/// Streams 100-row pages from `server` in 4 key ranges at once, to the first error.
async fn until_error(keys: Keys) -> (Vec<u64>, xp_export::Error, xp_export::Summary) {
    let server = common::mock_server().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(keys)
        .mount(&server)
        .await;
    let client = xp_export::Client::builder()
        .api_url(format!("{}/api/external", server.uri()))
        .apptoken(common::TOKEN)
        .retry(common::quick_retry().with_max_retries(0))
        .build()
        .unwrap();
    let mut rows = client
        .push_actions()
        .mode(Mode::Keyset)
        .page_size(100)
        .concurrency(4)
        .stream();
    let mut got = Vec::new();
    loop {
        match rows.try_next().await {
            Ok(Some(a)) => got.push(a.action_id.unwrap()),
            Ok(None) => panic!("the stream ended without an error after {} rows", got.len()),
            Err(e) => return (got, e, rows.summary()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_the_ranges_upper_bound_is_an_error_not_duplicates() {
    let (got, err, s) = until_error(Keys {
        n: 5_000,
        ignore_before: true,
        fail_past: None,
    })
    .await;
    assert_eq!(err.kind(), xp_export::ErrorKind::Stalled, "{err}");
    assert!(err.to_string().contains("did not honour"), "{err}");
    let expected: Vec<u64> = (1..=got.len() as u64).map(|i| i * 4).collect();
    assert_eq!(
        got, expected,
        "the rows before the error: each once, in order"
    );
    assert!(!s.is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_that_fails_names_the_offset_where_the_rows_delivered_end() {
    // Requests for keys past 20,000 (row 5,000 of 10,000) fail: a range well past the first.
    let (got, err, s) = until_error(Keys {
        n: 10_000,
        ignore_before: false,
        fail_past: Some(20_000),
    })
    .await;
    let expected: Vec<u64> = (1..=got.len() as u64).map(|i| i * 4).collect();
    assert_eq!(got, expected, "the rows before the error, in order");
    assert!(
        got.len() >= 5_000,
        "every row up to the failing keys: {}",
        got.len()
    );
    assert_eq!(err.status(), Some(500), "{err}");
    // The error and the summary stand where the rows delivered end: an export restarted
    // there (after the last key) loses nothing.
    assert_eq!(err.offset(), Some(got.len() as u64), "{err}");
    assert_eq!(s.next_key, got.last().copied());
    assert!(
        matches!(s.end, Some(xp_export::paginate::EndReason::Failed { offset, .. }) if offset == got.len() as u64),
        "{s:?}"
    );
}

/// Keys of three shapes, 3,000 rows each: two dense clusters 2^62 apart; one row every 7
/// keys; and one row every 1,000,000 keys with a dense cluster of 1,500 rows at the top.
fn shapes() -> [(&'static str, Vec<u64>); 3] {
    let far = 1u64 << 62;
    [
        (
            "two clusters 2^62 apart",
            (1..=1_500).chain(far..far + 1_500).collect(),
        ),
        ("uniform", (1..=3_000).map(|i| i * 7).collect()),
        (
            "sparse, one dense cluster",
            (1..=1_500)
                .map(|i| i * 1_000_000)
                .chain((1..=1_500).map(|i| 2_000_000_000 + i))
                .collect(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_cost_at_most_about_twice_the_requests_of_a_sequential_walk_on_any_keys() {
    let mut over = Vec::new();
    for (shape, keys) in shapes() {
        let mut counts = Vec::new();
        for k in [1, 4, 16] {
            let server = common::serve_keys(common::SortedKeys {
                keys: keys.clone(),
                swap_last_two: false,
            })
            .await;
            let q = common::client_for(&common::base(&server))
                .push_actions()
                .mode(Mode::Keyset)
                .page_size(100)
                .concurrency(k);
            let (got, s) = ids(q).await;
            assert_eq!(got, keys, "{shape}, k = {k}: every row once, in order");
            assert!(s.is_complete(), "{shape}, k = {k}: {s:?}");
            let sent = server.received_requests().await.unwrap_or_default().len() as u64;
            assert_eq!(sent, s.requests, "{shape}, k = {k}");
            counts.push((k, sent));
        }
        eprintln!("{shape}: requests (k, sent) {counts:?}");
        let sequential = counts[0].1;
        for &(k, sent) in &counts[1..] {
            // Two probes and, per range open at once, at most one request past its rows.
            let bound = 2 * sequential + 2 + 2 * k as u64;
            if sent > bound {
                over.push(format!(
                    "{shape}, k = {k}: {sent} requests, {sequential} sequentially (bound {bound})"
                ));
            }
        }
    }
    assert!(over.is_empty(), "{over:#?}");
}
