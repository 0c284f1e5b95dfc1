//! `xp_export.Client`: the library's client, its credentials from keywords or, where none is
//! given, the environment the command line reads (`XTREMEPUSH_APPTOKEN`, or
//! `XTREMEPUSH_CLIENT_ID` with `XTREMEPUSH_CLIENT_SECRET`; `XTREMEPUSH_REGION`,
//! `XTREMEPUSH_API_URL`).

use std::time::Duration;

use pyo3::prelude::*;
use xp_export::RetryPolicy;
use xp_export::client::Region;

use crate::errors;
use pyo3::types::PyDict;

use crate::query::Query;

/// Where to set a credential, for the message of a client that has none.
const WHERE_TO_SET: &str = "give apptoken=..., or client_id=... with client_secret=... or \
     private_key=... (a PEM text), or set XTREMEPUSH_APPTOKEN, or XTREMEPUSH_CLIENT_ID with \
     XTREMEPUSH_CLIENT_SECRET";

/// A client of the Xtremepush external API. Its `repr` shows the API's URL, never a credential.
/// `max_retries` and `retry_max_delay` (seconds) change the library's retry policy of each page.
#[pyclass(module = "xp_export", frozen)]
pub(crate) struct Client {
    pub(crate) inner: xp_export::Client,
}

/// A variable of the environment, unless unset or empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A duration in seconds, refused unless finite and positive.
fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            errors::config(format!(
                "{name}={value} is not a positive number of seconds"
            ))
        })
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (*, apptoken=None, region=None, api_url=None, token_url=None,
        client_id=None, client_secret=None, private_key=None, timeout=None, connect_timeout=None,
        max_retries=None, retry_max_delay=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        apptoken: Option<String>,
        region: Option<String>,
        api_url: Option<String>,
        token_url: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        private_key: Option<String>,
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        max_retries: Option<u32>,
        retry_max_delay: Option<f64>,
    ) -> PyResult<Self> {
        let mut builder = xp_export::Client::builder();
        if let Some(region) = region.or_else(|| env("XTREMEPUSH_REGION")) {
            let region: Region = region.parse().map_err(|e| errors::parse(&e))?;
            builder = builder.region(region);
        }
        if let Some(url) = api_url.or_else(|| env("XTREMEPUSH_API_URL")) {
            builder = builder.api_url(url);
        }
        if let Some(url) = token_url {
            builder = builder.token_url(url);
        }
        let given = [
            apptoken.is_some(),
            client_secret.is_some(),
            private_key.is_some(),
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(errors::config(
                "give one credential: apptoken, client_secret or private_key".into(),
            ));
        }
        let client_id = client_id.or_else(|| env("XTREMEPUSH_CLIENT_ID"));
        let oauth_id = |what: &str| {
            client_id.clone().ok_or_else(|| {
                errors::config(format!(
                    "{what} needs client_id=... (or XTREMEPUSH_CLIENT_ID)"
                ))
            })
        };
        builder = if let Some(token) = apptoken {
            builder.apptoken(token)
        } else if let Some(secret) = client_secret {
            builder.oauth_client_credentials(oauth_id("client_secret")?, secret)
        } else if let Some(pem) = private_key {
            builder.oauth_jwt_bearer(oauth_id("private_key")?, pem)
        } else if let Some(token) = env("XTREMEPUSH_APPTOKEN") {
            builder.apptoken(token)
        } else if let Some(secret) = env("XTREMEPUSH_CLIENT_SECRET") {
            builder.oauth_client_credentials(oauth_id("XTREMEPUSH_CLIENT_SECRET")?, secret)
        } else {
            return Err(errors::config(format!("no credential: {WHERE_TO_SET}")));
        };
        if let Some(t) = timeout {
            builder = builder.timeout(seconds("timeout", t)?);
        }
        if let Some(t) = connect_timeout {
            builder = builder.connect_timeout(seconds("connect_timeout", t)?);
        }
        if max_retries.is_some() || retry_max_delay.is_some() {
            let mut policy = RetryPolicy::default();
            if let Some(n) = max_retries {
                policy = policy.with_max_retries(n);
            }
            if let Some(d) = retry_max_delay {
                let d = seconds("retry_max_delay", d)?;
                let base = d.min(policy.base_delay());
                policy = policy.with_max_delay(d).with_base_delay(base);
            }
            builder = builder.retry(policy);
        }
        let inner = builder.build().map_err(|e| errors::api(&e))?;
        Ok(Client { inner })
    }

    /// The push actions of campaigns (`list/push-devices`).
    #[pyo3(signature = (**query))]
    fn push_actions(&self, query: Option<&Bound<'_, PyDict>>) -> PyResult<Query> {
        Query::new(self.inner.list(xp_export::model::push_devices::NAME), query)
    }

    /// The rows of any list model (`list/<model>`), e.g. `"campaign"`.
    #[pyo3(signature = (model, **query))]
    fn list(&self, model: &str, query: Option<&Bound<'_, PyDict>>) -> PyResult<Query> {
        if model.is_empty()
            || !model
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(errors::config(format!(
                "{model:?} is not a list model's name"
            )));
        }
        Query::new(self.inner.list(model), query)
    }

    /// The API's URL requests go to.
    #[getter]
    fn api_url(&self) -> String {
        self.inner.api_url().to_string()
    }

    fn __repr__(&self) -> String {
        format!("Client(api_url={:?})", self.inner.api_url())
    }
}
