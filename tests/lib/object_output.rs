//! An export to an object, from code, against `object_store`'s in-memory store: the object equals
//! the file export byte for byte, a stop then a resume writes the same bytes, a second run on the
//! same object is refused, and an object already there is kept unless restarted.

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt};
use xp_export::emulator::{Config, Emulator};
use xp_export::export::object::{MIN_PART_BYTES, ObjectUrl, Store};
use xp_export::export::{Export, ExportErrorKind, Format, Target};

use crate::common;

fn target(key: &str) -> Target {
    Target::Object(ObjectUrl::parse(&format!("s3://bucket/{key}")).unwrap())
}

async fn bytes(store: &InMemory, key: &str) -> Option<Vec<u8>> {
    match store.get(&Key::from(key)).await {
        Ok(got) => Some(got.bytes().await.unwrap().to_vec()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

async fn keys(store: &InMemory) -> Vec<String> {
    use futures::TryStreamExt;
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

/// The same export to a local file.
async fn file_export(emu: &Emulator, format: Format, name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let query = common::emulator_client(emu).push_actions().page_size(1000);
    Export::new(query, format, Target::File(path.clone()))
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    std::fs::read(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_equals_the_file_export_and_a_stopped_one_resumes_to_the_same_bytes() {
    // About 12 MB of NDJSON: two parts of the least size and the last.
    let emu = Emulator::start(Config::default().records(60_000))
        .await
        .unwrap();
    let store = Arc::new(InMemory::new());
    let dyn_store: Arc<dyn Store> = store.clone();
    let query = || common::emulator_client(&emu).push_actions().page_size(1000);
    let whole = file_export(&emu, Format::Ndjson, "rows.ndjson").await;

    // Stopped once the first part is up (its pages past the part are dropped).
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let e = Export::new(query(), Format::Ndjson, target("out/rows.ndjson"))
        .object_store(dyn_store.clone())
        .part_bytes(MIN_PART_BYTES)
        .run(
            async {
                let _ = rx.await;
            },
            |_, rows| {
                if rows >= 40_000 {
                    tx.take().map(|t| t.send(()));
                }
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Interrupted, "{e}");
    let kept = e.rows().unwrap();
    assert!(
        kept > 0 && kept < 40_000,
        "the rows of the parts uploaded: {kept}"
    );
    assert!(
        bytes(&store, "out/rows.ndjson").await.is_none(),
        "not visible"
    );
    let checkpoint = "out/.rows.ndjson.xp-export/checkpoint.json";
    assert_eq!(
        e.partial().map(|p| p.display().to_string()),
        Some(format!("s3://bucket/{checkpoint}"))
    );

    // Without --resume, refused; with it, the same bytes.
    let e = Export::new(query(), Format::Ndjson, target("out/rows.ndjson"))
        .object_store(dyn_store.clone())
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Resume, "{e}");
    let report = Export::new(query(), Format::Ndjson, target("out/rows.ndjson"))
        .object_store(dyn_store.clone())
        .part_bytes(MIN_PART_BYTES)
        .resume(true)
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.rows_in_output, 60_000);
    assert_eq!(report.resumed_at, Some(kept));
    let object = bytes(&store, "out/rows.ndjson").await.unwrap();
    assert!(
        object == whole,
        "the resumed object differs from the file export"
    );
    let made = report.object.unwrap();
    assert_eq!(made.url, "s3://bucket/out/rows.ndjson");
    assert_eq!(made.bytes, whole.len() as u64);
    assert_eq!(
        keys(&store).await,
        [
            "out/.rows.ndjson.xp-export/complete.json",
            "out/rows.ndjson"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_already_there_is_kept_unless_restarted_and_csv_is_the_file_export() {
    let emu = Emulator::start(Config::default().records(3_000))
        .await
        .unwrap();
    let store = Arc::new(InMemory::new());
    let dyn_store: Arc<dyn Store> = store.clone();
    let query = || common::emulator_client(&emu).push_actions().page_size(1000);
    store
        .put(&Key::from("rows.csv"), b"theirs".to_vec().into())
        .await
        .unwrap();
    let e = Export::new(query(), Format::Csv, target("rows.csv"))
        .object_store(dyn_store.clone())
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Output, "{e}");
    assert!(e.to_string().contains("exists"), "{e}");
    assert_eq!(bytes(&store, "rows.csv").await.unwrap(), b"theirs");
    assert_eq!(emu.requests(), 0);
    Export::new(query(), Format::Csv, target("rows.csv"))
        .object_store(dyn_store.clone())
        .restart(true)
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    let csv = file_export(&emu, Format::Csv, "rows.csv").await;
    assert!(bytes(&store, "rows.csv").await.unwrap() == csv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_taken_over_stops_the_run_that_held_it() {
    let emu = Emulator::start(Config::default().records(60_000))
        .await
        .unwrap();
    let store = Arc::new(InMemory::new());
    let dyn_store: Arc<dyn Store> = store.clone();
    let query = || common::emulator_client(&emu).push_actions().page_size(1000);
    let checkpoint = Key::from(".rows.ndjson.xp-export/checkpoint.json");
    // Another run writes the checkpoint while this one is on its first part.
    let mut rewritten = false;
    let store2 = store.clone();
    let e = Export::new(query(), Format::Ndjson, target("rows.ndjson"))
        .object_store(dyn_store.clone())
        .part_bytes(MIN_PART_BYTES)
        .run(std::future::pending(), move |_, rows| {
            if rows >= 1_000 && !rewritten {
                rewritten = true;
                let store = store2.clone();
                let key = checkpoint.clone();
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async {
                        let got = store.get(&key).await.unwrap().bytes().await.unwrap();
                        let mut text = String::from_utf8(got.to_vec()).unwrap();
                        text.push(' ');
                        store.put(&key, text.into_bytes().into()).await.unwrap();
                    })
                });
            }
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Busy, "{e}");
    assert!(e.to_string().contains("another export is writing"), "{e}");
    assert!(bytes(&store, "rows.ndjson").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_object_stopped_before_its_clean_up_is_complete_and_cleaned_up_on_resume() {
    use xp_export::export::ParquetOptions;
    let emu = Emulator::start(Config::default().records(30_000))
        .await
        .unwrap();
    let store = Arc::new(InMemory::new());
    let dyn_store: Arc<dyn Store> = store.clone();
    let query = || common::emulator_client(&emu).push_actions().page_size(1000);
    let options = || {
        let mut options = ParquetOptions::default();
        options.row_group_rows = 5_000;
        options
    };
    let export = || {
        Export::new(query(), Format::Parquet, target("rows.parquet"))
            .object_store(dyn_store.clone())
            .parquet(options())
            .resume(true)
    };
    // Stopped with two row groups' parts in the bucket.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let e = export()
        .run(
            async {
                let _ = rx.await;
            },
            |_, rows| {
                if rows >= 12_000 {
                    tx.take().map(|t| t.send(()));
                }
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Interrupted, "{e}");
    let side = ".rows.parquet.xp-export";
    let kept: Vec<String> = keys(&store).await;
    assert!(
        kept.contains(&format!("{side}/parts/part-00001.parquet")),
        "{kept:?}"
    );
    let mut copies = Vec::new();
    for key in &kept {
        copies.push((key.clone(), bytes(&store, key).await.unwrap()));
    }
    // A part changed, then gone: the resume refuses, naming the part's key and the way out.
    let part = format!("{side}/parts/part-00001.parquet");
    let shown = format!("s3://bucket/{part}");
    let good = bytes(&store, &part).await.unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    store
        .put(&Key::from(part.as_str()), bad.into())
        .await
        .unwrap();
    let e = export()
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Resume, "{e}");
    for said in [shown.as_str(), "changed or damaged", "--restart"] {
        assert!(e.to_string().contains(said), "{said}: {e}");
    }
    store.delete(&Key::from(part.as_str())).await.unwrap();
    let e = export()
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ExportErrorKind::Resume, "{e}");
    for said in [shown.as_str(), "is not in the bucket", "--restart"] {
        assert!(e.to_string().contains(said), "{said}: {e}");
    }
    store
        .put(&Key::from(part.as_str()), good.into())
        .await
        .unwrap();
    // Resumed to its end: the object holds the file export's rows, in order (its row groups are
    // cut where the stop saved them).
    let report = export()
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.rows_in_output, 30_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.parquet");
    Export::new(query(), Format::Parquet, Target::File(path.clone()))
        .parquet(options())
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    let object = bytes(&store, "rows.parquet").await.unwrap();
    let ids = action_ids(object.clone());
    assert_eq!(ids.len(), 30_000);
    assert_eq!(ids, action_ids(std::fs::read(&path).unwrap()));
    // As if killed after the upload completed, before the checkpoint and parts were removed.
    for (key, data) in copies {
        store.put(&Key::from(key), data.into()).await.unwrap();
    }
    let report = export()
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    assert!(report.already_complete);
    assert_eq!(report.rows_in_output, 30_000);
    assert_eq!(
        keys(&store).await,
        [format!("{side}/complete.json"), "rows.parquet".to_string()]
    );
    assert!(bytes(&store, "rows.parquet").await.unwrap() == object);
}

/// The `action_id` column of a Parquet file, in order.
fn action_ids(file: Vec<u8>) -> Vec<i64> {
    use arrow_array::Array;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(file),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("action_id").unwrap();
        let column = column
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        ids.extend((0..column.len()).map(|i| column.value(i)));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_that_appears_during_the_export_is_kept_and_no_record_stands_beside_it() {
    // One part (a conditional put), a multipart upload, and Parquet: another writer creates
    // the key while the rows come; each export refuses to replace it, and leaves no record of
    // a finished export beside an object it did not write. Once the other object is gone,
    // --resume makes this export's.
    let emu = Emulator::start(Config::default().records(60_000))
        .await
        .unwrap();
    for (format, name, records) in [
        (Format::Ndjson, "small.ndjson", 3_000),
        (Format::Ndjson, "big.ndjson", 60_000),
        (Format::Parquet, "rows.parquet", 60_000),
    ] {
        let store = Arc::new(InMemory::new());
        let dyn_store: Arc<dyn Store> = store.clone();
        let query = || {
            common::emulator_client(&emu)
                .push_actions()
                .page_size(1000)
                .max_rows(records)
        };
        let (theirs, writer) = (Key::from(name), store.clone());
        let mut written = false;
        let e = Export::new(query(), format, target(name))
            .object_store(dyn_store.clone())
            .part_bytes(MIN_PART_BYTES)
            .run(std::future::pending(), move |_, rows| {
                if rows >= 1_000 && !written {
                    written = true;
                    let (store, key) = (writer.clone(), theirs.clone());
                    tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(async {
                            store.put(&key, b"theirs".to_vec().into()).await.unwrap();
                        })
                    });
                }
            })
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ExportErrorKind::Output, "{name}: {e}");
        assert!(
            e.to_string().contains("appeared while this export ran"),
            "{name}: {e}"
        );
        assert_eq!(bytes(&store, name).await.unwrap(), b"theirs", "{name}");
        let record = format!(".{name}.xp-export/complete.json");
        assert!(
            !keys(&store).await.contains(&record),
            "{name}: {:?}",
            keys(&store).await
        );
        store.delete(&Key::from(name)).await.unwrap();
        Export::new(query(), format, target(name))
            .object_store(dyn_store.clone())
            .part_bytes(MIN_PART_BYTES)
            .resume(true)
            .run(std::future::pending(), |_, _| {})
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = bytes(&store, name).await.unwrap();
        assert!(ours.len() > 1_000, "{name}");
        assert_eq!(keys(&store).await, [record, name.to_string()], "{name}");
    }
}
