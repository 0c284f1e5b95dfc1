//! The paging rules, against a scripted server: laziness, where paging ends, caps, the progress
//! guard, and the request counts each takes.

use crate::common;

use common::*;
use futures::{StreamExt, TryStreamExt};
use xp_export::ErrorKind;
use xp_export::paginate::EndReason;

#[tokio::test]
async fn nothing_is_sent_before_the_first_poll() {
    let server = serve(Dataset::new(10)).await;
    let client = client_for(&base(&server));
    let mut rows = sequential(&client).page_size(4).stream();
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(requests(&server).await.len(), 0, "lazy until polled");
    let first = rows.next().await.unwrap().unwrap();
    assert_eq!(first.action_id, Some(10_000_000));
    assert_eq!(requests(&server).await, [(0, 4)], "one page per poll");
}

#[tokio::test]
async fn exact_multiple_of_the_page_size_ends_on_an_empty_page() {
    let data = Dataset::new(3000);
    let expected = data.expected_ids();
    let server = serve(data).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .page_size(1000)
        .stream();
    assert_eq!(collect_ids(&mut rows).await, expected);
    assert_eq!(
        requests(&server).await,
        [(0, 1000), (1000, 1000), (2000, 1000), (3000, 1000)],
        "ceil(n/limit) + 1 for the empty page"
    );
    let s = rows.summary();
    assert_eq!(s.end, Some(EndReason::EmptyPage { offset: 3000 }));
    assert_eq!((s.rows, s.pages, s.requests), (3000, 3, 4));
    assert_eq!(s.learned_cap, None);
}

#[tokio::test]
async fn a_short_page_after_a_full_one_is_trusted() {
    let data = Dataset::new(2500);
    let expected = data.expected_ids();
    let server = serve(data).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .page_size(1000)
        .stream();
    assert_eq!(collect_ids(&mut rows).await, expected);
    assert_eq!(requests(&server).await.len(), 3, "ceil(2500/1000)");
    assert_eq!(
        rows.summary().end,
        Some(EndReason::ShortPage {
            offset: 2000,
            rows: 500
        })
    );
}

#[tokio::test]
async fn an_empty_result_takes_one_request() {
    let server = serve(Dataset::new(0)).await;
    let mut rows = sequential(&client_for(&base(&server))).stream();
    assert!(collect_ids(&mut rows).await.is_empty());
    assert_eq!(requests(&server).await, [(0, 1000)]);
    assert_eq!(rows.summary().end, Some(EndReason::EmptyPage { offset: 0 }));
}

#[tokio::test]
async fn a_first_short_page_is_confirmed_once() {
    let server = serve(Dataset::new(1)).await;
    let mut rows = sequential(&client_for(&base(&server))).stream();
    assert_eq!(collect_ids(&mut rows).await, [10_000_000]);
    assert_eq!(
        requests(&server).await,
        [(0, 1000), (1, 1000)],
        "the short first page is confirmed by one more request"
    );
    assert_eq!(
        rows.summary().end,
        Some(EndReason::ShortPage { offset: 0, rows: 1 })
    );
}

#[tokio::test]
async fn a_silent_cap_is_learned_and_every_row_arrives_once() {
    let data = Dataset::capped(2500, 300);
    let expected = data.expected_ids();
    let server = serve(data).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .page_size(1000)
        .stream();
    assert_eq!(collect_ids(&mut rows).await, expected);
    let reqs = requests(&server).await;
    assert_eq!(reqs[0], (0, 1000));
    assert_eq!(reqs[1], (300, 1000), "the confirming request");
    assert!(reqs[2..].iter().all(|&(_, limit)| limit == 300), "{reqs:?}");
    assert_eq!(reqs.len(), 9, "ceil(2500/300) once the cap is learned");
    let s = rows.summary();
    assert_eq!(s.learned_cap, Some(300));
    assert_eq!(
        s.end,
        Some(EndReason::ShortPage {
            offset: 2400,
            rows: 100
        })
    );
}

#[tokio::test]
async fn a_cap_on_an_exact_multiple_ends_on_an_empty_page() {
    let data = Dataset::capped(900, 300);
    let expected = data.expected_ids();
    let server = serve(data).await;
    let mut rows = sequential(&client_for(&base(&server))).stream();
    assert_eq!(collect_ids(&mut rows).await, expected);
    assert_eq!(requests(&server).await.len(), 4, "900/300 + the empty page");
    assert_eq!(rows.summary().learned_cap, Some(300));
}

