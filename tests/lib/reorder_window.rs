//! Request slots and the reorder window kept apart: a page waiting out its backoff holds no
//! slot, so the pages behind it go on being fetched, and those that come back early wait in a
//! window bounded in bytes. Every row still arrives once, in order, and a page that fails for
//! good still ends the stream where it stands.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Dataset, TOKEN, base, emulator, envelope_error, try_ids};
use futures::StreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::paginate::EndReason;
use xp_export::query::Mode;
use xp_export::{Client, ErrorKind, RetryPolicy};

const ROWS: u64 = 3_000;
const PAGE: u64 = 100;
/// The page every scripted server here fails: the third one.
const HEAD: u64 = 200;

/// When the page at [`HEAD`] stops failing.
#[derive(Clone, Copy)]
enum Until {
    /// After this many failures.
    Failures(usize),
    /// Once a page at this offset or past it has been asked for.
    Asked(u64),
    /// Never.
    Never,
}

/// [`Dataset`] served by offset, with the page at [`HEAD`] failing (503) until `until`; logs
/// each request's offset and whether it was served.
struct FailingHead {
    data: Dataset,
    until: Until,
    log: Arc<Mutex<Vec<(u64, bool)>>>,
}

impl Respond for FailingHead {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON body");
        let offset = body["offset"].as_u64().expect("offset");
        let mut log = self.log.lock().unwrap();
        let failures = log
            .iter()
            .filter(|&&(o, served)| o == HEAD && !served)
            .count();
        let fails = offset == HEAD
            && match self.until {
                Until::Failures(n) => failures < n,
                Until::Asked(past) => !log.iter().any(|&(o, _)| o >= past),
                Until::Never => true,
            };
        log.push((offset, !fails));
        if fails {
            ResponseTemplate::new(503).set_body_json(envelope_error(503, "Service Unavailable"))
        } else {
            self.data.respond(req)
        }
    }
}

/// A server of [`ROWS`] rows whose page at [`HEAD`] fails until `until`, and its request log.
async fn failing_head(until: Until) -> (MockServer, Arc<Mutex<Vec<(u64, bool)>>>) {
    let server = common::mock_server().await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let respond = FailingHead {
        data: Dataset::new(ROWS),
        until,
        log: log.clone(),
    };
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .respond_with(respond)
        .mount(&server)
        .await;
    (server, log)
}

fn client(server: &MockServer, retry: RetryPolicy) -> Client {
    Client::builder()
        .api_url(base(server))
        .apptoken(TOKEN)
        .timeout(Duration::from_secs(5))
        .retry(retry)
        .build()
        .unwrap()
}

/// Millisecond waits, seeded, and retries enough for any head this file fails.
fn patient() -> RetryPolicy {
    common::quick_retry().with_max_retries(1_000)
}

/// The size of a page of [`PAGE`] rows as the server sends it: what the window counts, at
/// least.
fn page_bytes() -> u64 {
    let data = Dataset::new(ROWS);
    let rows: Vec<Value> = (0..PAGE).map(|i| data.row(i)).collect();
    serde_json::to_vec(&json!({"code": 200, "success": true, "data": rows}))
        .unwrap()
        .len() as u64
}

