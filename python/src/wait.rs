//! The one tokio runtime the package runs the library on, and waiting on it from Python: with
//! the GIL released (other Python threads keep running) and Ctrl-C heard within a tenth of a
//! second.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use pyo3::prelude::*;

/// How often a wait wakes to let Python run its signal handlers.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The runtime every request runs on: pyo3-async-runtimes' multi-threaded one, shared with
/// `async for`.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Runs `future` to its end on the runtime, the GIL released. Every [`SIGNAL_CHECK`] it takes
/// the GIL back to run Python's signal handlers: a `KeyboardInterrupt` (or any exception a
/// handler raises) drops the future, which cancels its requests, and is raised.
pub(crate) fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let mut future = pin!(future);
    loop {
        let done = py.detach(|| {
            runtime().block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut future).await })
        });
        match done {
            Ok(output) => return Ok(output),
            Err(_) => py.check_signals()?,
        }
    }
}
