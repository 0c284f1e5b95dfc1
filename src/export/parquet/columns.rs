//! A row group's rows into one Arrow record batch, with the schema they are written in.
//!
//! push-devices has a typed schema: its documented fields ([`push_devices::FIELDS`]) as Int64,
//! Timestamp (`create_time`, Unix seconds, UTC) and Utf8 columns; then, without `select`, a
//! column for each field the API sends but does not document (such as `platform`), found in
//! the first row group and typed by inference as other models' columns are. Other models'
//! columns are inferred from the rows ([`kind`] tells the rules), in order of first
//! appearance. Every model's last column, `extra` (Parquet JSON), is the catch-all: a JSON
//! object of the row's fields that have no column (first seen after the first row group, or
//! not selected) or whose value the column's type cannot hold exactly (a float in an integer
//! column, a number in a text column), each as sent; null when every field fits. Nothing is
//! dropped or changed, and the report counts each field kept there ([`KeptInExtra`]). The
//! first batch taken fixes the schema for the rest of the file.
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
use parquet::arrow::ArrowSchemaConverter;
use parquet::schema::types::SchemaDescriptor;
use serde::{Deserialize, Serialize};

use self::kind::{Kind, Type};
use self::layout::Layout;
use crate::export::report::KeptInExtra;
use crate::model::{RawRow, push_devices};

/// The Parquet columns of one export, and the rows of the row group being gathered.
#[derive(Debug)]
pub(crate) struct Columns {
    /// The columns but `extra`.
    layout: Layout,
    /// The name and type of the catch-all column; None only in an export resumed from an
    /// earlier build's checkpoint of a model it gave none.
    extra: Option<(String, Type)>,
    /// The fields with values in the catch-all column: how many, the first's offset, why.
    kept: Vec<KeptInExtra>,
    /// Whether a field the first batch carries without a column gets an inferred one: when
    /// there is no `select` (with one, a field not selected goes to `extra`).
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
    /// The fields with values in it so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    kept: Vec<KeptInExtra>,
}

impl Columns {
    /// For `model` with the user's `select` (None = all fields). push-devices: the typed schema,
    /// columns in FIELDS order, or in select's order (a selected name the typed schema does not
    /// know gets an inferred column, as for other models). Other models: columns inferred, in
    /// order of first appearance (select's order first when given). Without `select`, every
    /// field in the first batch gets a column (push-devices' undocumented fields after the
    /// documented ones). Then the catch-all column ([`Columns::extra_column`]): `extra`,
    /// prefixed with `_` until it differs from every column's name.
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
        let mut extra = String::from("extra");
        while layout.has(&extra) {
            extra.insert(0, '_');
        }
        Columns {
            layout,
            open: select.is_none(),
            extra: Some((extra, Type::Json)),
            kept: Vec::new(),
            fixed: false,
            rows: Vec::new(),
            bytes: 0,
        }
    }

    /// Continuing an export whose schema was already fixed by row groups written before (resume):
    /// `saved` is what [`Columns::fixed`] returned then. The saved schema decides the columns;
    /// `model` and `select` are the export's, which the checkpoint has checked are unchanged.
    pub(crate) fn resumed(model: &str, select: Option<&[String]>, saved: SavedSchema) -> Self {
        let _ = model;
        let mut layout = Layout::default();
        let mut extra = None;
        for (name, ty) in &saved.columns {
            if saved.extra.as_ref() == Some(name) {
                extra = Some((name.clone(), *ty));
            } else {
                layout.add(name, Some(*ty), false);
            }
        }
        Columns {
            layout,
            // The schema is fixed: this only says why a field without a column has none.
            open: select.is_none(),
            extra,
            kept: saved.kept,
            fixed: true,
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
            // A row's own field may be named `extra`: the catch-all column gives way.
            while let Some((name, _)) = extra.as_mut().filter(|(name, _)| layout.has(name)) {
                name.insert(0, '_');
            }
        }
        layout.settle();
        let columns = layout.arrow_fields(extra.as_ref().map(|(n, ty)| (n.as_str(), *ty)), false);
        let schema = Arc::new(Schema::new(columns));
        let mut kept = self.kept.clone();
        let unknown = match self.open {
            true => "first seen after the first row group fixed the schema",
            false => "not among the selected fields",
        };
        let batch = build::batch(
            &layout,
            extra.is_some(),
            &self.rows,
            schema,
            &mut kept,
            unknown,
        )?;
        self.layout = layout;
        self.extra = extra;
        self.kept = kept;
        self.fixed = true;
        self.rows.clear();
        self.bytes = 0;
        Ok(batch)
    }

    /// The fields with values in the catch-all column, an earlier run's included: how many
    /// values, the first one's offset, and why.
    pub(crate) fn kept(&self) -> &[KeptInExtra] {
        &self.kept
    }

    /// The Arrow schema as it stands: the columns known so far (fixed, typed, or selected;
    /// rows not yet taken are not read), a column not yet inferred as Utf8. For an empty
    /// result: a file with the schema and no rows. An inferred model without `select` has no
    /// column before its first batch.
    pub(crate) fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields(false)))
    }

    /// The Parquet schema of the columns as they stand: [`Columns::schema`]'s, with the JSON
    /// logical type on each Json column.
    pub(crate) fn parquet_schema(&self) -> Result<SchemaDescriptor, String> {
        let schema = Schema::new(self.fields(true));
        ArrowSchemaConverter::new()
            .convert(&schema)
            .map_err(|e| e.to_string())
    }

    /// The Arrow fields; with `marked`, Json columns carry the `arrow.json` extension type.
    fn fields(&self, marked: bool) -> arrow_schema::Fields {
        let extra = self.extra.as_ref().map(|(name, ty)| (name.as_str(), *ty));
        self.layout.arrow_fields(extra, marked)
    }

    /// The name of the catch-all column: `extra`, prefixed with `_` until it differs from
    /// every other column's name; None only in an export resumed from an earlier build's
    /// checkpoint of a model it gave none.
    pub(crate) fn extra_column(&self) -> Option<&str> {
        self.extra.as_ref().map(|(name, _)| name.as_str())
    }

    /// The schema once fixed by a batch taken, for the checkpoint; None before.
    pub(crate) fn fixed(&self) -> Option<SavedSchema> {
        let column = |c: &layout::Column| (c.name.clone(), c.ty.unwrap_or(Type::Utf8));
        let mut columns: Vec<_> = self.layout.columns.iter().map(column).collect();
        columns.extend(self.extra.clone());
        self.fixed.then(|| SavedSchema {
            columns,
            extra: self.extra.as_ref().map(|(name, _)| name.clone()),
            kept: self.kept.clone(),
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
