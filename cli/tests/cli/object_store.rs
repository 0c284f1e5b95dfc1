//! Exports to `s3://` against a real S3 server (moto's, see `common::s3`): every text format
//! round-trips byte for byte, an object is never replaced without `--restart`, kill -9 twice
//! then `--resume` equals a clean export and leaves no open upload, a second run on the same
//! object is refused or takes over, bad targets fail before any request to the API, and no
//! secret shows.

use crate::common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::s3::{self, SECRET_KEY, SESSION_TOKEN};
use common::*;
use serde_json::Value;
use xp_export::emulator::{Config, Emulator};

/// `xp-export` pointed at `emu` and at the S3 server.
fn xp(emu: &Emulator) -> Command {
    let mut c = cmd(emu);
    c.envs(s3::server().env());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("the binary runs")
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

/// What the same export writes to a local file.
fn local(emu: &Emulator, name: &str, args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let mut c = cmd(emu);
    c.args(["-q", "export"]).args(args).arg("-o").arg(&path);
    ok(&run(c));
    std::fs::read(&path).unwrap()
}

/// The hidden record a finished export leaves beside `key`.
fn record_of(key: &str) -> String {
    side(key, "complete.json")
}

fn side(key: &str, file: &str) -> String {
    match key.rsplit_once('/') {
        Some((folder, name)) => format!("{folder}/.{name}.xp-export/{file}"),
        None => format!(".{key}.xp-export/{file}"),
    }
}

/// How many parts the checkpoint beside `key` names.
async fn parts_uploaded(bucket: &str, key: &str) -> usize {
    let Some(bytes) = s3::server()
        .get(bucket, &side(key, "checkpoint.json"))
        .await
    else {
        return 0;
    };
    let cp: Value = serde_json::from_slice(&bytes).unwrap();
    // Text formats: the multipart upload's parts; Parquet: the part files kept in the bucket.
    let upload = cp["upload"]["parts"].as_array().map_or(0, Vec::len);
    upload.max(cp["parts"]["files"].as_array().map_or(0, Vec::len))
}

/// Starts `c`, and kills it with SIGKILL once the checkpoint beside `key` names `parts` parts.
async fn kill_at_parts(mut c: Command, bucket: &str, key: &str, parts: usize) {
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while parts_uploaded(bucket, key).await < parts {
        assert!(Instant::now() < deadline, "no checkpoint of {parts} parts");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_text_format_round_trips_byte_for_byte_and_the_object_stands_alone() {
    let server = s3::server();
    // 60,000 rows of NDJSON are two parts (a multipart upload); the others one put.
    let emu = emulator(60_000).await;
    let bucket = server.bucket("formats");
    for name in [
        "rows.ndjson",
        "rows.csv",
        "rows.json",
        "rows.ndjson.gz",
        "rows.parquet",
    ] {
        let key = format!("day=2026-12-01/{name}");
        let dir = tempfile::tempdir().unwrap();
        let summary = dir.path().join("summary.json");
        let mut c = xp(&emu);
        c.args(["-q", "export", "-o"])
            .arg(format!("s3://{bucket}/{key}"))
            .arg("--summary-json")
            .arg(&summary);
        ok(&run(c));
        let object = server.get(&bucket, &key).await.expect("the object");
        assert!(
            object == local(&emu, name, &[]),
            "{name} differs from the file export"
        );
        let report: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
        assert_eq!(report["output"], format!("s3://{bucket}/{key}"), "{name}");
        assert_eq!(report["bytes"], object.len() as u64, "{name}");
        assert!(
            report["etag"].as_str().is_some_and(|e| !e.is_empty()),
            "{report}"
        );
        assert_eq!(report["rows"], 60_000, "{name}");
    }
    let mut expected: Vec<String> = [
        "rows.ndjson",
        "rows.csv",
        "rows.json",
        "rows.ndjson.gz",
        "rows.parquet",
    ]
    .iter()
    .flat_map(|n| {
        let key = format!("day=2026-12-01/{n}");
        [record_of(&key), key]
    })
    .collect();
    expected.sort();
    assert_eq!(
        server.keys(&bucket).await,
        expected,
        "only the objects and their records"
    );
    assert_eq!(server.open_uploads(&bucket), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_is_not_replaced_without_restart() {
    let server = s3::server();
    let emu = emulator(500).await;
    let bucket = server.bucket("create-only");
    server
        .put(&bucket, "rows.ndjson", b"someone else's\n")
        .await;
    let url = format!("s3://{bucket}/rows.ndjson");
    let mut c = xp(&emu);
    c.args(["export", "-o", &url]);
    let out = run(c);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{url} exists: an export does not replace an object"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(emu.requests(), 0, "refused before any request to the API");
    assert_eq!(
        server.get(&bucket, "rows.ndjson").await.unwrap(),
        b"someone else's\n"
    );
    let mut c = xp(&emu);
    c.args(["-q", "export", "--restart", "-o", &url]);
    ok(&run(c));
    assert_eq!(
        server.get(&bucket, "rows.ndjson").await.unwrap(),
        local(&emu, "rows.ndjson", &[])
    );
    // Finished: a --resume says so and changes nothing; another run is refused.
    let mut c = xp(&emu);
    c.args(["export", "--resume", "-o", &url]);
    let out = run(c);
    ok(&out);
    assert!(
        stderr(&out).contains("is already complete: 500 rows"),
        "{}",
        stderr(&out)
    );
    let mut c = xp(&emu);
    c.args(["export", "-o", &url]);
    assert_eq!(run(c).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_then_resumed_equals_a_clean_export_and_leaves_no_upload() {
    let server = s3::server();
    // About 80 MB of NDJSON: ten parts of 8 MiB, fetched slowly enough to be killed between
    // them; compressed, about 11 MB: two parts of 5 MiB and the last.
    let emu = Emulator::start(
        Config::default()
            .records(400_000)
            .latency(Duration::from_millis(2)),
    )
    .await
    .unwrap();
    for (name, part_bytes, kills) in [
        ("rows.ndjson", "8388608", [2, 4]),
        ("rows.ndjson.gz", "5242880", [1, 2]),
    ] {
        let bucket = server.bucket("killed");
        let url = format!("s3://{bucket}/{name}");
        let export = |resume: bool| {
            let mut c = xp(&emu);
            c.args([
                "-q",
                "export",
                "--page-size",
                "2000",
                "--part-bytes",
                part_bytes,
                "-o",
                &url,
            ]);
            if resume {
                c.arg("--resume");
            }
            c
        };
        kill_at_parts(export(false), &bucket, name, kills[0]).await;
        kill_at_parts(export(true), &bucket, name, kills[1]).await;
        // The checkpoint and the upload's marker, as a kill after completing would leave them.
        let mut stale = Vec::new();
        for key in server.keys(&bucket).await {
            if key.contains(".xp-export/") {
                stale.push((key.clone(), server.get(&bucket, &key).await.unwrap()));
            }
        }
        assert!(stale.len() >= 2, "{stale:?}");
        if !name.ends_with(".parquet") {
            assert_eq!(server.open_uploads(&bucket).len(), 1, "the upload is kept");
        }
        ok(&run(export(true)));
        let object = server.get(&bucket, name).await.unwrap();
        let clean = ["--page-size", "2000", "--row-group-rows", "40000"];
        assert!(
            object == local(&emu, name, &clean),
            "{name}: the resumed object differs from a clean export"
        );
        assert_eq!(server.open_uploads(&bucket), Vec::<String>::new());
        assert_eq!(
            server.keys(&bucket).await,
            vec![record_of(name), name.to_string()]
        );
        // Killed after the upload completed, before its checkpoint was removed: a resume
        // finds the object finished and uploads nothing more.
        for (key, bytes) in &stale {
            server.put(&bucket, key, bytes).await;
        }
        let again = run(export(true));
        ok(&again);
        assert!(
            server.get(&bucket, name).await.unwrap() == object,
            "{name} changed"
        );
        assert_eq!(
            server.keys(&bucket).await,
            vec![record_of(name), name.to_string()]
        );
        assert_eq!(server.open_uploads(&bucket), Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_with_percent_signs_and_accents_is_written_under_that_very_key() {
    let server = s3::server();
    let emu = Emulator::start(Config::default().records(2_500))
        .await
        .unwrap();
    let bucket = server.bucket("keys");
    let key = "exports/día=1/filas 100% ok.ndjson";
    let mut c = xp(&emu);
    c.args(["-q", "export", "-o"])
        .arg(format!("s3://{bucket}/{key}"));
    let out = run(c);
    ok(&out);
    assert_eq!(
        server.keys(&bucket).await,
        vec![record_of(key), key.to_string()]
    );
    assert!(server.get(&bucket, key).await.unwrap() == local(&emu, "rows.ndjson", &[]));
    // A rerun finds it by the same key.
    let mut c = xp(&emu);
    c.args(["-q", "export", "-o"])
        .arg(format!("s3://{bucket}/{key}"));
    let again = run(c);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_down_for_seconds_is_waited_for_and_nothing_is_lost() {
    let server = s3::server();
    let proxy = common::outage::Proxy::start(server.addr()).await;
    let emu = Emulator::start(
        Config::default()
            .records(200_000)
            .latency(Duration::from_millis(2)),
    )
    .await
    .unwrap();
    let bucket = server.bucket("outage");
    let mut c = xp(&emu);
    c.env("AWS_ENDPOINT_URL", proxy.url());
    c.args([
        "-q",
        "export",
        "--page-size",
        "2000",
        "--part-bytes",
        "5242880",
        "-o",
    ])
    .arg(format!("s3://{bucket}/rows.ndjson"))
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while parts_uploaded(&bucket, "rows.ndjson").await < 1 {
        assert!(Instant::now() < deadline, "no part uploaded");
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!("ended before the outage: {}", stderr(&out));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Down for six seconds in the middle of the upload: refused, and the requests open cut.
    proxy.down();
    tokio::time::sleep(Duration::from_secs(6)).await;
    proxy.up().await;
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    ok(&out);
    let object = server.get(&bucket, "rows.ndjson").await.unwrap();
    assert!(
        object == local(&emu, "rows.ndjson", &["--page-size", "2000"]),
        "the object differs from a clean export"
    );
    assert_eq!(
        server.keys(&bucket).await,
        vec![record_of("rows.ndjson"), "rows.ndjson".to_string()]
    );
    assert_eq!(server.open_uploads(&bucket), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_object_is_refused_and_of_two_resumes_one_stops() {
    let server = s3::server();
    // About 40 MB, one page at a time at 10 ms: five parts over about a second or two, so the
    // runs below meet while it is under way.
    let emu = Emulator::start(
        Config::default()
            .records(200_000)
            .latency(Duration::from_millis(10)),
    )
    .await
    .unwrap();
    let bucket = server.bucket("two-runs");
    let url = format!("s3://{bucket}/rows.ndjson");
    let export = |extra: &[&str]| {
        let mut c = xp(&emu);
        c.args(["export", "--page-size", "2000", "-o", &url])
            .args(extra);
        c
    };
    let first = export(&["--concurrency", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while parts_uploaded(&bucket, "rows.ndjson").await < 1 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second run is refused: the first one's checkpoint is there.
    let out = run(export(&[]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has an interrupted export"),
        "{}",
        stderr(&out)
    );
    // A resume meanwhile: one of the two stops at its next write of the checkpoint (the
    // resume, if the first wrote it after the resume read it; else the first), saying why.
    let resumed = run(export(&["-q", "--resume"]));
    let first = first.wait_with_output().unwrap();
    let (won, lost) = match (first.status.code(), resumed.status.code()) {
        (Some(2), Some(0)) => (&resumed, &first),
        (Some(0), Some(2)) => (&first, &resumed),
        codes => panic!("{codes:?}: {} / {}", stderr(&first), stderr(&resumed)),
    };
    ok(won);
    assert!(
        stderr(lost).contains("another export is writing"),
        "{}",
        stderr(lost)
    );
    let object = server.get(&bucket, "rows.ndjson").await.unwrap();
    assert!(object == local(&emu, "rows.ndjson", &["--page-size", "2000"]));
    assert_eq!(server.open_uploads(&bucket), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_target_fails_before_any_request_naming_the_store_and_the_cause() {
    let server = s3::server();
    let emu = emulator(100).await;
    let bucket = server.bucket("bad-targets");
    for (target, said) in [
        (
            "s3://no-such-bucket-xp/rows.ndjson".to_string(),
            "S3 bucket s3://no-such-bucket-xp): cannot be read: the bucket does not exist: ",
        ),
        (format!("s3://{bucket}/exports/"), "the key ends in /"),
        (format!("s3://{bucket}"), "no key"),
        ("ftp://host/rows.csv".to_string(), "unknown store"),
        (
            format!("s3://{bucket}/rows.csv?X-Amz-Signature=0123456789abcdef"),
            "no query string",
        ),
    ] {
        let mut c = xp(&emu);
        c.args(["export", "-o", &target]);
        let out = run(c);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{target}: {err}");
        assert!(err.contains(said), "{target}: {err}");
        assert!(!err.contains("0123456789abcdef"), "{err}");
        assert!(
            !err.contains(SECRET_KEY) && !err.contains(SESSION_TOKEN),
            "{err}"
        );
    }
    assert!(err_of_missing_bucket(&emu).contains("NoSuchBucket"));
    // A store that does not answer.
    let mut c = xp(&emu);
    c.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["export", "--timeout", "2", "-o"])
        .arg(format!("s3://{bucket}/rows.ndjson"));
    let out = run(c);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("cannot be read"), "{}", stderr(&out));
    assert_eq!(emu.requests(), 0, "no request to the API");
    assert_eq!(server.keys(&bucket).await, Vec::<String>::new());
}

fn err_of_missing_bucket(emu: &Emulator) -> String {
    let mut c = xp(emu);
    c.args(["export", "-o", "s3://no-such-bucket-xp/rows.ndjson"]);
    stderr(&run(c))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_the_logs_the_summary_or_the_checkpoint() {
    // The logs are read at -vvv, where the libraries trace their requests.
    let server = s3::server();
    let emu = Emulator::start(
        Config::default()
            .records(60_000)
            .latency(Duration::from_millis(2)),
    )
    .await
    .unwrap();
    let bucket = server.bucket("secrets");
    let url = format!("s3://{bucket}/rows.ndjson");
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    // Killed once a part is up, so that the checkpoint is there to read.
    let mut c = xp(&emu);
    c.args(["-q", "export", "--page-size", "1000", "-o", &url]);
    kill_at_parts(c, &bucket, "rows.ndjson", 1).await;
    let checkpoint = server
        .get(&bucket, &side("rows.ndjson", "checkpoint.json"))
        .await
        .unwrap();
    // An endpoint's password, which the store's client writes into its trace lines.
    let password = "hunter2endpointpw";
    let endpoint = server
        .endpoint()
        .replacen("://", &format!("://someone:{password}@"), 1);
    for format in ["text", "json"] {
        let mut c = xp(&emu);
        c.env("AWS_ENDPOINT_URL", &endpoint);
        c.args(["-vvv", "--log-format", format, "export", "--resume"])
            .args(["--page-size", "1000", "-o", &url, "--summary-json"])
            .arg(&summary);
        let out = run(c);
        ok(&out);
        let shown = [
            stderr(&out),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(&summary).unwrap(),
            String::from_utf8_lossy(&checkpoint).into_owned(),
        ];
        for text in shown {
            for secret in [SECRET_KEY, SESSION_TOKEN, emu.apptoken(), password] {
                assert!(!text.contains(secret), "{format}: {secret} shown");
            }
        }
        // Done once; the second format's run finds it complete.
        let _ = std::fs::remove_file(&summary);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_in_the_bucket_continues_and_two_runs_at_once_cannot_both_advance_it() {
    let server = s3::server();
    let emu = Emulator::start(
        Config::default()
            .records(20_000)
            .latency(Duration::from_millis(20)),
    )
    .await
    .unwrap();
    let bucket = server.bucket("state");
    let state = format!("s3://{bucket}/state/push_actions.json");
    let run_to = |key: &str| {
        let mut c = xp(&emu);
        c.args(["export", "--page-size", "1000", "--state", &state, "-o"])
            .arg(format!("s3://{bucket}/{key}"));
        c
    };
    // Two first runs at once: both export everything; only one records it.
    let a = run_to("a.ndjson").stderr(Stdio::piped()).spawn().unwrap();
    let b = run_to("b.ndjson").stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "{codes:?}"
    );
    let lost = if a.status.success() { &b } else { &a };
    assert!(
        stderr(lost).contains("changed since this run read it"),
        "{}",
        stderr(lost)
    );
    for key in ["a.ndjson", "b.ndjson"] {
        let rows = server.get(&bucket, key).await.expect("both outputs stay");
        assert_eq!(rows.iter().filter(|b| **b == b'\n').count(), 20_000);
    }
    let recorded: Value = serde_json::from_slice(
        &server
            .get(&bucket, "state/push_actions.json")
            .await
            .unwrap(),
    )
    .unwrap();
    let newest = emu.records().iter().map(|r| r.action_id).max().unwrap();
    assert_eq!(recorded["newest_action_id"], newest);
    // The next run continues from it: nothing new.
    let out = run(run_to("c.ndjson"));
    ok(&out);
    assert!(stderr(&out).contains("exported 0 rows"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_its_environment_cannot_configure_is_named_before_any_request() {
    let emu = emulator(100).await;
    // No AZURE_STORAGE_* at all: no account to write to.
    let mut c = cmd(&emu);
    c.args(["export", "-o", "az://container/rows.ndjson"]);
    let out = run(c);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("az://container/rows.ndjson (Azure Blob Storage container az://container)"),
        "{err}"
    );
    assert!(
        err.contains("cannot be configured from the environment"),
        "{err}"
    );
    assert_eq!(emu.requests(), 0);
}

/// The most memory a process has held so far (VmHWM), in KiB; `None` once it is gone.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Runs `c` to its end, reading its peak RSS as it runs; the peak in KiB.
async fn peak_of(mut c: Command) -> u64 {
    let mut child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ok(&child.wait_with_output().unwrap());
    assert!(peak > 0, "the peak was read");
    peak
}

/// 2,000,000 rows to S3 hold at most the parts in flight and the store client's buffers more
/// than the same export to a file: the upload adds no memory that grows with the rows. (The bound of the release build, 100 MiB, is measured by
/// `benches/perf.py --only object`; this debug build holds more for every target.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_million_rows_to_s3_hold_no_more_than_a_file_export_and_its_parts() {
    let server = s3::server();
    let emu = emulator(2_000_000).await;
    let bucket = server.bucket("memory");
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let export = |target: &str| {
        let mut c = xp(&emu);
        c.args(["-q", "export", "--page-size", "5000", "--summary-json"])
            .arg(&summary)
            .args(["-o", target]);
        c
    };
    let file = dir.path().join("rows.ndjson");
    let to_file = peak_of(export(file.to_str().unwrap())).await;
    let to_s3 = peak_of(export(&format!("s3://{bucket}/rows.ndjson"))).await;
    let report: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(report["rows"], 2_000_000);
    assert_eq!(report["bytes"], std::fs::metadata(&file).unwrap().len());
    let shown = format!(
        "peak RSS to S3 {} MiB, to a file {} MiB",
        to_s3 / 1024,
        to_file / 1024
    );
    // Four parts of 8 MiB (filling, ready, queued, on the wire) and the client's buffers.
    assert!(to_s3 <= to_file + 64 * 1024, "{shown}");
    assert_eq!(server.open_uploads(&bucket), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_aborts_an_upload_whose_checkpoint_was_damaged_or_lost() {
    let server = s3::server();
    let emu = Emulator::start(
        Config::default()
            .records(100_000)
            .latency(Duration::from_millis(5)),
    )
    .await
    .unwrap();
    for damage in ["edited", "deleted"] {
        let bucket = server.bucket("lost-checkpoint");
        let url = format!("s3://{bucket}/rows.ndjson");
        let export = |extra: &[&str]| {
            let mut c = xp(&emu);
            c.args(["-q", "export", "--page-size", "1000", "-o", &url])
                .args(extra);
            c
        };
        kill_at_parts(export(&[]), &bucket, "rows.ndjson", 1).await;
        assert_eq!(server.open_uploads(&bucket).len(), 1);
        let checkpoint = side("rows.ndjson", "checkpoint.json");
        match damage {
            "edited" => server.put(&bucket, &checkpoint, b"{}").await,
            _ => {
                use object_store::ObjectStoreExt;
                let key = object_store::path::Path::from(checkpoint.as_str());
                server.client(&bucket).delete(&key).await.unwrap();
            }
        }
        if damage == "edited" {
            let out = run(export(&["--resume"]));
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("cannot resume from"),
                "{}",
                stderr(&out)
            );
        }
        ok(&run(export(&["--restart"])));
        assert_eq!(
            server.open_uploads(&bucket),
            Vec::<String>::new(),
            "{damage}: the upload is aborted"
        );
        assert_eq!(
            server.keys(&bucket).await,
            vec![record_of("rows.ndjson"), "rows.ndjson".to_string()],
            "{damage}"
        );
        let object = server.get(&bucket, "rows.ndjson").await.unwrap();
        assert!(object == local(&emu, "rows.ndjson", &["--page-size", "1000"]));
    }
}
