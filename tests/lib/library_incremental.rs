//! Incremental runs and shards from code, with the library alone: what the CLI's `--state` and
//! `--shard` do, a program does too, with the same guarantees.

use std::path::Path;

use crate::common::*;
use futures::TryStreamExt;
use xp_export::emulator::Record;
use xp_export::export::{Export, ExportErrorKind, Finished, Format, Incremental, Report, Target};
use xp_export::query::Mode;
use xp_export::query::{NotShardable, Shard};
use xp_export::{ErrorKind, Op, PushAction, Query};

/// One incremental run of `query` with the state at `dir/state.json`, into `dir/name`: its
/// rows' `action_id`s, its report and what it did with the state.
pub(crate) async fn daily(
    query: &Query<PushAction>,
    dir: &Path,
    name: &str,
) -> (Vec<u64>, Report, Finished) {
    let run = Incremental::open(dir.join("state.json"), query).unwrap();
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

pub(crate) fn ids<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<u64> {
    records.into_iter().map(|r| r.action_id).collect()
}

#[tokio::test]
async fn each_incremental_run_gets_exactly_the_rows_added_since_the_last() {
    let emu = emulator(1_200).await;
    let dir = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu).push_actions().page_size(100);

    let (first, report, finished) = daily(&query, dir.path(), "1.ndjson").await;
    assert_eq!(first, ids(emu.records().iter()), "the first run: every row");
    assert_eq!(
        (report.rows_new, report.rows_reread),
        (Some(1_200), Some(0))
    );
    let newest = emu.records()[1_199].clone();
    let Finished::Saved(Some(saved)) = finished else {
        panic!("the state was not saved: {finished:?}")
    };
    assert_eq!(
        (saved.action_id, saved.create_time),
        (newest.action_id, Some(newest.create_time))
    );
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!state.contains(emu.apptoken()), "no secret in the state");

    emu.insert(250);
    let before = emu.requests();
    let (second, report, _) = daily(&query, dir.path(), "2.ndjson").await;
    assert_eq!(
        second,
        ids(&emu.records()[1_200..]),
        "exactly the new rows, in order"
    );
    assert_eq!((report.rows_new, report.rows_reread), (Some(250), Some(0)));
    // Pages of 100 from the last key: 3 pages of rows, then the newest row's create_time.
    assert_eq!(emu.requests() - before, 3 + 1);

    let (third, report, finished) = daily(&query, dir.path(), "3.ndjson").await;
    assert!(third.is_empty(), "nothing new: {third:?}");
    assert_eq!(report.rows_new, Some(0));
    let newest = emu.records()[1_449].action_id;
    assert!(matches!(finished, Finished::Saved(Some(n)) if n.action_id == newest));
}

#[tokio::test]
async fn a_run_that_does_not_finish_leaves_the_state_and_the_next_repeats_its_window() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu).push_actions().page_size(100);
    daily(&query, dir.path(), "1.ndjson").await;
    let state = std::fs::read(dir.path().join("state.json")).unwrap();
    emu.insert(120);

    // A run whose export is never finished: its query starts where the state says.
    let run = Incremental::open(dir.path().join("state.json"), &query).unwrap();
    let rows: Vec<xp_export::RawRow> = run
        .query()
        .await
        .unwrap()
        .raw_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 120);
    drop(run);
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), state);

    let (again, _, _) = daily(&query, dir.path(), "2.ndjson").await;
    assert_eq!(again, ids(&emu.records()[300..]), "the window again, whole");
}

