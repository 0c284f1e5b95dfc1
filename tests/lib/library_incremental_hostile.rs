//! Incremental runs against careless use and a hostile server, from code: two runs on one
//! state, a state written behind a run's back, a probe answered with another row, a first run
//! that finds nothing, and a lookback that would reach before the first run's `since`.

use std::path::Path;

use crate::common::*;
use crate::library_incremental::{daily, ids};
use serde_json::json;
use wiremock::{Mock, ResponseTemplate};
use xp_export::PushAction;
use xp_export::Query;
use xp_export::export::{Export, ExportErrorKind, Finished, Format, Incremental, Report, Target};
use xp_export::query::Mode;

/// One incremental run as `daily` does, `set` applied to it first (a `since`, a lookback).
async fn daily_with(
    query: &Query<PushAction>,
    dir: &Path,
    name: &str,
    set: impl FnOnce(Incremental) -> Incremental,
) -> (Vec<u64>, Report, Finished) {
    let run = set(Incremental::open(dir.join("state.json"), query).unwrap());
    let out = dir.join(name);
    let job = run.export(
        run.query().await.unwrap(),
        Format::Ndjson,
        Target::File(out.clone()),
    );
    let report = job.run(std::future::pending(), |_, _| {}).await.unwrap();
    let finished = run.finish(&report).await.unwrap();
    (ndjson_ids(&std::fs::read(&out).unwrap()), report, finished)
}

fn newest_on_disk(dir: &Path) -> Option<u64> {
    let text = std::fs::read(dir.join("state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_slice(&text).unwrap();
    state["newest_action_id"].as_u64()
}

/// Two runs on one state at once: the slower finished last and wrote its own, older, newest
/// row, so the next run exported again what the faster had. The second is refused at `open`,
/// with a kind the CLI maps to exit 2 (as an output another export is writing), until the
/// first lets go; the lock is a hidden file beside the state.
#[tokio::test]
async fn a_second_run_on_a_state_is_refused_while_the_first_holds_it() {
    let emu = emulator(120).await;
    let dir = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu).push_actions().page_size(50);
    let path = dir.path().join("state.json");

    let first = Incremental::open(&path, &query).unwrap();
    let err = Incremental::open(&path, &query).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Busy, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("another run holds the state") && message.contains("state.json"),
        "{message}"
    );
    drop(first);

    // Let go on drop, and after `finish`: the next runs open as before.
    daily(&query, dir.path(), "1.ndjson").await;
    let run = Incremental::open(&path, &query).unwrap();
    assert!(run.continues());
    drop(run);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("state"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["state.json"],
        "the state's lock file goes with the run"
    );
}

/// A state written while a run held the lock (by hand, or by a build without it) with a newer
/// row than the run's: `finish` keeps the newer one rather than take the state back.
#[tokio::test]
async fn finish_never_takes_the_state_back_to_an_older_row() {
    let emu = emulator(100).await;
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu).push_actions().page_size(25);
    daily(&query, dir.path(), "1.ndjson").await;
    emu.insert(100);

    let slow = Incremental::open(dir.path().join("state.json"), &query).unwrap();
    let batch = slow.query().await.unwrap().max_rows(30);
    let job = slow.export(
        batch,
        Format::Ndjson,
        Target::File(dir.path().join("2.ndjson")),
    );
    let report = job.run(std::future::pending(), |_, _| {}).await.unwrap();
    assert_eq!(report.summary.next_key, Some(emu.records()[129].action_id));

    // Meanwhile another copy of the state ran to the newest row and was put back in place.
    std::fs::copy(
        dir.path().join("state.json"),
        other.path().join("state.json"),
    )
    .unwrap();
    daily(&query, other.path(), "all.ndjson").await;
    let newest = emu.records()[199].action_id;
    std::fs::copy(
        other.path().join("state.json"),
        dir.path().join("state.json"),
    )
    .unwrap();

    let finished = slow.finish(&report).await.unwrap();
    assert!(
        matches!(finished, Finished::Saved(Some(n)) if n.action_id == newest),
        "{finished:?}"
    );
    assert_eq!(newest_on_disk(dir.path()), Some(newest));
}

