//! The stream against the in-process emulator: real HTTP, real faults (resets, cut-off bodies,
//! stalls), and the emulator's own data set as the reference.

use crate::common;

use std::time::{Duration, Instant};

use common::emulator;
use futures::TryStreamExt;
use xp_export::emulator::{Config, Emulator, Fault, Record, RetryAfter};
use xp_export::paginate::EndReason;
use xp_export::{Client, ErrorKind, PushAction, Summary};

fn client(emu: &Emulator) -> Client {
    common::emulator_client(emu)
}

/// Every action id of the data set, newest first (the API's default order).
fn newest_first(records: &[Record]) -> Vec<u64> {
    records.iter().rev().map(|r| r.action_id).collect()
}

/// A sequential export (one request at a time), so request counts are exact.
async fn export(client: &Client, page_size: u64) -> (Vec<PushAction>, Summary) {
    let mut rows = client
        .push_actions()
        .concurrency(1)
        .page_size(page_size)
        .stream();
    let mut out = Vec::new();
    while let Some(a) = rows.try_next().await.expect("export succeeds") {
        out.push(a);
    }
    (out, rows.summary())
}

fn ids(rows: &[PushAction]) -> Vec<u64> {
    rows.iter().map(|a| a.action_id.unwrap()).collect()
}

#[tokio::test]
async fn every_row_arrives_once_in_order_with_every_field() {
    let emu = emulator(2_345).await;
    let (rows, summary) = export(&client(&emu), 500).await;
    assert_eq!(ids(&rows), newest_first(&emu.records()));
    assert_eq!(summary.requests, 5, "ceil(2345/500)");
    assert_eq!(emu.requests(), 5);
    // Every field the server sent survives decoding, unknown ones included.
    // (A null field decodes to `None`, which serialises as absent.)
    for (row, rec) in rows.iter().zip(emu.records().iter().rev()) {
        let mut expected = rec.to_json();
        expected
            .as_object_mut()
            .unwrap()
            .retain(|_, v| !v.is_null());
        assert_eq!(serde_json::to_value(row).unwrap(), expected);
        assert_eq!(row.extra["platform"], rec.platform.as_str());
    }
}

#[tokio::test]
async fn each_fault_kind_is_survived_without_loss_or_duplicates() {
    let kinds = [
        Fault::InternalError,
        Fault::BadGatewayHtml,
        Fault::Unavailable(None),
        Fault::Unavailable(Some(RetryAfter::Seconds(0))),
        Fault::RateLimited(Some(RetryAfter::Seconds(0))),
        Fault::Reset,
        Fault::Truncated,
        Fault::EnvelopeFailure,
        Fault::Stall(Duration::from_secs(3)),
    ];
    for kind in kinds {
        let emu = emulator(1_000).await;
        let expected = newest_first(&emu.records());
        // Two failures on the first page, then two more on a later one.
        emu.inject([kind.clone(), kind.clone()]);
        let client = client(&emu);
        let mut rows = client.push_actions().concurrency(1).page_size(300).stream();
        let mut got = Vec::new();
        while let Some(a) = rows.try_next().await.unwrap() {
            got.push(a.action_id.unwrap());
            if got.len() == 450 {
                emu.inject([kind.clone(), kind.clone()]);
            }
        }
        assert_eq!(got, expected, "{kind:?}");
        let s = rows.summary();
        assert_eq!(s.total_retries(), 4, "{kind:?}: {s:?}");
        assert_eq!(emu.requests(), 4 + 4, "{kind:?}");
    }
}

#[tokio::test]
async fn random_faults_at_thirty_percent_change_nothing_in_the_output() {
    let clean = emulator(3_000).await;
    let (reference, _) = export(&client(&clean), 250).await;

    let faulty = Emulator::start(
        Config::default()
            .records(3_000)
            .fault_rate(0.3)
            .fault_kinds([
                Fault::InternalError,
                Fault::BadGatewayHtml,
                Fault::Unavailable(None),
                Fault::Reset,
                Fault::Truncated,
                Fault::EnvelopeFailure,
            ]),
    )
    .await
    .unwrap();
    let (rows, summary) = export(&client(&faulty), 250).await;
    assert_eq!(rows, reference);
    assert!(summary.total_retries() > 0, "faults were injected");
    assert_eq!(summary.requests, faulty.requests());
}

