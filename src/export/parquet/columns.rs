//! A row group's rows into one Arrow record batch, with the schema they are written in.
//!
//! push-devices has a typed schema: its documented fields ([`push_devices::FIELDS`]) as Int64,
//! Timestamp (`create_time`, Unix seconds, UTC) and Utf8 columns; then, without `select`, a
//! column for each field the API sends but does not document (such as `platform`), found in
//! the first row group and typed by inference as other models' columns are; then one Utf8
//! column, `extra`, holding a JSON object of every field the schema has no column for (a field
//! first seen after the first row group), so nothing is dropped. Other models' columns are
//! inferred from the rows ([`kind`] tells the rules), in order of first appearance. The first
//! batch taken fixes the schema for the rest of the file: a later value that does not fit, or
//! (without `extra`) a field first seen then, is an error naming the field and the row's offset.
//!
//! Rows are kept as the server sent them until [`Columns::take_batch`], which reads each one
//! (twice for inferred columns: once to infer, once to build), cutting out each field's JSON
//! text without building a tree; `extra` keeps the fields in the row's order and their values
//! as sent (whitespace between tokens dropped).
mod build;
mod kind;
mod layout;
mod row;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use self::kind::{Kind, Type};
use self::layout::Layout;
use crate::model::{RawRow, push_devices};

/// The Parquet columns of one export, and the rows of the row group being gathered.
#[derive(Debug)]
pub(crate) struct Columns {
    /// The columns but `extra`.
    layout: Layout,
    /// The name of the column of unknown fields (push-devices), or None: every field has a
    /// column of its own.
    extra: Option<String>,
    /// Whether a field the first batch carries without a column gets an inferred one: always
    /// for inferred models; for push-devices when there is no `select` (with one, a field
    /// not selected goes to `extra`).
    open: bool,
    /// Whether a batch was taken: the schema can no longer change.
    fixed: bool,
    /// The rows of the row group being gathered, with their offsets in the export.
    rows: Vec<(u64, RawRow)>,
    /// Their JSON bytes.
    bytes: usize,
}

/// A fixed schema as the checkpoint keeps it: the columns' names and types, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SavedSchema {
    /// Every column, `extra` included: its name and type.
    columns: Vec<(String, Type)>,
    /// Which column holds the fields without a column of their own, if one does.
    extra: Option<String>,
}

impl Columns {
    /// For `model` with the user's `select` (None = all fields). push-devices: the typed schema,
    /// columns in FIELDS order, or in select's order (a selected name the typed schema does not
    /// know gets an inferred column, as for other models), then one nullable Utf8 column `extra`
    /// ([`Columns::extra_column`]) holding a JSON object of every field the schema has no column
    /// for (null when none). Other models: columns inferred, in order of first appearance
    /// (select's order first when given). Without `select`, push-devices' undocumented fields
    /// in the first batch get inferred columns after the documented ones.
    pub(crate) fn new(model: &str, select: Option<&[String]>) -> Self {
        let mut layout = Layout::default();
        let typed = model == push_devices::NAME;
        let all = push_devices::FIELDS.map(String::from);
        let names = match select {
            Some(names) => names,
            None if typed => &all[..],
            None => &[],
        };
        for name in names {
            match typed_type(name).filter(|_| typed) {
                Some(ty) => layout.add(name, Some(ty), false),
                None => layout.add(name, None, true),
            }
        }
        let extra = typed.then(|| {
            let mut name = String::from("extra");
            while layout.has(&name) {
                name.insert(0, '_');
            }
            name
        });
        Columns {
            layout,
            open: !typed || select.is_none(),
            extra,
            fixed: false,
            rows: Vec::new(),
            bytes: 0,
        }
    }

    /// Continuing an export whose schema was already fixed by row groups written before (resume):
    /// `saved` is what [`Columns::fixed`] returned then. The saved schema decides the columns;
    /// `model` and `select` are the export's, which the checkpoint has checked are unchanged.
    pub(crate) fn resumed(model: &str, select: Option<&[String]>, saved: SavedSchema) -> Self {
        let _ = (model, select);
        let mut layout = Layout::default();
        for (name, ty) in &saved.columns {
            if saved.extra.as_ref() != Some(name) {
                layout.add(name, Some(*ty), false);
            }
        }
        let (extra, fixed) = (saved.extra, true);
        Columns {
            layout,
            open: false,
            extra,
            fixed,
            rows: Vec::new(),
            bytes: 0,
        }
    }

