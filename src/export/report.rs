//! What a finished export did: [`Report`], and the counts it is made of.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Target;
use super::lock::Tally;
use crate::model::RawRow;
use crate::paginate::{Page, Summary};

/// What a finished export did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report {
    /// What the stream did in this run.
    pub summary: Summary,
    /// Rows in the output, rows written by an earlier interrupted run included (this run's
    /// alone are [`Summary::rows`]).
    pub rows_in_output: u64,
    /// Where this run resumed an earlier one, if it did.
    pub resumed_at: Option<u64>,
    /// The file written, for a file export.
    pub path: Option<PathBuf>,
    /// Fields the rows carried that the CSV has no column for.
    pub left_out_fields: Vec<String>,
    /// How long this run took.
    pub elapsed: Duration,
    /// `--resume` found the output already complete: nothing was done. Then
    /// [`rows_in_output`](Self::rows_in_output) and [`earlier_end`](Self::earlier_end) are
    /// those the finished export recorded, where it did (see [`rows_known`](Self::rows_known)).
    pub already_complete: bool,
    /// False only for an output found already complete whose record, written by an earlier
    /// build, does not count its rows: [`rows_in_output`](Self::rows_in_output) is then 0,
    /// not the output's count.
    pub rows_known: bool,
    /// An output found already complete: how the export that finished it ended, in words
    /// (e.g. `short page of 345 rows at offset 2000`), where its record says.
    pub earlier_end: Option<String>,
    /// With [`Export::count_new_after`](super::Export::count_new_after): this run's rows
    /// whose `action_id` is above the key.
    pub rows_new: Option<u64>,
    /// With [`Export::count_new_after`](super::Export::count_new_after): this run's rows at
    /// or below the key (read again).
    pub rows_reread: Option<u64>,
    /// A Parquet export: what the file holds.
    pub parquet: Option<ParquetReport>,
    /// An object export: the object's URL, size and ETag.
    #[cfg(feature = "object-store")]
    pub object: Option<super::object::ObjectReport>,
    /// String values that held a lone UTF-16 surrogate, which no output can hold, stored with
    /// U+FFFD in its place: how many, an earlier run's included. Not zero means the output
    /// differs from what the server sent.
    pub values_replaced: u64,
    /// The first of them this run replaced (at most 10), by field and offset.
    pub replaced_values: Vec<ReplacedValue>,
}

/// A string value stored with U+FFFD in place of a lone UTF-16 surrogate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ReplacedValue {
    /// The row's field holding it (the top-level one, for a value nested in it).
    pub field: String,
    /// The row's offset in the export.
    pub offset: u64,
}

/// What a finished Parquet file holds, besides its rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ParquetReport {
    /// Row groups in the file.
    pub row_groups: u64,
    /// The file's size.
    pub bytes: u64,
    /// The columns' compression, e.g. `zstd(3)`.
    pub compression: String,
    /// The fields with values in the catch-all column (`extra`) rather than a column of their
    /// own, an earlier run's included: values a column's type could not hold exactly, fields
    /// first seen after the first row group fixed the schema, fields not selected.
    pub kept_in_extra: Vec<KeptInExtra>,
    /// The name of that column: `extra`, or `_extra` (and so on) when a row has a field of
    /// that name; None only in a file begun by an earlier build for a model it gave none.
    pub extra_column: Option<String>,
}

/// A field with values in a Parquet file's catch-all column (`extra`), each as sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct KeptInExtra {
    /// The row's field.
    pub field: String,
    /// The offset of the first row with such a value.
    pub offset: u64,
    /// How many values.
    pub values: u64,
    /// Why the first one is there: "expected an integer, found a float", or "first seen
    /// after the first row group fixed the schema".
    pub reason: String,
}

impl Report {
    /// `--resume` of an export that had already finished: nothing done. The rows, the end,
    /// where it ended, its warnings, values replaced and (for Parquet) what the file holds
    /// are those its record kept.
    pub(super) fn already_complete(
        target: &Target,
        started: Instant,
        tally: Option<Tally>,
        made: super::sink::Made,
    ) -> Report {
        let _ = &made;
        let summary = tally.as_ref().map(Tally::summary).unwrap_or_default();
        let parquet = tally.as_ref().and_then(|t| t.parquet.clone());
        let values_replaced = tally.as_ref().map_or(0, |t| t.values_replaced);
        let replaced_values = tally
            .as_ref()
            .map_or_else(Vec::new, |t| t.replaced_values.clone());
        Report {
            summary,
            rows_in_output: tally.as_ref().map_or(0, |t| t.rows),
            rows_known: tally.is_some(),
            earlier_end: tally.and_then(|t| t.end),
            resumed_at: None,
            path: match target {
                Target::File(path) => Some(path.clone()),
                _ => None,
            },
            left_out_fields: Vec::new(),
            elapsed: started.elapsed(),
            already_complete: true,
            rows_new: None,
            rows_reread: None,
            parquet,
            #[cfg(feature = "object-store")]
            object: made.object,
            values_replaced,
            replaced_values,
        }
    }
}

/// How many of the page's rows have an `action_id` above `key`; a row whose key is not known
/// counts as new.
pub(super) fn rows_after(page: &Page<RawRow>, key: u64) -> u64 {
    let n = page.rows().len();
    let Some(keys) = &page.keys else {
        return n as u64;
    };
    (0..n)
        .filter(|&i| keys.key(i).is_none_or(|k| k > key))
        .count() as u64
}
