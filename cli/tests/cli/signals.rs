//! Ctrl-C, SIGTERM and SIGHUP at every moment of an export, the probes around it included: a
//! shard's key range, an OAuth token, a lookback's first row before the rows, the newest row's
//! `create_time` for `--state` after them. Each stops the command with 128 + the signal's
//! number and one summary line, last, leaving nothing half-written and the state as it was.

use crate::common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xp_export::emulator::{self, Config, Emulator, Fault, LoggedRequest};

/// A fixed end in the past: every emulated row was created before it.
const BOUNDED: &str = "create_time < 1700000000";

/// Long enough that a stalled request is still in flight when the signal comes.
const STALL: Duration = Duration::from_secs(20);

fn stalled(r: &LoggedRequest) -> bool {
    r.fault == Some(Fault::Stall(STALL)) && r.status == 0
}

/// Spawns `c`, waits until the emulator holds a request stalled for [`STALL`] (scripted
/// by the caller with `emu.inject`), sends `signal` and returns what the command printed,
/// with the stalled request.
fn signal_while_stalled(emu: &Emulator, mut c: Command, signal: &str) -> (Output, LoggedRequest) {
    // Those of earlier runs may still be stalled in the emulator.
    let earlier = emu.request_log().len();
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let request = loop {
        if let Some(r) = emu.request_log().into_iter().skip(earlier).find(stalled) {
            break r;
        }
        let exited = child.try_wait().unwrap();
        assert!(exited.is_none(), "exited before the stall: {exited:?}");
        assert!(Instant::now() < deadline, "no request was stalled");
        std::thread::sleep(Duration::from_millis(5));
    };
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    (child.wait_with_output().unwrap(), request)
}

/// The one line a stopped command prints as text, or the one JSON summary line.
fn only_line(out: &Output) -> String {
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    lines[0].to_string()
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_a_shards_probe_stops_it_with_its_code_and_nothing_written() {
    let emu = emulator(500).await;
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("part.ndjson");
    let cases = [
        ("TERM", 143, "SIGTERM", "text"),
        ("INT", 130, "Ctrl-C", "text"),
        ("HUP", 129, "SIGHUP", "text"),
        ("HUP", 129, "hangup", "json"),
    ];
    for (signal, code, says, format) in cases {
        emu.inject([Fault::Stall(STALL)]);
        let mut c = cmd(&emu);
        c.args(["--log-format", format, "export", "--shard", "0/2"])
            .args(["--where", BOUNDED, "-o"])
            .arg(&part);
        let (out, _) = signal_while_stalled(&emu, c, signal);
        assert_eq!(out.status.code(), Some(code), "{signal}: {}", stderr(&out));
        let line = only_line(&out);
        assert!(line.contains(says), "{signal}: {line}");
        assert!(line.contains("key range for --shard 0/2"), "{line}");
        if format == "json" {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["event"], "summary", "{line}");
            assert_eq!(v["exit_code"], code, "{line}");
        }
        assert_eq!(names(dir.path()), Vec::<String>::new(), "{signal}");
    }
    // With OAuth, the first request is the token's: a signal cuts it short the same way.
    let emu = Emulator::start(Config::default().records(50))
        .await
        .unwrap();
    emu.inject([Fault::Stall(STALL)]);
    let mut c = cmd(&emu);
    c.env_remove("XTREMEPUSH_APPTOKEN")
        .env("XTREMEPUSH_CLIENT_ID", emulator::DEFAULT_CLIENT_ID)
        .env("XTREMEPUSH_CLIENT_SECRET", emulator::DEFAULT_CLIENT_SECRET)
        .args(["export", "--shard", "1/2", "--where", BOUNDED, "-o"])
        .arg(&part);
    let (out, token) = signal_while_stalled(&emu, c, "TERM");
    assert_eq!(
        token.limit, None,
        "the token's request, not a page's, was in flight"
    );
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(only_line(&out).contains("SIGTERM"), "{}", stderr(&out));
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_a_state_probe_leaves_the_state_as_it_was() {
    let emu = emulator(50).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("state.json");
    let export = |state: &Path, out: &Path, extra: &[&str]| {
        let mut c = cmd(&emu);
        c.args(["export", "--page-size", "100", "--concurrency", "1"])
            .arg("--state")
            .arg(state)
            .arg("-o")
            .arg(out)
            .args(extra);
        c
    };
    // How many requests the rows take: those of a whole run but its last, the probe.
    let dry = tempfile::tempdir().unwrap();
    let earlier = emu.request_log().len();
    let run = export(&dry.path().join("s"), &dry.path().join("o"), &[])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    let rows_requests = emu.request_log().len() - earlier - 1;
    let export = |out: &str, extra: &[&str]| export(&state, &d.join(out), extra);
    // After the rows: their requests are answered, the newest row's create_time is not; the
    // output is complete, the state not written.
    let answered = std::iter::repeat_n(Fault::Stall(Duration::ZERO), rows_requests);
    emu.inject(answered.chain([Fault::Stall(STALL)]));
    let (out, probe) = signal_while_stalled(&emu, export("1.ndjson", &[]), "TERM");
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(probe.limit, Some(1), "the probe of one row was in flight");
    let line = only_line(&out);
    assert!(line.contains("stopped by SIGTERM"), "{line}");
    assert!(line.contains("left as it was"), "{line}");
    assert!(!state.exists(), "no state: the next run repeats the window");
    assert_eq!(
        ndjson_ids(&std::fs::read(d.join("1.ndjson")).unwrap()).len(),
        50
    );
    // A run that completes writes it; then a lookback's probe, before the rows, is stopped
    // with the state untouched and nothing written.
    let done = export("2.ndjson", &[]).output().unwrap();
    assert!(done.status.success(), "{}", stderr(&done));
    let before = std::fs::read(&state).unwrap();
    emu.inject([Fault::Stall(STALL)]);
    let (out, _) = signal_while_stalled(&emu, export("3.ndjson", &["--lookback", "1h"]), "INT");
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(only_line(&out).contains("Ctrl-C"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "the state is untouched"
    );
    let third: Vec<_> = names(d).into_iter().filter(|n| n.contains("3.")).collect();
    assert_eq!(third, Vec::<String>::new(), "nothing of the third run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_signal_the_summary_times_the_whole_run() {
    let emu = Emulator::start(
        Config::default()
            .records(100_000)
            .latency(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.ndjson");
    let summary = dir.path().join("summary.json");
    let started = Instant::now();
    let mut child = cmd(&emu)
        .args(["--log-format", "json", "export", "--page-size", "100"])
        .args(["--concurrency", "1", "--checkpoint-every", "0", "-o"])
        .arg(&output)
        .arg("--summary-json")
        .arg(&summary)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second and a half into the run, with pages saved: the last page lies some way back.
    while checkpointed_rows(&output) < 300 || started.elapsed() < Duration::from_millis(1_500) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before the signal"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let signalled_after = started.elapsed().as_secs_f64();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let last: serde_json::Value =
        serde_json::from_str(stderr(&out).lines().last().unwrap()).unwrap();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    for (what, s) in [("the summary line", &last), ("--summary-json", &file)] {
        let elapsed = s["elapsed_seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: {s}"));
        assert!(
            elapsed >= 0.8 * signalled_after,
            "{what}: {elapsed} s of a run signalled after {signalled_after} s"
        );
        let rows = s["rows_this_run"].as_u64().unwrap();
        assert!(rows >= 300, "{what}: {s}");
        let rate = s["rows_per_second"].as_f64().unwrap();
        assert_eq!(rate, (rows as f64 / elapsed).round(), "{what}: {s}");
    }
}
