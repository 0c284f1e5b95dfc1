//! The files an export keeps beside its output are hidden, as the data-lake convention asks: a
//! reader globbing the output's directory (`out/*.csv`, `out/**/*.parquet`, as shell globs,
//! Spark and pyarrow.dataset do, skipping names that start with `.`) sees no partial file,
//! checkpoint, lock or part while an export runs, and only the output once it is done. The
//! visible side files an earlier build left are taken over, so an export interrupted before an
//! upgrade resumes after it.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xp_export::emulator::Emulator;
use xp_export::export::{checkpoint_path, lock_path, partial_path, parts_path, record_path};

/// What a glob over `dir` finds at any depth: the files under names and directories that do
/// not start with `.`, relative to `dir`, sorted.
fn glob(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), root, out);
            } else {
                let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every name in `dir`, hidden or not, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

fn spawn(emu: &Emulator, args: &[&str], out: &Path) -> Child {
    cmd(emu)
        .args(["-q", "export", "--page-size", "200", "--concurrency", "1"])
        .args(["--checkpoint-every", "0"])
        .args(args)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn export(emu: &Emulator, args: &[&str], out: &Path) -> Output {
    cmd(emu)
        .args(["export", "--page-size", "200", "--concurrency", "1"])
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

/// Waits until `out`'s export has checkpointed `rows` rows while it still runs.
fn wait_for_checkpoint(child: &mut Child, out: &Path, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpointed_rows(out) < rows {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(3));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_glob_sees_no_side_file_while_an_export_runs_and_only_the_output_after() {
    let emu = slow_emulator(6_000).await;
    let formats: &[(&str, &[&str])] = &[
        ("rows.csv", &[]),
        #[cfg(feature = "parquet")]
        ("rows.parquet", &["--row-group-rows", "400"]),
    ];
    for (name, args) in formats {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(name);
        let mut child = spawn(&emu, args, &out);
        wait_for_checkpoint(&mut child, &out, 1_000);
        // Mid-way: the checkpoint, lock and partial file (or parts) are there, all hidden.
        assert!(checkpoint_path(&out).exists() && lock_path(&out).exists());
        assert!(partial_path(&out).exists() || parts_path(&out).exists());
        assert_eq!(glob(dir.path()), Vec::<String>::new(), "{name} mid-way");
        assert!(child.wait().unwrap().success());
        // Done: the output, and its hidden record (which --resume reads), nothing else.
        let record = record_path(&out)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(names(dir.path()), [record, name.to_string()], "{name}");
        assert_eq!(glob(dir.path()), [name.to_string()]);
        let again = export(&emu, &[&args[..], &["--resume"]].concat(), &out);
        ok(&again);
        assert!(
            stderr(&again).contains("already complete"),
            "{}",
            stderr(&again)
        );
        assert_eq!(names(dir.path()).len(), 2, "{:?}", names(dir.path()));
    }
}

/// `DIR/NAME{suffix}`: where builds before the hidden names kept a side file.
fn visible(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

/// An export killed mid-way, its side files renamed to what an earlier build named them: the
/// state an upgrade in the middle of an export leaves.
fn interrupted_by_an_earlier_build(emu: &Emulator, args: &[&str], out: &Path) {
    let mut child = spawn(emu, args, out);
    wait_for_checkpoint(&mut child, out, 1_000);
    child.kill().unwrap();
    child.wait().unwrap();
    fs::rename(checkpoint_path(out), visible(out, ".checkpoint.json")).unwrap();
    if parts_path(out).exists() {
        fs::rename(parts_path(out), visible(out, ".parts")).unwrap();
    } else {
        fs::rename(partial_path(out), visible(out, ".partial")).unwrap();
    }
    // The earlier build created its lock file empty, and never removed it.
    fs::remove_file(lock_path(out)).unwrap();
    fs::write(visible(out, ".lock"), "").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_interrupted_before_an_upgrade_resumes_after_it_with_nothing_lost() {
    let emu = slow_emulator(6_000).await;
    let formats: &[(&str, &[&str])] = &[
        ("rows.ndjson", &[]),
        #[cfg(feature = "parquet")]
        ("rows.parquet", &["--row-group-rows", "400"]),
    ];
    for (name, args) in formats {
        let dir = tempfile::tempdir().unwrap();
        let reference = dir.path().join(format!("ref-{name}"));
        ok(&export(&emu, args, &reference));
        let out = dir.path().join(name);
        interrupted_by_an_earlier_build(&emu, args, &out);

        // Without --resume, the leftover is in the way, under its new name.
        let refused = export(&emu, args, &out);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).contains("--resume"),
            "{}",
            stderr(&refused)
        );
        let resumed = export(&emu, &[&args[..], &["--resume"]].concat(), &out);
        ok(&resumed);
        let err = stderr(&resumed);
        assert!(err.contains("resumed at offset"), "{err}");
        assert_eq!(
            fs::read(&out).unwrap(),
            fs::read(&reference).unwrap(),
            "{name}"
        );
        assert_eq!(glob(dir.path()), [format!("ref-{name}"), name.to_string()]);
        for old in [".partial", ".checkpoint.json", ".parts", ".lock"] {
            assert!(!visible(&out, old).exists(), "{name}{old} is left");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_output_an_earlier_build_finished_is_still_already_complete() {
    let emu = emulator(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rows.csv");
    ok(&export(&emu, &[], &out));
    // An earlier build kept the record of a finished export in its lock file.
    fs::rename(record_path(&out), visible(&out, ".lock")).unwrap();
    let again = export(&emu, &["--resume"], &out);
    ok(&again);
    assert!(
        stderr(&again).contains("already complete"),
        "{}",
        stderr(&again)
    );
    assert_eq!(glob(dir.path()), ["rows.csv"]);
    assert!(record_path(&out).exists(), "the record is kept, hidden");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_earlier_build_still_writing_the_output_keeps_it() {
    let emu = emulator(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rows.csv");
    let held = fs::File::create(visible(&out, ".lock")).unwrap();
    held.lock().unwrap();
    let refused = export(&emu, &[], &out);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("an earlier version of xp-export is writing"),
        "{}",
        stderr(&refused)
    );
    assert!(!out.exists());
    assert_eq!(emu.requests(), 0);
}

/// A side file under both its earlier visible name and its hidden one is refused, the message
/// offering `--restart` to discard both; `--restart` then does that and exports afresh (it was
/// refused with the same message, leaving no way out but removing files by hand), and nothing
/// was moved by the refusal (the earlier build's checkpoint stays beside its partial file).
#[tokio::test(flavor = "multi_thread")]
async fn a_side_file_under_both_names_is_refused_and_restart_discards_both() {
    let emu = emulator(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rows.csv");
    fs::write(visible(&out, ".checkpoint.json"), "earlier checkpoint").unwrap();
    fs::write(visible(&out, ".partial"), "earlier rows").unwrap();
    fs::write(partial_path(&out), "newer rows").unwrap();
    let refused = export(&emu, &["--resume"], &out);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("holds both"),
        "{}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("--restart"),
        "{}",
        stderr(&refused)
    );
    assert!(
        visible(&out, ".checkpoint.json").exists(),
        "moved on a refusal"
    );
    assert!(!checkpoint_path(&out).exists(), "moved on a refusal");
    ok(&export(&emu, &["--restart"], &out));
    assert_eq!(glob(dir.path()), ["rows.csv"]);
    let fresh = dir.path().join("fresh.csv");
    ok(&export(&emu, &[], &fresh));
    assert_eq!(fs::read(&out).unwrap(), fs::read(&fresh).unwrap());
}
