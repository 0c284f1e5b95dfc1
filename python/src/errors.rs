//! The package's exceptions, and the library's errors as them.
//!
//! `xp_export.Error` is the base of all, with `.kind` (the library's kind, e.g. `"refused"`,
//! `"server"`, `"busy"`), `.offset` (the page that failed: every row before it was delivered),
//! `.status` (the HTTP status or the envelope's code) and `.model`; its message is the one the
//! command line prints. A caller branches on the subclasses: `RefusedError` (the API refused
//! the credentials or the request: retrying will not help), `ConfigError` (the arguments or
//! the environment), `ApiError` (the API failed after every retry: run again, or resume an
//! export), `OutputError` (an export's output, checkpoint, state or store). No message holds a
//! secret: the library's errors hold none.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use xp_export::error::{ParseError, chain};
use xp_export::export::{ExportError, ExportErrorKind};
use xp_export::{Error, ErrorKind};

create_exception!(
    xp_export,
    XpError,
    PyException,
    "An export or a query failed."
);
create_exception!(
    xp_export,
    RefusedError,
    XpError,
    "The API refused the credentials or the request; retrying will not help."
);
create_exception!(
    xp_export,
    ConfigError,
    XpError,
    "The arguments or the environment are not usable: nothing was sent."
);
create_exception!(
    xp_export,
    ApiError,
    XpError,
    "The API failed after every retry: run again, or resume the export."
);
create_exception!(
    xp_export,
    OutputError,
    XpError,
    "An export's output, checkpoint, state or object store failed or refused."
);

/// Adds the exception classes to the module, `Error` the base.
pub(crate) fn add(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", py.get_type::<XpError>())?;
    m.add("RefusedError", py.get_type::<RefusedError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("ApiError", py.get_type::<ApiError>())?;
    m.add("OutputError", py.get_type::<OutputError>())?;
    Ok(())
}

/// What an exception says beside its message.
#[derive(Default)]
struct Fields<'a> {
    kind: &'a str,
    offset: Option<u64>,
    status: Option<u16>,
    model: Option<&'a str>,
}

/// The exception of class `new`, its message `message` and its fields set.
fn raise(new: fn(String) -> PyErr, message: String, fields: Fields<'_>) -> PyErr {
    let err = new(message);
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("kind", fields.kind);
        let _ = value.setattr("offset", fields.offset);
        let _ = value.setattr("status", fields.status);
        let _ = value.setattr("model", fields.model);
    });
    err
}

/// The class a stream error of `kind` is raised as.
fn class_of(kind: ErrorKind) -> fn(String) -> PyErr {
    match kind {
        ErrorKind::Refused => RefusedError::new_err,
        ErrorKind::Config => ConfigError::new_err,
        _ => ApiError::new_err,
    }
}

/// A stream's error (after its retries) as an exception.
pub(crate) fn api(e: &Error) -> PyErr {
    let fields = Fields {
        kind: e.kind().as_str(),
        offset: e.offset(),
        status: e.status(),
        model: e.model(),
    };
    raise(class_of(e.kind()), chain(e), fields)
}

/// A page the package could not make Python objects of, at `offset`: an `ApiError` of kind
/// `decode`, as a body the library could not read is.
pub(crate) fn decode(message: String, offset: u64) -> PyErr {
    let fields = Fields {
        kind: ErrorKind::Decode.as_str(),
        offset: Some(offset),
        ..Fields::default()
    };
    raise(ApiError::new_err, message, fields)
}

/// An argument the library refused to parse (a condition, a mode, a region).
pub(crate) fn parse(e: &ParseError) -> PyErr {
    config(e.to_string())
}

/// A configuration error of the package's own (an argument of the wrong kind, a missing
/// credential).
pub(crate) fn config(message: String) -> PyErr {
    let fields = Fields {
        kind: ErrorKind::Config.as_str(),
        ..Fields::default()
    };
    raise(ConfigError::new_err, message, fields)
}

/// An export's error as an exception: the stream's own for an API failure, else an
/// `OutputError` (a `ConfigError` for a query the export cannot run).
pub(crate) fn export(e: &ExportError) -> PyErr {
    if let Some(api_error) = e.api_error() {
        // The export's message says what was kept, beside the stream's error.
        let err = api(api_error);
        Python::attach(|py| {
            if let Ok(args) = pyo3::types::PyTuple::new(py, [chain(e)]) {
                let _ = err.value(py).setattr("args", args);
            }
        });
        return err;
    }
    let class = match e.kind() {
        ExportErrorKind::Query => ConfigError::new_err,
        _ => OutputError::new_err,
    };
    let fields = Fields {
        kind: e.kind().as_str(),
        offset: e.offset(),
        ..Fields::default()
    };
    raise(class, chain(e), fields)
}
