//! A server that pretty-prints its JSON: NDJSON output still holds one record per line.

use crate::common;

use serde_json::json;
use wiremock::matchers::body_partial_json;
use wiremock::{Mock, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_printed_rows_become_one_line_each() {
    let server = common::mock_server().await;
    let rows = json!({"code": 200, "success": true, "data": [
        {"action_id": 2, "error_message": "two\nlines, \"quoted\"", "n": 2.50},
        {"action_id": 1, "error_message": "plain"}
    ]});
    let pretty = serde_json::to_string_pretty(&rows)
        .unwrap()
        .replace("2.5", "2.50");
    Mock::given(body_partial_json(json!({"offset": 0})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(pretty, "application/json"))
        .mount(&server)
        .await;
    Mock::given(body_partial_json(json!({"offset": 2})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"success": true, "data": []})),
        )
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let url = format!("{}/api/external", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::BIN)
            .env_clear()
            .env("XTREMEPUSH_APPTOKEN", common::TOKEN)
            .args(["export", "--no-seam-check", "--api-url", &url, "-o"])
            .arg(&path)
            .output()
            .map(|o| (o, std::fs::read_to_string(&path).unwrap_or_default()))
            .unwrap()
    })
    .await
    .unwrap();
    let (out, text) = out;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "{\"action_id\":2,\"error_message\":\"two\\nlines, \\\"quoted\\\"\",\"n\":2.50}\n\
         {\"action_id\":1,\"error_message\":\"plain\"}\n"
    );
}
