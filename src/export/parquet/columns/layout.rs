//! The columns by name and type, and the pass over a row group that infers the types of the
//! inferred ones.

use std::collections::HashMap;

use arrow_schema::extension::Json;
use arrow_schema::{Field, Fields};

use super::kind::{Kind, Type};
use super::row;
use crate::model::RawRow;

/// One column: its name and type. An inferred column's type is `None` while it has seen only
/// nulls, and widens with the values it sees until the schema is fixed.
#[derive(Clone, Debug)]
pub(super) struct Column {
    pub(super) name: String,
    pub(super) ty: Option<Type>,
    pub(super) inferred: bool,
}

/// The columns in order, and where each name is.
#[derive(Clone, Debug, Default)]
pub(super) struct Layout {
    pub(super) columns: Vec<Column>,
    index: HashMap<String, usize>,
}

impl Layout {
    /// Adds a column at the end, unless one has that name already.
    pub(super) fn add(&mut self, name: &str, ty: Option<Type>, inferred: bool) {
        if !self.index.contains_key(name) {
            self.index.insert(name.to_owned(), self.columns.len());
            let name = name.to_owned();
            self.columns.push(Column { name, ty, inferred });
        }
    }

    /// Whether a column has this name.
    pub(super) fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Whether some column's type is still to be inferred.
    pub(super) fn infers(&self) -> bool {
        self.columns.iter().any(|c| c.inferred)
    }

    /// Where the column `name`, the field at `pos` in its row, is. Rows tend to list their
    /// fields in the same order, so the column found at `pos` in the row before is tried first,
    /// before the map.
    pub(super) fn find(&self, name: &str, pos: usize, hints: &mut Vec<usize>) -> Option<usize> {
        if let Some(&i) = hints.get(pos)
            && self.columns.get(i).is_some_and(|c| c.name == name)
        {
            return Some(i);
        }
        let found = self.index.get(name).copied();
        if let Some(i) = found {
            if hints.len() <= pos {
                hints.resize(pos + 1, usize::MAX);
            }
            hints[pos] = i;
        }
        found
    }

    /// Reads the buffered rows to widen the inferred columns' types; with `open`, a field
    /// without a column gets an inferred one at the end (otherwise it is left to `extra`).
    pub(super) fn infer(&mut self, rows: &[(u64, RawRow)], open: bool) -> Result<(), String> {
        let (mut fields, mut hints) = (row::Fields::new(), Vec::new());
        for (offset, raw) in rows {
            row::fields(raw.as_bytes(), &mut fields).map_err(|e| invalid(*offset, &e))?;
            for (pos, (name, value)) in fields.iter().enumerate() {
                let i = match self.find(name, pos, &mut hints) {
                    Some(i) => i,
                    None if open => {
                        self.add(name, None, true);
                        self.columns.len() - 1
                    }
                    None => continue,
                };
                let column = &mut self.columns[i];
                if column.inferred {
                    column.ty = Type::widen(column.ty, &Kind::of(value));
                }
            }
        }
        Ok(())
    }

    /// Fixes the types: a column that saw only nulls is Utf8.
    pub(super) fn settle(&mut self) {
        for column in &mut self.columns {
            column.ty = Some(column.ty.unwrap_or(Type::Utf8));
            column.inferred = false;
        }
    }

    /// The Arrow fields, all nullable, then `extra` (a column of `extra_type`) when named.
    /// With `marked`, a Json column carries the `arrow.json` extension type, from which the
    /// Parquet schema gets its JSON logical type; the Arrow schema written in the file and the
    /// batches have none (polars, as of 1.17, cannot read a file whose Arrow schema has an
    /// extension type, and reads the logical type alone as text).
    pub(super) fn arrow_fields(&self, extra: Option<(&str, Type)>, marked: bool) -> Fields {
        let field = |name: &str, ty: Type| {
            let field = Field::new(name, ty.data_type(), true);
            match ty {
                Type::Json if marked => field.with_extension_type(Json::default()),
                _ => field,
            }
        };
        let column = |c: &Column| field(&c.name, c.ty.unwrap_or(Type::Utf8));
        let extra = extra.map(|(name, ty)| field(name, ty));
        self.columns.iter().map(column).chain(extra).collect()
    }
}

/// The error for a row that is not a JSON object (or not JSON).
pub(super) fn invalid(offset: u64, e: &serde_json::Error) -> String {
    format!("the row at offset {offset} is not a JSON object: {e}")
}

/// The error for a value that does not fit its column.
pub(super) fn misfit(name: &str, offset: u64, ty: Type, found: &Kind) -> String {
    let why = why_misfit(ty, found);
    format!("field {name:?} of the row at offset {offset}: {why}")
}

/// Why a value of `found` does not fit a column of `ty`: "expected an integer, found a float".
pub(super) fn why_misfit(ty: Type, found: &Kind) -> String {
    let found = match (ty, found) {
        (Type::Timestamp, Kind::Int(_)) => "an integer beyond the millisecond timestamp range",
        (Type::Float64, Kind::Int(_)) => "an integer a float cannot hold exactly",
        (_, kind) => kind.name(),
    };
    format!("expected {}, found {found}", ty.expected())
}

/// The error for a field that has no column once the schema is fixed.
pub(super) fn unknown(name: &str, offset: u64) -> String {
    format!(
        "field {name:?} of the row at offset {offset}: not in the schema fixed by the first row \
         group; a Parquet file has one schema (select the fields to export, or export to NDJSON)"
    )
}
