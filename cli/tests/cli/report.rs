//! What `xp-export` reports: the summary on stderr and `--summary-json` come from the library's
//! `Summary` (its `Display` and `Serialize`) and keep the keys scripts read; a failure shows its
//! cause once.

use crate::common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;
use xp_export::emulator::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_keeps_every_key_and_adds_the_summarys_own() {
    let emu = emulator(1_234).await;
    emu.inject([Fault::InternalError, Fault::InternalError]);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.csv");
    let report = dir.path().join("summary.json");
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "500", "--retry-base-ms", "1", "-o"])
        .arg(&output)
        .arg("--summary-json")
        .arg(&report);
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();

    // The keys `--summary-json` always had, with the same meaning.
    assert_eq!(s["complete"], true);
    assert_eq!(s["guaranteed"], true);
    assert_eq!(s["output"], output.display().to_string());
    assert_eq!(s["format"], "csv");
    assert_eq!(s["mode"], "offset");
    assert_eq!(s["rows"], 1234);
    assert_eq!(s["rows_this_run"], 1234);
    assert_eq!(s["resumed_at"], Value::Null);
    assert_eq!(s["pages"], 3);
    assert!(s["requests"].as_u64().unwrap() >= 5, "{s}");
    assert_eq!(s["retries"], serde_json::json!({"server": 2}));
    assert_eq!(s["retries_total"], 2);
    assert!(s["retry_wait_seconds"].is_f64(), "{s}");
    assert_eq!(s["learned_cap"], Value::Null);
    assert_eq!(s["shifts_detected"], 0);
    assert_eq!(s["shifts_repaired"], 0);
    assert_eq!(s["end"], "short page of 235 rows at offset 999");
    assert_eq!(s["next_offset"], 1234);
    // The seam check's key: the last row delivered.
    assert!(s["next_key"].is_u64(), "{s}");
    assert!(s["elapsed_seconds"].is_f64(), "{s}");
    assert_eq!(s["warnings"], serde_json::json!([]));
    // platform, which the API sends but does not document, is a column after the documented
    // fields, so no field is left out of the CSV.
    assert_eq!(s["fields_not_in_csv"], serde_json::json!([]));
    let csv = std::fs::read_to_string(&output).unwrap();
    let header = "action_id,campaign_id,create_time,device_id,profile_id,error,error_message,\
                  delivery,open,click,platform\r\n";
    assert!(csv.starts_with(header), "{}", &csv[..200]);
    // And the summary's own, beside them.
    assert_eq!(
        s["end_reason"],
        serde_json::json!({"reason": "short_page", "offset": 999, "rows": 235})
    );
    assert!(s["peak_in_flight"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["order_warning"], Value::Null);

    // The text on stderr is the summary's Display under the export's own line.
    let err = stderr(&out);
    assert!(
        err.starts_with("xp-export: exported 1,234 rows (csv) to "),
        "{err}"
    );
    for line in [
        "\n  rows 1,234 · pages 3 · requests ",
        "\n  retries: 2 (server 2), ",
        "\n  stopped on: short page of 235 rows at offset 999\n",
        "\n  mode: offset; rows shifted between pages: 0 seam(s), 0 repaired\n",
    ] {
        assert!(err.contains(line), "{line:?} not in {err}");
    }
    assert!(!err.contains("fields not in the CSV columns"), "{err}");
}

#[test]
fn a_refused_connection_names_its_cause_once() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("summary.json");
    let out = Command::new(BIN)
        .env_clear()
        .env(
            "XTREMEPUSH_API_URL",
            format!("http://127.0.0.1:{port}/api/external"),
        )
        .env("XTREMEPUSH_APPTOKEN", TOKEN)
        .stdin(Stdio::null())
        .args(["export", "--max-retries", "0", "--summary-json"])
        .arg(&report)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("xp-export: list/push-devices at offset 0: could not connect: "),
        "{err}"
    );
    assert_eq!(
        err.to_lowercase().matches("connection refused").count(),
        1,
        "{err}"
    );
    let s: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let error = s["error"].as_str().unwrap().to_lowercase();
    assert_eq!(error.matches("connection refused").count(), 1, "{error}");
}

/// The JSON lines of a run's stderr.
fn json_lines(err: &str) -> Vec<Value> {
    err.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_or_state_not_written_is_the_one_summary_and_it_says_failed() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let taken = d.join("a-directory");
    std::fs::create_dir(&taken).unwrap();
    let summary = d.join("summary.json");
    let state = d.join("state.json");
    // The state's temporary file cannot be made: its name is taken by a directory.
    std::fs::create_dir(d.join(".state.json.tmp")).unwrap();
    // Each fails once the rows are written: the summary into a directory; the state through
    // a temporary file that cannot be made (with the summary, which must then say failed too).
    let cases: [(&str, Vec<&std::ffi::OsStr>, &str); 2] = [
        (
            "summary",
            vec!["--summary-json".as_ref(), taken.as_os_str()],
            "cannot write the summary",
        ),
        (
            "state",
            vec![
                "--state".as_ref(),
                state.as_os_str(),
                "--summary-json".as_ref(),
                summary.as_os_str(),
            ],
            "cannot write --state",
        ),
    ];
    for (what, args, says) in &cases {
        for format in ["text", "json"] {
            let output = d.join(format!("{what}-{format}.ndjson"));
            let out = cmd(&emu)
                .args(["--log-format", format, "export", "-o"])
                .arg(&output)
                .args(args)
                .output()
                .unwrap();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(1), "{what} {format}: {err}");
            assert_eq!(ndjson_ids(&std::fs::read(&output).unwrap()).len(), 300);
            if format == "text" {
                assert!(!err.contains("exported 300 rows"), "{what}: {err}");
                assert_eq!(err.matches("xp-export:").count(), 1, "{what}: {err}");
                assert!(err.starts_with("xp-export: "), "{what}: {err}");
                assert!(err.contains(says), "{what}: {err}");
                continue;
            }
            let lines = json_lines(&err);
            let summaries: Vec<_> = lines.iter().filter(|l| l["event"] == "summary").collect();
            assert_eq!(summaries.len(), 1, "{what}: one summary: {err}");
            let last = lines.last().unwrap();
            assert_eq!(
                last["event"], "summary",
                "{what}: the summary is last: {err}"
            );
            assert_eq!(last["stop_reason"], "failed", "{what}: {err}");
            assert_eq!(last["exit_code"], 1, "{what}: {err}");
            assert_eq!(last["complete"], false, "{what}: {err}");
            assert_eq!(last["rows"], 300, "{what}: how far it got: {err}");
            assert!(last["error"].as_str().unwrap().contains(says), "{err}");
        }
    }
    // The summary written beside a state that was not says the command's outcome.
    let s: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["complete"], false, "{s}");
    assert_eq!(s["exit_code"], 1, "{s}");
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("cannot write --state"),
        "{s}"
    );
    assert_eq!(s["rows"], 300, "{s}");
}
