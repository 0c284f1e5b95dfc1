//! `--state` and `--lookback` through the built binary against the emulator: each run exports
//! what is new since the last complete one, a lookback reads a window again, a failed or
//! killed run leaves the state so the next run repeats its window, and careless use is a
//! usage error that says what to do.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::*;
use serde_json::Value;
use xp_export::emulator::{Emulator, Record};

/// One incremental run into `dir/name` with `--state dir/state.json`: its output, the rows'
/// `action_id`s and its `--summary-json`.
fn run_into(emu: &Emulator, dir: &Path, name: &str, extra: &[&str]) -> (Output, Vec<u64>, Value) {
    let out = dir.join(name);
    let summary = dir.join(format!("{name}.summary.json"));
    let output = cmd(emu)
        .args(["export", "--page-size", "50", "--state"])
        .arg(dir.join("state.json"))
        .arg("-o")
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary)
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    let ids = ndjson_ids(&std::fs::read(&out).unwrap());
    let summary = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    (output, ids, summary)
}

fn state(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("state.json")).unwrap()).unwrap()
}

fn ids_of<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<u64> {
    records.into_iter().map(|r| r.action_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_run_exports_exactly_the_rows_added_since_the_last() {
    let emu = emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    let (_, first, summary) = run_into(&emu, dir.path(), "1.ndjson", &[]);
    assert_eq!(
        first,
        ids_of(emu.records().iter()),
        "the first run exports everything"
    );
    assert_eq!(
        (
            summary["rows_new"].as_u64(),
            summary["rows_reread"].as_u64()
        ),
        (Some(3_000), Some(0))
    );
    let newest = emu.records()[2_999].clone();
    let st = state(dir.path());
    assert_eq!(st["newest_action_id"].as_u64(), Some(newest.action_id));
    assert_eq!(st["newest_create_time"].as_i64(), Some(newest.create_time));
    assert_eq!(st["model"], "push-devices");
    assert!(
        !st.to_string().contains(emu.apptoken()),
        "no secret in the state"
    );

    emu.insert(700);
    let (_, second, summary) = run_into(&emu, dir.path(), "2.ndjson", &[]);
    assert_eq!(second, ids_of(&emu.records()[3_000..]), "only the new rows");
    assert_eq!(
        (
            summary["rows_new"].as_u64(),
            summary["rows_reread"].as_u64()
        ),
        (Some(700), Some(0))
    );
    let newest = emu.records()[3_699].action_id;
    assert_eq!(state(dir.path())["newest_action_id"].as_u64(), Some(newest));

    // Nothing new: no row, and the state keeps its newest row (it never goes back).
    let before = state(dir.path());
    let (output, third, summary) =
        run_into(&emu, dir.path(), "3.ndjson", &["--log-format", "json"]);
    assert!(third.is_empty());
    assert_eq!(summary["rows_new"].as_u64(), Some(0));
    let after = state(dir.path());
    assert_eq!(after["newest_action_id"], before["newest_action_id"]);
    assert_eq!(after["newest_create_time"], before["newest_create_time"]);
    let err = stderr(&output);
    let last: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "summary");
    assert_eq!(
        (last["rows_new"].as_u64(), last["rows_reread"].as_u64()),
        (Some(0), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookback_reads_the_window_before_the_last_newest_row_again() {
    let emu = emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    let campaign = "245625";
    let (_, first, _) = run_into(&emu, dir.path(), "1.ndjson", &["--campaign", campaign]);
    let theirs = |r: &&Record| r.campaign_id == 245_625;
    assert_eq!(first, ids_of(emu.records().iter().filter(theirs)));
    let last = emu.records().iter().rfind(|r| theirs(r)).unwrap().clone();

    emu.insert(500);
    let args = ["--campaign", campaign, "--lookback", "2h"];
    let (_, second, summary) = run_into(&emu, dir.path(), "2.ndjson", &args);
    let records = emu.records();
    let expected: Vec<&Record> = records
        .iter()
        .filter(theirs)
        .filter(|r| r.action_id > last.action_id || r.create_time >= last.create_time - 7_200)
        .collect();
    assert_eq!(second, ids_of(expected.iter().copied()));
    let reread = expected
        .iter()
        .filter(|r| r.action_id <= last.action_id)
        .count() as u64;
    let new = expected.len() as u64 - reread;
    assert!(
        reread > 10 && reread < first.len() as u64 / 2,
        "the window is a part: {reread}"
    );
    assert!(new > 10, "{new}");
    assert_eq!(summary["rows_reread"].as_u64(), Some(reread));
    assert_eq!(summary["rows_new"].as_u64(), Some(new));
    assert_eq!(summary["rows"].as_u64(), Some(reread + new));
}

/// Starts an incremental run into `out`, kills it (SIGKILL) once it has checkpointed 500 rows.
fn start_and_kill(emu: &Emulator, state: &Path, out: &Path) {
    let child = cmd(emu)
        .args([
            "export",
            "--page-size",
            "50",
            "--checkpoint-every",
            "0",
            "--state",
        ])
        .arg(state)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_once_checkpointed(child, out, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_leaves_the_state_so_the_next_run_repeats_its_window() {
    let emu = slow_emulator(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    run_into(&emu, dir.path(), "1.ndjson", &[]);
    emu.insert(4_000);
    let new = ids_of(&emu.records()[1_000..]);
    let state_path = dir.path().join("state.json");
    let before = std::fs::read(&state_path).unwrap();

    let killed = dir.path().join("2.ndjson");
    start_and_kill(&emu, &state_path, &killed);
    assert_eq!(
        std::fs::read(&state_path).unwrap(),
        before,
        "the state is unchanged"
    );
    let copy: PathBuf = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(&state_path, copy.join("state.json")).unwrap();

    // Another run from the same state repeats the whole window: every new row, none lost.
    let (_, again, _) = run_into(&emu, &copy, "again.ndjson", &[]);
    assert_eq!(again, new);

    // Or the killed run is resumed: it completes, then writes the state.
    let (output, resumed, summary) = run_into(&emu, dir.path(), "2.ndjson", &["--resume"]);
    assert!(
        stderr(&output).contains("resumed at offset"),
        "{}",
        stderr(&output)
    );
    assert_eq!(resumed, new, "the resumed output is the window, whole");
    assert_eq!(summary["rows"].as_u64(), Some(4_000));
    let newest = emu.records()[4_999].action_id;
    assert_eq!(state(dir.path())["newest_action_id"].as_u64(), Some(newest));
    assert_eq!(state(&copy)["newest_action_id"].as_u64(), Some(newest));

    // And the next run finds nothing new.
    let (_, next, _) = run_into(&emu, dir.path(), "3.ndjson", &[]);
    assert!(next.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_leaves_the_state_as_it_was() {
    let emu = emulator(500).await;
    let dir = tempfile::tempdir().unwrap();
    run_into(&emu, dir.path(), "1.ndjson", &[]);
    let before = std::fs::read(dir.path().join("state.json")).unwrap();
    emu.insert(300);
    // A server that refuses the first request: the run fails, exit 3, before any row.
    emu.inject([xp_export::emulator::Fault::Status(401)]);
    let output = cmd(&emu)
        .args(["export", "--state"])
        .arg(dir.path().join("state.json"))
        .arg("-o")
        .arg(dir.path().join("2.ndjson"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).unwrap(),
        before
    );
    let (_, second, _) = run_into(&emu, dir.path(), "2.ndjson", &[]);
    assert_eq!(second, ids_of(&emu.records()[500..]));
}

/// `--state LINK` is written through the link, as `-o LINK` is: the target is replaced (its
/// temporary file beside it), the link stays, and the next run continues from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_named_by_a_symlink_is_written_through_it() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    std::os::unix::fs::symlink("kept/daily.json", dir.path().join("state.json")).unwrap();
    let (_, first, _) = run_into(&emu, dir.path(), "1.ndjson", &[]);
    assert_eq!(first, ids_of(emu.records().iter()));
    let link = std::fs::symlink_metadata(dir.path().join("state.json")).unwrap();
    assert!(link.is_symlink(), "the link stays a link");
    assert!(
        kept.join("daily.json").is_file(),
        "the target holds the state"
    );
    emu.insert(40);
    let (_, second, _) = run_into(&emu, dir.path(), "2.ndjson", &[]);
    assert_eq!(
        second,
        ids_of(&emu.records()[300..]),
        "continued from the target"
    );
    assert!(
        std::fs::symlink_metadata(dir.path().join("state.json"))
            .unwrap()
            .is_symlink()
    );
    let target: Value =
        serde_json::from_slice(&std::fs::read(kept.join("daily.json")).unwrap()).unwrap();
    assert_eq!(
        target["newest_action_id"].as_u64(),
        Some(emu.records()[339].action_id)
    );
    let names: Vec<_> = std::fs::read_dir(&kept)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["daily.json"], "no temporary file left");
}

/// A first run from `--since` that found no row: the next run (without `--since`, or with
/// another) exported the whole query. It exports the rows since the first run's `--since`,
/// and says the other `--since` is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_that_finds_nothing_still_anchors_the_next_run() {
    let emu = emulator(200).await;
    let dir = tempfile::tempdir().unwrap();
    let since = emu.records().iter().map(|r| r.create_time).max().unwrap() + 1;
    let (_, first, _) = run_into(
        &emu,
        dir.path(),
        "1.ndjson",
        &["--since", &since.to_string()],
    );
    assert!(first.is_empty(), "{first:?}");
    emu.insert(30);
    let expected = ids_of(emu.records().iter().filter(|r| r.create_time >= since));
    assert!(!expected.is_empty());
    let (output, second, summary) = run_into(&emu, dir.path(), "2.ndjson", &["--since", "0"]);
    assert_eq!(
        second, expected,
        "only the rows since the first run's --since"
    );
    assert_eq!(summary["rows_new"].as_u64(), Some(expected.len() as u64));
    let err = stderr(&output);
    assert!(
        err.contains("continues from the first run's --since"),
        "{err}"
    );
}

/// A run whose output completed but whose state could not be written, then run again with
/// `--resume` into the same output: the export finds the output complete and the state is left.
/// The warning said the next run repeats the window, but the same command finds the output
/// complete again, run after run; it says so, and what moves the state on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_that_finds_its_output_complete_says_how_to_move_the_state_on() {
    let emu = emulator(120).await;
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("state.json");
    let out = dir.path().join("daily.ndjson");
    let run = |extra: &[&str]| {
        cmd(&emu)
            .args(["export", "--page-size", "50", "--state"])
            .arg(&state_path)
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    // The state cannot be replaced (its temporary file's name is taken by a directory).
    let blocker = dir.path().join(".state.json.tmp");
    std::fs::create_dir(&blocker).unwrap();
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot write --state"));
    std::fs::remove_dir(&blocker).unwrap();

    for _ in 0..2 {
        let output = run(&["--resume"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let err = stderr(&output);
        assert!(
            err.contains("is left as it was")
                && err.contains("The same command finds it complete again")
                && err.contains("without --resume"),
            "{err}"
        );
        assert!(!err.contains("the next run repeats this window"), "{err}");
        assert!(!state_path.exists(), "the state is still not written");
    }
    // As the warning says: without --resume, the window is exported again and recorded.
    let output = run(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        ndjson_ids(&std::fs::read(&out).unwrap()),
        ids_of(emu.records().iter())
    );
    let newest = emu.records()[119].action_id;
    assert_eq!(state(dir.path())["newest_action_id"].as_u64(), Some(newest));
}
