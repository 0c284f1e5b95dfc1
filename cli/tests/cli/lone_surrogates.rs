//! A string holding a lone UTF-16 surrogate (`"a\ud800b"`: valid JSON syntax, but no Unicode
//! text), which no UTF-8 output can hold: every format stores it with U+FFFD in its place, the
//! same value in each, and says so: a warning naming the field and the offset, the count in the
//! summary, and `guaranteed: false`, since a value in the output differs from what was sent.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const ROWS: usize = 30;
/// The row whose `error_message` holds a lone high surrogate, and the one whose nested field
/// in an unknown object holds a lone low surrogate.
const LONE_HIGH: usize = 12;
const LONE_LOW: usize = 21;

/// Row `i`'s JSON text, exactly as a server would send it.
fn row(i: usize) -> String {
    let message = match i {
        LONE_HIGH => r#""a\ud800b""#.to_string(),
        // A valid pair is one character (U+1F600) and is left alone.
        5 => r#""smile \ud83d\ude00""#.to_string(),
        _ => format!(r#""failure {i}""#),
    };
    let meta = if i == LONE_LOW {
        r#","meta":{"note":"x\udc00"}"#
    } else {
        ""
    };
    format!(
        r#"{{"action_id":{},"campaign_id":7,"create_time":1700000000,"device_id":{i},"profile_id":"p{i}","error":1,"error_message":{message},"delivery":0,"open":0,"click":0{meta}}}"#,
        // Newest first, as the export asks by default (`action_id` descending).
        2000 - i
    )
}

/// Serves the rows by offset and limit, in the order asked for by default, as raw bytes (a JSON value could not hold them).
struct RawRows;

impl Respond for RawRows {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let offset = body["offset"].as_u64().unwrap() as usize;
        let limit = body["limit"].as_u64().unwrap() as usize;
        let rows: Vec<String> = (offset.min(ROWS)..(offset + limit).min(ROWS))
            .map(row)
            .collect();
        let body = format!(
            r#"{{"code":200,"success":true,"data":[{}]}}"#,
            rows.join(",")
        );
        ResponseTemplate::new(200).set_body_raw(body, "application/json")
    }
}

/// A server whose rows hold the lone surrogates.
pub(crate) async fn server() -> MockServer {
    let server = common::mock_server().await;
    Mock::given(method("POST"))
        .and(path("/api/external/list/push-devices"))
        .respond_with(RawRows)
        .mount(&server)
        .await;
    server
}

fn export(server: &MockServer, format: &str, out: &Path, summary: &Path) -> Output {
    export_with(server, format, out, summary, &[])
}

fn export_with(
    server: &MockServer,
    format: &str,
    out: &Path,
    summary: &Path,
    args: &[&str],
) -> Output {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "XTREMEPUSH_API_URL",
            format!("{}/api/external", server.uri()),
        )
        .env("XTREMEPUSH_APPTOKEN", "t0ken")
        .stdin(Stdio::null())
        .args(["export", "--page-size", "10", "--format", format])
        .args(args)
        .arg("--summary-json")
        .arg(summary)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

/// What every format must say about the two values it changed.
fn says_what_it_changed(out: &Output, summary: &Path) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for named in [
        format!("error_message at offset {LONE_HIGH}"),
        format!("meta at offset {LONE_LOW}"),
    ] {
        assert!(err.contains(&named), "{named} not in: {err}");
    }
    assert!(err.contains("U+FFFD"), "{err}");
    let s: Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    assert_eq!(s["complete"], true);
    assert_eq!(s["guaranteed"], false, "{s}");
    assert_eq!(s["values_replaced"], 2, "{s}");
    assert_eq!(
        s["replaced_values"],
        serde_json::json!([
            {"field": "error_message", "offset": LONE_HIGH},
            {"field": "meta", "offset": LONE_LOW},
        ])
    );
}

