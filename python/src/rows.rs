//! The iterators over a query: rows as dicts (sync and asyncio) and pages as pyarrow record
//! batches. Each holds the library's stream: dropping the iterator cancels its requests.

use std::sync::{Arc, Mutex};

use arrow_pyarrow::ToPyArrow;
use futures::StreamExt;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use xp_export::export::RecordBatches;
use xp_export::paginate::{Page, Progress};
use xp_export::{Pages, RawRow, Summary};

use crate::errors;
use crate::wait::wait;

/// `summary` as a dict: the keys of the library's JSON summary.
pub(crate) fn summary_dict(py: Python<'_>, summary: &Summary) -> PyResult<Py<PyAny>> {
    let text = serde_json::to_string(summary).expect("a summary serialises");
    json_loads(py, text.as_bytes())
}

/// `json.loads(text)`: C speed, and every value as Python's JSON reader reads the NDJSON
/// export (big integers exact, fields in the server's order).
fn json_loads(py: Python<'_>, text: &[u8]) -> PyResult<Py<PyAny>> {
    let loads = py.import("json")?.getattr("loads")?;
    Ok(loads.call1((PyBytes::new(py, text),))?.unbind())
}

/// A page's rows as a list of dicts, read as one JSON array.
fn page_list<'py>(py: Python<'py>, page: &Page<RawRow>) -> PyResult<Bound<'py, PyList>> {
    let rows = page.rows();
    let mut text =
        Vec::with_capacity(rows.iter().map(|r| r.as_bytes().len() + 1).sum::<usize>() + 2);
    text.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        text.extend_from_slice(row.as_bytes());
    }
    text.push(b']');
    Ok(json_loads(py, &text)?
        .into_bound(py)
        .cast_into::<PyList>()?)
}

/// The iterator's state, unless another thread is reading it: a wait releases the GIL, so a
/// second reader must not block on the lock while holding the GIL the first needs back.
fn hold<T>(state: &Mutex<T>) -> PyResult<std::sync::MutexGuard<'_, T>> {
    match state.try_lock() {
        Ok(guard) => Ok(guard),
        Err(std::sync::TryLockError::Poisoned(p)) => Ok(p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(
            "this iterator is being read by another thread: give each thread its own",
        )),
    }
}

/// What to do with a page that could not be made Python objects: an interrupt (Ctrl-C, a
/// signal handler's exception) keeps it for the next call, so no row is lost to it; any other
/// failure (a number Python's `int` refuses, say) ends the iteration with a decode error that
/// names the page's offset and has the failure as its cause.
fn unconverted(py: Python<'_>, err: PyErr, offset: u64) -> (PyErr, bool) {
    if !err.is_instance_of::<pyo3::exceptions::PyException>(py) {
        return (err, true);
    }
    let raised = errors::decode(
        format!("the page at offset {offset} could not be read into Python: {err}"),
        offset,
    );
    raised.set_cause(py, Some(err));
    (raised, false)
}

/// Where a row iterator stands: the stream, the page taken from it and not yet made dicts,
/// and the dicts of the page being handed out. A page leaves the stream only into `raw`, and
/// `raw` only once its dicts are made: an interrupt at any moment loses no row.
pub(crate) struct RowState {
    /// `None` once the stream has ended or failed.
    pages: Option<Pages<RawRow>>,
    raw: Option<Page<RawRow>>,
    page: Option<Py<PyList>>,
    next: usize,
}

impl RowState {
    fn new(pages: Pages<RawRow>) -> Self {
        RowState {
            pages: Some(pages),
            raw: None,
            page: None,
            next: 0,
        }
    }

    /// The next row in hand (of the page being handed out, or of the page taken from the
    /// stream, made dicts now), if there is one.
    fn take(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            if let Some(page) = &self.page {
                let page = page.bind(py);
                if self.next < page.len() {
                    self.next += 1;
                    return Ok(Some(page.get_item(self.next - 1)?.unbind()));
                }
                self.page = None;
            }
            let Some(raw) = &self.raw else {
                return Ok(None);
            };
            match page_list(py, raw) {
                Ok(list) => {
                    self.page = Some(list.unbind());
                    self.next = 0;
                    self.raw = None;
                }
                Err(err) => {
                    let (err, keep) = unconverted(py, err, raw.offset());
                    if !keep {
                        self.raw = None;
                        self.pages = None;
                    }
                    return Err(err);
                }
            }
        }
    }

    /// What the stream gave: its next page taken in hand (`true`), its end (`false`), or its
    /// error.
    fn arrive(&mut self, next: Option<xp_export::Result<Page<RawRow>>>) -> PyResult<bool> {
        match next {
            Some(Ok(page)) => {
                self.raw = Some(page);
                Ok(true)
            }
            Some(Err(e)) => {
                self.pages = None;
                Err(errors::api(&e))
            }
            None => {
                self.pages = None;
                Ok(false)
            }
        }
    }
}

