//! Helpers shared by the integration tests of the library and of the command line: a scripted
//! API on wiremock, quick clients, the emulator, sequential queries, collecting `action_id`s,
//! capturing logs. The command line's own helpers (running the binary) are in
//! `cli/tests/common/mod.rs`, which re-exports these.
#![allow(dead_code)]

use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xp_export::emulator::{Config, Emulator};
use xp_export::{Client, PushAction, Query, RetryPolicy, Rows, Summary};

/// The apptoken every test uses: distinctive, so a leak is easy to find.
pub const TOKEN: &str = "tok-SECRET-4c1d-should-never-show";

pub const PATH: &str = "/api/external/list/push-devices";

/// A retry policy with millisecond waits, seeded so the waits repeat.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy::default()
        .with_base_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(20))
        .with_jitter_seed(42)
}

/// A client for the in-process emulator: short timeout (a stall is a quick retry), many
/// retries, millisecond waits.
pub fn emulator_client(emu: &xp_export::emulator::Emulator) -> Client {
    Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .timeout(Duration::from_millis(500))
        .retry(quick_retry().with_max_retries(20))
        .build()
        .expect("client")
}

pub fn client_for(base: &str) -> Client {
    Client::builder()
        .api_url(base)
        .apptoken(TOKEN)
        .timeout(Duration::from_secs(5))
        .retry(quick_retry())
        .build()
        .expect("client")
}

/// A scripted server of this test's own. Not one from wiremock's pool (`MockServer::start`):
/// a pooled server passes to the next test while the last test's requests, sent before its
/// stream was dropped, are still arriving, and that test would count them as its own.
pub async fn mock_server() -> MockServer {
    MockServer::builder().start().await
}

/// A data set of `n` rows served by offset/limit, newest first, optionally capping `limit`.
pub struct Dataset {
    pub n: u64,
    pub cap: Option<u64>,
    /// Serve every request as if it asked for offset 0 (a server that ignores `offset`).
    pub ignore_offset: bool,
}

impl Dataset {
    pub fn new(n: u64) -> Self {
        Dataset {
            n,
            cap: None,
            ignore_offset: false,
        }
    }

    pub fn capped(n: u64, cap: u64) -> Self {
        Dataset {
            cap: Some(cap),
            ..Dataset::new(n)
        }
    }

    /// Row `i` in serving order: `action_id` counts down so order mistakes show.
    pub fn row(&self, i: u64) -> Value {
        json!({
            "action_id": 10_000_000 - i,
            "campaign_id": 245624,
            "create_time": 1_480_000_000 + (self.n - i),
            "device_id": 7_000_000 + i % 97,
            "error": i.is_multiple_of(10) as u8,
            "error_message": if i.is_multiple_of(10) { json!("Not personalized") } else { Value::Null },
            "platform": "android"
        })
    }

    pub fn expected_ids(&self) -> Vec<u64> {
        (0..self.n).map(|i| 10_000_000 - i).collect()
    }
}

impl Respond for Dataset {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON body");
        assert_eq!(body["apptoken"], TOKEN, "every request carries the token");
        let offset = if self.ignore_offset {
            0
        } else {
            body["offset"].as_u64().expect("offset")
        };
        let mut limit = body["limit"].as_u64().expect("limit");
        if let Some(cap) = self.cap {
            limit = limit.min(cap);
        }
        let end = (offset + limit).min(self.n);
        let data: Vec<Value> = (offset.min(end)..end).map(|i| self.row(i)).collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": data}))
    }
}

/// A server that answers every list request from `data`.
pub async fn serve(data: Dataset) -> MockServer {
    let server = mock_server().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(data)
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

/// The next `times` requests get `response` instead of a page.
pub async fn fail_next(server: &MockServer, times: u64, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(response)
        .up_to_n_times(times)
        .with_priority(1)
        .mount(server)
        .await;
}

pub fn base(server: &MockServer) -> String {
    format!("{}/api/external", server.uri())
}

/// `(offset, limit)` of every request the server received, in order.
pub async fn requests(server: &MockServer) -> Vec<(u64, u64)> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let b: Value = serde_json::from_slice(&r.body).unwrap();
            (b["offset"].as_u64().unwrap(), b["limit"].as_u64().unwrap())
        })
        .collect()
}

pub fn envelope_error(code: u16, message: &str) -> Value {
    json!({"code": code, "success": false, "message": message, "errors": []})
}

/// An emulator of `records` rows answering each request after 15 ms: slow enough to stop an
/// export mid-way.
pub async fn slow_emulator(records: usize) -> Emulator {
    Emulator::start(
        Config::default()
            .records(records)
            .latency(Duration::from_millis(15)),
    )
    .await
    .unwrap()
}

