//! The buffered rows into one Arrow array per column, in a fixed layout.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use serde_json::value::RawValue;

use super::kind::{Kind, Type, UTC};
use super::layout::{Layout, misfit, unknown};
use super::row;
use crate::model::RawRow;

/// One column's array being built.
enum Builder {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(TimestampMillisecondBuilder),
    Text(StringBuilder),
}

impl Builder {
    fn new(ty: Type, rows: usize) -> Builder {
        match ty {
            Type::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
            Type::Float64 => Builder::Float(Float64Builder::with_capacity(rows)),
            Type::Boolean => Builder::Bool(BooleanBuilder::with_capacity(rows)),
            Type::Timestamp => {
                Builder::Time(TimestampMillisecondBuilder::with_capacity(rows).with_timezone(UTC))
            }
            Type::Utf8 => Builder::Text(StringBuilder::with_capacity(rows, 0)),
        }
    }

    /// Appends the value `raw` (None: the row has no such field), or says what it is when it
    /// does not fit.
    fn append(&mut self, raw: Option<&RawValue>) -> Result<(), Kind> {
        let Some(raw) = raw else {
            self.append_null();
            return Ok(());
        };
        if let Builder::Text(b) = self {
            match Kind::of(raw) {
                Kind::Null => b.append_null(),
                _ => b.append_value(row::text(raw)),
            }
            return Ok(());
        }
        match (self, Kind::of(raw)) {
            (b, Kind::Null) => b.append_null(),
            (Builder::Int(b), Kind::Int(i)) => b.append_value(i),
            (Builder::Float(b), Kind::Int(i)) => b.append_value(i as f64),
            (Builder::Float(b), Kind::Float(f)) => b.append_value(f),
            (Builder::Bool(b), Kind::Bool(v)) => b.append_value(v),
            // Unix seconds as milliseconds; seconds beyond ±292 million years do not fit.
            (Builder::Time(b), Kind::Int(i)) if i.checked_mul(1000).is_some() => {
                b.append_value(i * 1000)
            }
            (_, kind) => return Err(kind),
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
        }
    }
}

/// The rows as one batch of `schema`, whose columns are `layout`'s (types settled) and then,
/// when `extra` is true, the JSON object of each row's fields without a column. Without
/// `extra`, a field without a column is an error.
pub(super) fn batch(
    layout: &Layout,
    extra: bool,
    rows: &[(u64, RawRow)],
    schema: SchemaRef,
) -> Result<RecordBatch, String> {
    let types = layout.columns.iter().map(|c| c.ty.unwrap_or(Type::Utf8));
    let mut builders: Vec<Builder> = types.map(|ty| Builder::new(ty, rows.len())).collect();
    let mut others = extra.then(|| StringBuilder::with_capacity(rows.len(), 0));
    let (mut fields, mut hints) = (row::Fields::new(), Vec::new());
    let mut values: Vec<Option<&RawValue>> = vec![None; builders.len()];
    let mut object = String::new();
    for (offset, raw) in rows {
        let offset = *offset;
        row::fields(raw.as_bytes(), &mut fields).map_err(|e| super::layout::invalid(offset, &e))?;
        values.fill(None);
        object.clear();
        for (pos, (name, value)) in fields.iter().enumerate() {
            match layout.find(name, pos, &mut hints) {
                Some(i) => values[i] = Some(*value),
                None if extra => {
                    object.push(if object.is_empty() { '{' } else { ',' });
                    row::push_name(&mut object, name);
                    object.push_str(&row::compact(value.get().trim_ascii()));
                }
                None => return Err(unknown(name, offset)),
            }
        }
        for ((builder, value), column) in builders.iter_mut().zip(&values).zip(&layout.columns) {
            let ty = column.ty.unwrap_or(Type::Utf8);
            builder
                .append(*value)
                .map_err(|kind| misfit(&column.name, offset, ty, &kind))?;
        }
        if let Some(others) = &mut others {
            if object.is_empty() {
                others.append_null();
            } else {
                object.push('}');
                others.append_value(&object);
            }
        }
    }
    let mut arrays: Vec<ArrayRef> = builders.iter_mut().map(Builder::finish).collect();
    arrays.extend(others.as_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    RecordBatch::try_new_with_options(schema, arrays, &options).map_err(|e| e.to_string())
}