/// The rows of a query, one dict each: `for row in query`.
#[pyclass(module = "xp_export")]
pub(crate) struct RowIter {
    state: Mutex<RowState>,
    progress: Progress,
}

impl RowIter {
    pub(crate) fn new(pages: Pages<RawRow>) -> Self {
        RowIter {
            progress: pages.progress(),
            state: Mutex::new(RowState::new(pages)),
        }
    }
}

#[pymethods]
impl RowIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut state = hold(&self.state)?;
        loop {
            if let Some(row) = state.take(py)? {
                return Ok(Some(row));
            }
            let Some(pages) = state.pages.as_mut() else {
                return Ok(None);
            };
            // Interrupted, the wait drops the `next` future: nothing was taken from the stream.
            let next = wait(py, pages.next())?;
            if !state.arrive(next)? {
                return Ok(None);
            }
        }
    }

    /// The library's summary of this iteration so far, as a dict.
    fn summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        summary_dict(py, &self.progress.summary())
    }
}

/// The native half of `async for row in query` (`xp_export._aio.AsyncRows` is the other): a
/// row in hand is taken at once, with the GIL (`_take`); a page is fetched by an awaitable
/// that only puts it in hand (`_fetch`), so a cancelled `await` loses no row: the page is
/// either still in the stream or in hand.
#[pyclass(module = "xp_export")]
pub(crate) struct AsyncRowIter {
    state: Arc<tokio::sync::Mutex<RowState>>,
    progress: Progress,
}

impl AsyncRowIter {
    pub(crate) fn new(pages: Pages<RawRow>) -> Self {
        AsyncRowIter {
            progress: pages.progress(),
            state: Arc::new(tokio::sync::Mutex::new(RowState::new(pages))),
        }
    }
}

#[pymethods]
impl AsyncRowIter {
    /// The next row in hand, or `None` when a page must be fetched first (or a fetch that
    /// was cancelled is still putting one in hand).
    fn _take(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.state.try_lock() {
            Ok(mut state) => state.take(py),
            Err(_) => Ok(None),
        }
    }

    /// An awaitable that puts the stream's next page in hand: `True`, or `False` at its end.
    fn _fetch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let mut state = state.lock().await;
            // A cancelled fetch may have put a page in hand meanwhile: take that one first.
            if state.raw.is_some() || state.page.is_some() {
                return Ok(true);
            }
            let Some(pages) = state.pages.as_mut() else {
                return Ok(false);
            };
            let next = pages.next().await;
            // No await from here on: the page is in hand before the task can be dropped.
            state.arrive(next)
        })
    }

    /// The library's summary of this iteration so far, as a dict.
    fn summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        summary_dict(py, &self.progress.summary())
    }
}

/// Where a batch iterator stands: the stream (`None` once it has ended or failed), and the
/// batch taken from it and not yet handed to pyarrow (kept over an interrupt).
struct BatchState {
    batches: Option<RecordBatches>,
    held: Option<arrow_array::RecordBatch>,
}

/// The pages of a query as `pyarrow.RecordBatch`es: `for batch in query.batches()`.
#[pyclass(module = "xp_export")]
pub(crate) struct BatchIter {
    state: Mutex<BatchState>,
    progress: Progress,
}

impl BatchIter {
    pub(crate) fn new(batches: RecordBatches) -> Self {
        BatchIter {
            progress: batches.progress(),
            state: Mutex::new(BatchState {
                batches: Some(batches),
                held: None,
            }),
        }
    }
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let mut state = hold(&self.state)?;
        if state.held.is_none() {
            let Some(batches) = state.batches.as_mut() else {
                return Ok(None);
            };
            match wait(py, batches.next())? {
                Some(Ok(batch)) => state.held = Some(batch),
                Some(Err(e)) => {
                    state.batches = None;
                    return Err(errors::api(&e));
                }
                None => {
                    state.batches = None;
                    return Ok(None);
                }
            }
        }
        let batch = state.held.as_ref().expect("a batch in hand");
        match batch.to_pyarrow(py) {
            Ok(batch) => {
                state.held = None;
                Ok(Some(batch.unbind()))
            }
            Err(err) => {
                // The batch was delivered: the stream's next offset is past its rows.
                let rows = batch.num_rows() as u64;
                let offset = self.progress.summary().next_offset.saturating_sub(rows);
                let (err, keep) = unconverted(py, err, offset);
                if !keep {
                    state.held = None;
                    state.batches = None;
                }
                Err(err)
            }
        }
    }

    /// The library's summary of this iteration so far, as a dict.
    fn summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        summary_dict(py, &self.progress.summary())
    }
}
