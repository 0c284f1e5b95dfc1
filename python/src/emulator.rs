//! `xp_export.Emulator`: the library's local stand-in for the API, with fault injection, for
//! tests, notebooks and benchmarks. It serves on `127.0.0.1` from the package's runtime until
//! `shutdown()` or until it is dropped.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use xp_export::emulator::{Config, Fault};

use crate::client::Client;
use crate::errors;
use crate::wait::runtime;

/// A running emulator.
#[pyclass(module = "xp_export", frozen)]
pub(crate) struct Emulator {
    inner: Mutex<Option<xp_export::emulator::Emulator>>,
    base_url: String,
    apptoken: String,
}

/// Faults by name, as the command line's `emulate --faults` takes them.
fn faults(names: &[String]) -> PyResult<Vec<Fault>> {
    names
        .iter()
        .map(|n| {
            n.parse::<Fault>()
                .map_err(|e| errors::config(e.to_string()))
        })
        .collect()
}

impl Emulator {
    fn with<R>(&self, f: impl FnOnce(&xp_export::emulator::Emulator) -> R) -> PyResult<R> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .as_ref()
            .map(f)
            .ok_or_else(|| errors::config("the emulator was shut down".into()))
    }
}

#[pymethods]
impl Emulator {
    #[new]
    #[pyo3(signature = (*, records=10_000, seed=None, max_limit=None, latency=None,
        fault_rate=0.0, faults=None, apptoken=None, campaigns=None, insert_per_request=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        records: usize,
        seed: Option<u64>,
        max_limit: Option<usize>,
        latency: Option<f64>,
        fault_rate: f64,
        faults: Option<Vec<String>>,
        apptoken: Option<String>,
        campaigns: Option<Vec<u64>>,
        insert_per_request: usize,
    ) -> PyResult<Self> {
        let mut config = Config::default()
            .records(records)
            .fault_rate(fault_rate)
            .insert_per_request(insert_per_request);
        if let Some(seed) = seed {
            config = config.seed(seed);
        }
        if let Some(max) = max_limit {
            config = config.max_limit(max);
        }
        if let Some(latency) = latency {
            let latency = Duration::try_from_secs_f64(latency)
                .map_err(|_| errors::config(format!("latency={latency} is not seconds")))?;
            config = config.latency(latency);
        }
        if let Some(names) = faults {
            config = config.fault_kinds(self::faults(&names)?);
        }
        if let Some(token) = apptoken {
            config = config.apptoken(token);
        }
        if let Some(ids) = campaigns {
            config = config.campaigns(ids);
        }
        let emu = py
            .detach(|| runtime().block_on(xp_export::emulator::Emulator::start(config)))
            .map_err(|e| errors::config(format!("the emulator did not start: {e}")))?;
        Ok(Emulator {
            base_url: emu.base_url(),
            apptoken: emu.apptoken().to_string(),
            inner: Mutex::new(Some(emu)),
        })
    }

    /// The API's URL, as `api_url=` takes it.
    #[getter]
    fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The apptoken it accepts.
    #[getter]
    fn apptoken(&self) -> &str {
        &self.apptoken
    }

    /// A client of this emulator, with its apptoken.
    fn client(&self) -> PyResult<Client> {
        let inner = xp_export::Client::builder()
            .api_url(self.base_url.clone())
            .apptoken(self.apptoken.clone())
            .build()
            .map_err(|e| errors::api(&e))?;
        Ok(Client { inner })
    }

    /// How many list requests it answered.
    #[getter]
    fn requests(&self) -> PyResult<u64> {
        self.with(|e| e.requests())
    }

    /// The list requests it answered, in order: `offset`, `limit`, `status`, `rows`, `fault`.
    fn request_log<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let log = self.with(|e| e.request_log())?;
        log.into_iter()
            .map(|r| {
                let d = PyDict::new(py);
                d.set_item("offset", r.offset)?;
                d.set_item("limit", r.limit)?;
                d.set_item("status", r.status)?;
                d.set_item("rows", r.rows)?;
                d.set_item("fault", r.fault.map(|f| format!("{f:?}")))?;
                Ok(d)
            })
            .collect()
    }

    /// The faults to answer the next requests with, one each, by name (`"reset"`, `"500"`, …).
    fn inject(&self, faults: Vec<String>) -> PyResult<()> {
        let faults = self::faults(&faults)?;
        self.with(|e| e.inject(faults))
    }

    /// Adds `n` new push actions, as if they arrived during an export.
    fn insert(&self, n: usize) -> PyResult<()> {
        self.with(|e| e.insert(n))
    }

    /// Stops the server.
    fn shutdown(&self, py: Python<'_>) {
        let emu = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(emu) = emu {
            py.detach(|| runtime().block_on(emu.shutdown()));
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&self, py: Python<'_>, exc_type: Py<PyAny>, exc: Py<PyAny>, tb: Py<PyAny>) {
        let _ = (exc_type, exc, tb);
        self.shutdown(py);
    }

    fn __repr__(&self) -> String {
        format!("Emulator(base_url={:?})", self.base_url)
    }
}
