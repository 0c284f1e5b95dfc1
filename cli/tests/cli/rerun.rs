//! A rerun (`--resume`) of an output already complete, as an orchestrator retrying a finished
//! task sees it: the output's rows and how its export ended, in the text summary, the JSON
//! summary line and `--summary-json`, never a 0 that would read as an empty export; and a
//! record of an earlier build, which did not count the rows, never replaces the summary its
//! export wrote with less; nor does a rerun refused for a changed setting (exit 2).

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;
use xp_export::emulator::Emulator;
use xp_export::export::record_path;

/// `xp-export export --page-size 100 --max-rows 1234 ARGS -o out --summary-json summary`.
fn export(emu: &Emulator, args: &[&str], out: &Path, summary: &Path) -> Output {
    let out = cmd(emu)
        .args(["export", "--page-size", "100", "--max-rows", "1234"])
        .args(args)
        .arg("-o")
        .arg(out)
        .arg("--summary-json")
        .arg(summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_a_finished_output_reports_its_rows_and_that_it_is_already_complete() {
    let emu = emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = (dir.path().join("rows.ndjson"), dir.path().join("s.json"));
    export(&emu, &[], &out, &summary);
    let first = read_json(&summary);
    assert_eq!(first["rows"], 1234);
    assert_eq!(first["stop_reason"], "row_limit");
    let requests = emu.requests();

    let again = export(&emu, &["--resume"], &out, &summary);
    assert_eq!(emu.requests(), requests, "nothing is asked again");
    let text = stderr(&again);
    assert!(
        text.contains(
            "is already complete: 1,234 rows (its export ended: row limit of 1234 reached)"
        ),
        "{text}"
    );
    let rerun = read_json(&summary);
    assert_eq!(rerun["rows"], 1234, "{rerun}");
    assert_eq!(rerun["rows_this_run"], 0, "{rerun}");
    assert_eq!(rerun["complete"], true, "{rerun}");
    assert_eq!(rerun["stop_reason"], "already_complete", "{rerun}");
    assert_eq!(rerun["end"], "already complete", "{rerun}");
    assert_eq!(rerun["earlier_end"], "row limit of 1234 reached", "{rerun}");

    let json = export(&emu, &["--resume", "--log-format", "json"], &out, &summary);
    let last = stderr(&json);
    let line: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert_eq!(line["event"], "summary", "{line}");
    assert_eq!(line["rows"], 1234, "{line}");
    assert_eq!(line["stop_reason"], "already_complete", "{line}");
    assert_eq!(line["end"], "already complete", "{line}");
}

/// The record of `out` as an earlier build wrote it: without the rows and the end.
fn as_an_earlier_build(out: &Path) {
    let record = record_path(out);
    let mut value = read_json(&record);
    let fields = value.as_object_mut().unwrap();
    assert!(fields.remove("tally").is_some(), "{fields:?}");
    fields.remove("checksum");
    let mut body = serde_json::to_vec_pretty(&value).unwrap();
    body.truncate(body.len() - 2);
    let crc = crc32fast::hash(&body);
    body.extend_from_slice(format!(",\n  \"checksum\": \"crc32:{crc:08x}\"\n}}\n").as_bytes());
    fs::write(&record, body).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_whose_record_does_not_count_the_rows_keeps_the_summary_the_export_wrote() {
    let emu = emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = (dir.path().join("rows.ndjson"), dir.path().join("s.json"));
    export(&emu, &[], &out, &summary);
    let written = fs::read(&summary).unwrap();
    as_an_earlier_build(&out);

    let again = export(&emu, &["--resume"], &out, &summary);
    assert!(
        stderr(&again).contains("already complete"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        fs::read(&summary).unwrap(),
        written,
        "the summary was replaced"
    );

    // With no summary to keep, the rerun writes one that does not claim a count.
    let fresh = dir.path().join("fresh.json");
    export(&emu, &["--resume"], &out, &fresh);
    let value = read_json(&fresh);
    assert_eq!(value["rows"], Value::Null, "{value}");
    assert_eq!(value["stop_reason"], "already_complete", "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_refused_for_a_changed_setting_keeps_the_summary_of_the_finished_export() {
    let emu = emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (out, summary) = (dir.path().join("rows.csv"), dir.path().join("s.json"));
    export(&emu, &[], &out, &summary);
    let (written, rows) = (fs::read(&summary).unwrap(), fs::read(&out).unwrap());

    let refused = cmd(&emu)
        .args([
            "export",
            "--page-size",
            "100",
            "--max-rows",
            "5",
            "--resume",
        ])
        .arg("-o")
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("left as it was"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        fs::read(&summary).unwrap(),
        written,
        "the summary was replaced"
    );
    assert_eq!(fs::read(&out).unwrap(), rows, "the output changed");
    assert_eq!(read_json(&summary)["rows"], 1234);

    // A summary that reports no complete export is replaced by the refusal's report.
    fs::write(&summary, "{\"complete\": false}").unwrap();
    let again = cmd(&emu)
        .args([
            "export",
            "--page-size",
            "100",
            "--max-rows",
            "5",
            "--resume",
        ])
        .arg("-o")
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert_eq!(read_json(&summary)["exit_code"], 2);
}
