//! `--shard I/N` and `--shards N` as an orchestrator runs them: N processes side by side
//! against one API, each writing its own part, that together are exactly the whole export;
//! the careless flags that would break that; a part killed and resumed; and the deploy
//! examples, whose flags must exist.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xp_export::emulator::{Config, Emulator};

/// A fixed end in the past: every emulated row was created before it.
const BOUNDED: &str = "create_time < 1700000000";

fn part_path(dir: &Path, i: u64) -> PathBuf {
    dir.join(format!("part-{i}.ndjson"))
}

/// The ids of each part's file, in part order.
fn part_ids(dir: &Path, count: u64) -> Vec<Vec<u64>> {
    (0..count)
        .map(|i| ndjson_ids(&std::fs::read(part_path(dir, i)).expect("the part's file")))
        .collect()
}

/// Every id of a plain export of the bounded query, sorted.
fn whole_export(emu: &Emulator) -> Vec<u64> {
    let out = cmd(emu)
        .args(["export", "--where", BOUNDED, "--page-size", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut ids = ndjson_ids(&out.stdout);
    ids.sort_unstable();
    ids
}

/// The parts are disjoint, together exactly `whole`, and within 2x of each other's sizes.
fn assert_tiles(parts: &[Vec<u64>], whole: &[u64]) {
    let mut union: Vec<u64> = parts.iter().flatten().copied().collect();
    union.sort_unstable();
    let distinct: BTreeSet<u64> = union.iter().copied().collect();
    assert_eq!(distinct.len(), union.len(), "a row in two parts");
    assert_eq!(union, whole, "the parts are not the whole export");
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();
    let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(*lo > 0 && hi <= &(2 * lo), "unbalanced parts: {sizes:?}");
}

/// Part `i` of `count` through `--shards`, with JOB_COMPLETION_INDEX as Kubernetes sets it.
fn indexed(emu: &Emulator, dir: &Path, i: u64, count: u64) -> Command {
    let mut c = cmd(emu);
    c.env("JOB_COMPLETION_INDEX", i.to_string())
        .args(["export", "--shards", &count.to_string(), "--where", BOUNDED])
        .args(["--page-size", "100", "--resume", "--log-format", "json"])
        .arg("-o")
        .arg(part_path(dir, i))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// The last JSON line of a run's stderr: its summary.
fn summary_line(out: &Output) -> serde_json::Value {
    let text = stderr(out);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("not a JSON summary: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_indexed_pods_side_by_side_export_the_whole_query_once() {
    let emu = emulator(5_000).await;
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<Child> = (0..4)
        .map(|i| indexed(&emu, dir.path(), i, 4).spawn().unwrap())
        .collect();
    let mut keys = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "part {i}: {}", stderr(&out));
        let summary = summary_line(&out);
        assert_eq!(summary["stop_reason"], "complete");
        assert_eq!(summary["shard"]["index"], i as u64);
        assert_eq!(summary["shard"]["count"], 4);
        keys.push(summary["shard"].clone());
    }
    let parts = part_ids(dir.path(), 4);
    let whole = whole_export(&emu);
    assert_tiles(&parts, &whole);
    // Every part saw the same key range, and says which share of it is its own.
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(k["query_first_key"], whole[0]);
        assert_eq!(k["query_last_key"], *whole.last().unwrap());
        let (first, last) = (
            k["first_key"].as_u64().unwrap(),
            k["last_key"].as_u64().unwrap(),
        );
        assert!(
            parts[i].iter().all(|id| (first..=last).contains(id)),
            "part {i}"
        );
    }
}

/// The pipeline docs/guide/backfills.md gives, run in the parts' directory: the parts by number,
/// highest first.
const CONCATENATE: &str = "ls part-*.ndjson | sort -t- -k2 -nr | xargs cat";

/// Parts run in key order ascending (part 0 holds the lowest keys) and the default export is
/// newest first, so a glob's order (`part-0`, `part-1`, `part-10`, …) is not the export's: the
/// documented pipeline, over 11 parts (two digits), gives the unsharded export byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_pipeline_concatenates_parts_into_the_unsharded_export() {
    let emu = emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..11 {
        let out = indexed(&emu, dir.path(), i, 11).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "part {i}: {}", stderr(&out));
    }
    let whole = cmd(&emu)
        .args(["export", "--where", BOUNDED, "--page-size", "100"])
        .output()
        .unwrap();
    assert!(whole.status.success(), "{}", stderr(&whole));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let guide = std::fs::read_to_string(root.join("docs/guide/backfills.md")).unwrap();
    assert!(
        guide.contains(CONCATENATE),
        "docs/guide/backfills.md gives another command"
    );
    let shell = |pipeline: &str| {
        let out = Command::new("sh")
            .args(["-c", pipeline])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{pipeline}: {}", stderr(&out));
        out
    };
    assert!(
        shell("cat part-*.ndjson").stdout != whole.stdout,
        "the glob's order happens to be the export's"
    );
    let joined = shell(CONCATENATE);
    assert_eq!(ndjson_ids(&joined.stdout).len(), 3_000);
    assert!(
        joined.stdout == whole.stdout,
        "the parts joined are not the unsharded export: ids {:?}… vs {:?}…",
        &ndjson_ids(&joined.stdout)[..3],
        &ndjson_ids(&whole.stdout)[..3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_i_of_n_parts_are_the_whole_export_once_and_say_so() {
    let emu = emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..3 {
        let out = cmd(&emu)
            .args(["export", "--shard", &format!("{i}/3"), "--where", BOUNDED])
            .args(["--page-size", "100", "-o"])
            .arg(part_path(dir.path(), i))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("shard {i}/3: action_id ")),
            "{}",
            stderr(&out)
        );
    }
    assert_tiles(&part_ids(dir.path(), 3), &whole_export(&emu));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_with_no_rows_gives_empty_parts_that_succeed() {
    let emu = emulator(500).await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        let out = cmd(&emu)
            .args(["export", "--shard", &format!("{i}/4")])
            .args(["--where", "create_time < 1000", "--summary-json"])
            .arg(dir.path().join(format!("s{i}.json")))
            .arg("-o")
            .arg(part_path(dir.path(), i))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("the query has no rows"),
            "{}",
            stderr(&out)
        );
        assert_eq!(std::fs::read(part_path(dir.path(), i)).unwrap(), b"");
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(format!("s{i}.json"))).unwrap())
                .unwrap();
        assert_eq!(summary["complete"], true);
        assert_eq!(summary["shard"]["first_key"], serde_json::Value::Null);
        assert_eq!(summary["shard"]["query_first_key"], serde_json::Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn careless_shard_flags_are_usage_errors_that_say_what_to_do() {
    let emu = emulator(200).await;
    let b = ["--where", BOUNDED];
    let cases: &[(&[&str], Option<&str>, &str)] = &[
        (&["--shard", "4/4"], None, "shard 4 of 4 does not exist"),
        (&["--shard", "1/0"], None, "at least 1"),
        (&["--shard", "x"], None, "\"x\" is not I/N"),
        (
            &["--shard", "1/4", "--shards", "4"],
            None,
            "cannot be used with",
        ),
        (
            &["--shards", "4"],
            None,
            "JOB_COMPLETION_INDEX, which is not set",
        ),
        (
            &["--shards", "4"],
            Some("x"),
            "JOB_COMPLETION_INDEX is \"x\"",
        ),
        (&["--shards", "4"], Some("4"), "shard 4 of 4 does not exist"),
        (&["--shards", "0"], Some("0"), "--shards"),
        (&["--plan"], None, "--shards <N>"),
        (&["--plan", "--shard", "0/2"], None, "cannot be used with"),
        (
            &["--plan", "--shards", "2", "--resume", "-o", "x"],
            None,
            "cannot be used with",
        ),
        (
            &["--shard", "0/2", "--key-range", "9..3"],
            None,
            "the first key (9) is above the last (3)",
        ),
        (&["--shard", "0/2", "--key-range", "x"], None, "FIRST..LAST"),
        (
            &["--key-range", "1..9"],
            None,
            "--key-range splits a sharded export",
        ),
        (
            &["--shard", "0/2", "--until", "1h"],
            None,
            "must be fixed times (RFC 3339 or Unix seconds), not a duration ago",
        ),
        (
            &["--plan", "--shards", "2", "--since", "2h"],
            None,
            "--plan --shards 2: --since and --until must be fixed times",
        ),
        (
            &["--shard", "0/2", "--offset", "10"],
            None,
            "--offset cannot be used with",
        ),
        (
            &["--shard", "0/2", "--mode", "keyset", "--after", "5"],
            None,
            "--after cannot",
        ),
        (
            &["--shard", "0/2", "--max-rows", "3"],
            None,
            "--max-rows cannot be used",
        ),
    ];
    for (args, index, message) in cases {
        let mut c = cmd(&emu);
        c.arg("export").args(b).args(*args);
        if let Some(i) = index {
            c.env("JOB_COMPLETION_INDEX", i);
        }
        let out = c.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && out.stdout.is_empty(),
            "{args:?}: {err}"
        );
    }
    // Without a fixed end, or with one still to come, the parts could split differently.
    let ends: &[(&[&str], &str)] = &[
        (&[], "needs a fixed upper end"),
        (&["--where", "create_time > 1"], "needs a fixed upper end"),
        (&["--where", "create_time < 99999999999"], "is not over yet"),
    ];
    for (args, message) in ends {
        let out = cmd(&emu)
            .args(["export", "--shard", "0/2"])
            .args(*args)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(err.contains("--until TIME"), "says what to add: {err}");
        assert!(out.stdout.is_empty());
    }
    assert_eq!(emu.requests(), 0, "no request before the flags are right");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_order_fails_every_part_naming_what_it_answered() {
    // Newest first whatever is asked: both probes would get the same row, and every part
    // would take a one-key span of one row out of 60.
    let server = serve(Dataset::new(60)).await;
    let dir = tempfile::tempdir().unwrap();
    for shard in ["0/1", "0/3", "1/3", "2/3"] {
        let out = cmd_for(&server)
            .args(["export", "--shard", shard, "--where", BOUNDED, "-o"])
            .arg(dir.path().join("part.ndjson"))
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{shard}: {err}");
        assert!(
            err.contains("asked for action_id ASC, it answered 10000000 then 9999999"),
            "{shard}: {err}"
        );
        assert!(
            err.contains("does not order by action_id as asked"),
            "{err}"
        );
        assert!(!dir.path().join("part.ndjson").exists(), "{shard}: no part");
    }
}

/// Part `i` of `count` by `--shard`, to `dir`, with `extra` flags.
fn part(emu: &Emulator, dir: &Path, i: u64, count: u64, extra: &[&str]) -> Output {
    cmd(emu)
        .args([
            "export",
            "--shard",
            &format!("{i}/{count}"),
            "--where",
            BOUNDED,
        ])
        .args(["--page-size", "100"])
        .args(extra)
        .arg("-o")
        .arg(part_path(dir, i))
        .output()
        .unwrap()
}

/// The ids of the emulator's rows now, sorted.
fn all_ids(emu: &Emulator) -> Vec<u64> {
    let mut ids: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_probed_parts_whose_key_range_moves_while_they_run_fail_retryably() {
    // A row arrives with every request, each an old create_time (inside the query's end) and
    // a new, larger action_id: the largest key moves under every part.
    let config = Config::default().records(3_600).insert_per_request(1);
    let emu = Emulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..2 {
        let out = part(&emu, dir.path(), i, 2, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "part {i}: {err}");
        assert!(
            err.contains("the split moved: the query's key range was"),
            "{err}"
        );
        assert!(
            err.contains("--plan") && err.contains("--key-range"),
            "{err}"
        );
        assert!(
            !part_path(dir.path(), i).exists(),
            "part {i} is not made the output"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_planned_once_is_the_whole_export_whatever_arrives_between_the_parts() {
    let emu = emulator(3_600).await;
    let dir = tempfile::tempdir().unwrap();
    let out = cmd(&emu)
        .args(["export", "--shards", "2", "--plan", "--where", BOUNDED])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let split: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let planned = all_ids(&emu);
    let range = format!("{}..{}", planned[0], planned.last().unwrap());
    assert_eq!(split["key_range"], range.as_str(), "{split}");
    assert_eq!(split["count"], 2);
    assert_eq!(split["shards"][1]["last_key"], *planned.last().unwrap());
    let requests = emu.requests();
    for i in 0..2 {
        // A late row between the parts' starts: an old create_time, a new and larger key.
        emu.insert(1);
        let out = part(&emu, dir.path(), i, 2, &["--key-range", &range]);
        assert_eq!(out.status.code(), Some(0), "part {i}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("of the query's {}", planned[0])));
    }
    assert_tiles(&part_ids(dir.path(), 2), &planned);
    let parts = &emu.request_log()[requests as usize..];
    assert!(
        parts.iter().all(|r| r.limit == Some(100)),
        "a planned part sends no probe: {parts:?}"
    );
}

/// Starts part `i` of `count` to `dir` and kills it with SIGKILL once it has checkpointed
/// some rows (and before it ends).
fn kill_mid_part(emu: &Emulator, dir: &Path, i: u64, count: u64) {
    let mut child = indexed(emu, dir, i, count)
        .args([
            "--concurrency",
            "1",
            "--page-size",
            "20",
            "--checkpoint-every",
            "0",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpointed_rows(&part_path(dir, i)) < 40 {
        assert!(child.try_wait().unwrap().is_none(), "the part ended first");
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_killed_mid_export_resumes_and_the_parts_are_still_the_whole() {
    let emu = slow_emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    kill_mid_part(&emu, dir.path(), 1, 4);
    assert!(
        !part_path(dir.path(), 1).exists(),
        "killed before it finished"
    );
    for i in 0..4 {
        let out = indexed(&emu, dir.path(), i, 4)
            .args(["--concurrency", "1", "--page-size", "20"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "part {i}: {}", stderr(&out));
        let summary = summary_line(&out);
        assert_eq!(
            summary["resumed_at"].is_u64(),
            i == 1,
            "part {i}: {summary}"
        );
    }
    assert_tiles(&part_ids(dir.path(), 4), &whole_export(&emu));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_stopped_by_sigterm_exits_143_naming_its_shard_and_resumes() {
    let emu = slow_emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let child = indexed(&emu, dir.path(), 2, 4)
        .args([
            "--concurrency",
            "1",
            "--page-size",
            "20",
            "--checkpoint-every",
            "0",
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpointed_rows(&part_path(dir.path(), 2)) < 40 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    let summary = summary_line(&out);
    assert_eq!(summary["stop_reason"], "terminated", "{summary}");
    assert_eq!(summary["shard"]["index"], 2, "{summary}");
    assert!(summary["shard"]["first_key"].is_u64(), "{summary}");

    let out = indexed(&emu, dir.path(), 2, 4)
        .args(["--concurrency", "1", "--page-size", "20"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(summary_line(&out)["resumed_at"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_whose_probe_finds_another_key_range_is_refused() {
    let first = slow_emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    kill_mid_part(&first, dir.path(), 0, 2);
    // The same data set with its newest half gone: the largest key, so the split, moved.
    let second = emulator(1_000).await;
    let out = indexed(&second, dir.path(), 0, 2).output().unwrap();
    let summary = summary_line(&out);
    assert_eq!(out.status.code(), Some(2), "{summary}");
    let error = summary["error"].as_str().unwrap();
    assert!(error.contains("started with a different export"), "{error}");
    assert!(!part_path(dir.path(), 0).exists());
}

/// Every `--flag` in `text`, in order of appearance.
fn flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices("--") {
        let rest = &text[at + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let before = text[..at].chars().next_back();
        if name.starts_with(|c: char| c.is_ascii_lowercase())
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            out.insert(format!("--{name}"));
        }
    }
    out
}

#[test]
fn the_deploy_examples_compile_and_use_only_flags_that_exist() {
    // The repository's root: this crate is its `cli/` folder.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dag = root.join("deploy/airflow/xp_export_daily.py");
    let cache = tempfile::tempdir().unwrap();
    let compiled = Command::new("python3")
        .args(["-m", "py_compile"])
        .arg(&dag)
        .env("PYTHONPYCACHEPREFIX", cache.path())
        .output()
        .expect("python3 runs");
    assert!(compiled.status.success(), "{}", stderr(&compiled));

    let help = Command::new(BIN)
        .args(["export", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    // The flags themselves, not those the help text mentions: the lines that start with one.
    let options: Vec<&str> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .collect();
    let known = flags(&options.join("\n"));
    assert!(
        known.contains("--shard") && known.contains("--log-format"),
        "{known:?}"
    );
    for file in [dag, root.join("deploy/kubernetes/export-job.yaml")] {
        let text = std::fs::read_to_string(&file).unwrap();
        let used = flags(&text);
        for flag in [
            "--shards",
            "--until",
            "--resume",
            "--log-format",
            "--output",
        ] {
            assert!(
                used.contains(flag) || (flag == "--shards" && file.ends_with("xp_export_daily.py")),
                "{} does not use {flag}",
                file.display()
            );
        }
        for flag in used {
            assert!(
                known.contains(&flag),
                "{}: {flag} is not a flag",
                file.display()
            );
        }
        for secret in ["--apptoken", "--client-secret", "XTREMEPUSH_APPTOKEN="] {
            assert!(
                !text.contains(secret),
                "{}: a credential in the command line",
                file.display()
            );
        }
    }
}
