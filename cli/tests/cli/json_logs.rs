//! `--log-format json`: every line on stderr is one JSON object (what `jq` reads line by line),
//! with retries, progress and, last, the summary carrying the stop reason and exit code; and no
//! secret in any of it, at any verbosity. Every line has the four keys log shippers (Vector,
//! Fluent Bit, Datadog, Loki) index: `timestamp`, `level`, `target` and a `message`.

use crate::common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use xp_export::emulator::{Config, Emulator, Fault};

/// Every line of stderr as a JSON object with the shippers' four keys: an RFC 3339 UTC
/// `timestamp`, an uppercase `level`, a `target` and a non-empty `message`; a line that is
/// not one fails the test.
fn lines(out: &Output) -> Vec<Value> {
    let lines = lines_of(&out.stderr);
    assert!(!lines.is_empty(), "nothing on stderr");
    // `jq` where it is installed reads it the same way.
    if let Ok(mut jq) = Command::new("jq")
        .args(["-e", "-c", "."])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        jq.stdin.take().unwrap().write_all(&out.stderr).unwrap();
        let status = jq.wait_with_output().unwrap();
        assert!(status.status.success(), "jq: {status:?}");
    }
    lines
}

/// `stderr`'s lines, each checked as [`lines`] checks them.
fn lines_of(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            assert!(v.is_object(), "{l}");
            let timestamp = v["timestamp"].as_str().unwrap_or_else(|| panic!("{l}"));
            assert!(
                timestamp.len() > 20
                    && timestamp.as_bytes()[10] == b'T'
                    && timestamp.ends_with('Z'),
                "not RFC 3339 UTC: {l}"
            );
            let level = v["level"].as_str().unwrap_or_else(|| panic!("{l}"));
            assert!(
                ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level),
                "{l}"
            );
            let target = v["target"]
                .as_str()
                .unwrap_or_else(|| panic!("no target: {l}"));
            assert!(!target.is_empty(), "an empty target: {l}");
            let message = v["message"]
                .as_str()
                .unwrap_or_else(|| panic!("no message: {l}"));
            assert!(!message.trim().is_empty(), "an empty message: {l}");
            v
        })
        .collect()
}

