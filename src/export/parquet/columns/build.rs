//! The buffered rows into one Arrow array per column, in a fixed layout.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::SchemaRef;
use serde_json::value::RawValue;

use super::kind::{Kind, Type, UTC};
use super::layout::{Layout, misfit, unknown, why_misfit};
use super::row;
use crate::export::report::KeptInExtra;
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
            Type::Utf8 | Type::Json => Builder::Text(StringBuilder::with_capacity(rows, 0)),
        }
    }

    /// Appends the value `raw` of `kind` (None: the row has no such field), which fits the
    /// column's type ([`Type::fits`]): a string as itself, in a Json column any value as its
    /// compact JSON text, and in a Utf8 column without a catch-all beside it (an export
    /// resumed from an earlier build's checkpoint) another value as its compact JSON text too.
    fn append(&mut self, value: Option<(&RawValue, Kind)>, json: bool) {
        let Some((raw, kind)) = value else {
            return self.append_null();
        };
        match (self, kind) {
            (b, Kind::Null) => b.append_null(),
            (Builder::Text(b), Kind::Str) if !json => b.append_value(row::text(raw)),
            (Builder::Text(b), _) => b.append_value(row::compact(raw.get().trim_ascii())),
            (Builder::Int(b), Kind::Int(i)) => b.append_value(i),
            (Builder::Float(b), Kind::Int(i)) => b.append_value(i as f64),
            (Builder::Float(b), Kind::Float(f)) => b.append_value(f),
            (Builder::Bool(b), Kind::Bool(v)) => b.append_value(v),
            (Builder::Time(b), Kind::Int(i)) => b.append_value(i.saturating_mul(1000)),
            // Unreachable: the value was checked to fit.
            (b, _) => b.append_null(),
        }
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
/// when `extra` is true, the catch-all column: the JSON object of each row's fields that have
/// no column or whose value does not fit theirs, in the row's order, as sent. Each of those
/// is counted in `kept` by field (`unknown` says why a field without a column has none).
/// Without `extra` (an earlier build's inferred schema), a field without a column, or a
/// value that does not fit, is an error.
pub(super) fn batch(
    layout: &Layout,
    extra: bool,
    rows: &[(u64, RawRow)],
    schema: SchemaRef,
    kept: &mut Vec<KeptInExtra>,
    unknown_reason: &str,
) -> Result<RecordBatch, String> {
    let types: Vec<Type> = layout
        .columns
        .iter()
        .map(|c| c.ty.unwrap_or(Type::Utf8))
        .collect();
    let mut builders: Vec<Builder> = types
        .iter()
        .map(|ty| Builder::new(*ty, rows.len()))
        .collect();
    let mut others = extra.then(|| StringBuilder::with_capacity(rows.len(), 0));
    let (mut fields, mut hints) = (row::Fields::new(), Vec::new());
    let mut values: Vec<Option<(&RawValue, Kind)>> = vec![None; builders.len()];
    let mut object = String::new();
    for (offset, raw) in rows {
        let offset = *offset;
        row::fields(raw.as_bytes(), &mut fields).map_err(|e| super::layout::invalid(offset, &e))?;
        values.fill(None);
        object.clear();
        for (pos, (name, value)) in fields.iter().enumerate() {
            let found = layout.find(name, pos, &mut hints);
            let reason = match found {
                Some(i) => {
                    let (ty, kind) = (types[i], Kind::of(value));
                    if ty.fits(&kind) || (!extra && ty == Type::Utf8) {
                        values[i] = Some((*value, kind));
                        continue;
                    }
                    Reason::Misfit(ty, kind)
                }
                None => Reason::Unknown,
            };
            if !extra {
                return Err(match reason {
                    Reason::Misfit(ty, kind) => misfit(name, offset, ty, &kind),
                    Reason::Unknown => unknown(name, offset),
                });
            }
            object.push(if object.is_empty() { '{' } else { ',' });
            row::push_name(&mut object, name);
            object.push_str(&row::compact(value.get().trim_ascii()));
            keep(kept, name, offset, || match reason {
                Reason::Misfit(ty, kind) => why_misfit(ty, &kind),
                Reason::Unknown => unknown_reason.to_owned(),
            });
        }
        for ((builder, value), ty) in builders.iter_mut().zip(&values).zip(&types) {
            builder.append(*value, *ty == Type::Json);
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

/// Why a field's value is in the catch-all column.
enum Reason {
    /// Its column's type cannot hold it.
    Misfit(Type, Kind),
    /// It has no column.
    Unknown,
}

/// Counts one more value of `field` kept in the catch-all column; the first names the offset
/// and the reason.
fn keep(kept: &mut Vec<KeptInExtra>, field: &str, offset: u64, reason: impl FnOnce() -> String) {
    match kept.iter_mut().find(|k| k.field == field) {
        Some(k) => k.values += 1,
        None => kept.push(KeptInExtra {
            field: field.to_owned(),
            offset,
            values: 1,
            reason: reason(),
        }),
    }
}
