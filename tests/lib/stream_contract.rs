//! What the docs promise about `Rows` and `Pages` beyond their rows: the runtime they need,
//! their auto traits, what dropping them does, how the seam check sizes pages, and what
//! `serde_json::Value` rows do to field order. Each test pins one statement of the crate docs
//! and the README's Library section.

use crate::common;

use std::fmt;
use std::time::Duration;

use futures::TryStreamExt;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::{Client, Pages, PushAction, RawRow, RetryPolicy, Rows};

/// Fails to compile if `T` is `Sync` (the `static_assertions` trick: with `Sync`, both impls
/// apply and `_` is ambiguous).
trait AmbiguousIfSync<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
struct IsSync;
impl<T: ?Sized + Sync> AmbiguousIfSync<IsSync> for T {}

fn send_static<T: Send + 'static>() {}

/// `Rows` and `Pages` can move into `tokio::spawn` (`Send + 'static`); they are not `Sync`.
const _: fn() = || {
    send_static::<Rows<PushAction>>();
    send_static::<Rows<RawRow>>();
    send_static::<Rows<Value>>();
    send_static::<Pages<PushAction>>();
    send_static::<Pages<RawRow>>();
    let _ = <Rows<PushAction> as AmbiguousIfSync<_>>::some_item;
    let _ = <Rows<RawRow> as AmbiguousIfSync<_>>::some_item;
    let _ = <Pages<PushAction> as AmbiguousIfSync<_>>::some_item;
    let _ = <Pages<RawRow> as AmbiguousIfSync<_>>::some_item;
};

#[tokio::test]
async fn a_stream_runs_inside_tokio_spawn() {
    let emu = common::emulator(30).await;
    let rows = common::emulator_client(&emu)
        .push_actions()
        .page_size(7)
        .stream();
    let n = tokio::spawn(rows.try_fold(0u64, |n, _| async move { Ok(n + 1) }))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n, 30);
}

#[test]
#[should_panic(expected = "no reactor running")]
fn outside_a_tokio_runtime_the_first_poll_panics() {
    let client = Client::builder()
        .api_url("http://127.0.0.1:9")
        .apptoken("tok-not-used-1234")
        .build()
        .unwrap();
    let mut rows = client.push_actions().stream();
    let _ = futures::executor::block_on(rows.try_next());
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_requests_in_flight() {
    // Every request fails with a 503, so the page is retried every 10 ms for as long as its
    // request lives.
    let emu = Emulator::start(
        Config::default()
            .records(100)
            .fault_rate(1.0)
            .fault_kinds([Fault::Unavailable(None)]),
    )
    .await
    .unwrap();
    let client = Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .retry(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(10))
                .with_max_retries(1000)
                .without_jitter(),
        )
        .build()
        .unwrap();
    let mut rows = client.push_actions().stream();
    let polled = tokio::time::timeout(Duration::from_millis(200), rows.try_next()).await;
    assert!(polled.is_err(), "the page should still be retrying");
    let timed_out = emu.requests();
    assert!(
        timed_out >= 3,
        "{timed_out} requests: the page was not retried"
    );
    // A timeout around `try_next` drops only that call: the stream's request goes on.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        emu.requests() > timed_out,
        "the request stopped with the timeout"
    );

    drop(rows);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after_drop = emu.requests();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        emu.requests(),
        after_drop,
        "requests went on after the stream was dropped"
    );
}

#[tokio::test]
async fn with_the_seam_check_each_page_after_the_first_brings_limit_minus_one_new_rows() {
    let emu = common::emulator(25).await;
    let client = common::emulator_client(&emu);
    let pages: Vec<_> = client
        .push_actions()
        .page_size(10)
        .concurrency(1) // no request past the end, so the log is exact
        .pages()
        .try_collect()
        .await
        .unwrap();
    let shape: Vec<_> = pages
        .iter()
        .map(|p| (p.offset(), p.requested(), p.rows().len()))
        .collect();
    // (offset, limit asked, new rows): the second page asks for 10 rows from offset 9, one
    // of which is the seam row already delivered.
    assert_eq!(shape, [(0, 10, 10), (10, 10, 9), (19, 10, 6)]);
    let sent: Vec<_> = emu
        .request_log()
        .iter()
        .map(|r| (r.offset.unwrap(), r.limit.unwrap()))
        .collect();
    assert_eq!(sent, [(0, 10), (9, 10), (18, 10)]);
}

/// The keys of a JSON object, in the order they are written.
struct KeyOrder(Vec<String>);

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

#[tokio::test]
async fn value_rows_sort_their_keys_and_raw_rows_keep_the_servers_order() {
    let emu = common::emulator(3).await;
    let client = common::emulator_client(&emu);
    let raw: Vec<RawRow> = client
        .push_actions()
        .raw_stream()
        .try_collect()
        .await
        .unwrap();
    let values: Vec<Value> = client
        .list::<Value>("push-devices")
        .stream()
        .try_collect()
        .await
        .unwrap();
    let sent = raw[0].parse::<KeyOrder>().unwrap().0;
    let mut sorted = sent.clone();
    sorted.sort();
    assert_ne!(sent, sorted, "the emulator's field order is sorted already");
    let kept: Vec<&String> = values[0].as_object().unwrap().keys().collect();
    // Without serde_json's `preserve_order` feature, an object is a BTreeMap.
    assert_eq!(kept, sorted.iter().collect::<Vec<_>>());
    let written = serde_json::from_str::<KeyOrder>(&values[0].to_string())
        .unwrap()
        .0;
    assert_eq!(written, sorted);
}

#[tokio::test]
#[allow(unused_assignments)] // the warning a user gets, and may miss
async fn a_count_moved_into_the_async_block_stays_at_zero() {
    // The pitfall the docs warn about: `async move` takes a copy of `count`.
    let emu = common::emulator(30).await;
    let mut count = 0u64;
    common::emulator_client(&emu)
        .push_actions()
        .stream()
        .try_for_each(|_| async move {
            count += 1;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(count, 0);
    // What the docs show instead.
    let mut rows = common::emulator_client(&emu).push_actions().stream();
    while let Some(_action) = rows.try_next().await.unwrap() {
        count += 1;
    }
    assert_eq!(count, 30);
}
