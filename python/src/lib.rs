//! The Python package `xp_export`: its native module, `xp_export._native`.
//!
//! Everything here calls the library (`xp-export`), never the command line: a [`Client`] makes
//! [`Query`]s, whose rows come as dicts (sync or `async for`), whose pages come as pyarrow
//! record batches, and which [`export`] writes to any output the command line takes.
//!
//! - wait: the one tokio runtime, and waiting on it with the GIL released and Ctrl-C heard;
//! - errors: the exception classes and the library's errors as exceptions;
//! - client: `Client`, its credentials from keywords or the environment;
//! - query: `Query`, its keywords into the library's query;
//! - rows: the iterators over a query's rows and batches, and its summary;
//! - export: `export()`, the export job;
//! - emulator: `Emulator`, the library's stand-in for the API (tests, benchmarks).
//!
//! Each uses only modules later in this list but `errors` and `wait`, which use none.

mod client;
#[cfg(feature = "emulator")]
mod emulator;
mod errors;
mod export;
mod query;
mod rows;
mod wait;

use pyo3::prelude::*;

/// The native module: the classes and functions `xp_export` re-exports.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<client::Client>()?;
    m.add_class::<query::Query>()?;
    m.add_class::<rows::RowIter>()?;
    m.add_class::<rows::AsyncRowIter>()?;
    m.add_class::<rows::BatchIter>()?;
    m.add_function(wrap_pyfunction!(export::export, m)?)?;
    #[cfg(feature = "emulator")]
    m.add_class::<emulator::Emulator>()?;
    errors::add(py, m)?;
    Ok(())
}
