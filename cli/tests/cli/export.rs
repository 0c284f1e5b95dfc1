//! The `xp-export` command against the in-process emulator: formats round-trip, exit codes,
//! secrets, resume after a kill, broken pipes, and the demo.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use xp_export::emulator::{Config, Emulator, Fault, Record};
use xp_export::export::{checkpoint_path, partial_path};

fn run(mut c: Command) -> Output {
    c.output().expect("the binary runs")
}

/// The records as the API serves them by default: newest first.
fn newest_first(emu: &Emulator) -> Vec<Record> {
    emu.records().iter().rev().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_on_stdout_round_trips() {
    let emu = emulator(2_500).await;
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "300"]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Value> = newest_first(&emu).iter().map(Record::to_json).collect();
    assert_eq!(rows, expected);
    let err = stderr(&out);
    assert!(err.contains("exported 2,500 rows"), "{err}");
    assert!(!err.contains(emu.apptoken()), "{err}");
}

/// A CSV export of the failed rows' `action_id,error_message,device_id`, with `extra` flags;
/// its records as read back, and the same fields of the emulator's failed rows.
async fn failed_csv(extra: &[&str]) -> (Vec<[String; 3]>, Vec<[String; 3]>) {
    let emu = emulator(20_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("failed.csv");
    let mut c = cmd(&emu);
    c.args([
        "export",
        "--failed",
        "--select",
        "action_id,error_message,device_id",
    ])
    .args(extra)
    .arg("-o")
    .arg(&path);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!partial_path(&path).exists());
    assert!(!checkpoint_path(&path).exists());

    let mut reader = csv::Reader::from_path(&path).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["action_id", "error_message", "device_id"]
    );
    let got = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            [r[0].to_string(), r[1].to_string(), r[2].to_string()]
        })
        .collect();
    let sent = newest_first(&emu)
        .iter()
        .filter(|r| r.error == 1)
        .map(|r| {
            [
                r.action_id.to_string(),
                r.error_message.clone().unwrap_or_default(),
                r.device_id.to_string(),
            ]
        })
        .collect();
    (got, sent)
}

/// By default a CSV holds every value as the server sent it, formula-like text included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_file_round_trips_every_value_as_sent() {
    let (got, sent) = failed_csv(&[]).await;
    assert!(sent.len() > 100);
    assert_eq!(got, sent);
    assert!(got.iter().any(|r| r[1].contains('\n')), "newlines survive");
    assert!(
        got.iter().any(|r| r[1].starts_with('=')),
        "formula-like text kept as sent"
    );
    assert!(got.iter().any(|r| !r[1].is_ascii()), "non-ASCII survives");
}

/// `--csv-formula-guard` neutralises the values a spreadsheet would run, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_formula_guard_neutralises_formulas() {
    let (got, sent) = failed_csv(&["--csv-formula-guard"]).await;
    let guarded: Vec<[String; 3]> = sent
        .into_iter()
        .map(|[a, m, d]| [a, xp_export::export::neutralise(m), d])
        .collect();
    assert_eq!(got, guarded);
    assert!(
        got.iter().any(|r| r[1].starts_with("'=")),
        "formulas neutralised"
    );
}

