//! A row group's rows into one Arrow record batch, with the schema they are written in.
//!
//! Rows are kept as the server sent them; each is read by cutting out each field's JSON text
//! without building a tree, so `extra` can keep the fields in the row's order and their
//! values as sent.

// Until the batches are built from them and the Parquet writer uses it.
#![allow(dead_code)]

mod kind;
mod row;
