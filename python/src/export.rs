//! `xp_export.export(query, output, ...)`: the library's export job, to any output the command
//! line's `-o` takes (a file, `-`, `s3://`, `gs://`, `az://`, `file://`), in the format its
//! name says unless `format=` says otherwise. Returns what the export did, as a dict.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use xp_export::export::{Export, Format, Report, Target};

use crate::errors;
use crate::query::Query;
use crate::rows::summary_dict;
use crate::wait::{runtime, wait};

/// How long a stopped export may take to save its checkpoint and end before it is dropped.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs the export of `query` to `output` and returns its report: `rows` (in the output,
/// an earlier interrupted run's included), `rows_this_run`, `complete`, `resumed_at`,
/// `already_complete`, `path` or `object` (URL, size, ETag), `elapsed_seconds`, `warnings`,
/// `left_out_fields` (fields a CSV has no column for), and `summary` (the stream's). Ctrl-C
/// stops it after the page being written, its checkpoint saved (`resume=True` continues it),
/// and raises `KeyboardInterrupt`; a second Ctrl-C, or five seconds without a page boundary,
/// drops it where it stands (the last checkpoint stays).
#[pyfunction]
#[pyo3(signature = (query, output, *, format=None, resume=false, restart=false, checkpoint_every=None))]
pub(crate) fn export(
    py: Python<'_>,
    query: &Query,
    output: &str,
    format: Option<&str>,
    resume: bool,
    restart: bool,
    checkpoint_every: Option<f64>,
) -> PyResult<Py<PyAny>> {
    let (target, implied) = Target::parse(output).map_err(|e| errors::export(&e))?;
    let format = match format {
        Some(name) => name.parse::<Format>().map_err(errors::config)?,
        None => match (&target, implied) {
            (_, Some(format)) => format,
            (Target::Stdout, None) => Format::Ndjson,
            _ => {
                return Err(errors::config(format!(
                    "{output:?} has no extension that names a format: give format=\"ndjson\", \
                     \"csv\", \"json\" or \"parquet\""
                )));
            }
        },
    };
    let mut job = Export::new(query.inner.clone(), format, target)
        .resume(resume)
        .restart(restart);
    if let Some(every) = checkpoint_every {
        let every = Duration::try_from_secs_f64(every).map_err(|_| {
            errors::config(format!(
                "checkpoint_every={every} is not a number of seconds"
            ))
        })?;
        job = job.checkpoint_every(every);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = runtime().spawn(async move {
        let stopped = async move {
            let _ = stopped.await;
        };
        job.run(stopped, |_, _| {}).await
    });
    let abort = running.abort_handle();
    let mut running = std::pin::pin!(running);
    let report = match wait(py, &mut running) {
        Ok(done) => done,
        Err(interrupt) => {
            // Ctrl-C: the export saves its checkpoint at its next step and stops, then the
            // interrupt is raised. A second Ctrl-C, or a step that does not come within
            // STOP_GRACE (a store retrying, an output nobody reads), drops the export where
            // it stands: what its last checkpoint saved stays for `resume=True`, as after a
            // crash.
            let _ = stop.send(());
            let grace = async {
                let _ = tokio::time::timeout(STOP_GRACE, &mut running).await;
            };
            let _ = wait(py, grace);
            abort.abort();
            return Err(interrupt);
        }
    };
    let report = report
        .map_err(|e| errors::config(format!("the export's task failed: {e}")))?
        .map_err(|e| errors::export(&e))?;
    report_dict(py, &report)
}

/// What a finished export did, as a dict.
fn report_dict(py: Python<'_>, report: &Report) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    d.set_item("rows", report.rows_in_output)?;
    d.set_item("rows_this_run", report.summary.rows)?;
    d.set_item(
        "complete",
        report.summary.is_complete() || report.already_complete,
    )?;
    d.set_item("already_complete", report.already_complete)?;
    d.set_item("resumed_at", report.resumed_at)?;
    d.set_item(
        "path",
        report.path.as_ref().map(|p| p.display().to_string()),
    )?;
    let object = match &report.object {
        Some(o) => {
            let object = PyDict::new(py);
            object.set_item("url", &o.url)?;
            object.set_item("bytes", o.bytes)?;
            object.set_item("etag", &o.etag)?;
            Some(object)
        }
        None => None,
    };
    d.set_item("object", object)?;
    d.set_item("elapsed_seconds", report.elapsed.as_secs_f64())?;
    let mut warnings = report.summary.warnings();
    if !report.left_out_fields.is_empty() {
        warnings.push(format!(
            "the CSV has no column for fields first seen after its header: {} (NDJSON, JSON \
             and Parquet keep every field)",
            report.left_out_fields.join(", ")
        ));
    }
    d.set_item("warnings", warnings)?;
    d.set_item("left_out_fields", &report.left_out_fields)?;
    d.set_item("values_replaced", report.values_replaced)?;
    d.set_item("summary", summary_dict(py, &report.summary)?)?;
    Ok(d.into_any().unbind())
}
