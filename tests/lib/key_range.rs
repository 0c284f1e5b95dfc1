//! `Query::key_range` and `Query::shard` against the emulator: the span of a query's keys, and
//! parts of a bounded query that are its rows once each.

use crate::common;

use futures::TryStreamExt;
use xp_export::emulator::{Config, Emulator};
use xp_export::query::Shard;
use xp_export::{ErrorKind, Op, PushAction};

#[tokio::test]
async fn the_key_range_is_the_first_and_last_action_id_of_the_querys_rows() {
    let emu = common::emulator(500).await;
    let client = common::emulator_client(&emu);
    let mut ids: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    ids.sort_unstable();
    let query = client.push_actions().order("create_time DESC");
    assert_eq!(query.key_range().await.unwrap(), Some((ids[0], ids[499])));

    let campaign = emu.records()[0].campaign_id;
    let mut theirs: Vec<u64> = emu
        .records()
        .iter()
        .filter(|r| r.campaign_id == campaign)
        .map(|r| r.action_id)
        .collect();
    theirs.sort_unstable();
    let range = client.push_actions().campaign(campaign).key_range().await;
    assert_eq!(range.unwrap(), Some((theirs[0], *theirs.last().unwrap())));

    let none = client.push_actions().filter("action_id", Op::Lt, 0);
    assert_eq!(none.key_range().await.unwrap(), None);
}

#[tokio::test]
async fn the_parts_of_a_bounded_query_are_its_rows_once_each() {
    let emu = common::emulator(700).await;
    let client = common::emulator_client(&emu);
    let query = client
        .push_actions()
        .filter("create_time", Op::Lt, 1_700_000_000);
    let mut all: Vec<u64> = Vec::new();
    for i in 0..3 {
        let (part, plan) = query
            .clone()
            .shard(Shard::new(i, 3).unwrap())
            .await
            .unwrap();
        let rows: Vec<PushAction> = part.stream().try_collect().await.unwrap();
        assert!(
            rows.iter()
                .all(|r| plan.keys.contains(r.action_id.unwrap()))
        );
        all.extend(rows.iter().map(|r| r.action_id.unwrap()));
    }
    all.sort_unstable();
    let mut expected: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    expected.sort_unstable();
    assert_eq!(all, expected);

    let unbounded = client.push_actions().shard(Shard::new(0, 2).unwrap()).await;
    assert_eq!(unbounded.unwrap_err().kind(), ErrorKind::Config);
}

#[tokio::test]
async fn the_probes_answers_are_checked_before_the_range_is_believed() {
    // Newest first whatever is asked: the ascending probe gets the largest key first.
    let server = common::serve(common::Dataset::new(60)).await;
    let client = common::client_for(&common::base(&server));
    let e = client.push_actions().key_range().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Stalled, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("asked for action_id ASC, it answered 10000000 then 9999999"),
        "{text}"
    );
    assert_eq!(
        common::requests(&server).await.len(),
        1,
        "the second probe is not sent"
    );

    // One row that ignores the query's conditions: nothing to order, but outside the query.
    let server = common::serve(common::Dataset::new(1)).await;
    let client = common::client_for(&common::base(&server));
    let query = client.push_actions().filter("create_time", Op::Lt, 1_000);
    let e = query.key_range().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Stalled, "{e}");
    let text = e.to_string();
    assert!(
        text.contains(
            "it answered action_id 10000000 with create_time 1480000001, outside the query's \
             condition create_time < 1000"
        ),
        "{text}"
    );
    let shard = query.shard(Shard::new(0, 2).unwrap()).await.unwrap_err();
    assert_eq!(shard.kind(), ErrorKind::Stalled, "{shard}");
}

#[tokio::test]
async fn the_range_takes_two_requests_and_a_capped_server_gives_the_same() {
    let emu = common::emulator(300).await;
    let client = common::emulator_client(&emu);
    let mut ids: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    ids.sort_unstable();
    let before = emu.requests();
    assert_eq!(
        client.push_actions().key_range().await.unwrap(),
        Some((ids[0], ids[299]))
    );
    assert_eq!(emu.requests() - before, 2, "one full page of two rows each");

    // Pages of one row: each probe takes its second row at the next offset.
    let capped = Emulator::start(Config::default().records(300).max_limit(1))
        .await
        .unwrap();
    let client = common::emulator_client(&capped);
    let query = client
        .push_actions()
        .filter("create_time", Op::Lt, 1_700_000_000);
    assert_eq!(query.key_range().await.unwrap(), Some((ids[0], ids[299])));
    let one = client.push_actions().filter("action_id", Op::Eq, ids[7]);
    assert_eq!(one.key_range().await.unwrap(), Some((ids[7], ids[7])));
}

#[tokio::test]
async fn a_split_planned_once_tiles_the_rows_it_saw_whatever_arrives_after() {
    let emu = common::emulator(900).await;
    let client = common::emulator_client(&emu);
    let query = client
        .push_actions()
        .filter("create_time", Op::Lt, 1_700_000_000);
    let split = query.plan_shards(3).await.unwrap();
    let mut planned: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    planned.sort_unstable();
    let span = split.span().unwrap();
    assert_eq!((span.first, span.last), (planned[0], planned[899]));
    assert_eq!(split.parts().count(), 3);
    let json = serde_json::to_value(split).unwrap();
    assert_eq!(json["key_range"], span.to_string());
    assert_eq!(json["shards"][2]["last_key"], planned[899]);
    let mut all = Vec::new();
    for (shard, keys) in split.parts() {
        // A late row before each part: an old create_time, a new and larger key.
        emu.insert(1);
        let before = emu.requests();
        let (part, plan) = query.clone().shard_planned(shard, split.span()).unwrap();
        assert_eq!(emu.requests(), before, "no probe");
        assert!(plan.planned && plan.keys == keys);
        let rows: Vec<PushAction> = part.stream().try_collect().await.unwrap();
        all.extend(rows.iter().map(|r| r.action_id.unwrap()));
    }
    all.sort_unstable();
    assert_eq!(
        all, planned,
        "each planned row once, none that arrived later"
    );
    let unbounded = client
        .push_actions()
        .shard_planned(Shard::new(0, 2).unwrap(), split.span());
    assert_eq!(unbounded.unwrap_err().kind(), ErrorKind::Config);
}

#[tokio::test]
async fn a_self_probed_part_whose_range_moves_fails_and_a_planned_one_does_not() {
    use xp_export::export::{Export, ExportErrorKind, Format, Target};
    let emu = Emulator::start(Config::default().records(500).insert_per_request(1))
        .await
        .unwrap();
    let client = common::emulator_client(&emu);
    let query = client
        .push_actions()
        .filter("create_time", Op::Lt, 1_700_000_000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("part.ndjson");
    let shard = Shard::new(0, 2).unwrap();
    let (part, plan) = query.clone().shard(shard).await.unwrap();
    assert!(!plan.planned);
    let e = Export::new(part, Format::Ndjson, Target::File(out.clone()))
        .part_of(&query, &plan)
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::SplitMoved, "{e}");
    assert!(e.to_string().contains("the split moved"), "{e}");
    assert!(!out.exists() && e.partial().is_some_and(|p| p.exists()));

    let split = query.plan_shards(2).await.unwrap();
    let (part, plan) = query.clone().shard_planned(shard, split.span()).unwrap();
    let out = dir.path().join("planned.ndjson");
    let report = Export::new(part, Format::Ndjson, Target::File(out.clone()))
        .part_of(&query, &plan)
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    assert!(out.exists() && report.rows_in_output > 0);
}
