//! Hostile or broken servers: huge or endless bodies, malformed JSON, wrong types. Each is a
//! clear error naming the offset, never a panic, and memory stays bounded.

use crate::common;

use common::*;
use futures::TryStreamExt;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::{Mock, ResponseTemplate};
use xp_export::decode::{decode_page, decode_page_raw};
use xp_export::{Client, ErrorKind, PushAction};

fn client_with_limit(base: &str, limit: u64) -> Client {
    Client::builder()
        .api_url(base)
        .apptoken(TOKEN)
        .max_page_bytes(limit)
        .retry(quick_retry())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_body_over_the_page_limit_fails_at_once() {
    let server = common::mock_server().await;
    let big: Vec<serde_json::Value> = (0..100)
        .map(|i| serde_json::json!({"action_id": i, "error_message": "x".repeat(100)}))
        .collect();
    Mock::given(wiremock::matchers::path(PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"code": 200, "success": true, "data": big})),
        )
        .mount(&server)
        .await;
    let err = client_with_limit(&base(&server), 4096)
        .push_actions()
        .start_offset(300)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert_eq!(err.offset(), Some(300));
    assert!(
        err.to_string()
            .starts_with("list/push-devices at offset 300: the response announces"),
        "{err}"
    );
    assert!(err.to_string().contains("4096 bytes"), "{err}");
    assert_eq!(requests(&server).await.len(), 1, "not retried");
}

#[tokio::test]
async fn an_endless_body_is_cut_off_at_the_limit() {
    // A server that answers with a chunked body that never ends.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut req = vec![0u8; 4096];
        let _ = sock.read(&mut req).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
        sock.write_all(head.as_bytes()).await.unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 65536, "[".repeat(65536));
        let mut sent = 0u64;
        // Bounded: stops when the client hangs up, or after 1 GiB.
        while sent < 1 << 30 {
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 65536;
        }
        sent
    });
    let limit = 1 << 20;
    let err = client_with_limit(&format!("http://{addr}/api/external"), limit)
        .push_actions()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert!(
        err.to_string().contains("grew past the page limit"),
        "{err}"
    );
    let sent = server.await.unwrap();
    assert!(
        sent < 64 << 20,
        "the client stopped reading early: {sent} bytes sent"
    );
}

#[tokio::test]
async fn malformed_pages_are_errors_naming_the_offset() {
    let nested = format!(
        "{{\"success\":true,\"data\":[{}1{}]}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    use ErrorKind::*;
    // (body, error when decoded into PushAction, error when kept raw)
    let bodies: Vec<(String, ErrorKind, ErrorKind)> = vec![
        (nested, Decode, Decode),
        (
            r#"{"success":true,"data":[{"action_id":1},7]}"#.into(),
            Decode,
            Decode,
        ),
        // Raw rows are not typed: the same page for every offset is what stops them.
        (
            r#"{"success":true,"data":[{"action_id":"12"}]}"#.into(),
            Decode,
            Stalled,
        ),
        (r#"{"success":true}"#.into(), NotEnvelope, NotEnvelope),
        (
            r#"{"success":true,"data":"rows"}"#.into(),
            NotEnvelope,
            NotEnvelope,
        ),
        (r#"[1,2,3]"#.into(), NotEnvelope, NotEnvelope),
        ("\u{feff}garbage".into(), NotEnvelope, NotEnvelope),
    ];
    for (body, typed_kind, raw_kind) in bodies {
        let server = common::mock_server().await;
        Mock::given(wiremock::matchers::path(PATH))
            .respond_with(ResponseTemplate::new(200).set_body_string(body.clone()))
            .mount(&server)
            .await;
        let client = Client::builder()
            .api_url(base(&server))
            .apptoken(TOKEN)
            .retry(quick_retry().with_max_retries(1))
            .build()
            .unwrap();
        for raw in [false, true] {
            let q = client.push_actions().start_offset(7000);
            let err = if raw {
                q.raw_stream().try_collect::<Vec<_>>().await.unwrap_err()
            } else {
                q.stream().try_collect::<Vec<_>>().await.unwrap_err()
            };
            let shown: String = body.chars().take(40).collect();
            let kind = if raw { raw_kind } else { typed_kind };
            assert_eq!(err.kind(), kind, "{shown}");
            let offset = if kind == Stalled { 7001 } else { 7000 };
            assert_eq!(err.offset(), Some(offset), "{shown}");
            assert!(
                err.to_string()
                    .starts_with(&format!("list/push-devices at offset {offset}: ")),
                "{err}"
            );
        }
    }
}

fn row() -> impl Strategy<Value = serde_json::Value> {
    (
        any::<u64>(),
        any::<u32>(),
        proptest::option::of(".*"),
        proptest::option::of(any::<i64>()),
    )
        .prop_map(|(id, campaign, message, click)| {
            serde_json::json!({
                "action_id": id,
                "campaign_id": campaign,
                "error_message": message,
                "click": click,
                "extra": {"nested": [id, message]},
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any bytes at all: an error or rows, never a panic, typed or raw.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
        let _ = decode_page::<PushAction>(status, &body, 0);
        let _ = decode_page::<serde_json::Value>(status, &body, 0);
        let _ = decode_page_raw(status, &bytes::Bytes::from(body));
    }

    /// Valid pages decode to exactly their rows, and the raw rows are the rows as sent.
    #[test]
    fn valid_pages_round_trip(rows in proptest::collection::vec(row(), 0..20)) {
        let body = serde_json::to_vec(&serde_json::json!({"code": 200, "success": true, "data": rows})).unwrap();
        let typed: Vec<PushAction> = decode_page(200, &body, 0).unwrap();
        prop_assert_eq!(typed.len(), rows.len());
        for (t, r) in typed.iter().zip(&rows) {
            prop_assert_eq!(t.action_id, r["action_id"].as_u64());
            prop_assert_eq!(t.error_message.as_deref(), r["error_message"].as_str());
            prop_assert_eq!(&t.extra["extra"], &r["extra"]);
        }
        let raw = decode_page_raw(200, &bytes::Bytes::from(body)).unwrap();
        prop_assert_eq!(raw.len(), rows.len());
        for (r, expected) in raw.iter().zip(&rows) {
            prop_assert_eq!(&r.parse::<serde_json::Value>().unwrap(), expected);
        }
    }

    /// A page cut off anywhere is an error, never a shorter page.
    #[test]
    fn truncated_pages_are_errors(rows in proptest::collection::vec(row(), 1..10), cut in 0.0f64..1.0) {
        let body = serde_json::to_vec(&serde_json::json!({"code": 200, "success": true, "data": rows})).unwrap();
        let at = ((body.len() - 1) as f64 * cut) as usize;
        let cut_body = &body[..at];
        prop_assert!(decode_page::<PushAction>(200, cut_body, 0).is_err());
        prop_assert!(decode_page_raw(200, &bytes::Bytes::copy_from_slice(cut_body)).is_err());
    }
}
