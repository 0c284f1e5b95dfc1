//! Parquet output, read back with the parquet crate's own reader: the same rows, values and
//! types as the NDJSON export of the same query; row groups as bounded; an empty result; what
//! a careless user asks of it; kill -9 and --resume.
#![cfg(feature = "parquet")]

use crate::common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Map, Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A Parquet file as read back: its column names and types, its row groups, and its rows as
/// JSON objects (nulls left out, timestamps as Unix seconds, the `extra` column's fields merged
/// in).
struct ReadBack {
    columns: Vec<(String, DataType)>,
    row_groups: usize,
    rows: Vec<Map<String, Value>>,
}

fn read_parquet(path: &Path) -> ReadBack {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).expect("a Parquet file");
    let row_groups = builder.metadata().num_row_groups();
    let columns = builder
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    // The columns written with Parquet's JSON logical type hold each value as its JSON text.
    let json: Vec<String> = builder
        .parquet_schema()
        .columns()
        .iter()
        .filter(|c| c.logical_type_ref() == Some(&parquet::basic::LogicalType::Json))
        .map(|c| c.name().to_owned())
        .collect();
    let mut rows = Vec::new();
    for batch in builder.build().unwrap() {
        rows.extend(batch_rows(&batch.unwrap(), &json));
    }
    ReadBack {
        columns,
        row_groups,
        rows,
    }
}

fn batch_rows(batch: &RecordBatch, json: &[String]) -> Vec<Map<String, Value>> {
    let schema = batch.schema();
    let last = schema.fields().len().saturating_sub(1);
    (0..batch.num_rows())
        .map(|i| {
            let mut row = Map::new();
            for (at, (field, col)) in schema.fields().iter().zip(batch.columns()).enumerate() {
                if col.is_null(i) {
                    continue;
                }
                let value = match col.data_type() {
                    DataType::Int64 => json!(col.as_primitive::<Int64Type>().value(i)),
                    DataType::Timestamp(TimeUnit::Millisecond, _) => {
                        let millis = col.as_primitive::<TimestampMillisecondType>().value(i);
                        json!(millis / 1000)
                    }
                    DataType::Float64 => json!(col.as_primitive::<Float64Type>().value(i)),
                    DataType::Boolean => json!(col.as_boolean().value(i)),
                    DataType::Utf8 if json.contains(field.name()) => {
                        serde_json::from_str(col.as_string::<i32>().value(i))
                            .expect("a JSON column holds JSON")
                    }
                    DataType::Utf8 => json!(col.as_string::<i32>().value(i)),
                    other => panic!("unexpected column type {other}"),
                };
                if at == last && field.name().trim_start_matches('_') == "extra" {
                    let Value::Object(extra) = value else {
                        panic!("extra is not an object: {value}");
                    };
                    row.extend(extra.into_iter().filter(|(_, v)| !v.is_null()));
                } else {
                    row.insert(field.name().clone(), value);
                }
            }
            row
        })
        .collect()
}

/// NDJSON rows with their null fields left out, to compare with what Parquet reads back.
fn ndjson_rows(path: &Path) -> Vec<Map<String, Value>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match serde_json::from_str(l).unwrap() {
            Value::Object(o) => o.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            other => panic!("not an object: {other}"),
        })
        .collect()
}

fn run(mut c: Command) -> Output {
    c.output().expect("the binary runs")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refused(out: &Output, code: i32, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(says), "expected {says:?} in: {err}");
}

/// A hidden file beside `path`: `DIR/.NAME{suffix}`, as the export names its side files.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().unwrap().to_string_lossy();
    path.with_file_name(format!(".{name}{suffix}"))
}