/// A rerun that finds the output complete reports it as its export did: not guaranteed, with
/// the values it changed counted.
#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_of_an_output_with_values_replaced_is_not_guaranteed_either() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = (dir.path().join("rows.ndjson"), dir.path().join("s.json"));
    says_what_it_changed(&export(&server, "ndjson", &out, &summary), &summary);
    let first: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let again = export_with(&server, "ndjson", &out, &summary, &["--resume"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["stop_reason"], "already_complete", "{s}");
    assert_eq!(s["guaranteed"], false, "{s}");
    assert_eq!(s["values_replaced"], 2, "{s}");
    assert_eq!(s["replaced_values"], first["replaced_values"], "{s}");
    let err = stderr(&again);
    assert!(err.contains("already complete"), "{err}");
    assert!(err.contains("U+FFFD"), "the text says it too: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn text_formats_store_a_lone_surrogate_as_u_fffd_and_say_where() {
    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    for format in ["ndjson", "json", "csv"] {
        let out = dir.path().join(format!("rows.{format}"));
        let run = export(&server, format, &out, &summary);
        says_what_it_changed(&run, &summary);
        let text = std::fs::read_to_string(&out).expect("the output is UTF-8");
        // The CSV has no column for `meta` (it is named in `fields_not_in_csv`).
        let kept: &[&str] = match format {
            "csv" => &["a\u{fffd}b", "smile \u{1F600}"],
            _ => &[r#""a\ufffdb""#, r#""x\ufffd""#, r#""smile \ud83d\ude00""#],
        };
        for kept in kept {
            assert!(text.contains(kept), "{format}: {kept} not in the output");
        }
        assert!(
            !text.contains(r"\ud800") && !text.contains(r"\udc00"),
            "{format}"
        );
        if format != "csv" {
            // Every row reads back with a strict JSON reader.
            let rows: Vec<Value> = match format {
                "json" => serde_json::from_str(&text).unwrap(),
                _ => text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect(),
            };
            assert_eq!(rows.len(), ROWS);
            assert_eq!(rows[LONE_HIGH]["error_message"], "a\u{fffd}b");
        }
    }
}

#[cfg(feature = "parquet")]
#[tokio::test(flavor = "multi_thread")]
async fn parquet_stores_a_lone_surrogate_as_u_fffd_not_as_its_json_text() {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let server = server().await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = dir.path().join("rows.parquet");
    let run = export(&server, "parquet", &out, &summary);
    says_what_it_changed(&run, &summary);
    let file = std::fs::File::open(&out).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let (mut messages, mut extra) = (Vec::new(), Vec::new());
    for batch in reader {
        let batch = batch.unwrap();
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap()
                .as_string::<i32>()
                .clone()
        };
        // `meta`, which the API does not document, has a column of its own: its JSON text.
        let (m, e) = (column("error_message"), column("meta"));
        for i in 0..batch.num_rows() {
            messages.push(m.value(i).to_string());
            extra.push((!e.is_null(i)).then(|| e.value(i).to_string()));
        }
    }
    assert_eq!(messages.len(), ROWS);
    assert_eq!(messages[LONE_HIGH], "a\u{fffd}b");
    assert_eq!(messages[5], "smile \u{1F600}");
    let meta: Value = serde_json::from_str(extra[LONE_LOW].as_deref().unwrap()).unwrap();
    assert_eq!(meta["note"], "x\u{fffd}");
}

/// A field's name that holds a lone surrogate (`"\udc00k"`) is a field like any other to the
/// seam check: the row's `action_id` is still read, so seams stay checked and every row comes
/// out once, where the check used to be turned off with a warning ("seams between pages could
/// not be checked"), leaving shifted rows unnoticed.
#[tokio::test(flavor = "multi_thread")]
async fn a_lone_surrogate_in_a_field_name_keeps_the_seams_checked() {
    struct NamedRows;
    impl Respond for NamedRows {
        fn respond(&self, req: &Request) -> ResponseTemplate {
            let body: Value = serde_json::from_slice(&req.body).unwrap();
            let offset = body["offset"].as_u64().unwrap() as usize;
            let limit = body["limit"].as_u64().unwrap() as usize;
            let rows: Vec<String> = (offset.min(ROWS)..(offset + limit).min(ROWS))
                .map(|i| format!(r#"{{"\udc00k":{i},"action_id":{}}}"#, 2000 - i))
                .collect();
            let body = format!(
                r#"{{"code":200,"success":true,"data":[{}]}}"#,
                rows.join(",")
            );
            ResponseTemplate::new(200).set_body_raw(body, "application/json")
        }
    }
    let server = common::mock_server().await;
    Mock::given(method("POST"))
        .and(path("/api/external/list/push-devices"))
        .respond_with(NamedRows)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = dir.path().join("rows.ndjson");
    let run = export(&server, "ndjson", &out, &summary);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(0), "{err}");
    assert!(!err.contains("could not be checked"), "{err}");
    assert!(err.contains("\u{fffd}k at offset 0"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap();
    let keys: Vec<u64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action_id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(keys, (0..ROWS as u64).map(|i| 2000 - i).collect::<Vec<_>>());
}