    /// Buffers a page's rows for the row group being gathered. `offset` is the offset of the page's
    /// first row in the export (errors name it). Cheap: the rows are kept as they are (sharing
    /// their page's body) until [`Columns::take_batch`] reads them; only a row that is not a
    /// JSON object is refused here.
    pub(crate) fn push(&mut self, rows: &[RawRow], offset: u64) -> Result<(), String> {
        for (i, row) in rows.iter().enumerate() {
            let text = row.as_bytes();
            if text.trim_ascii_start().first() != Some(&b'{') {
                let (at, found) = (offset + i as u64, Kind::of_first_byte(text));
                return Err(format!(
                    "the row at offset {at} is not a JSON object: found {found}"
                ));
            }
        }
        self.rows.reserve(rows.len());
        for (i, row) in rows.iter().enumerate() {
            self.bytes += row.as_bytes().len();
            self.rows.push((offset + i as u64, row.clone()));
        }
        Ok(())
    }

    /// Rows buffered, for the row-group bound.
    pub(crate) fn buffered_rows(&self) -> usize {
        self.rows.len()
    }

    /// Approximate bytes buffered (the rows' JSON bytes), for the row-group bound.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// The buffered rows as one RecordBatch in the schema, which is fixed from then on (even
    /// when no row was buffered); the buffer is emptied. Errors name the field, the row (its
    /// offset in the export) and say why; after one, nothing has changed (rows still buffered,
    /// schema as it was).
    pub(crate) fn take_batch(&mut self) -> Result<RecordBatch, String> {
        let (mut layout, mut extra) = (self.layout.clone(), self.extra.clone());
        if !self.fixed && (self.open || layout.infers()) {
            layout.infer(&self.rows, self.open)?;
            // A row's own field may be named `extra`: the column of the others gives way.
            while let Some(name) = extra.as_mut().filter(|name| layout.has(name)) {
                name.insert(0, '_');
            }
        }
        layout.settle();
        let schema = Arc::new(Schema::new(layout.arrow_fields(extra.as_deref())));
        let batch = build::batch(&layout, extra.is_some(), &self.rows, schema)?;
        self.layout = layout;
        self.extra = extra;
        self.fixed = true;
        self.rows.clear();
        self.bytes = 0;
        Ok(batch)
    }

    /// The Arrow schema as it stands: the columns known so far (fixed, typed, or selected;
    /// rows not yet taken are not read), a column not yet inferred as Utf8. For an empty
    /// result: a file with the schema and no rows. An inferred model without `select` has no
    /// column before its first batch.
    pub(crate) fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.layout.arrow_fields(self.extra.as_deref())))
    }

    /// The name of the column holding each row's fields without a column of their own (a JSON
    /// object, null when none): `extra` for push-devices (prefixed with `_` until it differs
    /// from every selected name); None for other models, whose every field has a column.
    #[cfg(test)]
    pub(crate) fn extra_column(&self) -> Option<&str> {
        self.extra.as_deref()
    }

    /// The schema once fixed by a batch taken, for the checkpoint; None before.
    pub(crate) fn fixed(&self) -> Option<SavedSchema> {
        let column = |c: &layout::Column| (c.name.clone(), c.ty.unwrap_or(Type::Utf8));
        let mut columns: Vec<_> = self.layout.columns.iter().map(column).collect();
        columns.extend(self.extra.iter().map(|name| (name.clone(), Type::Utf8)));
        self.fixed.then(|| SavedSchema {
            columns,
            extra: self.extra.clone(),
        })
    }
}

/// The type of a documented push-devices field: text for `profile_id` and `error_message`,
/// a UTC timestamp for the times in Unix seconds (`create_time`, any `*_time`), integers for
/// the others; None for a field it does not document.
fn typed_type(name: &str) -> Option<Type> {
    match name {
        "profile_id" | "error_message" => Some(Type::Utf8),
        _ if name.ends_with("_time") && push_devices::FIELDS.contains(&name) => {
            Some(Type::Timestamp)
        }
        _ if push_devices::FIELDS.contains(&name) => Some(Type::Int64),
        _ => None,
    }
}
