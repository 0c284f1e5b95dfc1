//! `xp-export export --mode keyset --concurrency K`: the file is byte for byte the one a
//! sequential keyset export writes, in every format, and after a kill and `--resume` too.

use crate::common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{checkpointed_rows, cmd, emulator, slow_emulator};
use xp_export::emulator::{Config, Emulator};

/// Exports to `path` with `args`; the export must succeed.
fn export(emu: &Emulator, args: &[&str], path: &Path) {
    let out = cmd(emu)
        .args(["export", "--mode", "keyset", "--page-size", "100"])
        .args(args)
        .arg("-o")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_in_parallel_write_the_file_a_sequential_walk_writes() {
    let emu = emulator(8_000).await;
    let campaign = emu.records()[0].campaign_id.to_string();
    let dir = tempfile::tempdir().unwrap();
    for (name, filter) in [
        ("all.ndjson", vec![]),
        ("all.csv", vec![]),
        ("campaign.csv", vec!["--campaign", campaign.as_str()]),
        ("campaign.json", vec!["--campaign", campaign.as_str()]),
    ] {
        let reference = dir.path().join(format!("ref-{name}"));
        export(
            &emu,
            &[&["--concurrency", "1"], &filter[..]].concat(),
            &reference,
        );
        let expected = std::fs::read(&reference).unwrap();
        assert!(expected.len() > 10_000, "{name}: {} bytes", expected.len());
        for k in ["2", "4", "8"] {
            let path = dir.path().join(format!("k{k}-{name}"));
            export(&emu, &[&["--concurrency", k], &filter[..]].concat(), &path);
            assert!(
                std::fs::read(&path).unwrap() == expected,
                "{name}, --concurrency {k}: not the sequential export's bytes"
            );
        }
    }
}

/// Starts an export to `path` and kills it (SIGKILL) once `rows` rows are checkpointed;
/// false when it finished first.
fn kill_after(emu: &Emulator, args: &[&str], path: &Path, rows: u64) -> bool {
    let mut child = cmd(emu)
        .args(["export", "--mode", "keyset", "--page-size", "100"])
        .args(args)
        // A checkpoint after every page, so that the kill lands mid-export.
        .args(["--checkpoint-every", "0"])
        .arg("-o")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpointed_rows(path) < rows {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_export_then_resumed_the_file_is_byte_identical() {
    let emu = slow_emulator(6_000).await;
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.ndjson");
    export(&emu, &["--concurrency", "1"], &reference);
    // Resumed with the same concurrency, another one, and none (one request at a time).
    for (i, resume) in [&["--concurrency", "4"][..], &["--concurrency", "2"], &[]]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("out-{i}.ndjson"));
        assert!(
            kill_after(&emu, &["--concurrency", "4"], &path, 1_500),
            "the export was killed mid-way"
        );
        let partial = checkpointed_rows(&path);
        assert!((1_500..6_000).contains(&partial), "{partial}");
        export(&emu, &[&["--resume"], resume].concat(), &path);
        assert!(
            std::fs::read(&path).unwrap() == std::fs::read(&reference).unwrap(),
            "resumed with {resume:?} after {partial} rows: not the uninterrupted export's bytes"
        );
    }
}

/// Rows added while the export runs (every request adds some past the largest key): the
/// parallel walk's file is byte for byte the start of what a sequential walk writes afterwards
/// over the grown data, so no row is repeated, missed or out of place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rows_added_mid_export_the_file_is_the_start_of_a_sequential_walks() {
    let emu = Emulator::start(Config::default().records(6_000).insert_per_request(23))
        .await
        .unwrap();
    let first = emu.records().len();
    let dir = tempfile::tempdir().unwrap();
    let parallel = dir.path().join("parallel.csv");
    export(&emu, &["--concurrency", "4"], &parallel);
    let sequential = dir.path().join("sequential.csv");
    export(&emu, &["--concurrency", "1"], &sequential);
    let parallel = std::fs::read(&parallel).unwrap();
    let sequential = std::fs::read(&sequential).unwrap();
    let lines = |b: &[u8]| b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).count();
    assert!(
        lines(&parallel) > first,
        "rows added during the export are in it: {} lines, {first} rows at the start",
        lines(&parallel)
    );
    assert!(
        lines(&sequential) > lines(&parallel),
        "the data grew meanwhile"
    );
    assert!(
        sequential.starts_with(&parallel),
        "the parallel file is not the start of the sequential one"
    );
}

/// A server that sends each page's last two rows swapped (it does not honour `order`): every
/// mode that trusts the key's order fails with exit 1 and says why, where, and that the
/// server does not honour `order`; no output file is left claiming to be complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_swaps_rows_within_pages_fails_every_ordered_mode_with_exit_1() {
    let server = common::serve_keys(common::SortedKeys {
        keys: (1..=3_000).collect(),
        swap_last_two: true,
    })
    .await;
    let url = common::base(&server);
    let dir = tempfile::tempdir().unwrap();
    let modes: [&[&str]; 3] = [
        &["--mode", "keyset", "--concurrency", "1"],
        &["--mode", "keyset", "--concurrency", "4"],
        &["--mode", "offset"],
    ];
    for (i, mode) in modes.into_iter().enumerate() {
        let path = dir.path().join(format!("out-{i}.ndjson"));
        let summary = dir.path().join(format!("summary-{i}.json"));
        let (url, p, s) = (url.clone(), path.clone(), summary.clone());
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(common::BIN)
                .env_clear()
                .env("XTREMEPUSH_APPTOKEN", common::TOKEN)
                .args(["export", "--api-url", &url, "--page-size", "100"])
                .args(mode)
                .arg("--summary-json")
                .arg(&s)
                .arg("-o")
                .arg(&p)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{mode:?}: {err}");
        assert!(
            err.contains("does not honour `order`") && err.contains("at offset"),
            "{mode:?}: {err}"
        );
        assert!(!path.exists(), "{mode:?}: no finished output");
        if let Ok(text) = std::fs::read_to_string(&summary) {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(json["complete"], false, "{mode:?}: {json}");
            assert_ne!(json["guaranteed"], true, "{mode:?}: {json}");
        }
    }
}