/// Rows a careless API sends: quotes, newlines, backslashes, non-ASCII, nulls, missing fields,
/// fields no documentation names (nested too), and one field named like the `extra` column.
fn odd_rows() -> Vec<Value> {
    (0..2500u64)
        .map(|i| {
            let mut row = json!({
                "action_id": 9_000_000 - i,
                "campaign_id": 245624,
                "create_time": 1_700_000_000 + i as i64,
                "device_id": i * 31,
                "profile_id": format!("p\"{i}\"\n\\ ünïcødé ✓ 🚀"),
                "error": (i % 3) as u8,
                "error_message": if i % 4 == 0 { Value::Null } else { json!(format!("line1\nline2 \"{i}\"")) },
                "delivery": i % 2,
            });
            let o = row.as_object_mut().unwrap();
            if i % 5 == 0 {
                o.remove("open");
                o.remove("device_id");
            } else {
                o.insert("open".into(), json!(1));
            }
            if i % 7 == 0 {
                o.insert("platform".into(), json!("android"));
                o.insert("meta".into(), json!({"tags": ["a", "b"], "score": 1.5}));
            }
            if i % 11 == 0 {
                o.insert("extra".into(), json!("a field called extra"));
            }
            row
        })
        .collect()
}

/// Serves `rows` by offset and limit, in order.
struct Rows(Vec<Value>);

impl Respond for Rows {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let offset = body["offset"].as_u64().unwrap() as usize;
        let limit = body["limit"].as_u64().unwrap() as usize;
        let end = (offset + limit).min(self.0.len());
        let data = &self.0[offset.min(end)..end];
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": data}))
    }
}

async fn serve_rows(rows: Vec<Value>) -> MockServer {
    serve_model("push-devices", Rows(rows)).await
}

/// A server answering `list/MODEL` with `responder`.
async fn serve_model(model: &str, responder: impl Respond + 'static) -> MockServer {
    let server = common::mock_server().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/external/list/{model}")))
        .respond_with(responder)
        .mount(&server)
        .await;
    server
}

/// Runs `xp-export ARGS -o OUT` against `server`.
fn export_to(server: &MockServer, args: &[&str], out: &Path) -> Output {
    let mut c = cmd_for(server);
    c.args(args).arg("-o").arg(out);
    run(c)
}