#[tokio::test]
async fn kinds_of_transport_failure_are_told_apart() {
    let emu = emulator(10).await;
    emu.inject([
        Fault::Reset,
        Fault::Truncated,
        Fault::Stall(Duration::from_secs(3)),
    ]);
    let (rows, s) = export(&client(&emu), 100).await;
    assert_eq!(rows.len(), 10);
    assert_eq!(s.retries.get(&ErrorKind::Network), Some(&1), "{s:?}");
    assert_eq!(s.retries.get(&ErrorKind::Body), Some(&1), "{s:?}");
    assert_eq!(s.retries.get(&ErrorKind::Timeout), Some(&1), "{s:?}");
}

#[tokio::test]
async fn a_silent_cap_is_followed() {
    let emu = Emulator::start(Config::default().records(2_500).max_limit(400))
        .await
        .unwrap();
    let (rows, summary) = export(&client(&emu), 1000).await;
    assert_eq!(ids(&rows), newest_first(&emu.records()));
    assert_eq!(summary.learned_cap, Some(400));
    assert_eq!(emu.requests(), 7, "ceil(2500/400)");
}

#[tokio::test]
async fn conditions_select_and_order_reach_the_server() {
    let emu = emulator(5_000).await;
    let records = emu.records();
    let campaign = records[0].campaign_id;
    let mut expected: Vec<&Record> = records
        .iter()
        .filter(|r| r.campaign_id == campaign && r.error == 1)
        .collect();
    expected.sort_by_key(|r| r.action_id);
    assert!(expected.len() > 10, "the data set has failures to find");

    let rows: Vec<PushAction> = client(&emu)
        .push_actions()
        .campaign(campaign)
        .failed()
        .select(["action_id", "error_message"])
        .order("action_id ASC")
        .page_size(37)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        ids(&rows),
        expected.iter().map(|r| r.action_id).collect::<Vec<_>>()
    );
    for (row, rec) in rows.iter().zip(&expected) {
        assert_eq!(row.error_message, rec.error_message);
        assert_eq!(row.campaign_id, None, "not selected");
        assert!(row.extra.is_empty(), "only the selected fields");
    }
}

#[tokio::test]
async fn a_bad_apptoken_fails_at_once() {
    let emu = emulator(10).await;
    let client = Client::builder()
        .api_url(emu.base_url())
        .apptoken("wrong-token-1234")
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .push_actions()
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert_eq!(
        err.to_string(),
        "list/push-devices at offset 0: HTTP 401 Authentication failed"
    );
    assert!(!format!("{err} {err:?}").contains("wrong-token-1234"));
    assert_eq!(emu.requests(), 1);
}

#[tokio::test]
async fn an_unknown_field_is_refused_with_the_servers_message() {
    let emu = emulator(10).await;
    let mut rows = client(&emu)
        .push_actions()
        .filter("colour", xp_export::Op::Eq, "blue")
        .stream();
    let err = rows.try_next().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("colour"), "{err}");
    assert_eq!(emu.requests(), 1);
    assert_eq!(
        rows.summary().end,
        Some(EndReason::Failed {
            offset: 0,
            kind: ErrorKind::Refused
        })
    );
}

#[tokio::test]
async fn tricky_messages_survive_decoding() {
    let emu = emulator(20_000).await;
    let (rows, _) = export(&client(&emu), 5000).await;
    let messages: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|a| a.error_message.as_deref())
        .collect();
    assert!(messages.iter().any(|m| m.contains('\n')), "{messages:?}");
    assert!(messages.iter().any(|m| m.contains('"') && m.contains(',')));
    assert!(messages.iter().any(|m| !m.is_ascii()));
    let records = emu.records();
    let expected: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.error_message.as_deref())
        .collect();
    assert_eq!(messages, expected);
}
