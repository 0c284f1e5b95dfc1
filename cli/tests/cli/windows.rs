//! `--since` and `--until` through the built binary against the emulator: half-open windows on
//! `create_time` that tile a period exactly, in every accepted form, and bad values refused.

use crate::common;

use std::collections::HashSet;

use common::*;
use xp_export::emulator::Emulator;

/// 2016-11-26T00:00:00Z: the emulator's default data set starts on 2016-11-24 or 25 and, at
/// 160,000 rows, runs past 2016-12-03.
const D0: i64 = 1_480_118_400;
const DAY: i64 = 86_400;

/// The `action_id`s, ascending, of an export to standard output with `args`.
fn export(emu: &Emulator, args: &[&str]) -> Vec<u64> {
    let output = cmd(emu)
        .args(["export", "--page-size", "5000"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    let mut ids = ndjson_ids(&output.stdout);
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_windows_tile_a_week_exactly() {
    let emu = emulator(160_000).await;
    let records = emu.records();
    assert!(records[0].create_time < D0 && records.last().unwrap().create_time >= D0 + 7 * DAY);
    let mut days: Vec<u64> = Vec::new();
    for d in 0..7 {
        let date = |n: i64| {
            format!(
                "2016-{}",
                if 26 + n <= 30 {
                    format!("11-{}", 26 + n)
                } else {
                    format!("12-{:02}", 26 + n - 30)
                }
            )
        };
        let ids = export(&emu, &["--since", &date(d), "--until", &date(d + 1)]);
        let (from, to) = (D0 + d * DAY, D0 + (d + 1) * DAY);
        let expected: Vec<u64> = records
            .iter()
            .filter(|r| r.create_time >= from && r.create_time < to)
            .map(|r| r.action_id)
            .collect();
        assert!(expected.len() > 1_000, "day {d} has rows");
        assert!(
            ids == expected,
            "day {d}: {} rows, {} expected",
            ids.len(),
            expected.len()
        );
        days.extend(ids);
    }
    let unique: HashSet<u64> = days.iter().copied().collect();
    assert_eq!(unique.len(), days.len(), "no row in two days");

    // The week in other forms: a date-time with an offset, and Unix seconds.
    let week = export(
        &emu,
        &[
            "--since",
            "2016-11-26T01:00:00+01:00",
            "--until",
            &(D0 + 7 * DAY).to_string(),
        ],
    );
    days.sort_unstable();
    assert!(days == week, "the days together are the week");
    let expected = records
        .iter()
        .filter(|r| r.create_time >= D0 && r.create_time < D0 + 7 * DAY)
        .count();
    assert_eq!(week.len(), expected);
    // Rows at the very edges: a row created exactly at a boundary belongs to the later window.
    let edge = records.iter().find(|r| r.create_time >= D0 + DAY).unwrap();
    let at = edge.create_time.to_string();
    let after = export(
        &emu,
        &[
            "--since",
            &at,
            "--until",
            &(edge.create_time + 1).to_string(),
        ],
    );
    assert!(after.contains(&edge.action_id));
    let before = export(&emu, &["--since", "2016-11-26", "--until", &at]);
    assert!(!before.contains(&edge.action_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_times_are_usage_errors_naming_the_flag_and_the_forms() {
    let emu = emulator(10).await;
    for (args, says) in [
        (
            ["--since", "yesterday"],
            "--since \"yesterday\" is not a time",
        ),
        (
            ["--until", "2026-02-30"],
            "--until \"2026-02-30\" is not a time",
        ),
        (["--since", "2026-11-01T10:00:00+99:00"], "--since"),
        (["--until", "7 parsecs"], "--until"),
        (["--since", ""], "--since"),
        (["--since", "99999999999999"], "out of range"),
        (["--since=-7d", "--until=2026-11-01"], "--since \"-7d\""),
    ]
    .iter()
    .map(|(a, s)| (a.as_slice(), *s))
    .chain([
        (
            &["--since", "2026-11-02", "--until", "2026-11-01"][..],
            "must be before --until",
        ),
        (
            &["--since", "2026-11-01", "--until", "2026-11-01T00:00:00Z"][..],
            "must be before",
        ),
        (&["--since", "1d", "--until", "2d"][..], "must be before"),
    ]) {
        let output = cmd(&emu).arg("export").args(args).output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(output.stdout.is_empty(), "{args:?}: no row");
    }
    let output = cmd(&emu)
        .args(["export", "--since", "tomorrow"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(
        err.contains("RFC 3339") && err.contains("Unix seconds") && err.contains("7d"),
        "{err}"
    );
}