fn summary(lines: &[Value]) -> &Value {
    let last = lines.last().unwrap();
    assert_eq!(last["event"], "summary", "the last line is the summary");
    assert_eq!(last["target"], "xp_export_cli::summary", "{last}");
    let summaries = lines.iter().filter(|l| l["event"] == "summary").count();
    assert_eq!(summaries, 1, "one summary");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_export_logs_retries_progress_and_a_summary_as_json_lines() {
    let emu = Emulator::start(
        Config::default()
            .records(3_000)
            .fault_rate(0.3)
            .fault_kinds([Fault::Status(500), Fault::Reset]),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let out = cmd(&emu)
        .args(["--log-format", "json", "--progress-interval", "0"])
        .args(["export", "--page-size", "100", "--retry-base-ms", "1", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = lines(&out);
    let retries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "retrying page")
        .collect();
    assert!(!retries.is_empty(), "30% faults and no retry logged");
    for r in &retries {
        assert_eq!(r["level"], "WARN");
        assert_eq!(r["target"], "xp_export::paginate::fetch", "{r}");
        assert!(r["offset"].is_u64() && r["attempt"].is_u64(), "{r}");
        assert!(r["cause"].as_str().unwrap().contains("offset"), "{r}");
    }
    let progress: Vec<u64> = lines
        .iter()
        .filter(|l| l["event"] == "progress")
        .map(|l| {
            assert_eq!(l["target"], "xp_export_cli::progress", "{l}");
            assert_eq!(l["level"], "INFO", "{l}");
            let rows = l["rows"].as_u64().unwrap();
            let said = l["message"].as_str().unwrap().replace(',', "");
            assert!(said.starts_with(&format!("{rows} rows")), "{l}");
            rows
        })
        .collect();
    let s = summary(&lines);
    assert_eq!(s["level"], "INFO", "a complete, guaranteed export: {s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("exported 3,000 rows"),
        "{s}"
    );
    assert_eq!(
        Some(progress.len() as u64),
        s["pages"].as_u64(),
        "one progress line per page at interval 0"
    );
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&3_000));

    assert_eq!(s["stop_reason"], "complete");
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["rows"], 3_000);
    assert_eq!(s["complete"], true);
    assert_eq!(s["retries_total"].as_u64(), Some(retries.len() as u64));
    assert_eq!(s["output"], path.display().to_string());
    let mut ids = ndjson_ids(&std::fs::read(&path).unwrap());
    ids.dedup();
    assert_eq!(ids.len(), 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_comes_at_the_interval_not_on_every_page() {
    let emu = emulator(2_000).await;
    let out = cmd(&emu)
        .env("XTREMEPUSH_LOG_FORMAT", "json")
        .args(["export", "--page-size", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = lines(&out);
    let progress = lines.iter().filter(|l| l["event"] == "progress").count();
    // 200 pages in well under the default 5 s: the first page's line only.
    assert_eq!(progress, 1, "{lines:?}");
    assert_eq!(summary(&lines)["rows"], 2_000);
    assert_eq!(ndjson_ids(&out.stdout).len(), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_ends_with_a_summary_that_says_refused_and_hides_the_token() {
    let emu = emulator(10).await;
    let token = "tok-WRONG-8812-never-shown";
    let out = cmd(&emu)
        .env("XTREMEPUSH_APPTOKEN", token)
        .args(["-vvv", "--log-format", "json", "export"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains(token), "{err}");
    let lines = lines(&out);
    let s = summary(&lines);
    assert_eq!(s["stop_reason"], "refused");
    assert_eq!(s["exit_code"], 3);
    assert_eq!(s["level"], "ERROR");
    assert!(s["error"].as_str().unwrap().contains("401"), "{s}");
    assert_eq!(s["message"], s["error"], "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_are_a_json_summary_too_even_before_the_flags_parse() {
    let emu = emulator(10).await;
    let cases: [(&[&str], &str); 3] = [
        (
            &["export", "--max-rows", "0", "--log-format=json"],
            "--max-rows",
        ),
        (
            &["--log-format", "json", "export", "--nosuchflag"],
            "--nosuchflag",
        ),
        (
            &["--log-format", "json", "export", "--client-id", "c1"],
            "apptoken",
        ),
    ];
    for (args, named) in cases {
        let out = cmd(&emu)
            .env("XTREMEPUSH_CLIENT_SECRET", "cs-5512-never-shown")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let lines = lines(&out);
        let s = summary(&lines);
        assert_eq!(s["stop_reason"], "usage", "{args:?}");
        assert_eq!(s["exit_code"], 2, "{args:?}");
        assert!(
            s["error"].as_str().unwrap().contains(named),
            "{args:?}: {s}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("cs-5512-never-shown"), "{err}");
    }
    let help = cmd(&emu)
        .args(["--log-format", "json", "--help"])
        .output()
        .unwrap();
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_with_a_summary_that_says_terminated_and_how_far_it_got() {
    let emu = slow_emulator(6_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let mut child = cmd(&emu)
        .args(["--log-format", "json", "export", "--page-size", "100"])
        .args(["--concurrency", "1", "--checkpoint-every", "0", "-o"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpointed_rows(&path) < 300 {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let lines = lines(&out);
    let s = summary(&lines);
    assert_eq!(s["stop_reason"], "terminated");
    assert_eq!(s["exit_code"], 143);
    assert_eq!(s["level"], "WARN", "{s}");
    assert!(s["rows"].as_u64().unwrap() >= 300, "{s}");
    assert!(s["pages"].as_u64().unwrap() >= 3, "{s}");
    assert!(s["notes"][0].as_str().unwrap().contains("--resume"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readable_token_file_is_a_json_warning() {
    let emu = emulator(5).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, emu.apptoken()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = cmd(&emu)
        .env_remove("XTREMEPUSH_APPTOKEN")
        .args(["--log-format", "json", "export", "--apptoken-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = lines(&out);
    if cfg!(unix) {
        let w = lines
            .iter()
            .find(|l| l["event"] == "warning")
            .expect("a warning line");
        assert_eq!(w["level"], "WARN");
        assert_eq!(w["target"], "xp_export_cli::warning", "{w}");
        assert!(w["message"].as_str().unwrap().contains("chmod 600"), "{w}");
    }
    assert_eq!(summary(&lines)["rows"], 5);
}

/// Whether `text` holds a run of 32 hex digits: how the emulator's access tokens look.
fn has_access_token(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        if run >= 32 {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_trace_logs_of_an_oauth_export_show_no_secret_or_access_token() {
    let secret = "cs-JSON-4471-never-shown";
    let emu = Emulator::start(
        Config::default()
            .records(400)
            .latency(Duration::from_millis(5))
            .client_id("json-client")
            .client_secret(secret)
            .token_lifetime(Duration::from_millis(100)),
    )
    .await
    .unwrap();
    let out = cmd(&emu)
        .env_remove("XTREMEPUSH_APPTOKEN")
        .env("XTREMEPUSH_CLIENT_SECRET", secret)
        .args(["-vvv", "--log-format", "json", "--progress-interval", "0"])
        .args(["export", "--client-id", "json-client", "--page-size", "10"])
        .args(["--concurrency", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains(secret), "the client secret shows");
    assert!(!has_access_token(&err), "an access token shows");
    let lines = lines(&out);
    assert!(
        lines.iter().any(|l| l["level"] == "TRACE"),
        "-vvv logs at trace level"
    );
    assert_eq!(summary(&lines)["rows"], 400);
    assert_eq!(ndjson_ids(&out.stdout).len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_export_ends_with_an_error_summary_whose_message_is_the_error() {
    let emu = Emulator::start(
        Config::default()
            .records(500)
            .fault_rate(1.0)
            .fault_kinds([Fault::Status(500)]),
    )
    .await
    .unwrap();
    let out = cmd(&emu)
        .args(["--log-format", "json", "export", "--max-retries", "1"])
        .args(["--retry-base-ms", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = lines(&out);
    let s = summary(&lines);
    assert_eq!(s["stop_reason"], "failed");
    assert_eq!(s["level"], "ERROR", "{s}");
    assert!(s["message"].as_str().unwrap().contains("500"), "{s}");
    assert_eq!(s["message"], s["error"], "{s}");
}

/// A complete export that is not guaranteed (a value stored with U+FFFD in its place) ends
/// with a summary at `WARN`, which a collector alerting on warnings sees; the library's line
/// that names the value keeps its own target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_export_that_is_not_guaranteed_ends_with_a_warn_summary() {
    let server = crate::lone_surrogates::server().await;
    let out = cmd_for(&server)
        .args(["--log-format", "json", "export", "--page-size", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = lines(&out);
    let surrogate = lines
        .iter()
        .find(|l| l["message"].as_str().unwrap().contains("U+FFFD"))
        .expect("a line about the replaced value");
    assert_eq!(surrogate["target"], "xp_export::export::surrogates");
    let s = summary(&lines);
    assert_eq!(s["complete"], true, "{s}");
    assert_eq!(s["guaranteed"], false, "{s}");
    assert_eq!(s["level"], "WARN", "{s}");
    assert!(
        s["message"].as_str().unwrap().contains("not guaranteed"),
        "{s}"
    );
}

/// `emulate --log-format json` keeps to the same lines: its one line on stderr says where it
/// listens, as JSON, and no secret is on it (those are on stdout, for scripts).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_logs_json_lines_too() {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args([
            "--log-format",
            "json",
            "emulate",
            "--port",
            "0",
            "--records",
            "10",
        ])
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    stdout.read_line(&mut url).unwrap();
    assert!(
        url.starts_with("XTREMEPUSH_API_URL=http://127.0.0.1:"),
        "{url}"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = lines(&out);
    let listening = &lines[0];
    assert_eq!(listening["target"], "xp_export_cli::emulate", "{listening}");
    assert_eq!(listening["records"], 10, "{listening}");
    let err = stderr(&out);
    assert!(
        !err.contains(xp_export::emulator::DEFAULT_APPTOKEN),
        "{err}"
    );
    assert!(
        !err.contains(xp_export::emulator::DEFAULT_CLIENT_SECRET),
        "{err}"
    );
}

/// `demo --log-format json`: its paragraphs for the reader are JSON lines too, between the
/// retries and before the summary.
#[test]
fn the_demo_logs_json_lines_too() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--log-format", "json", "demo", "--records", "5000"])
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = lines(&out);
    let said: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "xp_export_cli::demo")
        .collect();
    assert_eq!(said.len(), 2, "{lines:?}");
    assert!(
        said[1]["message"].as_str().unwrap().contains("Checked"),
        "{}",
        said[1]
    );
    summary(&lines);
}
