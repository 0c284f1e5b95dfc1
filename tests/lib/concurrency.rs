//! Pages in flight: every paging rule holds at any concurrency — the same rows in the same
//! order, nothing after a short page, a bounded number of requests past the end, and at most K
//! pages held at once.

use crate::common;

use std::time::Duration;

use common::{emulator, quick_retry};
use futures::StreamExt;
use serde_json::json;
use wiremock::{Mock, Request, ResponseTemplate};
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::paginate::EndReason;
use xp_export::{Client, ErrorKind, Summary};

const KS: [usize; 4] = [2, 4, 8, 16];

fn client(emu: &Emulator) -> Client {
    common::emulator_client(emu)
}

async fn ids(client: &Client, page_size: u64, k: usize) -> (Vec<u64>, Summary) {
    common::ids(client.push_actions().page_size(page_size).concurrency(k)).await
}

#[tokio::test]
async fn same_rows_in_the_same_order_at_every_concurrency() {
    // Exact multiples, a short last page, a first page that is short, and an empty result.
    for (records, page_size) in [(2_000, 250), (2_345, 250), (90, 250), (0, 250)] {
        let emu = emulator(records).await;
        let (sequential, s1) = ids(&client(&emu), page_size, 1).await;
        assert_eq!(sequential.len(), records);
        let sequential_requests = emu.requests();
        for k in KS {
            let before = emu.requests();
            let (rows, s) = ids(&client(&emu), page_size, k).await;
            assert_eq!(rows, sequential, "{records} rows, k = {k}");
            assert_eq!(s.end, s1.end, "{records} rows, k = {k}");
            let sent = emu.requests() - before;
            let overshoot = sent.saturating_sub(sequential_requests);
            assert!(
                overshoot < k as u64,
                "{records} rows, k = {k}: {sent} requests, at most {} allowed",
                sequential_requests + k as u64 - 1
            );
            assert!(s.peak_in_flight <= k as u64, "k = {k}: {s:?}");
        }
    }
}

#[tokio::test]
async fn prefetch_fills_the_window_and_never_exceeds_it() {
    let emu = emulator(20_000).await;
    for k in KS {
        let (rows, s) = ids(&client(&emu), 100, k).await;
        assert_eq!(rows.len(), 20_000);
        assert_eq!(
            s.peak_in_flight, k as u64,
            "k = {k}: the window fills, and no more"
        );
    }
}

#[tokio::test]
async fn prefetch_waits_for_a_full_page_and_follows_a_cap() {
    let emu = Emulator::start(Config::default().records(5_000).max_limit(300))
        .await
        .unwrap();
    let (sequential, _) = ids(&client(&emu), 1000, 1).await;
    let first = emu.requests() as usize;
    let (rows, s) = ids(&client(&emu), 1000, 8).await;
    assert_eq!(rows, sequential);
    assert_eq!(s.learned_cap, Some(300));
    let log = emu.request_log();
    let run: Vec<(Option<u64>, Option<u64>)> =
        log[first..].iter().map(|r| (r.offset, r.limit)).collect();
    // The short first page and the request that confirms the cap go one at a time (the
    // confirming one starts a row early: the seam check).
    assert_eq!(run[0], (Some(0), Some(1000)));
    assert_eq!(run[1], (Some(299), Some(1000)));
    assert!(
        run[2..].iter().all(|&(_, limit)| limit == Some(300)),
        "{run:?}"
    );
}

#[tokio::test]
async fn each_fault_kind_leaves_the_output_unchanged() {
    let clean = emulator(3_000).await;
    let (reference, _) = ids(&client(&clean), 200, 1).await;
    let kinds = [
        Fault::InternalError,
        Fault::BadGatewayHtml,
        Fault::Unavailable(None),
        Fault::Reset,
        Fault::Truncated,
        Fault::EnvelopeFailure,
        Fault::Stall(Duration::from_secs(3)),
    ];
    for kind in kinds {
        let emu = Emulator::start(
            Config::default()
                .records(3_000)
                .fault_rate(0.3)
                .fault_kinds([kind.clone()]),
        )
        .await
        .unwrap();
        let (rows, s) = ids(&client(&emu), 200, 8).await;
        assert_eq!(rows, reference, "{kind:?}");
        assert!(s.total_retries() > 0, "{kind:?}: faults were injected");
    }
}

/// Serves `n` rows, but the page at `bad_offset` always fails with a 503.
fn failing_at(n: u64, bad_offset: u64) -> impl Fn(&Request) -> ResponseTemplate {
    move |req: &Request| {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let offset = body["offset"].as_u64().unwrap();
        let limit = body["limit"].as_u64().unwrap();
        if offset == bad_offset {
            return ResponseTemplate::new(503)
                .set_body_json(json!({"code": 503, "success": false, "message": "Unavailable"}));
        }
        let end = (offset + limit).min(n);
        let data: Vec<_> = (offset.min(end)..end)
            .map(|i| json!({"action_id": n - i}))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": data}))
    }
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_after_every_row_before_it() {
    for k in [1, 4, 16] {
        let server = common::mock_server().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(failing_at(5_000, 1_500))
            .mount(&server)
            .await;
        let client = Client::builder()
            .api_url(format!("{}/api/external", server.uri()))
            .apptoken("t")
            .retry(quick_retry().with_max_retries(2))
            .build()
            .unwrap();
        let mut rows = client
            .push_actions()
            .page_size(100)
            .concurrency(k)
            .seam_check(false)
            .stream();
        let mut got = Vec::new();
        let err = loop {
            match rows.next().await {
                Some(Ok(a)) => got.push(a.action_id.unwrap()),
                Some(Err(e)) => break e,
                None => panic!("k = {k}: the stream must end with the error"),
            }
        };
        assert_eq!(got, (3_501..=5_000).rev().collect::<Vec<u64>>(), "k = {k}");
        assert_eq!(err.kind(), ErrorKind::Server);
        assert_eq!(err.offset(), Some(1_500));
        assert_eq!(err.attempts(), 3);
        assert!(rows.next().await.is_none());
        assert_eq!(
            rows.summary().end,
            Some(EndReason::Failed {
                offset: 1_500,
                kind: ErrorKind::Server
            })
        );
    }
}

#[tokio::test]
async fn nothing_is_sent_before_the_first_poll_even_with_prefetch() {
    let emu = emulator(1_000).await;
    let client = client(&emu);
    let mut rows = client.push_actions().page_size(100).concurrency(8).stream();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(emu.requests(), 0);
    rows.next().await.unwrap().unwrap();
    assert_eq!(
        emu.requests(),
        1,
        "the first page alone confirms the page size"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_slower_than_the_api_sends_no_more_requests_past_the_end() {
    // Pages come back while the consumer is busy with the one before (here 5 ms a page, a
    // program writing each page, or Python building dicts): the short last page among them
    // must stop new pages before the slots are refilled, whatever the consumer's pace.
    let emu = emulator(5_000).await;
    for k in [2, 4, 8] {
        let before = emu.requests();
        let mut pages = client(&emu)
            .push_actions()
            .page_size(500)
            .concurrency(k)
            .raw_pages();
        let mut rows = 0;
        while let Some(page) = pages.next().await {
            rows += page.unwrap().rows().len();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(rows, 5_000);
        let sent = emu.requests() - before;
        // 11 pages (the seam's one-row overlap makes the 11th), and at most k - 1 past them.
        assert!(
            sent < 11 + k as u64,
            "k = {k}: {sent} requests for 11 pages, at most {} allowed",
            10 + k
        );
    }
}
