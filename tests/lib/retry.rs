//! Per-page retry: what is retried, what fails at once, how long the waits are, and what the
//! error says when retries run out.

use crate::common;

use std::time::{Duration, Instant, SystemTime};

use common::*;
use futures::{StreamExt, TryStreamExt};
use wiremock::ResponseTemplate;
use xp_export::paginate::EndReason;
use xp_export::{Client, ErrorKind, RetryPolicy};

#[tokio::test]
async fn transient_statuses_are_retried_and_every_row_arrives_once() {
    let transient = [
        ResponseTemplate::new(500).set_body_json(envelope_error(500, "Internal error")),
        ResponseTemplate::new(502)
            .insert_header("content-type", "text/html")
            .set_body_string("<html><body><h1>502 Bad Gateway</h1></body></html>"),
        ResponseTemplate::new(503).set_body_json(envelope_error(503, "Unavailable")),
        ResponseTemplate::new(504).set_body_string(""),
        ResponseTemplate::new(429).set_body_json(envelope_error(429, "Rate limit exhausted")),
        // Failures inside HTTP 200: the envelope decides.
        ResponseTemplate::new(200).set_body_json(envelope_error(500, "Temporary failure")),
        ResponseTemplate::new(200).set_body_json(envelope_error(429, "Slow down")),
        // Not the envelope at all: an HTML page or cut-off JSON with a 200.
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/html")
            .set_body_string("<html>maintenance</html>"),
        ResponseTemplate::new(200).set_body_string(r#"{"code":200,"success":true,"data":[{"act"#),
    ];
    for response in transient {
        let data = Dataset::new(250);
        let expected = data.expected_ids();
        let server = serve(data).await;
        fail_next(&server, 2, response.clone()).await;
        let client = client_for(&base(&server));
        let mut rows = sequential(&client).page_size(100).stream();
        let mut got = Vec::new();
        while let Some(a) = rows.try_next().await.expect("retried to success") {
            got.push(a.action_id.unwrap());
        }
        assert_eq!(got, expected);
        let s = rows.summary();
        assert_eq!(s.total_retries(), 2);
        assert_eq!(s.requests, 3 + 2, "3 pages + 2 retries");
        assert_eq!(requests(&server).await[..3], [(0, 100), (0, 100), (0, 100)]);
    }
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let data = Dataset::new(30);
    let expected = data.expected_ids();
    let server = serve(data).await;
    fail_next(
        &server,
        1,
        ResponseTemplate::new(200)
            .set_delay(Duration::from_secs(3))
            .set_body_json(envelope_error(500, "late")),
    )
    .await;
    let client = Client::builder()
        .api_url(base(&server))
        .apptoken(TOKEN)
        .timeout(Duration::from_millis(300))
        .retry(quick_retry())
        .build()
        .unwrap();
    let mut rows = sequential(&client).page_size(10).stream();
    let mut got = Vec::new();
    while let Some(a) = rows.try_next().await.unwrap() {
        got.push(a.action_id.unwrap());
    }
    assert_eq!(got, expected);
    assert_eq!(rows.summary().retries.get(&ErrorKind::Timeout), Some(&1));
}

#[tokio::test]
async fn refusals_fail_at_once_with_the_servers_message() {
    let cases = [
        (400, "apptoken is required"),
        (401, "Authentication failed"),
        (403, "Access not authorised"),
        (404, "Unknown model"),
        (405, "Method not allowed"),
        (410, "Endpoint turned off"),
    ];
    for (code, message) in cases {
        for in_http_200 in [false, true] {
            let server = serve(Dataset::new(10)).await;
            let http = if in_http_200 { 200 } else { code };
            fail_next(
                &server,
                1,
                ResponseTemplate::new(http).set_body_json(envelope_error(code, message)),
            )
            .await;
            let started = Instant::now();
            let mut rows = sequential(&client_for(&base(&server))).stream();
            let err = rows.next().await.unwrap().unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(1));
            assert_eq!(err.kind(), ErrorKind::Refused, "{code}");
            assert_eq!(err.status(), Some(code));
            assert_eq!(err.attempts(), 1);
            assert_eq!(
                err.to_string(),
                format!("list/push-devices at offset 0: HTTP {code} {message}")
            );
            assert!(rows.next().await.is_none(), "the error ends the stream");
            assert_eq!(requests(&server).await.len(), 1, "no retry for {code}");
            assert_eq!(
                rows.summary().end,
                Some(EndReason::Failed {
                    offset: 0,
                    kind: ErrorKind::Refused
                })
            );
        }
    }
}

