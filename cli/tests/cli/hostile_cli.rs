//! The command line as a careless user drives it: absurd flag values, hints to continue that
//! must work as written, a summary aimed at the data, SIGTERM, `--where` and `--select`
//! mistakes. Each runs the built binary against the in-process emulator.

use crate::common;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xp_export::emulator::Emulator;

fn run(mut c: Command) -> Output {
    c.output().expect("the binary runs")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_flags_out_of_range_are_usage_errors_never_panics() {
    let emu = emulator(100).await;
    let cases: &[(&[&str], &str)] = &[
        (&["--timeout", "1e20"], "--timeout"),
        (&["--timeout", "0"], "--timeout"),
        (&["--timeout=-1"], "--timeout"),
        (&["--timeout", "NaN"], "--timeout"),
        (&["--timeout", "inf"], "--timeout"),
        (&["--max-rps", "1e-300"], "--max-rps"),
        (&["--max-rps", "0"], "--max-rps"),
        (&["--max-rps", "nan"], "--max-rps"),
        (&["--page-size", "0"], "--page-size"),
        (&["--page-size", "18446744073709551615"], "--page-size"),
        (&["--offset", "18446744073709551615"], "--offset"),
        (&["--concurrency", "0"], "--concurrency"),
        (&["--concurrency", "100000"], "--concurrency"),
        (&["--max-page-bytes", "0"], "--max-page-bytes"),
        (&["--max-retries", "4294967295"], "--max-retries"),
        (
            &["--retry-base-ms", "18446744073709551615"],
            "--retry-base-ms",
        ),
        (&["--retry-max-ms", "99999999999"], "--retry-max-ms"),
        (
            &["--retry-base-ms", "5000", "--retry-max-ms", "100"],
            "--retry-max-ms",
        ),
        (&["--max-rows", "0"], "--max-rows"),
        (&["--max-rows=-1"], "--max-rows"),
    ];
    for (args, flag) in cases {
        let mut c = cmd(&emu);
        c.arg("export").args(*args);
        let out = run(c);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?} names the flag: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing exported");
    }
    let emulate: &[(&[&str], &str)] = &[
        (&["--fault-rate", "2"], "--fault-rate"),
        (&["--fault-rate", "NaN"], "--fault-rate"),
        (&["--latency-ms", "18446744073709551615"], "--latency-ms"),
        (&["--records", "18446744073709551615"], "--records"),
        (&["--max-limit", "0"], "--max-limit"),
        (&["--port", "65536"], "--port"),
    ];
    for (args, flag) in emulate {
        let out = Command::new(BIN)
            .args(["emulate", "--port", "0"])
            .args(*args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    let out = Command::new(BIN)
        .args(["demo", "--records", "99999999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// Exports to standard output (into a file) with `args`, stops the export with `sig` once 500
/// rows are out, and gives the rows written and the flags the hint says to add.
fn stop_and_read_hint(emu: &Emulator, args: &[&str], sig: &str, dir: &Path) -> (Vec<u64>, String) {
    let first = dir.join("first.ndjson");
    let mut c = cmd(emu);
    c.args(args)
        .stdout(File::create(&first).unwrap())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read(&first)
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        < 500
    {
        assert!(Instant::now() < deadline, "no rows came out");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the signal"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    let code = if sig == "TERM" { 143 } else { 130 };
    assert_eq!(out.status.code(), Some(code), "{err}");
    let hint = err
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("a hint between backticks: {err}"));
    (
        ndjson_ids(&std::fs::read(&first).unwrap()),
        hint.to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hint_after_a_stopped_stdout_export_is_a_command_that_works() {
    let emu = common::slow_emulator(4_000).await;
    let dir = tempfile::tempdir().unwrap();
    let base = ["export", "--page-size", "100", "--concurrency", "1"];
    let cases: &[(&[&str], &str, &str)] = &[
        (&[], "INT", "--after"),
        (&["--mode", "keyset"], "TERM", "--mode keyset --after"),
        (&["--max-rows", "1750"], "INT", "--max-rows"),
        (&["--no-seam-check"], "TERM", "--offset"),
        (
            &["--select", "action_id,error", "--offset", "300"],
            "INT",
            "--offset",
        ),
    ];
    for (extra, sig, expected_hint) in cases {
        let args: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
        let reference = run({
            let mut c = cmd(&emu);
            c.args(&args);
            c
        });
        assert!(reference.status.success(), "{}", stderr(&reference));
        let (mut ids, hint) = stop_and_read_hint(&emu, &args, sig, dir.path());
        assert!(hint.contains(expected_hint), "{extra:?}: {hint}");
        let mut c = cmd(&emu);
        c.args(&args).args(hint.split_whitespace());
        let rest = run(c);
        assert!(
            rest.status.success(),
            "{extra:?} + {hint}: {}",
            stderr(&rest)
        );
        ids.extend(ndjson_ids(&rest.stdout));
        assert_eq!(
            ids,
            ndjson_ids(&reference.stdout),
            "{extra:?}: the continued export + {hint} lost or repeated rows"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_saves_the_checkpoint_and_resume_completes_the_file() {
    let emu = common::slow_emulator(6_000).await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["export", "--page-size", "100", "--concurrency", "1", "-o"];
    let reference = dir.path().join("reference.csv");
    let mut c = cmd(&emu);
    c.args(args).arg(&reference);
    assert!(run(c).status.success());

    let path = dir.path().join("out.csv");
    let mut c = cmd(&emu);
    c.args(["export", "--checkpoint-every", "0"])
        .args(&args[1..])
        .arg(&path)
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpointed_rows(&path) < 500 {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert!(err.contains("SIGTERM"), "{err}");
    assert!(err.contains("--resume"), "{err}");
    assert!(checkpointed_rows(&path) >= 500, "the checkpoint is saved");
    assert!(!path.exists(), "the final name appears only when complete");

    let mut c = cmd(&emu);
    c.args(["export", "--page-size", "100", "--resume", "-o"])
        .arg(&path);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&reference).unwrap()
    );
}

#[test]
fn sigterm_stops_the_emulator_cleanly() {
    let mut child = Command::new(BIN)
        .args(["emulate", "--port", "0", "--records", "10", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("XTREMEPUSH_API_URL="), "{line}");
    signal(&child, "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_aimed_at_the_data_is_refused_before_anything_is_written() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.ndjson");
    std::fs::write(&data, "precious\n").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, emu.apptoken()).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("data.ndjson", "data.ndjson", "is the output"),
        ("./data.ndjson", "data.ndjson", "is the output"),
        ("link.json", "data.ndjson", "is the output"),
        (".data.ndjson.partial", "data.ndjson", "partial file"),
        (".data.ndjson.checkpoint.json", "data.ndjson", "checkpoint"),
        (
            ".data.ndjson.complete",
            "data.ndjson",
            "record of a finished export",
        ),
        ("data.ndjson", "link.json", "is the output"),
    ];
    for (summary, output, message) in cases {
        let mut c = cmd(&emu);
        c.current_dir(dir.path())
            .args(["export", "-o", output, "--summary-json", summary]);
        let out = run(c);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{summary} vs {output}: {err}");
        assert!(err.contains(message), "{summary} vs {output}: {err}");
        assert_eq!(std::fs::read_to_string(&data).unwrap(), "precious\n");
    }
    // The apptoken file is neither the summary nor the output.
    for flag in ["--summary-json", "-o"] {
        let mut c = cmd(&emu);
        c.current_dir(dir.path())
            .args(["export", "--apptoken-file", "token", flag, "./token"]);
        if flag == "--summary-json" {
            c.args(["-o", "x.ndjson"]);
        }
        let out = run(c);
        assert_eq!(out.status.code(), Some(2), "{flag}: {}", stderr(&out));
        assert!(stderr(&out).contains("apptoken file"), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&token).unwrap(), emu.apptoken());
    }
}

/// `--apptoken-file -` with the token file on standard input: no output may reach that file by
/// another name (`/dev/stdin`, `/dev/fd/0`, its own path), told by device and inode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_written_over_the_token_read_from_standard_input() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{}\n", emu.apptoken())).unwrap();
    let out = dir.path().join("out.ndjson");
    let out = out.to_str().unwrap();
    let token_path = token.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["--summary-json", "/dev/stdin", "-o", out],
        &["-o", "/dev/stdin"],
        &["-o", "/dev/fd/0"],
        &["--state", "/dev/stdin", "-o", out],
        &["--summary-json", token_path],
    ];
    for args in cases {
        let output = cmd(&emu)
            .env_remove("XTREMEPUSH_APPTOKEN")
            .args(["export", "--apptoken-file", "-"])
            .args(*args)
            .stdin(File::open(&token).unwrap())
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is standard input, which the apptoken is read from (--apptoken-file -)"),
            "{args:?}: {err}"
        );
        assert!(err.contains(args[1]), "names the output: {err}");
        assert_eq!(
            std::fs::read_to_string(&token).unwrap().trim(),
            emu.apptoken(),
            "{args:?}: the token file is intact"
        );
        assert!(!Path::new(out).exists(), "{args:?}");
    }
    // The token on standard input, the summary elsewhere: the export runs.
    let summary = dir.path().join("summary.json");
    let output = cmd(&emu)
        .env_remove("XTREMEPUSH_APPTOKEN")
        .args([
            "export",
            "--apptoken-file",
            "-",
            "-o",
            out,
            "--summary-json",
        ])
        .arg(&summary)
        .stdin(File::open(&token).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(ndjson_ids(&std::fs::read(out).unwrap()).len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_summary_fails_the_command_and_keeps_the_export() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    // A directory where the summary goes: found only when it is written.
    let taken = dir.path().join("summary.json");
    std::fs::create_dir(&taken).unwrap();
    let mut c = cmd(&emu);
    c.args(["export", "-o"])
        .arg(&path)
        .arg("--summary-json")
        .arg(&taken);
    let out = run(c);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot write the summary"), "{err}");
    assert!(err.contains("out.ndjson"), "says where the data is: {err}");
    assert_eq!(ndjson_ids(&std::fs::read(&path).unwrap()).len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn where_and_select_mistakes_are_usage_errors() {
    let emu = emulator(300).await;
    let cases: &[(&[&str], &str)] = &[
        (&["--where", "campaign_id == 1"], "use ="),
        (&["--where", "campaign_id <> 1"], "use !="),
        (
            &["--where", "device_id = 123456789012345678901234567"],
            "past 64 bits",
        ),
        (
            &["--where", "device_id in 1, 99999999999999999999"],
            "past 64 bits",
        ),
        (&["--where", "error_message in \"a, b"], "no closing"),
        (&["--select", "action_id,,error"], "empty field name"),
        (&["--select", ""], "--select"),
        (&["--select", "action_id,action_id"], "twice"),
        (&["--order", " "], "--order"),
        (&["--after", "5"], "--offset"),
    ];
    for (args, message) in cases {
        let mut c = cmd(&emu);
        c.arg("export").args(*args);
        let out = run(c);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert_eq!(emu.request_log().len(), 0, "{args:?}: nothing was sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quoted_comma_stays_inside_its_in_list_item() {
    let emu = emulator(3_000).await;
    let message = "Payload rejected: \"title\" is too long, max 64";
    let expected: Vec<u64> = emu
        .records()
        .iter()
        .rev()
        .filter(|r| r.error_message.as_deref() == Some(message))
        .map(|r| r.action_id)
        .collect();
    assert!(!expected.is_empty());
    let mut c = cmd(&emu);
    c.args([
        "export",
        "--where",
        &format!("error_message in '{message}', \"no, such\""),
    ]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout), expected);
}

/// Rows on standard output (a file or a pipe) and `--summary-json /dev/stdout` (or
/// `/dev/fd/1`): the summary would be written into the rows' stream, a multi-line JSON object
/// after the last NDJSON row, with exit 0. Refused, told by device and inode, before anything
/// is exported; a summary in a file of its own beside rows on standard output still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_is_not_written_into_the_rows_on_standard_output() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("rows.ndjson");
    for (flag, name) in [
        ("--summary-json", "/dev/stdout"),
        ("--summary-json", "/dev/fd/1"),
        ("--state", "/dev/stdout"),
    ] {
        let output = cmd(&emu)
            .args(["export", flag, name])
            .stdout(File::create(&rows).unwrap())
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{flag} {name}: {err}");
        assert!(
            err.contains("is standard output, where the rows go"),
            "{err}"
        );
        assert_eq!(std::fs::read(&rows).unwrap(), b"", "{flag} {name}");
        assert_eq!(emu.requests(), 0);
    }
    let summary = dir.path().join("summary.json");
    let output = cmd(&emu)
        .args(["export", "--summary-json"])
        .arg(&summary)
        .stdout(File::create(&rows).unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&rows).unwrap().lines().count(), 30);
}

/// A summary in a directory that is not there (a typo, or a symlink into one) is refused
/// before the first request: the whole export used to run, then fail to write the summary
/// (exit 1), and every run again the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_summary_in_a_missing_directory_is_refused_before_anything_is_exported() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.ndjson");
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(dir.path().join("gone").join("s.json"), &link).unwrap();
    for summary in [dir.path().join("missing").join("s.json"), link] {
        let output = cmd(&emu)
            .args(["export", "-o"])
            .arg(&out)
            .arg("--summary-json")
            .arg(&summary)
            .output()
            .unwrap();
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{}: {err}",
            summary.display()
        );
        assert!(err.contains("does not exist"), "{err}");
        assert!(!out.exists(), "{}", summary.display());
        assert_eq!(emu.requests(), 0);
    }
}
