use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};
use arrow_schema::{DataType, TimeUnit};

use super::{Columns, SavedSchema};
use crate::model::RawRow;

fn rows(texts: &[&str]) -> Vec<RawRow> {
    texts.iter().map(|t| RawRow::new(t)).collect()
}

fn names(batch: &RecordBatch) -> Vec<String> {
    let schema = batch.schema();
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch.column_by_name(name).unwrap();
    column.as_primitive::<Int64Type>().iter().collect()
}

/// A Timestamp column's values in Unix seconds.
fn seconds(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch.column_by_name(name).unwrap();
    let millis = column.as_primitive::<TimestampMillisecondType>().iter();
    millis.map(|ms| ms.map(|ms| ms / 1000)).collect()
}

fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch.column_by_name(name).unwrap();
    column.as_primitive::<Float64Type>().iter().collect()
}

fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).unwrap();
    column
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(String::from))
        .collect()
}

fn batch_of(model: &str, select: Option<&[String]>, texts: &[&str]) -> RecordBatch {
    let mut columns = Columns::new(model, select);
    columns.push(&rows(texts), 0).unwrap();
    columns.take_batch().unwrap()
}

#[test]
fn push_devices_rows_are_typed_and_undocumented_fields_get_columns_of_their_own() {
    let mut columns = Columns::new("push-devices", None);
    let first = rows(&[
        r#"{"zeta":[1, {"a" : null}],"action_id":7,"campaign_id":245624,"create_time":-3,
           "device_id":9,"profile_id":"p-1","error":1,"error_message":"DEVICE_UNREGISTERED",
           "delivery":0,"open":1,"click":1700000000,"alpha":1.50,"n":null,"platform":"ios"}"#,
        r#"{"action_id":8,"error_message":null,"profile_id":42,"alpha":2}"#,
        "{}",
    ]);
    columns.push(&first, 0).unwrap();
    let batch = columns.take_batch().unwrap();
    let mut want: Vec<String> = crate::model::push_devices::FIELDS.map(String::from).into();
    want.extend(["zeta", "alpha", "n", "platform", "extra"].map(String::from));
    assert_eq!(names(&batch), want);
    assert_eq!(batch.num_rows(), 3);
    assert_eq!(ints(&batch, "action_id"), [Some(7), Some(8), None]);
    assert_eq!(ints(&batch, "campaign_id"), [Some(245624), None, None]);
    assert_eq!(seconds(&batch, "create_time"), [Some(-3), None, None]);
    assert_eq!(ints(&batch, "device_id"), [Some(9), None, None]);
    assert_eq!(ints(&batch, "error"), [Some(1), None, None]);
    assert_eq!(ints(&batch, "delivery"), [Some(0), None, None]);
    assert_eq!(ints(&batch, "open"), [Some(1), None, None]);
    assert_eq!(ints(&batch, "click"), [Some(1700000000), None, None]);
    // A number where the schema has text is kept as sent in `extra`, not turned into "42".
    let profile = texts(&batch, "profile_id");
    assert_eq!(profile, [Some("p-1".into()), None, None]);
    let message = texts(&batch, "error_message");
    assert_eq!(message, [Some("DEVICE_UNREGISTERED".into()), None, None]);
    assert_eq!(
        texts(&batch, "zeta"),
        [Some(r#"[1,{"a":null}]"#.into()), None, None]
    );
    assert_eq!(floats(&batch, "alpha"), [Some(1.5), Some(2.0), None]);
    assert_eq!(texts(&batch, "n"), [None, None, None]);
    assert_eq!(texts(&batch, "platform"), [Some("ios".into()), None, None]);
    assert_eq!(
        texts(&batch, "extra"),
        [None, Some(r#"{"profile_id":42}"#.into()), None]
    );
    let kept = columns.kept();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0].field.as_str(), kept[0].offset, kept[0].values),
        ("profile_id", 1, 1)
    );
    assert_eq!(kept[0].reason, "expected a string, found an integer");
    for field in batch.schema().fields() {
        assert!(field.is_nullable(), "{field}");
    }
    let schema = batch.schema();
    let type_of = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    let utc = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    assert_eq!(type_of("create_time"), utc);
    assert_eq!(type_of("profile_id"), DataType::Utf8);
    assert_eq!(type_of("action_id"), DataType::Int64);
    assert_eq!(type_of("platform"), DataType::Utf8);
    assert_eq!(json_columns(&columns), ["zeta", "extra"]);

    // A field first seen after the schema is fixed goes to `extra`, in the row's order.
    let later = rows(&[r#"{"action_id":9,"late":{"b" : 1},"platform":"web","later":true}"#]);
    columns.push(&later, 3).unwrap();
    let batch = columns.take_batch().unwrap();
    assert_eq!(names(&batch), want);
    assert_eq!(texts(&batch, "platform"), [Some("web".into())]);
    let extra = r#"{"late":{"b":1},"later":true}"#;
    assert_eq!(texts(&batch, "extra"), [Some(extra.into())]);
    let kept: Vec<_> = columns
        .kept()
        .iter()
        .map(|k| (&*k.field, k.offset, &*k.reason))
        .collect();
    let later = "first seen after the first row group fixed the schema";
    assert_eq!(
        kept,
        [
            ("profile_id", 1, "expected a string, found an integer"),
            ("late", 3, later),
            ("later", 3, later)
        ]
    );
}

/// The names of the columns written with Parquet's JSON logical type.
fn json_columns(columns: &Columns) -> Vec<String> {
    let descr = columns.parquet_schema().unwrap();
    let json = |c: &&std::sync::Arc<parquet::schema::types::ColumnDescriptor>| {
        c.logical_type_ref() == Some(&parquet::basic::LogicalType::Json)
    };
    descr
        .columns()
        .iter()
        .filter(json)
        .map(|c| c.name().to_owned())
        .collect()
}

/// The batch of `texts`, and the names of its JSON columns.
fn batch_and_json(model: &str, texts: &[&str]) -> (RecordBatch, Vec<String>) {
    let mut columns = Columns::new(model, None);
    columns.push(&rows(texts), 0).unwrap();
    let batch = columns.take_batch().unwrap();
    (batch, json_columns(&columns))
}

#[test]
fn an_undocumented_field_of_mixed_kinds_is_a_json_column_that_keeps_5_apart_from_the_string() {
    let (batch, json) = batch_and_json(
        "push-devices",
        &[
            r#"{"action_id":1,"platform":5,"meta":{"a":1}}"#,
            r#"{"action_id":2,"platform":"ios","meta":"{\"a\":1}"}"#,
            r#"{"action_id":3,"platform":null}"#,
        ],
    );
    assert_eq!(json, ["platform", "meta", "extra"]);
    let platform = texts(&batch, "platform");
    assert_eq!(platform, [Some("5".into()), Some(r#""ios""#.into()), None]);
    let meta = texts(&batch, "meta");
    assert_eq!(
        meta,
        [
            Some(r#"{"a":1}"#.into()),
            Some(r#""{\"a\":1}""#.into()),
            None
        ]
    );
}

#[test]
fn a_row_field_named_extra_keeps_its_column_and_the_others_column_gives_way() {
    let batch = batch_of("push-devices", None, &[r#"{"action_id":1,"extra":"x"}"#]);
    let names = names(&batch);
    assert_eq!(names[names.len() - 2..], ["extra", "_extra"]);
    assert_eq!(texts(&batch, "extra"), [Some("x".into())]);
    assert_eq!(texts(&batch, "_extra"), [None]);
}

#[test]
fn create_time_takes_integers_as_unix_seconds_and_keeps_others_as_sent_in_extra() {
    let mut columns = Columns::new("push-devices", None);
    let beyond = r#"{"create_time":9223372036854776}"#;
    let texts_in = [
        r#"{"create_time":"2024-01-01"}"#,
        beyond,
        r#"{"create_time":86400}"#,
    ];
    columns.push(&rows(&texts_in), 5).unwrap();
    let batch = columns.take_batch().unwrap();
    assert_eq!(seconds(&batch, "create_time"), [None, None, Some(86400)]);
    let extra = texts(&batch, "extra");
    assert_eq!(extra, [Some(texts_in[0].into()), Some(beyond.into()), None]);
    let kept = columns.kept();
    assert_eq!((kept[0].offset, kept[0].values), (5, 2));
    let want = "expected an integer (Unix seconds), found a string";
    assert_eq!(kept[0].reason, want);
    let mut columns = Columns::new("push-devices", None);
    columns.push(&rows(&[beyond]), 6).unwrap();
    columns.take_batch().unwrap();
    let want = "expected an integer (Unix seconds), found an integer beyond the millisecond \
                timestamp range";
    assert_eq!(columns.kept()[0].reason, want);
}

#[test]
fn select_orders_the_columns_and_unknown_selected_names_are_inferred() {
    let select = ["error_message", "message", "action_id", "extra"].map(String::from);
    let batch = batch_of(
        "push-devices",
        Some(&select),
        &[
            r#"{"action_id":1,"message":5,"extra":"x","other":true}"#,
            r#"{"action_id":2,"message":2.5}"#,
        ],
    );
    let want = ["error_message", "message", "action_id", "extra", "_extra"];
    assert_eq!(names(&batch), want);
    assert_eq!(floats(&batch, "message"), [Some(5.0), Some(2.5)]);
    assert_eq!(texts(&batch, "extra"), [Some("x".into()), None]);
    assert_eq!(
        texts(&batch, "_extra"),
        [Some(r#"{"other":true}"#.into()), None]
    );
    assert_eq!(texts(&batch, "error_message"), [None, None]);
}

#[test]
fn a_value_that_does_not_fit_its_typed_column_is_kept_as_sent_in_extra_by_field_and_offset() {
    let mut columns = Columns::new("push-devices", None);
    columns.push(&rows(&[r#"{"action_id":1}"#]), 12344).unwrap();
    columns
        .push(&rows(&[r#"{"action_id":"2","device_id":3}"#]), 12345)
        .unwrap();
    let batch = columns.take_batch().unwrap();
    assert_eq!(ints(&batch, "action_id"), [Some(1), None]);
    assert_eq!(ints(&batch, "device_id"), [None, Some(3)]);
    assert_eq!(
        texts(&batch, "extra"),
        [None, Some(r#"{"action_id":"2"}"#.into())]
    );
    let kept = &columns.kept()[0];
    assert_eq!((kept.field.as_str(), kept.offset), ("action_id", 12345));
    assert_eq!(kept.reason, "expected an integer, found a string");
    for (value, found) in [
        ("1.5", "a float"),
        ("9223372036854775808", "an integer beyond i64"),
        (r#"{"a":1}"#, "an object"),
        ("true", "a boolean"),
    ] {
        let mut columns = Columns::new("push-devices", None);
        let row = format!(r#"{{"error":{value}}}"#);
        columns.push(&rows(&[&row]), 3).unwrap();
        let batch = columns.take_batch().unwrap();
        assert_eq!(texts(&batch, "extra"), [Some(row.clone())]);
        assert_eq!(ints(&batch, "error"), [None]);
        let want = format!("expected an integer, found {found}");
        assert_eq!(columns.kept()[0].reason, want);
    }
}

/// A row that names a field twice holds the last value, as a JSON reader of the NDJSON export
/// reads it: in its column where it fits, else as sent in `extra`, counted once.
#[test]
fn a_field_named_twice_in_a_row_is_its_last_value_in_its_column_or_in_extra() {
    let mut columns = Columns::new("push-devices", None);
    columns
        .push(&rows(&[r#"{"action_id":1,"error":1}"#]), 0)
        .unwrap();
    columns
        .push(
            &rows(&[
                r#"{"action_id":2,"error":5,"error":1.5}"#,
                r#"{"action_id":3,"error":1.5,"error":6}"#,
                r#"{"action_id":4,"error":7,"error":8}"#,
            ]),
            1,
        )
        .unwrap();
    let batch = columns.take_batch().unwrap();
    assert_eq!(ints(&batch, "error"), [Some(1), None, Some(6), Some(8)]);
    let extra = [None, Some(r#"{"error":1.5}"#.into()), None, None];
    assert_eq!(texts(&batch, "extra"), extra);
    let kept = columns.kept();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        (kept[0].field.as_str(), kept[0].offset, kept[0].values),
        ("error", 1, 1)
    );
}

#[test]
fn a_row_that_is_not_an_object_is_refused_by_offset() {
    let mut columns = Columns::new("campaign", None);
    let e = columns.push(&rows(&["{}", "[1]"]), 10).unwrap_err();
    assert_eq!(
        e,
        "the row at offset 11 is not a JSON object: found an array"
    );
    assert_eq!(columns.buffered_rows(), 0, "the page is refused whole");
}

#[test]
fn inferred_types_widen_from_integer_to_float_and_mixes_to_json_within_a_batch() {
    let (batch, json) = batch_and_json(
        "campaign",
        &[
            r#"{"id":1,"rate":1,"name":2,"flag":true,"big":1,"tags":null}"#,
            r#"{"id":2,"rate":0.5,"name":2.5,"flag":false,"big":18446744073709551615,"late":null}"#,
            r#"{"id":3,"name":"x","tags":["a", {"b":1}],"flag":null,"mixed":true}"#,
            r#"{"mixed":1}"#,
        ],
    );
    let want = [
        "id", "rate", "name", "flag", "big", "tags", "late", "mixed", "extra",
    ];
    assert_eq!(names(&batch), want);
    let schema = batch.schema();
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    use DataType::{Boolean, Float64, Int64, Utf8};
    assert_eq!(
        types,
        [
            &Int64, &Float64, &Utf8, &Boolean, &Utf8, &Utf8, &Utf8, &Utf8, &Utf8
        ]
    );
    assert_eq!(json, ["name", "big", "tags", "mixed", "extra"]);
    assert_eq!(ints(&batch, "id"), [Some(1), Some(2), Some(3), None]);
    assert_eq!(floats(&batch, "rate"), [Some(1.0), Some(0.5), None, None]);
    let name = texts(&batch, "name");
    assert_eq!(
        name,
        [
            Some("2".into()),
            Some("2.5".into()),
            Some(r#""x""#.into()),
            None
        ]
    );
    let flag = batch.column_by_name("flag").unwrap().as_boolean().iter();
    assert_eq!(
        flag.collect::<Vec<_>>(),
        [Some(true), Some(false), None, None]
    );
    let big = texts(&batch, "big");
    assert_eq!(
        big,
        [
            Some("1".into()),
            Some("18446744073709551615".into()),
            None,
            None
        ]
    );
    let tags = texts(&batch, "tags");
    assert_eq!(tags, [None, None, Some(r#"["a",{"b":1}]"#.into()), None]);
    assert_eq!(texts(&batch, "late"), [None, None, None, None]);
    let mixed = texts(&batch, "mixed");
    assert_eq!(mixed, [None, None, Some("true".into()), Some("1".into())]);
}

#[test]
fn a_fixed_schema_takes_integers_as_floats_and_keeps_misfits_and_new_fields_in_extra() {
    let mut columns = Columns::new("campaign", None);
    columns
        .push(&rows(&[r#"{"id":1,"rate":0.5,"note":"a"}"#]), 0)
        .unwrap();
    columns.take_batch().unwrap();
    columns
        .push(
            &rows(&[
                r#"{"id":2,"rate":1,"note":{"x":1}}"#,
                r#"{"id":2.5,"new":1,"rate":9007199254740993}"#,
            ]),
            1,
        )
        .unwrap();
    let batch = columns.take_batch().unwrap();
    assert_eq!(floats(&batch, "rate"), [Some(1.0), None]);
    assert_eq!(texts(&batch, "note"), [None, None]);
    assert_eq!(ints(&batch, "id"), [Some(2), None]);
    let extra = [
        Some(r#"{"note":{"x":1}}"#.into()),
        Some(r#"{"id":2.5,"new":1,"rate":9007199254740993}"#.into()),
    ];
    assert_eq!(texts(&batch, "extra"), extra);
    let kept: Vec<_> = columns
        .kept()
        .iter()
        .map(|k| (&*k.field, k.offset, &*k.reason))
        .collect();
    assert_eq!(
        kept,
        [
            ("note", 1, "expected a string, found an object"),
            ("id", 2, "expected an integer, found a float"),
            (
                "new",
                2,
                "first seen after the first row group fixed the schema"
            ),
            (
                "rate",
                2,
                "expected a number, found an integer a float cannot hold exactly"
            ),
        ]
    );
}

#[test]
fn a_resumed_export_keeps_the_saved_schema() {
    let mut columns = Columns::new("campaign", None);
    assert_eq!(columns.fixed(), None);
    columns
        .push(&rows(&[r#"{"id":1,"rate":0.5,"none":null}"#]), 0)
        .unwrap();
    columns.take_batch().unwrap();
    let saved = columns.fixed().unwrap();
    let json = serde_json::to_string(&saved).unwrap();
    assert_eq!(
        json,
        r#"{"columns":[["id","int64"],["rate","float64"],["none","utf8"],["extra","json"]],"extra":"extra"}"#
    );
    let back: SavedSchema = serde_json::from_str(&json).unwrap();
    let mut resumed = Columns::resumed("campaign", None, back);
    assert_eq!(resumed.schema(), columns.schema());
    resumed.push(&rows(&[r#"{"id":"x"}"#]), 9).unwrap();
    let batch = resumed.take_batch().unwrap();
    assert_eq!(texts(&batch, "extra"), [Some(r#"{"id":"x"}"#.into())]);
    // What was kept in `extra` before the stop is counted on.
    let saved = resumed.fixed().unwrap();
    let mut again = Columns::resumed("campaign", None, saved);
    again.push(&rows(&[r#"{"id":"y"}"#]), 10).unwrap();
    again.take_batch().unwrap();
    assert_eq!((again.kept()[0].offset, again.kept()[0].values), (9, 2));

    // An earlier build's inferred schema had no catch-all: a misfit is refused there.
    let legacy = r#"{"columns":[["id","int64"],["note","utf8"]],"extra":null}"#;
    let legacy: SavedSchema = serde_json::from_str(legacy).unwrap();
    let mut legacy = Columns::resumed("campaign", None, legacy);
    legacy.push(&rows(&[r#"{"id":1,"note":2}"#]), 3).unwrap();
    assert_eq!(
        texts(&legacy.take_batch().unwrap(), "note"),
        [Some("2".into())]
    );
    legacy.push(&rows(&[r#"{"id":"x"}"#]), 4).unwrap();
    let e = legacy.take_batch().unwrap_err();
    assert_eq!(
        e,
        r#"field "id" of the row at offset 4: expected an integer, found a string"#
    );

    let mut typed = Columns::new("push-devices", None);
    typed.take_batch().unwrap();
    let resumed = Columns::resumed("push-devices", None, typed.fixed().unwrap());
    assert_eq!(resumed.schema(), typed.schema());
    assert_eq!(resumed.extra_column(), Some("extra"));
}

#[test]
fn an_empty_export_has_a_schema_and_no_rows() {
    let typed = Columns::new("push-devices", None);
    assert_eq!(typed.schema().fields().len(), 11);
    assert_eq!(typed.schema().field(10).name(), "extra");
    let select = ["b", "a"].map(String::from);
    let inferred = Columns::new("campaign", Some(&select));
    let schema = inferred.schema();
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    let text = &DataType::Utf8;
    assert_eq!(fields, [("b", text), ("a", text), ("extra", text)]);
    assert_eq!(Columns::new("campaign", None).schema().fields().len(), 1);
    assert_eq!(Columns::new("campaign", None).extra_column(), Some("extra"));
    let batch = Columns::new("push-devices", None).take_batch().unwrap();
    assert_eq!((batch.num_rows(), batch.num_columns()), (0, 11));
}

#[test]
fn strings_keep_quotes_newlines_and_non_ascii_exactly() {
    let row =
        r#"{"error_message":"Échec \"x\"\n\ttab \u00e9 😀 \\","note":"日本\"","k\"ey":"v\n"}"#;
    let mut columns = Columns::new(
        "push-devices",
        Some(&["error_message".into(), "note".into()]),
    );
    columns.push(&rows(&[row]), 0).unwrap();
    assert_eq!(
        (columns.buffered_rows(), columns.buffered_bytes()),
        (1, row.len())
    );
    let batch = columns.take_batch().unwrap();
    let message = "Échec \"x\"\n\ttab é 😀 \\";
    assert_eq!(texts(&batch, "error_message"), [Some(message.into())]);
    assert_eq!(texts(&batch, "note"), [Some("日本\"".into())]);
    assert_eq!(texts(&batch, "extra"), [Some(r#"{"k\"ey":"v\n"}"#.into())]);
    assert_eq!((columns.buffered_rows(), columns.buffered_bytes()), (0, 0));
}

#[test]
#[ignore = "timing, run in release by hand"]
fn perf_a_million_rows() {
    let page: Vec<RawRow> = (0..1000u64)
        .map(|i| {
            RawRow::new(&format!(
                r#"{{"action_id":{},"campaign_id":245624,"create_time":1700000000,"device_id":{},"profile_id":"p-{i}","error":1,"error_message":"DEVICE_UNREGISTERED","delivery":0,"open":1,"click":0,"message":"hello"}}"#,
                1_000_000_000 + i,
                i * 7
            ))
        })
        .collect();
    let start = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..1000 {
        for r in &page {
            let a: crate::model::PushAction = r.parse().unwrap();
            n += a.action_id.unwrap_or(0) as usize & 1;
        }
    }
    eprintln!("PushAction decode: {:?} {n}", start.elapsed());
    let mut f = super::row::Fields::new();
    let start = std::time::Instant::now();
    for _ in 0..1000 {
        for r in &page {
            super::row::fields(r.as_bytes(), &mut f).unwrap();
            n += f.len();
        }
    }
    eprintln!("fields cut: {:?} {n}", start.elapsed());
    for model in ["push-devices", "campaign"] {
        let mut columns = Columns::new(model, None);
        let start = std::time::Instant::now();
        for p in 0..1000u64 {
            columns.push(&page, p * 1000).unwrap();
        }
        let pushed = start.elapsed();
        let batch = columns.take_batch().unwrap();
        eprintln!(
            "{model}: {} rows, push {pushed:?}, total {:?}",
            batch.num_rows(),
            start.elapsed()
        );
    }
}

#[test]
fn an_export_resumed_from_parts_written_before_create_time_was_a_timestamp_keeps_their_schema() {
    // The checkpoint of a push-devices export whose parts hold create_time as Int64 and
    // platform in `extra`: the rest of that export is written in the same schema, so the
    // parts join into one file.
    let text = ["profile_id", "error_message"];
    let mut columns: Vec<(String, &str)> = crate::model::push_devices::FIELDS
        .iter()
        .map(|f| {
            (
                f.to_string(),
                if text.contains(f) { "utf8" } else { "int64" },
            )
        })
        .collect();
    columns.push(("extra".into(), "utf8"));
    let saved = serde_json::json!({ "columns": columns, "extra": "extra" });
    let saved: SavedSchema = serde_json::from_value(saved).unwrap();
    let mut resumed = Columns::resumed("push-devices", None, saved);
    let row = r#"{"action_id":1,"create_time":1700000000,"platform":"ios"}"#;
    resumed.push(&rows(&[row]), 10).unwrap();
    let batch = resumed.take_batch().unwrap();
    assert_eq!(batch.schema(), resumed.schema());
    assert_eq!(ints(&batch, "create_time"), [Some(1700000000)]);
    assert!(batch.column_by_name("platform").is_none());
    let extra = texts(&batch, "extra");
    assert_eq!(extra, [Some(r#"{"platform":"ios"}"#.into())]);
}
