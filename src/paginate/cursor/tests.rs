//! The cursor's decisions, page by page, against a server simulated in memory: no I/O.

use std::collections::VecDeque;

use super::*;
use crate::Client;
use crate::decode::{Input, decode_raw};
use crate::error::ErrorKind;
use crate::model::RawRow;
use crate::paginate::step::Fetched;
use crate::query::{Mode, Query};

/// A list of push actions served the way the API serves them, in memory.
struct Server {
    /// The rows' keys; offset pages come newest (largest) first.
    ids: Vec<u64>,
    /// A silent cap on `limit`.
    cap: Option<u64>,
    /// Answers every offset request with the first page.
    ignores_offset: bool,
    /// Answers every keyed request with the first keys, whatever it seeks past.
    ignores_seek: bool,
    /// Offset pages cut from the rows in a fixed scrambled order, each page then sorted newest
    /// first: every page in order, the pages not in order among themselves.
    scrambled: bool,
    /// After this many requests, these keys are added (or, negated, removed).
    change: Option<(usize, Vec<i64>)>,
    /// The requests answered, in order.
    requests: Vec<Request>,
}

impl Server {
    fn new(n: u64) -> Self {
        Server {
            ids: (1..=n).collect(),
            cap: None,
            ignores_offset: false,
            ignores_seek: false,
            scrambled: false,
            change: None,
            requests: Vec::new(),
        }
    }

    fn capped(mut self, cap: u64) -> Self {
        self.cap = Some(cap);
        self
    }