#[tokio::test]
async fn a_state_is_for_one_query_and_a_damaged_one_is_refused() {
    let emu = emulator(50).await;
    let dir = tempfile::tempdir().unwrap();
    let client = emulator_client(&emu);
    let ours = client.push_actions().campaign(245_624);
    daily(&ours, dir.path(), "1.ndjson").await;
    let path = dir.path().join("state.json");

    let theirs = client.push_actions().campaign(245_625);
    let err = Incremental::open(&path, &theirs).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::State);
    let message = err.to_string();
    assert!(
        message.contains("another query")
            && message.contains("245624")
            && message.contains("245625"),
        "{message}"
    );
    let err = Incremental::open(&path, &ours.clone().order("action_id DESC")).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Query);
    assert!(err.to_string().contains("ascending action_id"), "{err}");

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"newest_action_id\": ", "\"newest_action_id\": 9"),
    )
    .unwrap();
    let err = Incremental::open(&path, &ours).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::State);
    assert!(err.to_string().contains("damaged"), "{err}");
}

/// A row limit spent on the rows a lookback reads again never reaches the new ones: every
/// run read the same rows again, found nothing new and left the state where it was, with `Ok`,
/// while new rows piled up. The two are refused together, before any request.
#[tokio::test]
async fn a_row_limit_with_a_lookback_is_refused_rather_than_never_reaching_the_new_rows() {
    let emu = emulator(200).await;
    let dir = tempfile::tempdir().unwrap();
    let limited = emulator_client(&emu)
        .push_actions()
        .page_size(20)
        .max_rows(50);
    let (first, _, _) = daily(&limited, dir.path(), "1.ndjson").await;
    assert_eq!(first, ids(&emu.records()[..50]), "a limit alone is a batch");
    let state = std::fs::read(dir.path().join("state.json")).unwrap();
    emu.insert(10);
    let before = emu.requests();
    let hour = std::time::Duration::from_secs(3_600);
    let run = Incremental::open(dir.path().join("state.json"), &limited)
        .unwrap()
        .lookback(hour);
    let err = run.query().await.unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Query, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("50 rows") && message.contains("lookback"),
        "{message}"
    );
    assert_eq!(emu.requests(), before, "nothing is sent");
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), state);
    // A first run is refused alike: the second would be stuck.
    let fresh = Incremental::open(dir.path().join("fresh.json"), &limited)
        .unwrap()
        .lookback(hour);
    assert_eq!(
        fresh.query().await.unwrap_err().kind(),
        ExportErrorKind::Query
    );
}

