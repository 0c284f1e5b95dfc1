//! `Summary` as JSON and as text, field for field, without a server.

use std::time::Duration;

use serde_json::json;
use xp_export::paginate::EndReason;
use xp_export::query::Mode;
use xp_export::{ErrorKind, Summary};

/// A summary of an export that failed at offset 12000 after a few retries.
fn failed() -> Summary {
    let mut s = Summary::default();
    s.requests = 30;
    s.pages = 24;
    s.rows = 12_000;
    s.next_offset = 12_000;
    s.retries.insert(ErrorKind::RateLimited, 2);
    s.retries.insert(ErrorKind::Server, 3);
    s.retry_wait = Duration::from_millis(1_500);
    s.learned_cap = Some(500);
    s.peak_in_flight = 4;
    s.end = Some(EndReason::Failed {
        offset: 12_000,
        kind: ErrorKind::Server,
    });
    s
}

#[test]
fn json_has_every_field_in_snake_case_and_what_is_computed_from_them() {
    let value = serde_json::to_value(failed()).unwrap();
    assert_eq!(
        value,
        json!({
            "requests": 30,
            "pages": 24,
            "rows": 12000,
            "buffered_rows": 0,
            "next_offset": 12000,
            "next_key": null,
            "retries": {"rate-limited": 2, "server": 3},
            "retries_total": 5,
            "retry_wait_seconds": 1.5,
            "learned_cap": 500,
            "peak_in_flight": 4,
            "end": {"reason": "failed", "offset": 12000, "kind": "server"},
            "mode": "offset",
            "shifts_detected": 0,
            "shifts_repaired": 0,
            "order_warning": null,
            "complete": false,
            "warnings": ["incomplete: the export stopped at offset 12000 on a server error"],
        })
    );
}

#[test]
fn every_ending_is_an_object_tagged_with_its_reason() {
    let cases = [
        (
            EndReason::EmptyPage { offset: 500 },
            json!({"reason": "empty_page", "offset": 500}),
        ),
        (
            EndReason::ShortPage {
                offset: 999,
                rows: 235,
            },
            json!({"reason": "short_page", "offset": 999, "rows": 235}),
        ),
        (
            EndReason::LimitReached { rows: 10 },
            json!({"reason": "limit_reached", "rows": 10}),
        ),
    ];
    for (end, expected) in cases {
        let mut s = Summary::default();
        s.end = Some(end);
        let value = serde_json::to_value(&s).unwrap();
        assert_eq!(value["end"], expected);
        assert_eq!(value["complete"], true);
    }
    let running = serde_json::to_value(Summary::default()).unwrap();
    assert_eq!(running["end"], serde_json::Value::Null);
    assert_eq!(running["complete"], false);
}

#[test]
fn display_is_the_report_line_by_line() {
    assert_eq!(
        failed().to_string(),
        "rows 12,000 · pages 24 · requests 30\n\
         retries: 5 (rate-limited 2, server 3), 1.50 s waited\n\
         stopped on: failed at offset 12000 on a server error\n\
         the server caps the page size at 500 rows (learned cap)\n\
         mode: offset; rows shifted between pages: 0 seam(s), 0 repaired\n\
         warning: incomplete: the export stopped at offset 12000 on a server error"
    );
    let mut keyset = Summary::default();
    keyset.mode = Mode::Keyset;
    assert_eq!(
        keyset.to_string(),
        "rows 0 · pages 0 · requests 0\n\
         retries: 0\n\
         mode: keyset; rows shifted between pages: 0 seam(s), 0 repaired"
    );
}
