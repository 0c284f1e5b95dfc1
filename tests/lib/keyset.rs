//! Keyset mode: seek on `action_id` instead of offsets, so rows added during an export can
//! neither duplicate nor hide a row that existed when it started.

use crate::common;

use std::collections::HashSet;

use common::{emulator, ids, quick_retry};
use futures::TryStreamExt;
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::paginate::EndReason;
use xp_export::query::Mode;
use xp_export::{Client, ErrorKind};

fn client(emu: &Emulator) -> Client {
    common::emulator_client(emu)
}

#[tokio::test]
async fn keyset_pages_by_key_ascending_and_never_sends_an_offset() {
    let emu = emulator(2_500).await;
    let expected: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let (got, s) = ids(client(&emu)
        .push_actions()
        .mode(Mode::Keyset)
        .page_size(1000))
    .await;
    assert_eq!(got, expected, "ascending action_id, each once");
    assert_eq!(emu.requests(), 3);
    assert!(emu.request_log().iter().all(|r| r.offset.unwrap_or(0) == 0));
    assert_eq!(s.next_key, expected.last().copied());
    // Each page after the first asks from the last key on (its row again, to see a key
    // shared across the boundary): 1,000 rows, then 999 and 501 new ones.
    assert_eq!(
        s.end,
        Some(EndReason::ShortPage {
            offset: 1999,
            rows: 501
        })
    );
}

#[tokio::test]
async fn keyset_can_walk_newest_first() {
    let emu = emulator(1_234).await;
    let expected: Vec<u64> = emu.records().iter().rev().map(|r| r.action_id).collect();
    let q = client(&emu)
        .push_actions()
        .mode(Mode::Keyset)
        .order("action_id DESC")
        .page_size(100);
    assert_eq!(ids(q).await.0, expected);
}

#[tokio::test]
async fn rows_added_during_the_export_neither_duplicate_nor_hide_a_row() {
    let emu = Emulator::start(Config::default().records(3_000).insert_per_request(37))
        .await
        .unwrap();
    let at_start: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();

    let (got, _) = ids(client(&emu)
        .push_actions()
        .mode(Mode::Keyset)
        .page_size(200))
    .await;
    let unique: HashSet<u64> = got.iter().copied().collect();
    assert_eq!(unique.len(), got.len(), "no row twice");
    assert_eq!(
        &got[..at_start.len()],
        &at_start[..],
        "every row that existed, in order"
    );
    assert!(
        got.len() > at_start.len(),
        "rows added meanwhile come after them"
    );

    // Offsets, newest first: rows arriving at the head push rows already exported into later
    // pages. Without the seam check they come out again; with it (the default) they do not.
    for k in [1, 4] {
        let emu = Emulator::start(Config::default().records(3_000).insert_per_request(37))
            .await
            .unwrap();
        let q = client(&emu).push_actions().concurrency(k).page_size(200);
        let (plain, _) = ids(q.seam_check(false)).await;
        let unique: HashSet<u64> = plain.iter().copied().collect();
        assert!(
            unique.len() < plain.len(),
            "k = {k}: offset paging duplicates under inserts"
        );

        let emu = Emulator::start(Config::default().records(3_000).insert_per_request(37))
            .await
            .unwrap();
        let at_start: HashSet<u64> = emu.records().iter().map(|r| r.action_id).collect();
        let (checked, s) = ids(client(&emu).push_actions().concurrency(k).page_size(200)).await;
        let unique: HashSet<u64> = checked.iter().copied().collect();
        assert_eq!(unique.len(), checked.len(), "k = {k}: no row twice");
        assert!(
            at_start.is_subset(&unique),
            "k = {k}: no row that existed is missed"
        );
        assert!(
            s.shifts_detected > 0 && s.shifts_repaired == s.shifts_detected,
            "{s:?}"
        );
        assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    }
}

#[tokio::test]
async fn keyset_survives_faults_and_caps() {
    let clean = emulator(2_000).await;
    let expected: Vec<u64> = clean.records().iter().map(|r| r.action_id).collect();
    let emu = Emulator::start(
        Config::default()
            .records(2_000)
            .max_limit(150)
            .fault_rate(0.3)
            .fault_kinds([
                Fault::InternalError,
                Fault::Reset,
                Fault::Truncated,
                Fault::EnvelopeFailure,
            ]),
    )
    .await
    .unwrap();
    let (got, s) = ids(client(&emu)
        .push_actions()
        .mode(Mode::Keyset)
        .page_size(500))
    .await;
    assert_eq!(got, expected);
    assert_eq!(s.learned_cap, Some(150));
    assert!(s.total_retries() > 0);
    assert!(s.peak_in_flight <= 1, "keyset pages are sequential");
}

#[tokio::test]
async fn start_after_continues_from_a_key() {
    let emu = emulator(1_000).await;
    let all: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let q = client(&emu)
        .push_actions()
        .mode(Mode::Keyset)
        .start_after(all[399])
        .page_size(250);
    assert_eq!(ids(q).await.0, all[400..]);
}

