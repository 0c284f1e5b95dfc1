//! What a careless user does with `-o`, through the built binary against the emulator: devices,
//! FIFOs, symlinks and descriptors; directories and reserved names; two exports on one file;
//! resuming what this program did not write; checkpoints and partial files changed by hand.

use crate::common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xp_export::emulator::Emulator;

/// Pages of 100 rows, one request at a time: slow enough to be stopped part-way.
const SLOW: [&str; 5] = ["export", "--page-size", "100", "--concurrency", "1"];

fn run(mut c: Command) -> Output {
    c.output().expect("the binary runs")
}

/// A hidden file beside `path`: `DIR/.NAME{suffix}`, as the export names its side files.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let name = path.file_name().unwrap().to_string_lossy();
    path.with_file_name(format!(".{name}{suffix}"))
}

/// An export of `args` to `path`, running, once it has checkpointed at least 300 rows.
fn start(emu: &Emulator, args: &[&str], path: &Path) -> Child {
    // A checkpoint after every page, so that progress shows and the stop lands mid-export.
    let mut child = cmd(emu)
        .args(args)
        .args(["--checkpoint-every", "0"])
        .arg("-o")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while checkpointed_rows(path) < 300 {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

/// [`start`], then SIGKILL.
fn start_and_kill(emu: &Emulator, args: &[&str], path: &Path) {
    let mut child = start(emu, args, path);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs the export of `args` (plus `extra`) to `path`.
fn export(emu: &Emulator, args: &[&str], extra: &[&str], path: &Path) -> Output {
    let mut c = cmd(emu);
    c.args(args).args(extra).arg("-o").arg(path);
    run(c)
}

fn assert_refused(out: &Output, code: i32, says: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(says), "{says:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_null_is_written_through_and_stays_a_device() {
    let emu = emulator(1_000).await;
    let out = export(&emu, &["export"], &[], Path::new("/dev/null"));
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = fs::symlink_metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null was replaced");
    for suffix in [".partial", ".checkpoint.json", ".lock"] {
        assert!(!beside(Path::new("/dev/null"), suffix).exists(), "{suffix}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_full_is_a_clear_io_error() {
    let emu = emulator(5_000).await;
    let out = export(&emu, &["export"], &[], Path::new("/dev/full"));
    assert_refused(&out, 1, "No space left on device");
    assert!(stderr(&out).contains("/dev/full"), "{}", stderr(&out));
    let meta = fs::symlink_metadata("/dev/full").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/full was replaced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_is_written_through_to_its_reader() {
    let emu = emulator(2_500).await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("rows.ndjson");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            fs::File::open(fifo)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            bytes
        })
    };
    let out = export(&emu, &["export", "--page-size", "300"], &[], &fifo);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = ndjson_ids(&reader.join().unwrap());
    assert_eq!(rows.len(), 2_500);
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "nothing is created beside a FIFO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_such_as_process_substitution_is_written_through() {
    let emu = emulator(1_200).await;
    let mut c = cmd(&emu);
    c.args(["export", "-o", "/dev/stdout"]);
    let out = run(c);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout).len(), 1_200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cannot_be_resumed() {
    let emu = emulator(100).await;
    let out = export(&emu, &["export", "--resume"], &[], Path::new("/dev/null"));
    assert_refused(&out, 2, "written straight through");
    assert_eq!(emu.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_is_followed_and_its_target_written() {
    let emu = emulator(1_500).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    let target = data.join("real.ndjson");
    fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("latest.ndjson");
    symlink("data/real.ndjson", &link).unwrap();
    let out = export(&emu, &["export"], &[], &link);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(ndjson_ids(&fs::read(&target).unwrap()).len(), 1_500);
    assert!(
        beside(&target, ".complete").exists(),
        "kept beside the target"
    );
    assert!(!beside(&target, ".lock").exists(), "removed once finished");
    assert!(!beside(&link, ".complete").exists());
    assert!(!beside(&link, ".partial").exists());

    // A dangling symlink: its target is created.
    let dangling = dir.path().join("next.ndjson");
    symlink("data/next.ndjson", &dangling).unwrap();
    let out = export(&emu, &["export"], &[], &dangling);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(fs::symlink_metadata(&dangling).unwrap().is_symlink());
    assert_eq!(ndjson_ids(&fs::read(&dangling).unwrap()).len(), 1_500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_cannot_be_written_are_refused_before_any_request() {
    let emu = emulator(100).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "keep").unwrap();
    for (path, says) in [
        (dir.path().to_path_buf(), "is a directory"),
        (dir.path().join("missing/out.csv"), "does not exist"),
        (file.join("out.csv"), "is not a directory"),
        (
            dir.path().join("out.csv.checkpoint.json"),
            "kept for the files beside an export",
        ),
        (dir.path().join("out.csv.partial"), "kept for the files"),
        (dir.path().join(".out.csv.parts"), "kept for the files"),
    ] {
        let out = export(&emu, &["export"], &[], &path);
        assert_refused(&out, 2, says);
    }
    assert_eq!(emu.requests(), 0);
    assert_eq!(fs::read(&file).unwrap(), b"keep");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_export_on_the_same_output_fails_at_once() {
    let emu = common::slow_emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let first = start(&emu, &SLOW, &path);
    for extra in [
        &[][..],
        &["--resume"],
        &["--restart"],
        &["--failed", "--resume"],
    ] {
        let started = Instant::now();
        let out = export(&emu, &SLOW, extra, &path);
        assert_refused(&out, 2, "another export is writing");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "it did not wait"
        );
    }
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = ndjson_ids(&fs::read(&path).unwrap());
    assert_eq!(ids.len(), 3_000);

    // kill -9 leaves no stale lock: the next run resumes.
    let other = dir.path().join("other.ndjson");
    start_and_kill(&emu, &SLOW, &other);
    let out = export(&emu, &SLOW, &["--resume"], &other);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&other).unwrap(), fs::read(&path).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_export_this_program_finished_is_complete() {
    let emu = emulator(1_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    fs::write(&path, "not an export\n").unwrap();
    let out = export(&emu, &["export", "--resume"], &[], &path);
    assert_refused(&out, 2, "nothing to resume");
    assert_eq!(fs::read(&path).unwrap(), b"not an export\n");

    let out = export(&emu, &["export"], &[], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = export(&emu, &["export", "--resume"], &[], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already complete"),
        "{}",
        stderr(&out)
    );
    let out = export(&emu, &["export", "--failed", "--resume"], &[], &path);
    assert_refused(&out, 2, "finished by a different export");
    let mut edited = fs::read(&path).unwrap();
    edited[10] ^= 1;
    fs::write(&path, edited).unwrap();
    let out = export(&emu, &["export", "--resume"], &[], &path);
    assert_refused(&out, 2, "changed after this program finished it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_export_over_a_leftover_is_refused_until_resume_or_restart() {
    let emu = common::slow_emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    start_and_kill(&emu, &SLOW, &path);
    let partial = fs::read(beside(&path, ".partial")).unwrap();
    let out = export(&emu, &SLOW, &[], &path);
    assert_refused(&out, 2, "add --resume to continue it, or --restart");
    assert_eq!(fs::read(beside(&path, ".partial")).unwrap(), partial);

    let mut c = cmd(&emu);
    c.args(SLOW)
        .args(["--resume", "--restart", "-o"])
        .arg(&path);
    assert_eq!(run(c).status.code(), Some(2), "the two flags conflict");

    let out = export(&emu, &SLOW, &["--restart"], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("resumed"), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&fs::read(&path).unwrap()).len(), 2_000);
    assert!(!beside(&path, ".checkpoint.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_or_partial_file_changed_by_hand_is_refused() {
    let emu = common::slow_emulator(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    start_and_kill(&emu, &SLOW, &path);
    let cp_path = beside(&path, ".checkpoint.json");
    let partial = beside(&path, ".partial");
    let (cp, bytes) = (
        fs::read_to_string(&cp_path).unwrap(),
        fs::read(&partial).unwrap(),
    );
    let field = |name: &str| {
        let v: serde_json::Value = serde_json::from_str(&cp).unwrap();
        v[name].as_u64().unwrap()
    };

    for (name, to) in [("bytes", field("bytes") - 7), ("next_offset", 100)] {
        let from = format!("\"{name}\": {}", field(name));
        fs::write(&cp_path, cp.replace(&from, &format!("\"{name}\": {to}"))).unwrap();
        let out = export(&emu, &SLOW, &["--resume"], &path);
        assert_refused(&out, 2, "edited or damaged");
        assert_eq!(fs::read(&partial).unwrap(), bytes, "left as it was");
    }

    fs::write(&cp_path, &cp).unwrap();
    let mut overwritten = bytes.clone();
    overwritten[bytes.len() / 2] = b'9';
    fs::write(&partial, &overwritten).unwrap();
    let out = export(&emu, &SLOW, &["--resume"], &path);
    assert_refused(&out, 2, "not the ones the checkpoint vouches for");

    fs::remove_file(&partial).unwrap();
    let out = export(&emu, &SLOW, &["--resume"], &path);
    assert_refused(&out, 2, "is gone");

    let out = export(&emu, &SLOW, &["--restart"], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&fs::read(&path).unwrap()).len(), 2_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_that_fills_up_names_the_offset_and_resume_finishes_the_file() {
    let emu = emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    let args = ["--checkpoint-every", "0", "-o"];
    // A file size limit makes the partial file's writes fail part-way, as a full disk does
    // (EFBIG where a disk says ENOSPC); with SIGXFSZ ignored the write returns the error.
    let mut full = Command::new("sh");
    full.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XTREMEPUSH_API_URL", emu.base_url())
        .env("XTREMEPUSH_APPTOKEN", emu.apptoken())
        .args(["-c", "trap '' XFSZ; ulimit -f 256; exec \"$0\" \"$@\"", BIN])
        .args(SLOW)
        .args(args)
        .arg(&path);
    let out = run(full);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let at: u64 = err
        .split("writing the page at offset ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {err}"));
    assert!(at > 0 && at < 3_000, "{err}");
    assert!(err.contains("out.ndjson.partial"), "{err}");
    assert!(
        err.contains("rows are saved in") && err.contains("run the same command with --resume"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = export(&emu, &SLOW, &["--resume"], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    let ids = ndjson_ids(&fs::read(&path).unwrap());
    let want: Vec<u64> = emu.records().iter().rev().map(|r| r.action_id).collect();
    assert_eq!(ids, want, "every row once, in order");
}
