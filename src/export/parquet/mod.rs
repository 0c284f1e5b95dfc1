//! Parquet output: typed columns, written with the Apache Arrow crates.
//!
//! - columns: a page's rows into Arrow arrays: push-devices' typed schema, or one inferred
//!   from the rows and widened as they need; fields the schema does not know in one JSON
//!   text column.

mod columns;