#[tokio::test]
async fn no_request_after_the_end() {
    let server = serve(Dataset::new(5)).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .page_size(5)
        .stream();
    assert_eq!(collect_ids(&mut rows).await.len(), 5);
    let sent = requests(&server).await.len();
    assert_eq!(sent, 2);
    assert!(rows.next().await.is_none());
    assert!(rows.next().await.is_none());
    assert_eq!(
        requests(&server).await.len(),
        sent,
        "nothing sent once ended"
    );
}

#[tokio::test]
async fn max_rows_asks_for_no_more_than_it_needs() {
    let server = serve(Dataset::new(5000)).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .page_size(1000)
        .max_rows(2500)
        .stream();
    assert_eq!(collect_ids(&mut rows).await.len(), 2500);
    assert_eq!(
        requests(&server).await,
        [(0, 1000), (1000, 1000), (2000, 500)]
    );
    assert_eq!(
        rows.summary().end,
        Some(EndReason::LimitReached { rows: 2500 })
    );
}

#[tokio::test]
async fn start_offset_continues_where_an_export_stopped() {
    let data = Dataset::new(2500);
    let expected = data.expected_ids()[1200..].to_vec();
    let server = serve(data).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .start_offset(1200)
        .stream();
    assert_eq!(collect_ids(&mut rows).await, expected);
    assert_eq!(requests(&server).await[0], (1200, 1000));
}

#[tokio::test]
async fn a_server_that_ignores_offset_is_an_error_not_a_loop() {
    let mut data = Dataset::new(100);
    data.ignore_offset = true;
    let server = serve(data).await;
    let mut rows = sequential(&client_for(&base(&server)))
        .page_size(10)
        .stream();
    let mut ok = 0;
    let err = loop {
        match rows.next().await {
            Some(Ok(_)) => ok += 1,
            Some(Err(e)) => break e,
            None => panic!("the stream must end with an error"),
        }
    };
    assert_eq!(ok, 10, "the first page is delivered");
    assert_eq!(err.kind(), ErrorKind::Stalled);
    assert_eq!(err.offset(), Some(10));
    assert!(
        err.to_string()
            .starts_with("list/push-devices at offset 10: the page repeats the previous one"),
        "{err}"
    );
    assert!(rows.next().await.is_none(), "None after the error");
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn pages_carry_their_offsets() {
    let server = serve(Dataset::new(25)).await;
    let pages: Vec<_> = sequential(&client_for(&base(&server)))
        .page_size(10)
        .pages()
        .try_collect()
        .await
        .unwrap();
    let shape: Vec<(u64, usize, u64)> = pages
        .iter()
        .map(|p| (p.offset(), p.rows().len(), p.next_offset()))
        .collect();
    assert_eq!(shape, [(0, 10, 10), (10, 10, 20), (20, 5, 25)]);
}

#[tokio::test]
async fn any_list_model_streams_as_json_values() {
    let server = common::mock_server().await;
    wiremock::Mock::given(wiremock::matchers::path("/api/external/list/campaign"))
        .respond_with(|req: &wiremock::Request| {
            let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
            let data = if body["offset"] == 0 {
                serde_json::json!([{"id": 1, "title": "Spring"}, {"id": 2, "title": "Été"}])
            } else {
                serde_json::json!([])
            };
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"code": 200, "success": true, "data": data}))
        })
        .mount(&server)
        .await;
    let rows: Vec<serde_json::Value> = client_for(&base(&server))
        .list("campaign")
        .page_size(50)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            serde_json::json!({"id": 1, "title": "Spring"}),
            serde_json::json!({"id": 2, "title": "Été"})
        ]
    );
}

#[test]
fn streams_are_send_unpin_and_static() {
    fn check<S: futures::Stream + Send + Unpin + 'static>(_: &S) {}
    let client = xp_export::Client::builder().apptoken("t").build().unwrap();
    check(&sequential(&client).stream());
    check(&sequential(&client).pages());
    check(&client.list::<serde_json::Value>("campaign").stream());
}
