//! `Query::key_range` and `Query::shard` against the emulator: the span of a query's keys, and
//! parts of a bounded query that are its rows once each.

use crate::common;

use futures::TryStreamExt;
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