#[tokio::test]
async fn keyset_needs_the_key_selected_and_ordered() {
    let emu = emulator(10).await;
    for q in [
        client(&emu)
            .push_actions()
            .mode(Mode::Keyset)
            .select(["device_id"]),
        client(&emu)
            .push_actions()
            .mode(Mode::Keyset)
            .order("create_time DESC"),
    ] {
        let err = q.stream().try_collect::<Vec<_>>().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("keyset mode"), "{err}");
    }
    assert_eq!(emu.requests(), 0, "refused before sending anything");
}

#[tokio::test]
async fn offset_mode_repairs_rows_shifting_and_says_so() {
    let emu = emulator(3_000).await;
    let (_, clean) = ids(client(&emu).push_actions().page_size(200)).await;
    assert_eq!(clean.shifts_detected, 0);
    assert!(clean.warnings().is_empty(), "{:?}", clean.warnings());

    let busy = Emulator::start(Config::default().records(3_000).insert_per_request(37))
        .await
        .unwrap();
    let (_, s) = ids(client(&busy).push_actions().page_size(200)).await;
    assert!(s.shifts_detected > 0, "{s:?}");
    assert_eq!(s.shifts_repaired, s.shifts_detected, "every seam repaired");
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    let (_, s) = ids(client(&busy)
        .push_actions()
        .page_size(200)
        .seam_check(false))
    .await;
    assert_eq!(s.shifts_detected, 0, "unnoticed without the check");
    let w = s.warnings();
    assert!(
        w.iter().any(|w| w.contains("the seam check is off")),
        "{w:?}"
    );

    let (_, s) = ids(client(&busy)
        .push_actions()
        .mode(Mode::Keyset)
        .page_size(200))
    .await;
    assert_eq!(s.shifts_detected, 0);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
}

#[tokio::test]
async fn an_order_off_the_unique_key_is_flagged() {
    let emu = emulator(300).await;
    let (_, s) = ids(client(&emu).push_actions().order("create_time DESC")).await;
    let w = s.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("ordered by create_time DESC, not by the unique `action_id`"),
        "{w:?}"
    );
    let mut rows = client(&emu).push_actions().select(["device_id"]).stream();
    while rows.try_next().await.unwrap().is_some() {}
    assert_eq!(
        rows.summary().warnings().len(),
        1,
        "no key to check seams with"
    );
}

/// A server whose rows (keys 1..=n, served newest first) lose `removed` of the rows at the
/// head after the first request: every later row moves up past the seam.
struct Shrinking {
    keys: std::sync::Mutex<Vec<u64>>,
    removed: usize,
    seen: std::sync::atomic::AtomicUsize,
}

impl wiremock::Respond for Shrinking {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let mut keys = self.keys.lock().unwrap();
        if self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            keys.drain(..self.removed);
        }
        // Conditions on action_id (the seam repair asks by key), then offset and limit.
        let mut rows: Vec<u64> = keys.clone();
        for c in body["condition"].as_array().into_iter().flatten() {
            let (op, v) = (c[1].as_str().unwrap(), c[2].as_u64().unwrap());
            rows.retain(|&k| match op {
                "<" => k < v,
                ">" => k > v,
                _ => true,
            });
        }
        let offset = body["offset"].as_u64().unwrap() as usize;
        let limit = body["limit"].as_u64().unwrap() as usize;
        let data: Vec<serde_json::Value> = rows
            .iter()
            .skip(offset)
            .take(limit)
            .map(|k| serde_json::json!({"action_id": k}))
            .collect();
        wiremock::ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"code": 200, "success": true, "data": data}))
    }
}

async fn shrinking(n: u64, removed: usize) -> wiremock::MockServer {
    let server = common::mock_server().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(Shrinking {
            keys: std::sync::Mutex::new((1..=n).rev().collect()),
            removed,
            seen: Default::default(),
        })
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn rows_removed_mid_export_leave_no_gap_in_offset_mode() {
    let n = 1_000u64;
    let removed = 7;
    let server = shrinking(n, removed).await;
    let client = Client::builder()
        .api_url(format!("{}/api/external", server.uri()))
        .apptoken("t")
        .retry(quick_retry())
        .build()
        .unwrap();
    let (got, s) = ids(client.push_actions().concurrency(1).page_size(100)).await;
    // The first page (keys 1000..=901) was delivered before the removal; every row after it
    // still exists and must come out once, in order.
    let expected: Vec<u64> = (1..=n).rev().collect();
    assert_eq!(got, expected);
    assert_eq!(s.shifts_detected, 1);
    assert_eq!(s.shifts_repaired, 1);
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());

    // Without the check, the rows that moved up past the seam are lost.
    let server = shrinking(n, removed).await;
    let client = Client::builder()
        .api_url(format!("{}/api/external", server.uri()))
        .apptoken("t")
        .build()
        .unwrap();
    let (got, _) = ids(client
        .push_actions()
        .concurrency(1)
        .page_size(100)
        .seam_check(false))
    .await;
    assert_eq!(got.len() as u64, n - removed as u64, "rows silently lost");
}
