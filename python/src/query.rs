//! `xp_export.Query`: the library's query, built from keywords, and what it is read as.
//!
//! ```python
//! q = client.push_actions(campaign=245624, failed=True, since="2026-11-01", until="2026-11-02",
//!                         where=["device_id > 5"], select=[...], order="action_id DESC",
//!                         page_size=1000, concurrency=4, mode="offset")
//! ```
//! `since`/`until` take what `--since`/`--until` take (a date, a date-time, Unix seconds) and
//! `datetime`/`date` values; `where` what `--where` takes, one condition a string.

use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use xp_export::paginate::Progress;
use xp_export::query::Mode;
use xp_export::{Condition, RawRow, Summary};

use crate::errors;
use crate::rows::{AsyncRowIter, BatchIter, RowIter, summary_dict};

/// The keywords a query takes.
const KEYWORDS: &[&str] = &[
    "campaign",
    "failed",
    "since",
    "until",
    "where",
    "select",
    "order",
    "page_size",
    "concurrency",
    "mode",
    "max_rows",
    "start_offset",
    "start_after",
    "max_rps",
    "retry_budget",
    "reorder_window",
    "seam_check",
];

/// The reorder window of a query from Python, unless `reorder_window=` says otherwise: 16 MiB,
/// a quarter of the library's default. A Python consumer is slower than the API, so the
/// window fills with pages fetched ahead of it; 16 MiB still holds about 60 pages of 1,000
/// push actions ahead, enough to hide the round trips and a backoff of the page at the head,
/// and keeps a process reading batches near 100 MiB whatever the rows.
const REORDER_WINDOW: u64 = 16 << 20;

/// A query: iterate it for rows as dicts (`for`, `async for`), call [`Query::batches`] for
/// pyarrow record batches, or pass it to `xp_export.export`. Each iteration runs the query
/// anew; [`Query::summary`] is the latest one's.
#[pyclass(module = "xp_export", frozen)]
pub(crate) struct Query {
    pub(crate) inner: xp_export::Query<RawRow>,
    /// The latest iteration's summary, while it runs and after.
    progress: Arc<Mutex<Option<Progress>>>,
}

/// One value or a list of them (`order`).
#[derive(FromPyObject)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A time keyword as Unix seconds, converted by `xp_export._time`.
fn unix_seconds(name: &str, value: &Bound<'_, PyAny>) -> PyResult<i64> {
    let py = value.py();
    let convert = py.import("xp_export._time")?.getattr("unix_seconds")?;
    arg(
        name,
        &convert.call1((name, value))?,
        "a time in the range of Unix seconds",
    )
}

/// A keyword's value as `T`, or a `TypeError` (a `ValueError` for a number out of range)
/// that names the keyword and what it takes.
fn arg<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
    key: &str,
    value: &Bound<'py, PyAny>,
    takes: &str,
) -> PyResult<T> {
    value.extract::<T>().map_err(|e| {
        let e: PyErr = e.into();
        let message = format!(
            "{key}={} is not {takes}: {e}",
            value.repr().map_or_else(|_| "?".into(), |r| r.to_string())
        );
        match e.is_instance_of::<pyo3::exceptions::PyOverflowError>(value.py()) {
            true => pyo3::exceptions::PyValueError::new_err(message),
            false => PyTypeError::new_err(message),
        }
    })
}

