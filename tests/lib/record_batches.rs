//! `export::RecordBatches`: a query's pages as Arrow record batches hold the rows a Parquet
//! export of the same query writes, in the same columns; a row that is not an object fails
//! the stream naming its offset, after the pages before it.

use arrow_array::{Array, Int64Array, RecordBatch};
use futures::{StreamExt, TryStreamExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use wiremock::{Mock, ResponseTemplate};
use xp_export::ErrorKind;
use xp_export::export::{Export, Format, RecordBatches, Target};

use crate::common::{self, base, emulator, emulator_client};

const PATH: &str = "/api/external/list/push-devices";

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column_by_name("action_id").expect("an action_id column");
            let ids = column
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("int64 ids");
            ids.iter()
                .map(|v| v.expect("no null id"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_hold_the_rows_and_columns_of_a_parquet_export_of_the_query() {
    let emu = emulator(4_321).await;
    let client = emulator_client(&emu);
    let query = client.push_actions().page_size(1000);
    let batches: Vec<RecordBatch> = RecordBatches::new(query.clone())
        .try_collect()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.parquet");
    Export::new(query, Format::Parquet, Target::File(path.clone()))
        .run(std::future::pending(), |_, _| {})
        .await
        .unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let written: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    assert_eq!(ids(&batches).len(), 4_321);
    assert_eq!(ids(&batches), ids(&written));
    let names = |b: &RecordBatch| {
        let schema = b.schema();
        schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&batches[0]), names(&written[0]));
    let ours = batches[0].schema();
    assert!(
        batches.iter().all(|b| b.schema() == ours),
        "one schema for every batch"
    );
    assert_eq!(batches.len(), 5, "a batch a page");
}

#[tokio::test]
async fn a_row_that_is_not_an_object_fails_naming_its_offset_after_the_pages_before_it() {
    let server = common::mock_server().await;
    let page = |rows: serde_json::Value| {
        ResponseTemplate::new(200)
            .set_body_json(serde_json::json!({"code": 200, "success": true, "data": rows}))
    };
    let first: Vec<_> = (0..3)
        .map(|i| serde_json::json!({"action_id": 10 - i}))
        .collect();
    Mock::given(wiremock::matchers::body_partial_json(
        serde_json::json!({"offset": 0}),
    ))
    .and(wiremock::matchers::path(PATH))
    .respond_with(page(serde_json::json!(first)))
    .mount(&server)
    .await;
    Mock::given(wiremock::matchers::body_partial_json(
        serde_json::json!({"offset": 3}),
    ))
    .and(wiremock::matchers::path(PATH))
    .respond_with(page(serde_json::json!([{"action_id": 7}, [1, 2]])))
    .mount(&server)
    .await;
    let query = common::client_for(&base(&server))
        .push_actions()
        .page_size(3)
        .concurrency(1)
        .seam_check(false);
    let mut batches = RecordBatches::new(query);
    let got = batches.next().await.unwrap().unwrap();
    assert_eq!(ids(&[got]), [10, 9, 8]);
    let err = batches.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.to_string().contains("offset 4"), "{err}");
    assert!(
        batches.next().await.is_none(),
        "the stream ends after its error"
    );
}