#[tokio::test(flavor = "multi_thread")]
async fn parquet_reads_back_as_the_ndjson_export_of_the_same_rows() {
    let server = serve_rows(odd_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("rows.ndjson");
    let parquet = dir.path().join("rows.parquet");
    let summary = dir.path().join("summary.json");
    ok(&export_to(
        &server,
        &["-q", "export", "--page-size", "300"],
        &ndjson,
    ));
    let summary_arg = summary.to_str().unwrap();
    ok(&export_to(
        &server,
        &[
            "-q",
            "export",
            "--page-size",
            "300",
            "--row-group-rows",
            "1000",
            "--summary-json",
            summary_arg,
        ],
        &parquet,
    ));
    let back = read_parquet(&parquet);
    // Every value as sent: an object or array in a JSON column of its own reads back as
    // itself.
    let expected = ndjson_rows(&ndjson);
    assert_eq!(back.rows.len(), 2500);
    for (i, (got, want)) in back.rows.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "row {i}");
    }
    let int = |name: &str| (name.to_string(), DataType::Int64);
    let text = |name: &str| (name.to_string(), DataType::Utf8);
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    // The documented fields, then those the API sends undocumented (in the order the first
    // row has them: a row's own `extra` too), then the column of fields first seen later.
    assert_eq!(
        back.columns,
        vec![
            int("action_id"),
            int("campaign_id"),
            ("create_time".to_string(), utc),
            int("device_id"),
            text("profile_id"),
            int("error"),
            text("error_message"),
            int("delivery"),
            int("open"),
            int("click"),
            text("extra"),
            text("meta"),
            text("platform"),
            text("_extra"),
        ]
    );
    // Row groups end at the first page boundary past 1,000 rows: 1,200 + 1,200 + 100.
    assert_eq!(back.row_groups, 3);
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["format"], "parquet");
    assert_eq!(s["rows"], 2500);
    assert_eq!(s["row_groups"], 3);
    assert_eq!(s["compression"], "zstd(3)");
    assert_eq!(s["bytes"], std::fs::metadata(&parquet).unwrap().len());
    // Nothing is left beside the output but its lock.
    assert!(!beside(&parquet, ".parts").exists());
    assert!(!beside(&parquet, ".partial").exists());
    assert!(!beside(&parquet, ".checkpoint.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn select_picks_and_orders_the_columns() {
    let server = serve_rows(odd_rows()).await;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("sel.parquet");
    ok(&export_to(
        &server,
        &[
            "-q",
            "export",
            "--select",
            "error_message, action_id",
            "--format",
            "parquet",
        ],
        &parquet,
    ));
    let back = read_parquet(&parquet);
    let names: Vec<&str> = back.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["error_message", "action_id", "extra"]);
    assert_eq!(back.columns[1].1, DataType::Int64);
    assert_eq!(back.rows.len(), 2500);
    assert_eq!(back.rows[1]["action_id"], 8_999_999);
    assert_eq!(back.rows[1]["error_message"], "line1\nline2 \"1\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_result_is_a_valid_file_with_the_schema() {
    let server = serve_rows(Vec::new()).await;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("empty.parquet");
    let out = export_to(&server, &["export"], &parquet);
    ok(&out);
    let back = read_parquet(&parquet);
    assert_eq!(back.rows.len(), 0);
    assert_eq!(back.row_groups, 0);
    assert_eq!(back.columns.len(), 11, "{:?}", back.columns);
    assert_eq!(back.columns[0], ("action_id".to_string(), DataType::Int64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0 row groups"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_that_does_not_fit_its_column_is_kept_as_sent_and_the_summary_names_it() {
    let mut rows = odd_rows();
    rows[1234]["campaign_id"] = json!("245624");
    rows[2001]["campaign_id"] = json!(1.5);
    let server = serve_rows(rows).await;
    let dir = tempfile::tempdir().unwrap();
    let (parquet, ndjson) = (
        dir.path().join("odd.parquet"),
        dir.path().join("odd.ndjson"),
    );
    let summary = dir.path().join("summary.json");
    let args = ["export", "--page-size", "100", "--row-group-rows", "500"];
    ok(&export_to(&server, &args, &ndjson));
    let mut with_summary = args.to_vec();
    with_summary.extend(["--summary-json", summary.to_str().unwrap()]);
    let out = export_to(&server, &with_summary, &parquet);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let said = r#"2 values of "campaign_id" kept as sent in the "_extra" JSON column, the first at offset 1234: expected an integer, found a string"#;
    assert!(err.contains(said), "{err}");
    let back = read_parquet(&parquet);
    assert_eq!(back.rows, ndjson_rows(&ndjson), "the rows as sent");
    assert_eq!(back.rows[1234]["campaign_id"], "245624");
    let json: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(json["guaranteed"], true, "nothing lost or changed: {json}");
    assert_eq!(json["extra_column"], "_extra");
    let kept = &json["kept_in_extra"][0];
    assert_eq!(
        (&kept["field"], &kept["offset"], &kept["values"]),
        (&json!("campaign_id"), &json!(1234), &json!(2))
    );

    // A rerun finds the file complete and reports what it holds, as its export did.
    let mut again = with_summary.clone();
    again.push("--resume");
    let out = export_to(&server, &again, &parquet);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(said) && err.contains("Parquet: "), "{err}");
    let rerun: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(rerun["stop_reason"], "already_complete", "{rerun}");
    for key in [
        "rows",
        "next_offset",
        "row_groups",
        "bytes",
        "compression",
        "kept_in_extra",
        "extra_column",
        "guaranteed",
    ] {
        assert_eq!(rerun[key], json[key], "{key}: {rerun}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_careless_user_cannot_send_parquet_where_it_cannot_go() {
    let emu = emulator(50).await;
    // Standard output.
    let out = run({
        let mut c = cmd(&emu);
        c.args(["export", "--format", "parquet"]);
        c
    });
    refused(&out, 2, "standard output");
    assert!(out.stdout.is_empty());
    let dir = tempfile::tempdir().unwrap();
    // A gzip name.
    let gz = dir.path().join("rows.parquet.gz");
    refused(
        &run({
            let mut c = cmd(&emu);
            c.args(["export", "-o"]).arg(&gz);
            c
        }),
        2,
        "drop the .gz",
    );
    assert!(!gz.exists());
    // A FIFO: nothing can seek in it.
    let fifo = dir.path().join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    refused(
        &run({
            let mut c = cmd(&emu);
            c.args(["export", "--format", "parquet", "-o"]).arg(&fifo);
            c
        }),
        2,
        "regular file",
    );
    // Bad flags.
    for (flag, value) in [
        ("--parquet-compression", "snappy"),
        ("--parquet-compression", "zstd:99"),
        ("--row-group-rows", "0"),
        ("--row-group-bytes", "0"),
    ] {
        let out = run({
            let mut c = cmd(&emu);
            c.args(["export", flag, value, "-o"])
                .arg(dir.path().join("x.parquet"));
            c
        });
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
    }
    assert!(!dir.path().join("x.parquet").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn leftover_parts_are_refused_or_kept_as_the_user_says() {
    let emu = emulator(3000).await;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("rows.parquet");
    let parts = beside(&parquet, ".parts");
    std::fs::create_dir(&parts).unwrap();
    std::fs::write(parts.join("notes.txt"), "mine").unwrap();
    let export = |extra: &[&str]| {
        let mut c = cmd(&emu);
        c.args(["-q", "export"]).args(extra).arg("-o").arg(&parquet);
        run(c)
    };
    // Without --resume or --restart, a leftover is in the way.
    refused(&export(&[]), 2, "--restart");
    // --restart clears only what this program wrote: a file of the user's stays, and stops it.
    refused(&export(&["--restart"]), 2, "notes.txt");
    assert_eq!(
        std::fs::read_to_string(parts.join("notes.txt")).unwrap(),
        "mine"
    );
    std::fs::remove_file(parts.join("notes.txt")).unwrap();
    ok(&export(&["--restart"]));
    assert_eq!(read_parquet(&parquet).rows.len(), 3000);
    // Done: --resume says so and does nothing.
    let again = export(&["--resume"]);
    ok(&again);
}

/// Starts an export of `emu`'s rows to `parquet` and kills it (SIGKILL) once `parts` part
/// files are complete, or at once if `parts` is 0.
fn start_and_kill(emu: &xp_export::emulator::Emulator, parquet: &Path, args: &[&str], parts: u64) {
    let child = cmd(emu)
        .args(["-q", "export"])
        .args(args)
        .arg("-o")
        .arg(parquet)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_once_checkpointed(child, parquet, parts * 2000);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_then_resumed_reads_back_as_an_uninterrupted_export() {
    let emu = slow_emulator(12_000).await;
    let dir = tempfile::tempdir().unwrap();
    // 60 pages of 15 ms one at a time, a part every 10 pages: slow enough to kill mid-way.
    let args = [
        "--page-size",
        "200",
        "--concurrency",
        "1",
        "--row-group-rows",
        "2000",
    ];
    let clean = dir.path().join("clean.parquet");
    ok(&run({
        let mut c = cmd(&emu);
        c.args(["-q", "export"]).args(args).arg("-o").arg(&clean);
        c
    }));
    let expected = read_parquet(&clean);
    assert_eq!(expected.rows.len(), 12_000);
    let killed = dir.path().join("killed.parquet");
    // Killed at once, after one part, after three; each time resumed, and killed again.
    for parts in [0, 1, 3] {
        start_and_kill(&emu, &killed, &[&args[..], &["--resume"]].concat(), parts);
        assert!(!killed.exists(), "no output under the final name yet");
    }
    ok(&run({
        let mut c = cmd(&emu);
        c.args(["-q", "export", "--resume"])
            .args(args)
            .arg("-o")
            .arg(&killed);
        c
    }));
    let back = read_parquet(&killed);
    assert_eq!(back.columns, expected.columns);
    assert_eq!(back.rows.len(), expected.rows.len());
    assert!(
        back.rows == expected.rows,
        "the rows differ from a clean run's"
    );
    assert!(!beside(&killed, ".parts").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn another_model_gets_columns_inferred_and_widened_within_a_row_group() {
    let rows: Vec<Value> = (0..900u64)
        .map(|i| {
            json!({
                "id": i,
                // Integers on the first page, a float on the second: Float64.
                "rate": if i == 450 { json!(0.5) } else { json!(i) },
                // Integers, then text: JSON, each value as itself.
                "code": if i < 800 { json!(i) } else { json!(format!("c{i}")) },
                "ok": i % 2 == 0,
                "tags": ["x", i],
                "later": if i < 100 { Value::Null } else { json!("set") },
            })
        })
        .collect();
    let server = serve_model("campaign-stats", Rows(rows)).await;
    let dir = tempfile::tempdir().unwrap();
    let ndjson = dir.path().join("stats.ndjson");
    let parquet = dir.path().join("stats.parquet");
    for out in [&ndjson, &parquet] {
        ok(&export_to(
            &server,
            &["-q", "export", "campaign-stats", "--page-size", "300"],
            out,
        ));
    }
    let back = read_parquet(&parquet);
    let types: Vec<(&str, &DataType)> = back.columns.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // In the order the rows carry their fields (serde_json writes them sorted).
    assert_eq!(
        types,
        [
            ("code", &DataType::Utf8),
            ("id", &DataType::Int64),
            ("later", &DataType::Utf8),
            ("ok", &DataType::Boolean),
            ("rate", &DataType::Float64),
            ("tags", &DataType::Utf8),
            ("extra", &DataType::Utf8),
        ]
    );
    assert_eq!(back.rows.len(), 900);
    assert_eq!(back.rows[7]["rate"], 7.0);
    assert_eq!(back.rows[450]["rate"], 0.5);
    assert_eq!(back.rows[7]["code"], 7);
    assert_eq!(back.rows[850]["code"], "c850");
    assert_eq!(back.rows[7]["tags"], json!(["x", 7]));
    assert!(!back.rows[7].contains_key("later"));
    // Every value the NDJSON export holds is there, as its widened type says.
    let expected = ndjson_rows(&ndjson);
    for (got, want) in back.rows.iter().zip(&expected) {
        assert_eq!(got["id"], want["id"]);
        assert_eq!(got["ok"], want["ok"]);
        assert_eq!((&got["code"], &got["tags"]), (&want["code"], &want["tags"]));
        assert_eq!(got.contains_key("later"), want.contains_key("later"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_value_of_another_type_in_a_later_row_group_is_kept_as_sent_in_extra() {
    let rows: Vec<Value> = (0..900u64)
        .map(|i| json!({"id": i, "n": if i == 700 { json!("seven hundred") } else { json!(i) }}))
        .collect();
    let server = serve_model("campaign-stats", Rows(rows)).await;
    let dir = tempfile::tempdir().unwrap();
    let (parquet, ndjson) = (
        dir.path().join("stats.parquet"),
        dir.path().join("stats.ndjson"),
    );
    let args = [
        "export",
        "campaign-stats",
        "--page-size",
        "100",
        "--no-seam-check",
        "--row-group-rows",
        "500",
    ];
    ok(&export_to(&server, &args, &ndjson));
    let out = export_to(&server, &args, &parquet);
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    let said = r#"1 value of "n" kept as sent in the "extra" JSON column, the first at offset 700: expected an integer, found a string"#;
    assert!(err.contains(said), "{err}");
    let back = read_parquet(&parquet);
    assert_eq!(back.rows, ndjson_rows(&ndjson));
    assert_eq!(back.rows[700]["n"], "seven hundred");
    assert!(!beside(&parquet, ".parts").exists(), "no parts left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn another_model_with_no_rows_is_a_valid_empty_file() {
    let server = serve_model("campaign-stats", Rows(Vec::new())).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, select) in [("none.parquet", None), ("sel.parquet", Some("id,name"))] {
        let parquet = dir.path().join(name);
        let mut args = vec!["-q", "export", "campaign-stats"];
        if let Some(s) = select {
            args.extend(["--select", s]);
        }
        ok(&export_to(&server, &args, &parquet));
        let back = read_parquet(&parquet);
        assert_eq!(back.rows.len(), 0, "{name}");
        let names: Vec<&str> = back.columns.iter().map(|(n, _)| n.as_str()).collect();
        let mut want: Vec<&str> = select.map_or(Vec::new(), |s| s.split(',').collect());
        want.push("extra");
        assert_eq!(names, want, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_part_changed_by_hand_is_refused_on_resume() {
    let emu = slow_emulator(6000).await;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("rows.parquet");
    let args = [
        "--page-size",
        "200",
        "--concurrency",
        "1",
        "--row-group-rows",
        "2000",
    ];
    start_and_kill(&emu, &parquet, &args, 1);
    let part = beside(&parquet, ".parts/part-00000.parquet");
    let mut bytes = std::fs::read(&part).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&part, &bytes).unwrap();
    let out = run({
        let mut c = cmd(&emu);
        c.args(["export", "--resume"])
            .args(args)
            .arg("-o")
            .arg(&parquet);
        c
    });
    refused(&out, 2, "has changed since");
    assert!(!parquet.exists());
    // A different query is refused too, before any part is touched.
    let out = run({
        let mut c = cmd(&emu);
        c.args(["export", "--resume", "--failed"])
            .args(args)
            .arg("-o")
            .arg(&parquet);
        c
    });
    refused(&out, 2, "different export");
}

/// Serves `rows` up to `from`, then fails every request with a 500.
struct FailFrom(Vec<Value>, usize);

impl Respond for FailFrom {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        if body["offset"].as_u64().unwrap() as usize >= self.1 {
            return ResponseTemplate::new(500);
        }
        Rows(self.0.clone()).respond(req)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_failure_keeps_every_row_fetched_as_a_smaller_part() {
    let server = serve_model("push-devices", FailFrom(odd_rows(), 1500)).await;
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("rows.parquet");
    let args = [
        "export",
        "--page-size",
        "300",
        "--no-seam-check",
        "--concurrency",
        "1",
        "--max-retries",
        "0",
        "--row-group-rows",
        "1000",
    ];
    let out = export_to(&server, &args, &parquet);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--resume"), "says how to continue: {err}");
    // 1,200 rows in the first row group, then the 300 gathered before the failure: not lost.
    assert_eq!(checkpointed_rows(&parquet), 1500, "{err}");
    let parts: Vec<usize> = (0..2)
        .map(|i| {
            read_parquet(&beside(&parquet, &format!(".parts/part-0000{i}.parquet")))
                .rows
                .len()
        })
        .collect();
    assert_eq!(parts, [1200, 300]);
    // The server is back: --resume fetches only the rest, and the file equals a clean run's.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(Rows(odd_rows()))
        .mount(&server)
        .await;
    ok(&export_to(
        &server,
        &[&args[..], &["--resume"]].concat(),
        &parquet,
    ));
    let first_offset = server.received_requests().await.unwrap()[0].body.clone();
    let first: Value = serde_json::from_slice(&first_offset).unwrap();
    assert_eq!(
        first["offset"], 1500,
        "the resume starts after the kept rows"
    );
    let back = read_parquet(&parquet);
    assert_eq!(back.row_groups, 3, "1,200 + 300 + 1,000");
    let ids: Vec<u64> = back
        .rows
        .iter()
        .map(|r| r["action_id"].as_u64().unwrap())
        .collect();
    let want: Vec<u64> = (0..2500).map(|i| 9_000_000 - i).collect();
    assert_eq!(ids, want);
}
