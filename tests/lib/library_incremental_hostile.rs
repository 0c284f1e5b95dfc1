//! Incremental runs against careless use and a hostile server, from code: a probe answered
//! with another row.

use crate::common::*;
use serde_json::json;
use wiremock::{Mock, ResponseTemplate};
use xp_export::export::{Export, ExportErrorKind, Format, Incremental, Target};
use xp_export::query::Mode;

/// The newest row's `create_time` comes from a one-row request by its key. A server that
/// ignores the condition answered with another row, whose `create_time` the state recorded
/// (moving the next lookback's window), or with none, so the state recorded no time. Either
/// is an error naming the key and what came back, and no state is written.
#[tokio::test]
async fn a_probe_answered_with_another_row_or_none_fails_and_writes_no_state() {
    let emu = emulator(40).await;
    let rows = emulator_client(&emu)
        .push_actions()
        .page_size(20)
        .mode(Mode::Keyset);
    let key = emu.records()[39].action_id;
    let other = key - 1;
    let cases = [
        (
            json!([{"action_id": other, "create_time": 1_480_000_000}]),
            format!("the row with action_id {other}"),
        ),
        (json!([]), "no row".to_string()),
    ];
    for (data, says) in cases {
        let server = mock_server().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"code": 200, "success": true, "data": data})),
            )
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let probed = client_for(&base(&server)).push_actions();
        let run = Incremental::open(&state, &probed).unwrap();
        let job = run.count(Export::new(
            rows.clone(),
            Format::Ndjson,
            Target::File(dir.path().join("1.ndjson")),
        ));
        let report = job.run(std::future::pending(), |_, _| {}).await.unwrap();
        assert_eq!(report.summary.next_key, Some(key));
        let err = run.finish(&report).await.unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::Api, "{err}");
        let message = xp_export::error::chain(&err);
        assert!(
            message.contains(&format!("action_id {key}")) && message.contains(&says),
            "{says}: {message}"
        );
        assert!(!state.exists(), "{says}: no state is written");
    }
}