/// An in-process emulator holding `records` push actions, no faults.
pub async fn emulator(records: usize) -> Emulator {
    Emulator::start(Config::default().records(records))
        .await
        .unwrap()
}

/// The push actions one request at a time and without the seam check's one-row overlap, so
/// the requests are exactly the `(offset, limit)` pairs the paging rules speak of.
pub fn sequential(client: &Client) -> Query<PushAction> {
    client.push_actions().concurrency(1).seam_check(false)
}

/// Every `action_id` of a [`sequential`] export with `page_size`; the first error ends it.
pub async fn sequential_ids(client: &Client, page_size: u64) -> Result<Vec<u64>, xp_export::Error> {
    sequential(client)
        .page_size(page_size)
        .stream()
        .map_ok(|a: PushAction| a.action_id.unwrap())
        .try_collect()
        .await
}

/// The `action_id` of every row left in `rows`, in order; an error fails the test.
pub async fn collect_ids(rows: &mut Rows<PushAction>) -> Vec<u64> {
    let mut ids = Vec::new();
    while let Some(a) = rows.try_next().await.expect("no error") {
        ids.push(a.action_id.expect("action_id"));
    }
    ids
}

/// Streams `query` to its end: every row's `action_id` in order, and the summary; the first
/// error ends it.
pub async fn try_ids(query: Query<PushAction>) -> Result<(Vec<u64>, Summary), xp_export::Error> {
    let mut rows = query.stream();
    let mut out = Vec::new();
    while let Some(a) = rows.try_next().await? {
        out.push(a.action_id.unwrap());
    }
    Ok((out, rows.summary()))
}

/// [`try_ids`] for an export that must succeed.
pub async fn ids(query: Query<PushAction>) -> (Vec<u64>, Summary) {
    try_ids(query).await.expect("export succeeds")
}

/// The `action_id` of every line of NDJSON output.
pub fn ndjson_ids(bytes: &[u8]) -> Vec<u64> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action_id"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// A log writer for a `tracing` subscriber that keeps every byte written, to read back.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// A subscriber that writes every event, TRACE included, into this writer.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A server of the rows with `keys` (in any order; equal keys allowed) that honours `action_id`
/// conditions (`>`, `>=`, `<`, `<=`), `order` on `action_id` (ascending unless `DESC`),
/// `offset` and `limit`: the rows sorted on the key, then the page cut. With `swap_last_two`,
/// it sends each page of two rows or more with its last two rows swapped: a server that does
/// not honour `order` within a page.
pub struct SortedKeys {
    pub keys: Vec<u64>,
    pub swap_last_two: bool,
}

impl SortedKeys {
    /// Every request's `action_id` conditions as `(operator, value)`, in order.
    pub fn conditions(body: &Value) -> Vec<(String, u64)> {
        body["condition"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c[0] == "action_id")
            .map(|c| (c[1].as_str().unwrap().to_string(), c[2].as_u64().unwrap()))
            .collect()
    }
}

impl Respond for SortedKeys {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).expect("JSON body");
        // Each row tells itself apart by `device_id`, its place in the sorted rows.
        let mut keys: Vec<(u64, usize)> = self.keys.iter().map(|&k| (k, 0)).collect();
        keys.sort_unstable();
        for (i, k) in keys.iter_mut().enumerate() {
            k.1 = i;
        }
        for (op, v) in Self::conditions(&body) {
            keys.retain(|&(k, _)| match op.as_str() {
                ">" => k > v,
                ">=" => k >= v,
                "<" => k < v,
                "<=" => k <= v,
                "=" => k == v,
                other => panic!("operator {other}"),
            });
        }
        if body["order"][0]
            .as_str()
            .is_some_and(|o| o.ends_with("DESC"))
        {
            keys.reverse();
        }
        let offset = body["offset"].as_u64().unwrap_or(0) as usize;
        let limit = body["limit"].as_u64().expect("limit") as usize;
        let mut page: Vec<(u64, usize)> = keys.iter().skip(offset).take(limit).copied().collect();
        if self.swap_last_two && page.len() >= 2 {
            let n = page.len();
            page.swap(n - 1, n - 2);
        }
        let data: Vec<Value> = page
            .iter()
            .map(|(k, i)| json!({"action_id": k, "device_id": i, "platform": "android"}))
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": data}))
    }
}

/// A scripted server answering every list request from `keys`.
pub async fn serve_keys(keys: SortedKeys) -> MockServer {
    let server = mock_server().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(keys)
        .mount(&server)
        .await;
    server
}
