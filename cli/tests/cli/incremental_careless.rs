//! Careless use of `--state` and `--lookback`: each is a usage error (exit 2) that says what
//! to do, exports nothing and leaves the state as it was; nothing panics.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use xp_export::emulator::Emulator;
use xp_export::export::{checkpoint_path, lock_path, partial_path, record_path};

/// `xp-export export ARGS --state DIR/state.json`; a panic fails the test.
fn careless(emu: &Emulator, dir: &Path, args: &[&str]) -> Output {
    let output = cmd(emu)
        .arg("export")
        .args(args)
        .arg("--state")
        .arg(dir.join("state.json"))
        .output()
        .unwrap();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    output
}

/// Asserts a usage error whose message says `says`.
fn refused(output: &Output, says: &str, case: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{case}: {err}");
    assert!(err.contains(says), "{case}: {err}");
}

/// A first run of campaign 245624's rows with `DIR/state.json`; the state's bytes.
fn first_run(emu: &Emulator, dir: &Path) -> Vec<u8> {
    let first = dir.join("first.ndjson");
    let output = careless(
        emu,
        dir,
        &["--campaign", "245624", "-o", first.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::read(dir.join("state.json")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_another_query_or_flags_it_cannot_continue_are_refused() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let written = first_run(&emu, d);
    let out = d.join("out.ndjson");
    let out = out.to_str().unwrap();
    let ours = ["-o", out, "--campaign", "245624"];
    let cases: &[(&[&str], &str)] = &[
        (
            &["-o", out, "--campaign", "245625"],
            "was written for another query",
        ),
        (
            &["-o", out, "--campaign", "245624", "--failed"],
            "[\"error\",\"=\",1]",
        ),
        (&["--mode", "offset"], "keyset mode"),
        (&["--order", "create_time DESC"], "--order"),
        (&["--order", "action_id DESC"], "ascending action_id"),
        (
            &["--until", "2026-11-01"],
            "--until does not go with --state",
        ),
        (
            &["--lookback", "soon"],
            "--lookback \"soon\" is not a duration",
        ),
        (&["--lookback=-2h"], "is not a duration"),
        (
            &["--lookback", "2h", "--max-rows", "5"],
            "does not go with a lookback",
        ),
        (
            &["--since", "last week"],
            "--since \"last week\" is not a time",
        ),
    ];
    for (args, says) in cases {
        let mut all: Vec<&str> = args.to_vec();
        if !args.contains(&"-o") {
            all.extend(ours);
        }
        refused(&careless(&emu, d, &all), says, &format!("{all:?}"));
        assert!(!Path::new(out).exists(), "{all:?}: nothing exported");
    }
    let err = stderr(&careless(&emu, d, &["-o", out, "--campaign", "245625"]));
    assert!(
        err.contains("245624") && err.contains("245625"),
        "names both queries: {err}"
    );
    assert_eq!(std::fs::read(d.join("state.json")).unwrap(), written);

    // --lookback without --state is refused by the parser.
    let output = cmd(&emu)
        .args(["export", "--lookback", "2h", "-o", out])
        .output()
        .unwrap();
    refused(&output, "--state", "--lookback alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_may_not_be_a_file_the_export_writes_or_reads() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.ndjson").display().to_string();
    let side = |name: fn(&Path) -> PathBuf| name(Path::new(&out)).display().to_string();
    let summary = d.join("summary.json");
    let token = d.join("token");
    std::fs::write(&token, format!("{}\n", emu.apptoken())).unwrap();
    for (state, what) in [
        (out.clone(), "is the output"),
        (side(partial_path), "partial file"),
        (side(checkpoint_path), "checkpoint"),
        (side(lock_path), "lock file"),
        (side(record_path), "record of a finished export"),
        (summary.display().to_string(), "--summary-json"),
        (token.display().to_string(), "apptoken file"),
    ] {
        let output = cmd(&emu)
            .env_remove("XTREMEPUSH_APPTOKEN")
            .args(["export", "-o", &out, "--state", &state, "--apptoken-file"])
            .arg(&token)
            .arg("--summary-json")
            .arg(&summary)
            .output()
            .unwrap();
        refused(&output, what, &state);
        assert!(!Path::new(&out).exists());
    }
    assert_eq!(
        std::fs::read_to_string(&token).unwrap().trim(),
        emu.apptoken()
    );
    std::fs::create_dir(d.join("dir")).unwrap();
    let output = cmd(&emu)
        .args(["export", "-o", &out, "--state"])
        .arg(d.join("dir"))
        .output()
        .unwrap();
    refused(&output, "not a regular file", "a directory");
    // Beside the output, under its own name, it is fine.
    let output = careless(&emu, d, &["-o", &out]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_is_refused_and_left_for_the_user() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let written = String::from_utf8(first_run(&emu, d)).unwrap();
    let out = d.join("out.ndjson");
    let args = ["-o", out.to_str().unwrap(), "--campaign", "245624"];
    let edited = written.replace("\"newest_action_id\": ", "\"newest_action_id\": 1");
    let newer = written.replace("\"version\": 1", "\"version\": 2");
    for damage in ["", "{", "[1,2]", "{\"version\": 1}", "\u{0}\u{1}", &edited] {
        std::fs::write(d.join("state.json"), damage).unwrap();
        let output = careless(&emu, d, &args);
        refused(&output, "damaged", damage);
        assert!(stderr(&output).contains("delete it"), "{}", stderr(&output));
        assert_eq!(
            std::fs::read(d.join("state.json")).unwrap(),
            damage.as_bytes()
        );
        assert!(!out.exists());
    }
    std::fs::write(d.join("state.json"), &newer).unwrap();
    refused(&careless(&emu, d, &args), "version 2", "a newer version");
}

/// A second run on a state another run is using (here: this test holds it, as a running
/// export would): two at once wrote the state over each other, the slower taking it back to its
/// older newest row. It is refused with exit 2, as an output another export writes is, exports
/// nothing and leaves the state as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_another_run_holds_is_refused() {
    let emu = emulator(100).await;
    let dir = tempfile::tempdir().unwrap();
    let before = first_run(&emu, dir.path());
    let query = xp_export::Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .build()
        .unwrap()
        .push_actions()
        .campaign(245_624);
    let holder = xp_export::export::Incremental::open(dir.path().join("state.json"), &query)
        .expect("the first run's lock is let go");
    let out = dir.path().join("second.ndjson");
    let output = careless(
        &emu,
        dir.path(),
        &["--campaign", "245624", "-o", out.to_str().unwrap()],
    );
    refused(&output, "another run holds the state", "a state in use");
    assert!(!out.exists(), "nothing is exported");
    drop(holder);
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).unwrap(),
        before
    );
}

/// A first run's state in a directory that is not there (a typo, or a symlink into one) is
/// refused before the first request: the whole export used to run, and only then fail to
/// write the state (exit 1, "the next run repeats this window"), each next run the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_in_a_missing_directory_is_refused_before_anything_is_exported() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out.ndjson");
    let link = d.join("link.json");
    std::os::unix::fs::symlink(d.join("gone").join("state.json"), &link).unwrap();
    for state in [d.join("missing").join("state.json"), link] {
        let output = cmd(&emu)
            .args(["export", "-o"])
            .arg(&out)
            .arg("--state")
            .arg(&state)
            .output()
            .unwrap();
        refused(&output, "does not exist", &state.display().to_string());
        assert!(!out.exists(), "{}", state.display());
        assert_eq!(emu.requests(), 0, "{}", state.display());
    }
}
