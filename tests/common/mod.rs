//! Helpers shared by the integration tests: a scripted API on wiremock and quick clients.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xp_export::{Client, RetryPolicy};

/// The apptoken every test uses: distinctive, so a leak is easy to find.
pub const TOKEN: &str = "tok-SECRET-4c1d-should-never-show";

pub const PATH: &str = "/api/external/list/push-devices";

/// A retry policy with millisecond waits, seeded so the waits repeat.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy::default()
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(20))
        .jitter_seed(42)
}

/// A client for the in-process emulator: short timeout (a stall is a quick retry), many
/// retries, millisecond waits.
pub fn emulator_client(emu: &xp_export::emulator::Emulator) -> Client {
    Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .timeout(Duration::from_millis(500))
        .retry(quick_retry().max_retries(20))
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
    let server = MockServer::start().await;
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