#[tokio::test]
async fn retries_run_out_with_an_error_naming_offset_and_attempts() {
    let data = Dataset::new(250);
    let first_page = data.expected_ids()[..100].to_vec();
    let server = serve(data).await;
    let client = Client::builder()
        .api_url(base(&server))
        .apptoken(TOKEN)
        .retry(quick_retry().with_max_retries(3))
        .build()
        .unwrap();
    let mut rows = sequential(&client).page_size(100).stream();
    let mut got = Vec::new();
    for _ in 0..100 {
        got.push(rows.next().await.unwrap().unwrap().action_id.unwrap());
    }
    assert_eq!(
        got, first_page,
        "rows before the failing page are delivered"
    );
    fail_next(
        &server,
        100,
        ResponseTemplate::new(503).set_body_json(envelope_error(503, "Service Unavailable")),
    )
    .await;
    let err = rows.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.offset(), Some(100));
    assert_eq!(err.attempts(), 4);
    assert_eq!(
        err.to_string(),
        "list/push-devices at offset 100: HTTP 503 Service Unavailable (gave up after 4 attempts)"
    );
    assert!(rows.next().await.is_none());
    assert_eq!(requests(&server).await.len(), 1 + 4);
    assert_eq!(rows.summary().retries.get(&ErrorKind::Server), Some(&3));
}

#[tokio::test]
async fn retry_after_seconds_sets_the_wait() {
    let server = serve(Dataset::new(5)).await;
    fail_next(
        &server,
        1,
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(envelope_error(429, "Rate limit exhausted")),
    )
    .await;
    let client = Client::builder()
        .api_url(base(&server))
        .apptoken(TOKEN)
        .retry(quick_retry().with_max_delay(Duration::from_secs(30)))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut rows = sequential(&client).stream();
    while rows.try_next().await.unwrap().is_some() {}
    assert!(started.elapsed() >= Duration::from_secs(1));
    let s = rows.summary();
    assert_eq!(
        s.retry_wait,
        Duration::from_secs(1),
        "Retry-After, not the backoff"
    );
    assert_eq!(s.retries.get(&ErrorKind::RateLimited), Some(&1));
}

#[tokio::test]
async fn retry_after_as_a_date_is_honoured_and_clamped_to_the_cap() {
    let server = serve(Dataset::new(5)).await;
    let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
    fail_next(
        &server,
        1,
        ResponseTemplate::new(503)
            .insert_header("retry-after", in_a_minute.as_str())
            .set_body_json(envelope_error(503, "Unavailable")),
    )
    .await;
    let cap = Duration::from_millis(300);
    let client = Client::builder()
        .api_url(base(&server))
        .apptoken(TOKEN)
        .retry(quick_retry().with_max_delay(cap))
        .build()
        .unwrap();
    let mut rows = sequential(&client).stream();
    while rows.try_next().await.unwrap().is_some() {}
    assert_eq!(rows.summary().retry_wait, cap);
}

#[tokio::test]
async fn a_row_that_does_not_decode_fails_without_retry() {
    let server = common::mock_server().await;
    wiremock::Mock::given(wiremock::matchers::path(PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "code": 200, "success": true,
            "data": [{"action_id": 1}, {"action_id": 2}, {"action_id": "three"}]
        })))
        .mount(&server)
        .await;
    let err = sequential(&client_for(&base(&server)))
        .start_offset(40)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert_eq!(
        err.to_string(),
        "list/push-devices at offset 40: row 2 (offset 42), field `action_id`: invalid type: \
         string \"three\", expected u64"
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .api_url(format!("http://127.0.0.1:{port}/api/external"))
        .apptoken(TOKEN)
        .retry(quick_retry().with_max_retries(2))
        .build()
        .unwrap();
    let err = sequential_ids(&client, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert_eq!(err.attempts(), 3);
    let text = err.to_string();
    // Display says this layer; the cause ("Connection refused") is in the source chain, once.
    assert!(
        text.starts_with("list/push-devices at offset 0: could not connect"),
        "{text}"
    );
    assert!(text.ends_with("(gave up after 3 attempts)"), "{text}");
    let mut chain = text.clone();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        chain = format!("{chain}: {s}");
        source = s.source();
    }
    assert!(
        chain.starts_with(&format!("{text}: ")),
        "the cause follows: {chain}"
    );
    assert_eq!(
        chain.to_lowercase().matches("connection refused").count(),
        1,
        "{chain}"
    );
}

/// Collects everything the library logs, at every level.
#[test]
fn no_retry_policy_fails_on_the_first_error() {
    assert_eq!(RetryPolicy::none().max_retries(), 0);
}