impl Query {
    /// `query` with the keywords of `args` applied.
    pub(crate) fn new(
        q: xp_export::Query<RawRow>,
        args: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Query> {
        let mut q = q.reorder_window(REORDER_WINDOW);
        let (mut since, mut until) = (None, None);
        let (mut keyset, mut after, mut offset_given) = (false, false, false);
        for (key, value) in args.into_iter().flat_map(|d| d.iter()) {
            let key: String = key.extract()?;
            if value.is_none() {
                continue;
            }
            q = match key.as_str() {
                "campaign" => q.campaign(arg(&key, &value, "a campaign id (an integer >= 0)")?),
                "failed" => match arg::<bool>(&key, &value, "True or False")? {
                    true => q.failed(),
                    false => q,
                },
                "since" => {
                    let t = unix_seconds("since", &value)?;
                    since = Some(t);
                    q.since(t)
                }
                "until" => {
                    let t = unix_seconds("until", &value)?;
                    until = Some(t);
                    q.until(t)
                }
                "where" => {
                    let conditions: Vec<String> = value.extract().map_err(|_| {
                        PyTypeError::new_err(
                            "where= takes a list of conditions, e.g. [\"device_id > 5\"]",
                        )
                    })?;
                    for text in conditions {
                        let c: Condition = text.parse().map_err(|e| errors::parse(&e))?;
                        q = q.condition(c);
                    }
                    q
                }
                "select" => q.select(arg::<Vec<String>>(&key, &value, "a list of field names")?),
                "order" => match arg::<OneOrMany>(
                    &key,
                    &value,
                    "a term such as \"action_id DESC\", or a list of them",
                )? {
                    OneOrMany::One(term) => q.order(term),
                    OneOrMany::Many(terms) => terms.into_iter().fold(q, |q, t| q.order(t)),
                },
                "page_size" => {
                    q.page_size(arg(&key, &value, "a number of rows (an integer >= 1)")?)
                }
                "concurrency" => {
                    q.concurrency(arg(&key, &value, "a number of requests (an integer >= 1)")?)
                }
                "mode" => {
                    let mode: Mode = arg::<String>(&key, &value, "\"offset\" or \"keyset\"")?
                        .parse()
                        .map_err(|e| errors::parse(&e))?;
                    keyset = mode == Mode::Keyset;
                    q.mode(mode)
                }
                "max_rows" => q.max_rows(arg(&key, &value, "a number of rows (an integer >= 0)")?),
                "start_offset" => {
                    offset_given = true;
                    q.start_offset(arg(&key, &value, "an offset (an integer >= 0)")?)
                }
                "start_after" => {
                    after = true;
                    q.start_after(arg(&key, &value, "an action_id (an integer >= 0)")?)
                }
                "max_rps" => q.max_rps(arg(&key, &value, "requests a second (a number)")?),
                "retry_budget" => {
                    q.retry_budget(arg(&key, &value, "a number of retries (an integer >= 0)")?)
                }
                "reorder_window" => {
                    q.reorder_window(arg(&key, &value, "a number of bytes (an integer >= 0)")?)
                }
                "seam_check" => q.seam_check(arg(&key, &value, "True or False")?),
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unexpected keyword argument {other:?}: a query takes {}",
                        KEYWORDS.join(", ")
                    )));
                }
            };
        }
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err(errors::config(format!(
                "since ({since}) is not before until ({until}): the window [since, until) holds no row"
            )));
        }
        if after && !keyset && !offset_given {
            return Err(errors::config(
                "start_after= starts after a key in keyset mode (give mode=\"keyset\"), or, with \
                 start_offset=, names the key of the row before that offset; alone in offset \
                 mode it would be ignored"
                    .into(),
            ));
        }
        Ok(Query {
            inner: q,
            progress: Arc::default(),
        })
    }

    /// Remembers the progress of an iteration just started, for [`Query::summary`].
    fn started(&self, progress: Progress) {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner()) = Some(progress);
    }
}

#[pymethods]
impl Query {
    /// The rows, one dict each, as the API sent them (unknown fields kept).
    fn __iter__(&self) -> RowIter {
        let pages = self.inner.clone().raw_pages();
        self.started(pages.progress());
        RowIter::new(pages)
    }

    /// The rows for `async for`: the same rows as `for` (`xp_export._aio.AsyncRows`, over the
    /// native iterator).
    fn __aiter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pages = self.inner.clone().raw_pages();
        self.started(pages.progress());
        let native = Bound::new(py, AsyncRowIter::new(pages))?;
        py.import("xp_export._aio")?
            .getattr("AsyncRows")?
            .call1((native,))
    }

    /// The pages as `pyarrow.RecordBatch`es, one per page, in the columns a Parquet export of
    /// the query writes (typed for push actions; the catch-all JSON column `extra` last).
    fn batches(&self) -> BatchIter {
        let batches = xp_export::export::RecordBatches::new(self.inner.clone());
        self.started(batches.progress());
        BatchIter::new(batches)
    }

    /// The library's summary of the latest iteration, as a dict, while it runs or after (an
    /// empty one before any).
    fn summary(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let summary = match &*self.progress.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(progress) => progress.summary(),
            None => Summary::default(),
        };
        summary_dict(py, &summary)
    }

    /// The list model the query reads.
    #[getter]
    fn model(&self) -> String {
        self.inner.model().to_string()
    }

    fn __repr__(&self) -> String {
        format!(
            "Query(model={:?}, {})",
            self.inner.model(),
            self.inner.identity()
        )
    }
}
