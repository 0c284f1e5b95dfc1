//! Decoding and streaming benchmarks: `cargo bench`.
//!
//! - `decode/1000-row page`: one page decoded into `PushAction`s (typed), into `RawRow`s (the
//!   export's raw passthrough: slices of the body), into a `Box<RawValue>` per row, and into
//!   `serde_json::Value`, in rows per second.
//! - `stream/100k rows`: the whole stream against the in-process emulator, typed and raw, one
//!   request at a time and with 4 in flight.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures::TryStreamExt;
use serde_json::value::RawValue;
use xp_export::decode::{decode_page, decode_page_raw};
use xp_export::emulator::{Config, Emulator};
use xp_export::{Client, PushAction};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn page_body(rows: usize) -> Vec<u8> {
    let rt = runtime();
    let emu = rt
        .block_on(Emulator::start(Config::default().records(rows)))
        .unwrap();
    let data: Vec<serde_json::Value> = emu.records().iter().rev().map(|r| r.to_json()).collect();
    serde_json::to_vec(&serde_json::json!({"code": 200, "success": true, "data": data})).unwrap()
}

fn decode(c: &mut Criterion) {
    let body = page_body(1000);
    let mut g = c.benchmark_group("decode/1000-row page");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("typed PushAction", |b| {
        b.iter(|| decode_page::<PushAction>(200, &body, 0).unwrap())
    });
    g.bench_function("Box<RawValue> per row", |b| {
        b.iter(|| decode_page::<Box<RawValue>>(200, &body, 0).unwrap())
    });
    let shared = bytes::Bytes::from(body.clone());
    g.bench_function("RawRow (raw passthrough)", |b| {
        b.iter(|| decode_page_raw(200, &shared).unwrap())
    });
    g.bench_function("serde_json::Value", |b| {
        b.iter(|| decode_page::<serde_json::Value>(200, &body, 0).unwrap())
    });
    g.finish();
}

fn stream(c: &mut Criterion) {
    const ROWS: usize = 100_000;
    let rt = runtime();
    let emu = rt
        .block_on(Emulator::start(Config::default().records(ROWS)))
        .unwrap();
    let client = Client::builder()
        .api_url(emu.base_url())
        .apptoken(emu.apptoken())
        .build()
        .unwrap();
    let mut g = c.benchmark_group("stream/100k rows");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for k in [1usize, 4] {
        g.bench_with_input(BenchmarkId::new("typed", k), &k, |b, &k| {
            b.to_async(&rt).iter(|| async {
                let n = client
                    .push_actions()
                    .concurrency(k)
                    .stream()
                    .try_fold(0usize, |n, _| async move { Ok(n + 1) })
                    .await
                    .unwrap();
                assert_eq!(n, ROWS);
            })
        });
        g.bench_with_input(BenchmarkId::new("raw", k), &k, |b, &k| {
            b.to_async(&rt).iter(|| async {
                let n = client
                    .push_actions()
                    .concurrency(k)
                    .raw_stream()
                    .try_fold(0usize, |n, _| async move { Ok(n + 1) })
                    .await
                    .unwrap();
                assert_eq!(n, ROWS);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode, stream);
criterion_main!(benches);
