//! What a library user sees while a stream runs: a summary that counts the rows handed out (a
//! safe checkpoint between any two rows), a handle to read it from inside `try_for_each`, and
//! events for every page and retry.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use common::{emulator, emulator_client};
use futures::TryStreamExt;
use xp_export::emulator::Fault;
use xp_export::query::Mode;
use xp_export::{ErrorKind, Event, PushAction};

/// Reads `first` rows, checkpoints from the summary, drops the stream, and continues from the
/// checkpoint: together the two runs must be the whole export, each row once.
async fn checkpoint_and_restart(mode: Mode, first: usize, concurrency: usize) {
    let emu = emulator(10_000).await;
    let client = emulator_client(&emu);
    let query = || {
        client
            .push_actions()
            .page_size(1000)
            .concurrency(concurrency)
            .mode(mode)
    };
    let mut rows = query().stream();
    let mut seen = Vec::new();
    while seen.len() < first {
        let a: PushAction = rows.try_next().await.unwrap().unwrap();
        seen.push(a.action_id.unwrap());
    }
    let s = rows.summary();
    let case = format!("{mode}, {first} rows, {concurrency} in flight");
    assert_eq!(s.rows, first as u64, "{case}: rows handed out, not fetched");
    assert_eq!(s.next_offset, first as u64, "{case}");
    assert_eq!(s.next_key, seen.last().copied(), "{case}");
    assert!(
        s.buffered_rows > 0,
        "{case}: the rest of the page waits: {s:?}"
    );
    drop(rows);

    let mut rest = query().start_offset(s.next_offset);
    if let Some(key) = s.next_key {
        rest = rest.start_after(key);
    }
    let (tail, _) = common::ids(rest).await;
    seen.extend(tail);
    let unique: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "{case}: no row twice");
    assert_eq!(seen.len(), 10_000, "{case}: no row lost");
}

#[tokio::test]
async fn a_checkpoint_from_the_summary_between_two_rows_loses_nothing() {
    for (mode, first, k) in [
        (Mode::Offset, 4_000, 4),
        (Mode::Offset, 4_187, 4),
        (Mode::Offset, 1, 1),
        (Mode::Keyset, 4_187, 1),
        (Mode::Keyset, 999, 1),
    ] {
        checkpoint_and_restart(mode, first, k).await;
    }
}

#[tokio::test]
async fn the_progress_handle_reads_the_summary_inside_try_for_each() {
    let emu = emulator(2_500).await;
    let rows = emulator_client(&emu)
        .push_actions()
        .page_size(1000)
        .stream();
    let progress = rows.progress();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handle = progress.clone();
    rows.try_for_each(move |_| {
        log.lock().unwrap().push(handle.summary().rows);
        async { Ok(()) }
    })
    .await
    .unwrap();
    let counts = seen.lock().unwrap().clone();
    assert_eq!(
        counts,
        (1..=2_500).collect::<Vec<u64>>(),
        "each row counted as handed out"
    );
    let s = progress.summary();
    assert_eq!((s.rows, s.buffered_rows, s.next_offset), (2_500, 0, 2_500));
    assert!(s.end.is_some());
}

#[tokio::test]
async fn events_tell_each_page_and_each_retry_with_its_cause_and_wait() {
    let emu = emulator(2_500).await;
    emu.inject([Fault::Unavailable(None), Fault::InternalError]);
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = events.clone();
    let (ids, _) = common::ids(
        emulator_client(&emu)
            .push_actions()
            .page_size(1000)
            .on_event(move |e| log.lock().unwrap().push(e.clone())),
    )
    .await;
    assert_eq!(ids.len(), 2_500);
    let events = events.lock().unwrap().clone();
    let retries: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .collect();
    assert_eq!(retries.len(), 2, "{events:?}");
    match retries[0] {
        Event::Retry {
            offset,
            attempt,
            kind,
            cause,
            ..
        } => {
            assert_eq!((*offset, *attempt, *kind), (0, 1, ErrorKind::Server));
            assert!(cause.contains("503"), "{cause}");
        }
        _ => unreachable!(),
    }
    let pages: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Page { offset, rows } => Some((*offset, *rows)),
            _ => None,
        })
        .collect();
    // With the seam check, each page after the first brings `limit - 1` new rows.
    assert_eq!(pages, [(0, 1000), (1000, 999), (1999, 501)]);
}