/// The highest offset asked for before the page at [`HEAD`] was served.
fn furthest_before_head(log: &[(u64, bool)]) -> u64 {
    let served = log
        .iter()
        .position(|&(o, s)| o == HEAD && s)
        .expect("head served");
    log[..served].iter().map(|&(o, _)| o).max().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_once_and_in_order_with_thirty_percent_faults() {
    let records = 3_000;
    let clean = emulator(records).await;
    let faulty = Emulator::start(
        Config::default()
            .records(records)
            .fault_rate(0.3)
            .fault_kinds([Fault::InternalError, Fault::Reset, Fault::Truncated]),
    )
    .await
    .unwrap();
    let cases = [
        (Mode::Offset, Some(4), None),
        (Mode::Offset, Some(8), None),
        (Mode::Offset, Some(4), Some(1)),
        (Mode::Keyset, None, None),
        (Mode::Keyset, Some(4), None),
        (Mode::Keyset, Some(8), None),
    ];
    for (mode, k, window) in cases {
        let q = |emu| {
            let mut q = common::emulator_client(emu)
                .push_actions()
                .mode(mode)
                .page_size(100);
            if let Some(k) = k {
                q = q.concurrency(k);
            }
            if let Some(bytes) = window {
                q = q.reorder_window(bytes);
            }
            q
        };
        let (reference, _) = try_ids(q(&clean)).await.unwrap();
        assert_eq!(reference.len(), records);
        let (got, s) = try_ids(q(&faulty)).await.unwrap();
        assert!(
            got == reference,
            "{mode}, k = {k:?}, window = {window:?}: {} rows, not every row once in order",
            got.len()
        );
        assert!(s.total_retries() > 0, "{s:?}");
        assert!(s.is_complete(), "{s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_head_does_not_stop_the_pages_behind_it() {
    // The head is served only once a page ten pages past it has been asked for: with the
    // pages behind a waiting page held back, its retries would run out first.
    for k in [2, 4] {
        let past = HEAD + 10 * PAGE;
        let (server, log) = failing_head(Until::Asked(past)).await;
        let query = client(&server, patient())
            .push_actions()
            .seam_check(false)
            .page_size(PAGE)
            .concurrency(k);
        let (ids, s) = try_ids(query).await.expect("the head is served in the end");
        assert!(
            ids == Dataset::new(ROWS).expected_ids(),
            "k = {k}: {} rows, not every row once in order",
            ids.len()
        );
        // No count of retries is asserted: on a loaded machine the head's first request can
        // reach the server after the page ten ahead was asked for, and be served at once. Either
        // way, that page was asked for before the head was served, which is the point.
        assert!(s.peak_in_flight <= k as u64, "k = {k}: {s:?}");
        let log = log.lock().unwrap();
        assert!(furthest_before_head(&log) >= past, "k = {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_bounds_how_far_pages_go_past_a_failing_head() {
    let page = page_bytes();
    let k: u64 = 4;
    // 0 and 1 byte: a page held fills the window; then two pages' worth and five.
    for window in [0, 1, 2 * page, 5 * page] {
        let (server, log) = failing_head(Until::Failures(40)).await;
        let query = client(&server, patient())
            .push_actions()
            .seam_check(false)
            .page_size(PAGE)
            .concurrency(k as usize)
            .reorder_window(window);
        let (ids, _) = try_ids(query).await.expect("the head is served in the end");
        assert!(
            ids == Dataset::new(ROWS).expected_ids(),
            "window {window}: {} rows, not every row once in order",
            ids.len()
        );
        // Pages go out while the window holds less than it may: at most its pages' worth,
        // plus one per slot already on the wire, plus one per slot whose page was on its way
        // back as the window filled.
        let pages_ahead = window.div_ceil(page).max(1) + 2 * k;
        let log = log.lock().unwrap();
        let furthest = furthest_before_head(&log);
        assert!(
            furthest <= HEAD + pages_ahead * PAGE,
            "window {window}: asked for offset {furthest} while the head failed"
        );
        assert!(
            log.iter().filter(|&&(o, _)| o == HEAD).count() > 40,
            "the head was retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_out_of_retries_ends_the_stream_where_it_stands() {
    let (server, _) = failing_head(Until::Never).await;
    let query = client(&server, common::quick_retry().with_max_retries(3))
        .push_actions()
        .seam_check(false)
        .page_size(PAGE)
        .concurrency(4);
    let mut rows = query.stream();
    let mut got = Vec::new();
    let err = loop {
        match rows.next().await.expect("an error ends the stream") {
            Ok(a) => got.push(a.action_id.unwrap()),
            Err(e) => break e,
        }
    };
    let expected = Dataset::new(ROWS).expected_ids();
    assert_eq!(
        got,
        expected[..HEAD as usize],
        "every row before the head, no other"
    );
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.offset(), Some(HEAD));
    assert_eq!(err.attempts(), 4);
    assert_eq!(
        err.to_string(),
        "list/push-devices at offset 200: HTTP 503 Service Unavailable (gave up after 4 attempts)"
    );
    assert!(rows.next().await.is_none());
    let s = rows.summary();
    assert_eq!(
        s.end,
        Some(EndReason::Failed {
            offset: HEAD,
            kind: ErrorKind::Server
        })
    );
    assert_eq!(s.retries.get(&ErrorKind::Server), Some(&3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_retry_budget_ends_the_stream_at_the_head() {
    let (server, _) = failing_head(Until::Never).await;
    let query = client(&server, patient())
        .push_actions()
        .seam_check(false)
        .page_size(PAGE)
        .concurrency(4)
        .retry_budget(5);
    let err = try_ids(query).await.unwrap_err();
    assert_eq!(err.offset(), Some(HEAD));
    assert_eq!(err.attempts(), 6, "five retries from the budget");
    assert!(
        err.detail()
            .contains("the export's retry budget of 5 retries is spent"),
        "{err}"
    );
}