/// The guard is CSV's: asked of another format, the command says so before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_formula_guard_for_another_format_is_refused() {
    let emu = emulator(10).await;
    let mut c = cmd(&emu);
    c.args(["export", "--csv-formula-guard", "--format", "ndjson"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--csv-formula-guard is for CSV output"),
        "{}",
        stderr(&out)
    );
    assert_eq!(emu.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_gzip_outputs_round_trip() {
    let emu = emulator(1_234).await;
    let dir = tempfile::tempdir().unwrap();
    let expected: Vec<Value> = newest_first(&emu).iter().map(Record::to_json).collect();

    let json = dir.path().join("all.json");
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "500", "-o"]).arg(&json);
    assert!(run(c).status.success());
    let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(rows, expected);

    let plain = dir.path().join("all.ndjson");
    let gz = dir.path().join("all.ndjson.gz");
    for p in [&plain, &gz] {
        let mut c = cmd(&emu);
        c.args(["export", "--page-size", "500", "-o"]).arg(p);
        let out = run(c);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let mut unzipped = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, std::fs::read(&plain).unwrap());
    assert!(std::fs::metadata(&gz).unwrap().len() < unzipped.len() as u64 / 2);

    // No rows: still valid JSON.
    let empty = dir.path().join("none.json");
    let mut c = cmd(&emu);
    c.args(["export", "--campaign", "1", "-o"]).arg(&empty);
    assert!(run(c).status.success());
    assert_eq!(std::fs::read_to_string(&empty).unwrap(), "[]\n");
    let empty_gz = dir.path().join("none.ndjson.gz");
    let mut c = cmd(&emu);
    c.args(["export", "--campaign", "1", "-o"]).arg(&empty_gz);
    assert!(run(c).status.success());
    let mut unzipped = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&empty_gz).unwrap())
        .read_to_end(&mut unzipped)
        .expect("an empty export is still valid gzip");
    assert!(unzipped.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_the_error_classes_apart() {
    let emu = emulator(50).await;

    // 2: usage and configuration.
    let mut c = cmd(&emu);
    c.args(["export", "--where", "campaign_id ~ 3"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad --where"), "{}", stderr(&out));

    let mut c = cmd(&emu);
    c.env_remove("XTREMEPUSH_APPTOKEN").arg("export");
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("XTREMEPUSH_APPTOKEN"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("--apptoken-file"), "{}", stderr(&out));

    let mut c = cmd(&emu);
    c.args(["export", "--api-url", "http://api.example.com/api/external"]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plain http"), "{}", stderr(&out));

    // 3: the API refused; the server's message is shown, at once.
    let mut c = cmd(&emu);
    c.env("XTREMEPUSH_APPTOKEN", "wrong-token-0000")
        .arg("export");
    let started = Instant::now();
    let out = run(c);
    assert_eq!(out.status.code(), Some(3));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        stderr(&out).contains("list/push-devices at offset 0: HTTP 401 Authentication failed"),
        "{}",
        stderr(&out)
    );

    // 1: retries exhausted, with the offset and how to resume.
    let failing = Emulator::start(
        Config::default()
            .records(50)
            .fault_rate(1.0)
            .fault_kinds([Fault::InternalError]),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut c = cmd(&failing);
    c.args(["export", "--max-retries", "1", "-o"])
        .arg(dir.path().join("x.csv"));
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("at offset 0"), "{err}");
    assert!(err.contains("gave up after 2 attempts"), "{err}");
    // A file export is continued with --resume, even when it saved nothing yet.
    assert!(err.contains("run the same command with --resume"), "{err}");
    assert!(!err.contains("--offset 0"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_appears_nowhere_even_at_trace_level() {
    let emu = Emulator::start(Config::default().records(300).fault_rate(0.3))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", emu.apptoken())).unwrap();
    let mut c = cmd(&emu);
    c.env_remove("XTREMEPUSH_APPTOKEN")
        .args(["-vvv", "export", "--page-size", "50", "--apptoken-file"])
        .arg(&token_file)
        .arg("-o")
        .arg(dir.path().join("out.ndjson"));
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("retrying page"),
        "retries are logged at -v: {err}"
    );
    assert!(!err.contains(emu.apptoken()), "token in stderr");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p != token_file {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(emu.apptoken()),
                "{}",
                p.display()
            );
        }
    }
}

/// Starts an export to `path`, kills it with SIGKILL once it has checkpointed a few pages.
fn start_and_kill(emu: &Emulator, args: &[&str], path: &Path) {
    let mut c = cmd(emu);
    c.args(args)
        .args(["--checkpoint-every", "0"])
        .arg("-o")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    kill_once_checkpointed(c.spawn().unwrap(), path, 500);
    assert!(!path.exists(), "the final name appears only when complete");
}

/// Waits until the export to `path` has checkpointed at least 500 rows, and is still running.
fn wait_for_checkpoint(child: &mut std::process::Child, path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if checkpointed_rows(path) >= 500 {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_kill_gives_a_byte_identical_file() {
    let emu = Emulator::start(
        Config::default()
            .records(20_000)
            .latency(Duration::from_millis(15))
            .fault_rate(0.1)
            .fault_kinds([Fault::Reset, Fault::Truncated, Fault::InternalError]),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, mode) in [
        ("out.csv", "offset"),
        ("out.ndjson.gz", "offset"),
        ("out.json", "offset"),
        ("keyset.csv.gz", "keyset"),
    ] {
        let args = [
            "export",
            "--page-size",
            "100",
            "--select",
            "action_id,error_message,create_time",
            "--mode",
            mode,
        ];
        let reference = dir.path().join(format!("ref-{name}"));
        let mut c = cmd(&emu);
        c.args(args).arg("-o").arg(&reference);
        assert!(run(c).status.success());

        let path = dir.path().join(name);
        start_and_kill(&emu, &args, &path);
        let mut c = cmd(&emu);
        c.args(args).arg("--resume").arg("-o").arg(&path);
        let out = run(c);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("resumed at offset"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(&reference).unwrap(),
            "{name}: resumed file differs"
        );
        assert!(!checkpoint_path(&path).exists());

        // Resuming a finished export does nothing and says so.
        let mut c = cmd(&emu);
        c.args(args).arg("--resume").arg("-o").arg(&path);
        let out = run(c);
        assert!(out.status.success());
        assert!(
            stderr(&out).contains("already complete"),
            "{}",
            stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rows_counts_the_rows_of_earlier_runs_on_resume() {
    let emu = Emulator::start(
        Config::default()
            .records(6_000)
            .latency(Duration::from_millis(15)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "export",
        "--page-size",
        "100",
        "--concurrency",
        "1",
        "--max-rows",
        "2050",
    ];
    let path = dir.path().join("first.ndjson");
    start_and_kill(&emu, &args, &path);
    let mut c = cmd(&emu);
    c.args(args).arg("--resume").arg("-o").arg(&path);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<u64> = ndjson_ids(&std::fs::read(&path).unwrap());
    let expected: Vec<u64> = newest_first(&emu)
        .iter()
        .take(2050)
        .map(|r| r.action_id)
        .collect();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_mode_exports_each_row_once_while_rows_arrive() {
    let emu = Emulator::start(Config::default().records(5_000).insert_per_request(25))
        .await
        .unwrap();
    let at_start: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("summary.json");
    let mut c = cmd(&emu);
    c.args([
        "export",
        "--mode",
        "keyset",
        "--page-size",
        "300",
        "--summary-json",
    ])
    .arg(&report);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(summary["mode"], "keyset");
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["guaranteed"], true);
    assert_eq!(summary["shifts_detected"], 0);
    assert_eq!(summary["warnings"], serde_json::json!([]));
    let ids: Vec<u64> = ndjson_ids(&out.stdout);
    let unique: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no row twice");
    assert_eq!(&ids[..at_start.len()], &at_start[..]);
    assert_eq!(summary["rows"], ids.len() as u64);

    // Offset mode on the same kind of data repairs the seams where rows shifted, and says so.
    let at_start: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "300", "--summary-json"])
        .arg(&report);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<u64> = ndjson_ids(&out.stdout);
    let unique: std::collections::HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no row twice");
    assert!(
        at_start.iter().all(|id| unique.contains(id)),
        "no row missed"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(summary["mode"], "offset");
    assert_eq!(summary["guaranteed"], true);
    assert!(summary["shifts_detected"].as_u64().unwrap() > 0);
    assert_eq!(summary["shifts_repaired"], summary["shifts_detected"]);
    assert!(stderr(&out).contains("repaired"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_query_refuses_to_resume() {
    let emu = Emulator::start(
        Config::default()
            .records(6_000)
            .latency(Duration::from_millis(15)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    start_and_kill(
        &emu,
        &["export", "--page-size", "100", "--concurrency", "1"],
        &path,
    );
    let mut c = cmd(&emu);
    c.args([
        "export",
        "--page-size",
        "100",
        "--concurrency",
        "1",
        "--failed",
        "--resume",
        "-o",
    ])
    .arg(&path);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("different export"), "{err}");
    assert!(err.contains("query"), "{err}");
    assert!(
        partial_path(&path).exists(),
        "the partial export is left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_saves_the_checkpoint_and_says_how_to_resume() {
    let emu = Emulator::start(
        Config::default()
            .records(6_000)
            .latency(Duration::from_millis(15)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "100", "--concurrency", "1"])
        .args(["--checkpoint-every", "0", "-o"])
        .arg(&path)
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    wait_for_checkpoint(&mut child, &path);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "100", "--resume", "-o"])
        .arg(&path);
    assert!(run(c).status.success());
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert_eq!(lines, 6_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_exits_quietly() {
    let emu = emulator(50_000).await;
    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "1000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    for _ in 0..10 {
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with('{'));
    }
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("rror"), "{}", stderr(&out));
}

#[test]
fn demo_completes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--records", "40000"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.path().join("xp-export-demo-failed.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("action_id,campaign_id,create_time,device_id,error_message\r\n"));
    let err = stderr(&out);
    assert!(err.contains("xp-export-demo-failed.csv"), "{err}");
    assert!(err.contains("retries"), "{err}");
    assert!(err.contains("learned cap"), "{err}");
}