    fn answer(&mut self, r: &Request) -> Fetched<RawRow> {
        self.requests.push(*r);
        if let Some((after, keys)) = &self.change
            && self.requests.len() == after + 1
        {
            for &k in keys {
                if k > 0 {
                    self.ids.push(k as u64);
                } else {
                    self.ids.retain(|&id| id != k.unsigned_abs());
                }
            }
        }
        let limit = self.cap.map_or(r.ask, |c| c.min(r.ask)) as usize;
        let mut desc = self.ids.clone();
        desc.sort_unstable_by(|a, b| b.cmp(a));
        let rows: Vec<u64> = match r.seek {
            Seek::Offset(at) if self.scrambled => {
                let mut scrambled = desc;
                scrambled.sort_by_key(|k| (k * 37) % 101);
                let mut page: Vec<u64> = scrambled
                    .into_iter()
                    .skip(at as usize)
                    .take(limit)
                    .collect();
                page.sort_unstable_by(|a, b| b.cmp(a));
                page
            }
            Seek::Offset(_) if self.ignores_offset => desc.into_iter().take(limit).collect(),
            Seek::Offset(at) => desc.into_iter().skip(at as usize).take(limit).collect(),
            Seek::Keys {
                after,
                before,
                direction,
            } => {
                let mut keys = desc;
                if !direction.is_descending() {
                    keys.reverse();
                }
                let seek = !self.ignores_seek;
                keys.into_iter()
                    .filter(|&k| !seek || after.is_none_or(|a| direction.past(k, a)))
                    .filter(|&k| before.is_none_or(|b| direction.past(b, k)))
                    .take(limit)
                    .collect()
            }
        };
        let rows: Vec<String> = rows
            .iter()
            .map(|k| format!(r#"{{"action_id":{k}}}"#))
            .collect();
        let body = bytes::Bytes::from(format!(
            r#"{{"code":200,"success":true,"data":[{}]}}"#,
            rows.join(",")
        ));
        let result = decode_raw(Input {
            offset: r.position,
            want_keys: r.want_keys,
            ..Input::new(&body)
        });
        Fetched {
            request: *r,
            result,
        }
    }
}

/// What a run delivered: the keys in order, the summary, and the error it ended with.
struct Run {
    keys: Vec<u64>,
    summary: Summary,
    error: Option<Error>,
    /// The most requests outstanding at once.
    peak: usize,
}

/// Pages through `server` as the async shell does: requests are answered when sent, and
/// handed back to the cursor in the order they were sent.
fn run(q: Query<RawRow>, server: &mut Server) -> Run {
    let plan = Plan::new(&q).unwrap();
    let mut cursor = Cursor::<RawRow>::new(&plan);
    let mut summary = Summary::default();
    let mut pending = VecDeque::new();
    let (mut keys, mut peak) = (Vec::new(), 0);
    for _ in 0..10_000 {
        let step = match cursor.repair_request() {
            Some(r) => {
                let fetched = server.answer(&r);
                cursor.accept_repair(fetched, &mut summary)
            }
            None => {
                for r in cursor.top_up() {
                    pending.push_back(server.answer(&r));
                }
                peak = peak.max(pending.len());
                match cursor.idle(&mut summary) {
                    Some(step) => step,
                    None => cursor.accept(pending.pop_front().unwrap(), &mut summary),
                }
            }
        };
        match step {
            Step::Deliver(page, end) => {
                keys.extend(page.rows().iter().map(|r| {
                    r.parse::<serde_json::Value>().unwrap()["action_id"]
                        .as_u64()
                        .unwrap()
                }));
                if end.is_some() {
                    break;
                }
            }
            Step::Continue => {}
            Step::End => break,
            Step::Fail(error) => {
                return Run {
                    keys,
                    summary,
                    error: Some(error),
                    peak,
                };
            }
        }
    }
    Run {
        keys,
        summary,
        error: None,
        peak,
    }
}

fn query(page_size: u64) -> Query<RawRow> {
    Client::builder()
        .apptoken("t")
        .build()
        .unwrap()
        .list::<RawRow>("push-devices")
        .page_size(page_size)
        .concurrency(1)
}

fn newest_first(n: u64) -> Vec<u64> {
    (1..=n).rev().collect()
}

#[test]
fn an_exact_multiple_ends_on_an_empty_page() {
    let mut server = Server::new(30);
    let r = run(query(10).seam_check(false), &mut server);
    assert_eq!(r.keys, newest_first(30));
    assert_eq!(server.requests.len(), 4, "3 full pages and the empty one");
    assert_eq!(r.summary.end, Some(EndReason::EmptyPage { offset: 30 }));
    assert_eq!(r.summary.rows, 30);
    assert_eq!(r.summary.pages, 3);
}

#[test]
fn a_first_short_page_is_confirmed_once() {
    let mut server = Server::new(5);
    let r = run(query(10), &mut server);
    assert_eq!(r.keys, newest_first(5));
    assert_eq!(
        server.requests.len(),
        2,
        "the short page and its confirmation"
    );
    assert_eq!(
        r.summary.end,
        Some(EndReason::ShortPage { offset: 0, rows: 5 })
    );
    assert_eq!(r.summary.learned_cap, None);
}

#[test]
fn a_short_page_at_a_trusted_size_ends_at_once() {
    let mut server = Server::new(25);
    let r = run(query(10).seam_check(false), &mut server);
    assert_eq!(r.keys, newest_first(25));
    assert_eq!(server.requests.len(), 3, "ceil(25 / 10), nothing more");
    assert_eq!(
        r.summary.end,
        Some(EndReason::ShortPage {
            offset: 20,
            rows: 5
        })
    );
}

#[test]
fn a_silent_cap_is_learned_and_every_row_comes() {
    // (rows, page size, cap, seam check)
    let table = [
        (25, 10, 7, false),
        (25, 10, 7, true),
        (1000, 100, 33, true),
        (20, 10, 2, true),
        (20, 10, 2, false),
        (12, 10, 1, false),
        (12, 10, 1, true),
        (3, 1000, 1, true),
    ];
    for (n, size, cap, seam) in table {
        let mut server = Server::new(n).capped(cap);
        let r = run(query(size).seam_check(seam), &mut server);
        let case = format!("{n} rows, page {size}, cap {cap}, seam {seam}");
        assert!(r.error.is_none(), "{case}: {:?}", r.error);
        assert_eq!(r.keys, newest_first(n), "{case}");
        assert_eq!(r.summary.learned_cap, Some(cap), "{case}");
    }
}

#[test]
fn a_repeated_page_is_an_error_not_a_loop() {
    let mut server = Server::new(100);
    server.ignores_offset = true;
    let r = run(query(10).seam_check(false), &mut server);
    let e = r.error.expect("stalled");
    assert_eq!(e.kind(), ErrorKind::Stalled);
    assert_eq!(e.offset(), Some(10));
    assert_eq!(r.keys, newest_first(100)[..10]);
    assert_eq!(server.requests.len(), 2);
}

#[test]
fn rows_added_at_the_head_shift_the_seam_and_are_skipped() {
    let mut server = Server::new(50);
    // After the first page, three newer rows arrive and push every row down three places.
    server.change = Some((1, vec![51, 52, 53]));
    let r = run(query(10), &mut server);
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.keys, newest_first(50), "every row once, in order");
    assert_eq!(r.summary.shifts_detected, 1);
    assert_eq!(r.summary.shifts_repaired, 1);
}

/// A server that sorts each page but cuts the pages from rows in no order (`LIMIT` and `OFFSET`
/// over an unsorted scan, the page sorted after): a page's first rows come before the last row
/// delivered, as if rows had been added, yet were never delivered. Skipping them lost them
/// with no error (9 rows of 50, "8 seams repaired"); now the export fails, naming the row.
#[test]
fn rows_taken_for_delivered_that_never_were_fail_the_seam_check() {
    let mut server = Server::new(50);
    server.scrambled = true;
    let r = run(query(7), &mut server);
    let e = r.error.expect("an error, not a silent loss");
    assert_eq!(e.kind(), ErrorKind::Stalled);
    assert!(!e.is_retryable());
    let text = e.to_string();
    assert!(
        text.contains("does not honour `order` across pages"),
        "{text}"
    );
    assert!(
        text.contains("was not among the rows the page before delivered"),
        "{text}"
    );
    assert_eq!(r.keys.len(), 7, "only the first page: {:?}", r.keys);
}

/// Rows added at the head while a delivered row goes: the rows skipped at the seam are still
/// ones delivered, and the check lets them pass.
#[test]
fn rows_added_while_a_delivered_row_goes_still_pass_the_seam() {
    let mut server = Server::new(50);
    server.change = Some((1, vec![51, 52, -45]));
    let r = run(query(10), &mut server);
    assert!(r.error.is_none(), "{:?}", r.error);
    // 45 was delivered before it went.
    assert_eq!(r.keys, newest_first(50), "every row once, in order");
    assert_eq!(r.summary.shifts_detected, 1);
}

#[test]
fn rows_removed_before_the_seam_are_fetched_by_key() {
    let mut server = Server::new(50);
    // After the first page (50..41), rows 45 and 41 go: rows 40 and 39 move up out of reach.
    server.change = Some((1, vec![-45, -41]));
    let r = run(query(10), &mut server);
    assert!(r.error.is_none(), "{:?}", r.error);
    // 45 and 41 had been delivered before they went.
    assert_eq!(r.keys, newest_first(50), "no row missing, none twice");
    assert_eq!(r.summary.shifts_detected, 1);
    assert_eq!(r.summary.shifts_repaired, 1);
    assert!(
        server.requests.iter().any(|r| matches!(
            r.seek,
            Seek::Keys {
                before: Some(_),
                ..
            }
        )),
        "the gap was fetched by key range"
    );
}

#[test]
fn keyset_pages_seek_past_the_last_key_and_end_on_a_short_page() {
    let mut server = Server::new(25);
    let r = run(query(10).mode(Mode::Keyset), &mut server);
    assert_eq!(r.keys, (1..=25).collect::<Vec<_>>(), "ascending by key");
    assert_eq!(server.requests.len(), 3);
    let afters: Vec<Option<u64>> = server
        .requests
        .iter()
        .map(|r| match r.seek {
            Seek::Keys { after, .. } => after,
            Seek::Offset(_) => panic!("keyset mode sends no offset"),
        })
        .collect();
    assert_eq!(afters, [None, Some(10), Some(20)]);
    assert_eq!(r.summary.next_key, Some(25));
    assert_eq!(
        r.summary.end,
        Some(EndReason::ShortPage {
            offset: 20,
            rows: 5
        })
    );
}

#[test]
fn keyset_mode_fails_when_the_server_ignores_the_seek() {
    let mut server = Server::new(40);
    server.ignores_seek = true;
    let r = run(query(10).mode(Mode::Keyset).start_after(30), &mut server);
    let e = r.error.expect("the seek was not honoured");
    assert_eq!(e.kind(), ErrorKind::Stalled);
    assert!(
        e.to_string().contains(
            "did not honour the keyset seek: asked for rows after action_id 30, it sent a page \
             from action_id 1 to 10"
        ),
        "{e}"
    );
    assert!(
        r.keys.is_empty(),
        "no row from before the seek is delivered"
    );
}

/// From the first key, a server that ignores the seek sends the first page again: the error
/// names the seek it ignores, not `offset`, which keyset mode does not page by.
#[test]
fn a_repeated_keyset_page_names_the_seek_not_the_offset() {
    let mut server = Server::new(40);
    server.ignores_seek = true;
    let r = run(query(10).mode(Mode::Keyset), &mut server);
    let e = r.error.expect("the seek was not honoured");
    assert_eq!(e.kind(), ErrorKind::Stalled);
    let text = e.to_string();
    assert!(text.contains("the page repeats the previous one"), "{text}");
    assert!(
        text.contains("ignoring the `action_id` condition"),
        "{text}"
    );
    assert!(!text.contains("`offset`"), "{text}");
    assert_eq!(r.keys, (1..=10).collect::<Vec<_>>());
}

#[test]
fn requests_run_ahead_only_once_the_size_is_trusted() {
    let mut server = Server::new(100);
    let r = run(query(10).concurrency(4).seam_check(false), &mut server);
    assert_eq!(r.keys, newest_first(100));
    assert_eq!(r.peak, 4, "at most the concurrency in flight");
    // The first request goes alone; the window opens once it came back full.
    let offsets: Vec<u64> = server.requests.iter().map(|r| r.position).collect();
    assert_eq!(offsets[..5], [0, 10, 20, 30, 40]);
    assert!(
        server.requests.len() <= 11 + 3,
        "at most K-1 requests past the end"
    );
}

#[test]
fn max_rows_asks_for_no_more_than_it_needs() {
    let mut server = Server::new(100);
    let r = run(query(10).max_rows(25).seam_check(false), &mut server);
    assert_eq!(r.keys, newest_first(100)[..25]);
    let asks: Vec<u64> = server.requests.iter().map(|r| r.ask).collect();
    assert_eq!(asks, [10, 10, 5]);
    assert_eq!(r.summary.end, Some(EndReason::LimitReached { rows: 25 }));
}

#[test]
fn a_cap_of_one_row_turns_the_seam_check_off_and_says_so() {
    let mut server = Server::new(12).capped(1);
    let r = run(query(10), &mut server);
    assert_eq!(r.keys, newest_first(12));
    let warning = r.summary.order_warning.expect("a warning");
    assert!(warning.contains("caps pages at 1 row"), "{warning}");
    // The first row, the seam row alone, then one request per row from the second (the
    // confirmation, without the overlap, brings it) and the empty page.
    assert_eq!(server.requests.len(), 2 + 11 + 1);
}

#[test]
fn one_row_at_a_cap_of_one_is_told_from_the_end() {
    for n in [0, 1] {
        let mut server = Server::new(n).capped(1);
        let r = run(query(10), &mut server);
        assert_eq!(r.keys, newest_first(n), "{n} rows");
        assert!(r.error.is_none());
        assert_eq!(r.summary.learned_cap, None, "{n} rows");
    }
}

#[test]
fn offsets_at_the_end_of_the_range_do_not_overflow() {
    let mut server = Server::new(5);
    let r = run(
        query(1000).seam_check(false).start_offset(u64::MAX - 3),
        &mut server,
    );
    assert!(r.keys.is_empty());
    assert!(r.error.is_none());
}
