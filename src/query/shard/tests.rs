//! The split, without a server: boundaries tile the span, parts are balanced, the conditions
//! say the same, and only a query with a fixed end may be split.

use super::*;

/// Whether `key` meets an `action_id` condition as the API evaluates it.
fn meets(c: &Condition, key: u64) -> bool {
    assert_eq!(c.field(), KEY);
    let v = c.value().as_json().as_u64().expect("a whole number");
    match c.op() {
        Op::Ge => key >= v,
        Op::Lt => key < v,
        Op::Le => key <= v,
        op => panic!("a shard never sends {op}"),
    }
}

fn parts(first: u64, last: u64, count: u64) -> Vec<ShardKeys> {
    (0..count)
        .map(|i| Shard::new(i, count).unwrap().keys(first, last))
        .collect()
}

const HUGE: u64 = i64::MAX as u64;

fn spans() -> Vec<(u64, u64)> {
    vec![
        (0, 0),
        (7, 7),
        (1, 2),
        (10, 12),
        (1_000_000, 1_999_999),
        (3, 1_003),
        (0, u64::MAX),
        (u64::MAX, u64::MAX),
        (u64::MAX - 5, u64::MAX),
        (HUGE - 3, HUGE + 10),
        (1, HUGE),
    ]
}

#[test]
fn the_parts_tile_the_span_exactly_and_are_balanced_within_one_key() {
    for (first, last) in spans() {
        for count in [1, 2, 3, 4, 7, 10, 64, 1_000, MAX_SHARDS] {
            let keys = parts(first, last, count);
            let span = u128::from(last) - u128::from(first) + 1;
            assert_eq!(keys.iter().map(|k| k.len()).sum::<u128>(), span);
            let lens: Vec<u128> = keys.iter().map(|k| k.len()).collect();
            let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
            assert!(
                hi - lo <= 1,
                "{first}..={last} in {count}: {lo} to {hi} keys"
            );
            let taken: Vec<&ShardKeys> = keys.iter().filter(|k| !k.is_empty()).collect();
            assert_eq!(taken[0].first(), Some(first), "{first}..={last} in {count}");
            assert_eq!(taken.last().unwrap().last(), Some(last));
            for w in taken.windows(2) {
                let next = u128::from(w[0].last().unwrap()) + 1;
                assert_eq!(
                    u128::from(w[1].first().unwrap()),
                    next,
                    "no gap, no overlap"
                );
            }
            assert_eq!(taken.len() as u128, span.min(u128::from(count)));
        }
    }
}

#[test]
fn each_key_meets_the_conditions_of_exactly_one_part() {
    for (first, last) in [(0, 0), (10, 12), (5, 40), (100, 1_100)] {
        for count in [1, 2, 3, 4, 5, 9, 50] {
            let keys = parts(first, last, count);
            for key in first.saturating_sub(3)..=last + 3 {
                let owners: Vec<usize> = (0..keys.len())
                    .filter(|&i| keys[i].conditions().iter().all(|c| meets(c, key)))
                    .collect();
                let inside = (first..=last).contains(&key);
                assert_eq!(
                    owners.len(),
                    usize::from(inside),
                    "{key} in {first}..={last}/{count}"
                );
                for &i in &owners {
                    assert!(keys[i].contains(key));
                }
            }
        }
    }
}

#[test]
fn the_last_part_ends_at_the_last_key_even_at_the_top_of_u64() {
    let keys = parts(u64::MAX - 9, u64::MAX, 3);
    let [from, to] = keys[2].conditions();
    assert_eq!((from.op(), to.op()), (Op::Ge, Op::Le));
    assert_eq!(to.value().as_json().as_u64(), Some(u64::MAX));
    let [_, below] = keys[0].conditions();
    assert_eq!(below.op(), Op::Lt);
    assert_eq!(below.value().as_json().as_u64(), keys[1].first());
    assert!(keys[2].contains(u64::MAX) && !keys[1].contains(u64::MAX));
}

#[test]
fn parts_with_no_keys_and_queries_with_no_rows_match_nothing() {
    let keys = parts(10, 11, 5);
    assert_eq!(keys.iter().filter(|k| k.is_empty()).count(), 3);
    for k in keys
        .iter()
        .filter(|k| k.is_empty())
        .chain([&ShardKeys::none()])
    {
        assert_eq!((k.first(), k.last()), (None, None));
        for key in [0, 10, 11, u64::MAX] {
            assert!(!k.conditions().iter().all(|c| meets(c, key)), "{key}");
        }
    }
}