/// A program naming the state as the output (or a file beside it) would have the export
/// write over the state and the state over the export: both are lost, with `Ok`. The export
/// refuses before anything is written, and an existing state is left as it was.
#[tokio::test]
async fn an_output_that_is_the_state_or_a_file_beside_it_is_refused_before_anything_is_written() {
    use xp_export::export::{checkpoint_path, lock_path, partial_path};
    let emu = emulator(60).await;
    let query = emulator_client(&emu).push_actions().page_size(25);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("day.ndjson");
    let beside = [
        (out.clone(), "is the output"),
        (partial_path(&out), "the output's partial file"),
        (checkpoint_path(&out), "the output's checkpoint"),
        (lock_path(&out), "the output's lock"),
        (dir.path().join(".").join("day.ndjson"), "is the output"),
    ];
    for (state, says) in beside {
        // Once as a first run, once over a state an earlier run left there.
        for earlier in [None, Some(dir.path().join("elsewhere.ndjson"))] {
            if let Some(elsewhere) = &earlier {
                let run = Incremental::open(&state, &query).unwrap();
                let job = run.export(
                    run.query().await.unwrap(),
                    Format::Ndjson,
                    Target::File(elsewhere.clone()),
                );
                let report = job.run(std::future::pending(), |_, _| {}).await.unwrap();
                run.finish(&report).await.unwrap();
            }
            let before = std::fs::read(&state).ok();
            let run = Incremental::open(&state, &query).unwrap();
            let job = run.export(
                run.query().await.unwrap(),
                Format::Ndjson,
                Target::File(out.clone()),
            );
            let err = job
                .run(std::future::pending(), |_, _| {})
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ExportErrorKind::State, "{state:?}: {err}");
            let message = err.to_string();
            assert!(message.contains(says), "{state:?}: {message}");
            assert_eq!(
                std::fs::read(&state).ok(),
                before,
                "{state:?}: the state is as it was"
            );
            // The state's own (hidden) lock is the run's, not the export's.
            let state_lock = format!(".{}.lock", state.file_name().unwrap().to_string_lossy());
            let mut left: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| !n.trim_start_matches('.').starts_with("elsewhere") && *n != state_lock)
                .collect();
            left.sort();
            let expected: Vec<String> = before
                .iter()
                .map(|_| state.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            assert_eq!(left, expected, "{state:?}: nothing is written");
            for name in std::fs::read_dir(dir.path()).unwrap() {
                std::fs::remove_file(name.unwrap().path()).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn four_shards_of_a_query_are_exactly_the_whole_and_disjoint() {
    let emu = emulator(2_000).await;
    let query = emulator_client(&emu)
        .push_actions()
        .filter("create_time", Op::Lt, 1_700_000_000)
        .page_size(150)
        .mode(Mode::Keyset);
    let mut all = Vec::new();
    for i in 0..4 {
        let (part, plan) = query
            .clone()
            .shard(Shard::new(i, 4).unwrap())
            .await
            .unwrap();
        let keys: Vec<u64> = part
            .stream()
            .map_ok(|a| a.action_id.unwrap())
            .try_collect()
            .await
            .unwrap();
        assert!(
            keys.len() > 400 && keys.len() < 600,
            "part {i}: {}",
            keys.len()
        );
        assert!(
            keys.iter().all(|k| plan.keys.contains(*k)),
            "part {i} keeps to its keys"
        );
        all.extend(keys);
    }
    assert_eq!(
        all,
        ids(emu.records().iter()),
        "the parts, in order, are the whole query once"
    );
}

#[tokio::test]
async fn a_query_shards_cannot_tile_is_refused_with_its_reason_and_no_request() {
    let emu = emulator(100).await;
    let bounded =
        emulator_client(&emu)
            .push_actions()
            .filter("action_id", Op::Le, 1_000_000_000u64);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let cases = [
        (
            bounded.clone().start_offset(10),
            "cannot start at an offset (10)",
        ),
        (
            bounded.clone().mode(Mode::Keyset).start_after(5),
            "cannot start after a key (action_id 5)",
        ),
        (bounded.clone().max_rows(3), "cannot stop after 3 rows"),
        (
            emulator_client(&emu).push_actions().since(0),
            "needs a fixed upper end",
        ),
        (
            emulator_client(&emu).push_actions().until(now + 3_600),
            "is not over yet",
        ),
    ];
    for (query, says) in cases {
        let reason = query.check_shardable().unwrap_err();
        let err = query.shard(Shard::new(0, 2).unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let message = err.to_string();
        assert!(message.contains(says), "{message}");
        let source = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<NotShardable>())
            .expect("the reason, typed");
        assert_eq!(source, &reason);
    }
    assert_eq!(
        emu.requests(),
        0,
        "nothing is sent for a query that cannot be split"
    );
}

/// The export handle for a shard, as the CLI runs it: an ordinary export of the part.
#[tokio::test]
async fn a_part_exports_like_any_query() {
    let emu = emulator(300).await;
    let dir = tempfile::tempdir().unwrap();
    let query = emulator_client(&emu)
        .push_actions()
        .filter("create_time", Op::Lt, 1_700_000_000);
    let mut all = Vec::new();
    for i in 0..2 {
        let (part, _) = query
            .clone()
            .shard(Shard::new(i, 2).unwrap())
            .await
            .unwrap();
        let out = dir.path().join(format!("part-{i}.ndjson"));
        let report = Export::new(
            part.mode(Mode::Keyset),
            Format::Ndjson,
            Target::File(out.clone()),
        )
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
        assert_eq!(report.rows_in_output, report.summary.rows);
        all.extend(ndjson_ids(&std::fs::read(&out).unwrap()));
    }
    assert_eq!(all, ids(emu.records().iter()));
}
