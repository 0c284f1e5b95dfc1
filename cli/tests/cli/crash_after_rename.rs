//! kill -9 after the finished file is renamed into place but before the files beside it are
//! cleaned up: `--resume` recognises the finished export by its record, finishes the clean-up
//! and exits 0, leaving the output as it was.
//!
//! The state a kill leaves there is built by hand: an export killed mid-way gives its
//! checkpoint (and, for Parquet, its parts), which are copied aside; the export is resumed to
//! its end; then the copies are put back, as the clean-up had not yet removed them.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::{Output, Stdio};

use common::*;
use xp_export::emulator::Emulator;
use xp_export::export::{checkpoint_path, partial_path, parts_path};

/// Runs `xp-export -q export ARGS -o out`.
fn export(emu: &Emulator, args: &[&str], out: &Path) -> Output {
    cmd(emu)
        .args(["-q", "export"])
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

/// Kills an export of `args` to `out` once it has checkpointed `rows` rows.
fn kill_at(emu: &Emulator, args: &[&str], out: &Path, rows: u64) {
    let child = cmd(emu)
        .args(["-q", "export"])
        .args(args)
        .arg("-o")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_once_checkpointed(child, out, rows);
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// What a resume of a finished output must say and do: exit 0, "already complete", the output
/// untouched, nothing left beside it.
fn resumes_as_complete(emu: &Emulator, args: &[&str], out: &Path, finished: &[u8]) {
    let again = cmd(emu)
        .args(["export", "--resume"])
        .args(args)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    ok(&again);
    let err = stderr(&again);
    assert!(err.contains("already complete"), "{err}");
    assert_eq!(
        fs::read(out).unwrap(),
        finished,
        "the output is left as it was"
    );
    assert!(
        !checkpoint_path(out).exists(),
        "the checkpoint is cleaned up"
    );
    assert!(!parts_path(out).exists(), "the parts are cleaned up");
    assert!(!partial_path(out).exists());
}

#[cfg(feature = "parquet")]
#[tokio::test(flavor = "multi_thread")]
async fn a_parquet_export_killed_while_deleting_its_parts_resumes_as_complete() {
    let emu = slow_emulator(8_000).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rows.parquet");
    let args = [
        "--page-size",
        "200",
        "--concurrency",
        "1",
        "--row-group-rows",
        "1000",
    ];
    kill_at(&emu, &args, &out, 3000);
    let saved = dir.path().join("saved");
    copy_dir(&parts_path(&out), &saved.join("parts"));
    fs::copy(checkpoint_path(&out), saved.join("checkpoint")).unwrap();
    ok(&export(&emu, &[&args[..], &["--resume"]].concat(), &out));
    let finished = fs::read(&out).unwrap();

    // Killed after the rename, while the parts were being deleted: the first one is gone.
    copy_dir(&saved.join("parts"), &parts_path(&out));
    fs::remove_file(parts_path(&out).join("part-00000.parquet")).unwrap();
    fs::copy(saved.join("checkpoint"), checkpoint_path(&out)).unwrap();
    resumes_as_complete(&emu, &args, &out, &finished);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_export_killed_before_removing_its_checkpoint_resumes_as_complete() {
    let emu = slow_emulator(6_000).await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["rows.csv", "rows.ndjson.gz"] {
        let out = dir.path().join(name);
        let args = [
            "--page-size",
            "200",
            "--concurrency",
            "1",
            "--checkpoint-every",
            "0",
        ];
        kill_at(&emu, &args, &out, 1000);
        let saved = dir.path().join(format!("{name}.saved"));
        fs::copy(checkpoint_path(&out), &saved).unwrap();
        ok(&export(&emu, &[&args[..], &["--resume"]].concat(), &out));
        let finished = fs::read(&out).unwrap();
        // Killed after the rename, before the checkpoint was removed.
        fs::copy(&saved, checkpoint_path(&out)).unwrap();
        resumes_as_complete(&emu, &args, &out, &finished);
    }
}

/// A checkpoint beside a finished output that a later, unfinished export of the same query
/// left is that export's: it is resumed, not taken for the finished one.
#[tokio::test(flavor = "multi_thread")]
async fn a_later_export_killed_beside_a_finished_output_is_resumed() {
    let emu = slow_emulator(6_000).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rows.ndjson");
    let args = [
        "--page-size",
        "200",
        "--concurrency",
        "1",
        "--checkpoint-every",
        "0",
    ];
    ok(&export(&emu, &args, &out));
    let finished = fs::read(&out).unwrap();
    // Run again to replace it, killed mid-way.
    kill_at(&emu, &args, &out, 1000);
    let again = cmd(&emu)
        .args(["export", "--resume"])
        .args(args)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    ok(&again);
    let err = stderr(&again);
    assert!(!err.contains("already complete"), "{err}");
    assert!(err.contains("resum"), "{err}");
    assert_eq!(fs::read(&out).unwrap(), finished, "the same rows, resumed");
    assert!(!partial_path(&out).exists());
}
