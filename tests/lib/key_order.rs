//! Pages whose keys are not strictly ordered: a server that does not honour `order` within a
//! page, and an `action_id` that is not unique. Every mode that trusts the key's order
//! (sequential keyset, key ranges in parallel, offset mode's seam check) checks every page's
//! keys, and fails naming the key and the offset, or pages exactly: never a duplicate, never a
//! silent skip.

use crate::common;

use std::collections::HashSet;

use common::{SortedKeys, base, client_for, serve_keys, try_ids};
use xp_export::query::Mode;
use xp_export::{ErrorKind, PushAction, Query};

/// The ways of paging that trust the key's order, each with a name.
fn walks(base: &str) -> Vec<(&'static str, Query<PushAction>)> {
    let client = client_for(base);
    let keyset = || client.push_actions().mode(Mode::Keyset);
    vec![
        ("sequential keyset", keyset().concurrency(1)),
        ("keyset, 4 ranges in parallel", keyset().concurrency(4)),
        ("keyset, newest first", keyset().order("action_id DESC")),
        (
            "offset, action_id ascending",
            client.push_actions().order("action_id ASC").concurrency(1),
        ),
        ("offset, newest first", client.push_actions().concurrency(4)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_swaps_rows_within_a_page_is_an_error_not_duplicates() {
    let server = serve_keys(SortedKeys {
        keys: (1..=3_000).collect(),
        swap_last_two: true,
    })
    .await;
    for (walk, q) in walks(&base(&server)) {
        let result = try_ids(q.page_size(100)).await;
        let err = match result {
            Ok((got, s)) => {
                let unique: HashSet<u64> = got.iter().copied().collect();
                panic!(
                    "{walk}: no error; {} rows, {} of them twice; {s:?}",
                    got.len(),
                    got.len() - unique.len()
                )
            }
            Err(e) => e,
        };
        assert_eq!(err.kind(), ErrorKind::Stalled, "{walk}: {err}");
        assert!(!err.is_retryable(), "{walk}: {err}");
        let text = err.to_string();
        assert!(text.contains("does not honour `order`"), "{walk}: {text}");
        assert!(text.contains("action_id"), "{walk}: {text}");
        // The first page is the one out of order: nothing was delivered before it.
        assert_eq!(err.offset(), Some(0), "{walk}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_shared_across_a_page_boundary_fails_keyset_mode_and_pages_exactly_by_offset() {
    let keys = vec![1, 2, 2, 3, 4, 4, 4, 5];
    let server = serve_keys(SortedKeys {
        keys: keys.clone(),
        swap_last_two: false,
    })
    .await;
    for (walk, q) in walks(&base(&server)) {
        let result = try_ids(q.page_size(2)).await;
        if walk.contains("keyset") {
            let err = match result {
                Ok((got, _)) => panic!("{walk}: no error, {} of 8 rows: {got:?}", got.len()),
                Err(e) => e,
            };
            let text = err.to_string();
            assert_eq!(err.kind(), ErrorKind::Stalled, "{walk}: {text}");
            assert!(
                text.contains("more than one row has action_id"),
                "{walk}: {text}"
            );
            assert!(text.contains("offset mode"), "{walk}: {text}");
            assert!(err.offset().is_some(), "{walk}: {text}");
        } else {
            // Offset pages hold every row once; the seams cannot be checked on a key that is
            // not unique, and the summary says so.
            let (mut got, s) = result.unwrap_or_else(|e| panic!("{walk}: {e}"));
            got.sort_unstable();
            assert_eq!(got, keys, "{walk}: every row once");
            let w = s.warnings();
            assert!(
                w.iter()
                    .any(|w| w.contains("more than one row has action_id")),
                "{walk}: {w:?}"
            );
        }
    }
}