#[test]
fn shards_parse_from_i_slash_n_and_refuse_what_does_not_exist() {
    for (text, index, count) in [("0/1", 0, 1), ("3/4", 3, 4), (" 1 / 4 ", 1, 4)] {
        let s: Shard = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!((s.index(), s.count()), (index, count));
        assert_eq!(s.to_string(), format!("{index}/{count}"));
    }
    let errors = [
        (
            "4/4",
            "does not exist: shards count from 0, so the last is 3",
        ),
        ("1/0", "at least 1"),
        ("0/0", "at least 1"),
        ("x", "is not I/N"),
        ("4", "is not I/N"),
        ("1/", "the count \"\" is not a whole number"),
        ("/4", "the part \"\" is not a whole number"),
        ("-1/4", "the part \"-1\""),
        ("1/4/5", "the count \"4/5\""),
        ("1.5/4", "the part \"1.5\""),
        ("0/100001", "at most 100000 shards"),
        ("0/99999999999999999999", "the count"),
    ];
    for (text, message) in errors {
        let e = text.parse::<Shard>().unwrap_err().to_string();
        assert!(e.contains(message), "{text}: {e}");
    }
}

#[test]
fn only_a_query_with_a_fixed_end_in_the_past_can_be_split() {
    let now = 1_800_000_000;
    let c = |field: &str, op: Op, v: i64| Condition::new(field, op, v);
    let fixed = [
        c("create_time", Op::Lt, 1_700_000_000),
        c("create_time", Op::Le, 1_700_000_000),
        c("create_time", Op::Eq, 1_700_000_000),
        c("create_time", Op::Lt, now as i64),
        c("action_id", Op::Lt, 5),
        c("action_id", Op::Le, 5),
        c("action_id", Op::Eq, 5),
        Condition::new("action_id", Op::In, [3, 9]),
    ];
    for end in fixed {
        let conditions = [c("campaign_id", Op::Eq, 1), end.clone()];
        assert_eq!(fixed_end(&conditions, now), Ok(&end), "{end:?}");
    }
    let refused = [
        (vec![], "needs a fixed upper end"),
        (vec![c("create_time", Op::Gt, 1)], "needs a fixed upper end"),
        (vec![c("action_id", Op::Ge, 5)], "needs a fixed upper end"),
        (vec![c("action_id", Op::Ne, 5)], "needs a fixed upper end"),
        (vec![c("campaign_id", Op::Le, 5)], "needs a fixed upper end"),
        (
            vec![Condition::new("action_id", Op::In, Vec::<u64>::new())],
            "needs a fixed upper end",
        ),
        (
            vec![Condition::new("create_time", Op::Lt, "1700000000")],
            "needs a fixed upper end",
        ),
        (
            vec![c("create_time", Op::Lt, now as i64 + 3600)],
            "create_time < 1800003600, is not over yet (it is 1800000000 now)",
        ),
        (
            vec![c("create_time", Op::Le, now as i64)],
            "is not over yet",
        ),
    ];
    for (conditions, message) in refused {
        let e = fixed_end(&conditions, now).unwrap_err().to_string();
        assert!(e.contains(message), "{conditions:?}: {e}");
    }
}

#[test]
fn a_start_a_row_limit_or_a_missing_end_is_refused_before_any_request() {
    let bounded = crate::Client::for_tests()
        .push_actions()
        .filter(KEY, Op::Le, 1_000u64);
    assert_eq!(bounded.check_shardable(), Ok(()));
    let cases = [
        (
            bounded.clone().start_offset(10),
            NotShardable::StartOffset(10),
            "cannot start at an offset (10)",
        ),
        (
            bounded
                .clone()
                .mode(crate::query::Mode::Keyset)
                .start_after(5),
            NotShardable::StartAfter(5),
            "cannot start after a key (action_id 5)",
        ),
        (
            bounded.clone().max_rows(3),
            NotShardable::MaxRows(3),
            "cannot stop after 3 rows",
        ),
        (
            crate::Client::for_tests().push_actions(),
            NotShardable::NoFixedEnd,
            "needs a fixed upper end",
        ),
    ];
    for (query, reason, message) in cases {
        let got = query.check_shardable().unwrap_err();
        assert_eq!(got, reason);
        assert_eq!(got.is_end(), reason == NotShardable::NoFixedEnd);
        let text = got.to_string();
        assert!(text.contains(message), "{text}");
        if !got.is_end() {
            assert!(
                text.contains("no longer add up to the whole query"),
                "{text}"
            );
        }
        let e = Error::from(got);
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(crate::error::chain(&e), text, "said once");
    }
}