/// The newest row's `create_time` comes from a one-row request by its key. A server that
/// ignores the condition answered with another row, whose `create_time` the state recorded
/// (moving the next lookback's window), or with none, so the state recorded no time. Either
/// is an error naming the key and what came back, and no state is written.
#[tokio::test]
async fn a_probe_answered_with_another_row_or_none_fails_and_writes_no_state() {
    let emu = emulator(40).await;
    let rows = emulator_client(&emu)
        .push_actions()
        .page_size(20)
        .mode(Mode::Keyset);
    let key = emu.records()[39].action_id;
    let other = key - 1;
    let cases = [
        (
            json!([{"action_id": other, "create_time": 1_480_000_000}]),
            format!("the row with action_id {other}"),
        ),
        (json!([]), "no row".to_string()),
    ];
    for (data, says) in cases {
        let server = mock_server().await;
        Mock::given(wiremock::matchers::method("POST"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"code": 200, "success": true, "data": data})),
            )
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let probed = client_for(&base(&server)).push_actions();
        let run = Incremental::open(&state, &probed).unwrap();
        let job = run.count(Export::new(
            rows.clone(),
            Format::Ndjson,
            Target::File(dir.path().join("1.ndjson")),
        ));
        let report = job.run(std::future::pending(), |_, _| {}).await.unwrap();
        assert_eq!(report.summary.next_key, Some(key));
        let err = run.finish(&report).await.unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::Api, "{err}");
        let message = xp_export::error::chain(&err);
        assert!(
            message.contains(&format!("action_id {key}")) && message.contains(&says),
            "{says}: {message}"
        );
        assert!(!state.exists(), "{says}: no state is written");
    }
}

/// A first run from `since` that found no row recorded nothing, so the next run (without
/// `since`, as a daily job's later runs are) exported the whole query, rows from long before
/// `since` included. The state keeps the first run's `since`: the next runs keep to it.
#[tokio::test]
async fn a_first_run_that_finds_nothing_still_anchors_the_next_runs() {
    let emu = emulator(200).await;
    let dir = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu).push_actions().page_size(50);
    let since = emu.records().iter().map(|r| r.create_time).max().unwrap() + 1;

    let (first, _, finished) = daily_with(&query, dir.path(), "1.ndjson", |r| r.since(since)).await;
    assert!(first.is_empty(), "{first:?}");
    assert_eq!(finished, Finished::Saved(None));

    emu.insert(30);
    let expected: Vec<u64> = ids(emu.records().iter().filter(|r| r.create_time >= since));
    assert!(!expected.is_empty() && expected.len() <= 30);
    let run = Incremental::open(dir.path().join("state.json"), &query).unwrap();
    assert!(run.continues(), "the state continues from its since");
    assert_eq!(run.first_since(), Some(since));
    drop(run);
    // Without `since`, and with another one: only the rows the first run's window brought.
    let (second, report, _) = daily_with(&query, dir.path(), "2.ndjson", |r| {
        r.since(since - 1_000_000)
    })
    .await;
    assert_eq!(
        second, expected,
        "exactly the rows since the first run's since"
    );
    assert_eq!(report.rows_new, Some(expected.len() as u64));
    let (third, _, _) = daily_with(&query, dir.path(), "3.ndjson", |r| r).await;
    assert!(third.is_empty(), "{third:?}");
}

/// A lookback longer than the runs so far reached before the first run's `since`: it read
/// again (and counted as read again) rows no run had exported. It stops at `since`.
#[tokio::test]
async fn a_lookback_never_reaches_before_the_first_runs_since() {
    let emu = emulator(400).await;
    let dir = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu).push_actions().page_size(50);
    let since = emu.records()[250].create_time;
    let (first, _, _) = daily_with(&query, dir.path(), "1.ndjson", |r| r.since(since)).await;
    let exported: Vec<u64> = ids(emu.records().iter().filter(|r| r.create_time >= since));
    assert_eq!(first, exported);

    emu.insert(20);
    let year = std::time::Duration::from_secs(366 * 86_400);
    let (second, report, _) =
        daily_with(&query, dir.path(), "2.ndjson", |r| r.lookback(year)).await;
    let mut expected = exported.clone();
    expected.extend(ids(&emu.records()[400..]));
    assert_eq!(
        second, expected,
        "the rows exported before, and the new ones"
    );
    assert_eq!(
        (report.rows_reread, report.rows_new),
        (Some(exported.len() as u64), Some(20))
    );
}
