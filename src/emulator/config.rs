//! [`Config`]: how an emulator behaves (data set, credentials, page cap, latency, faults,
//! insertions), as a builder with documented defaults.

use std::time::Duration;

use crate::emulator::data::DEFAULT_CAMPAIGNS;
use crate::emulator::faults::Fault;

/// The apptoken the emulator accepts unless told otherwise.
pub const DEFAULT_APPTOKEN: &str = "emulator-token";

/// The seed of the emulator's data set unless told otherwise.
pub const DEFAULT_SEED: u64 = 1;

/// How the emulator behaves: data set, credentials, page cap, latency and faults.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) records: usize,
    pub(crate) seed: u64,
    pub(crate) apptoken: String,
    pub(crate) campaigns: Vec<u64>,
    pub(crate) max_limit: Option<usize>,
    pub(crate) latency: Duration,
    pub(crate) fault_rate: f64,
    pub(crate) fault_kinds: Vec<Fault>,
    pub(crate) insert_per_request: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            records: 10_000,
            seed: DEFAULT_SEED,
            apptoken: DEFAULT_APPTOKEN.to_owned(),
            campaigns: DEFAULT_CAMPAIGNS.to_vec(),
            max_limit: None,
            latency: Duration::ZERO,
            fault_rate: 0.0,
            fault_kinds: Fault::transient(),
            insert_per_request: 0,
        }
    }
}

impl Config {
    /// Size of the synthetic data set (default 10 000; at most 2^40, larger sizes are
    /// clamped). Memory does not grow with it: rows are computed from their index.
    #[must_use]
    pub fn records(mut self, n: usize) -> Self {
        self.records = n;
        self
    }

    /// Seed of the data set and of the random faults (default 1).
    #[must_use]
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }

    /// The only apptoken accepted (default `"emulator-token"`).
    #[must_use]
    pub fn apptoken(mut self, t: impl Into<String>) -> Self {
        self.apptoken = t.into();
        self
    }

    /// Campaign ids the records are spread over (default 245624 to 245627). An empty list
    /// means the default.
    #[must_use]
    pub fn campaigns(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        self.campaigns = ids.into_iter().collect();
        self
    }

    /// Silent cap on `limit`: pages never exceed `m` rows, with no error and no hint
    /// (default: no cap).
    #[must_use]
    pub fn max_limit(mut self, m: usize) -> Self {
        self.max_limit = Some(m);
        self
    }

    /// Delay added before every reply, faulted ones included (default none).
    #[must_use]
    pub fn latency(mut self, d: Duration) -> Self {
        self.latency = d;
        self
    }

    /// Probability (clamped to 0..=1) that a request without a scripted fault gets a random
    /// one (default 0).
    #[must_use]
    pub fn fault_rate(mut self, r: f64) -> Self {
        self.fault_rate = r;
        self
    }

    /// The kinds random faults are drawn from, uniformly with the seeded RNG (default
    /// [`Fault::transient`]). An empty list disables random faults.
    #[must_use]
    pub fn fault_kinds(mut self, kinds: impl IntoIterator<Item = Fault>) -> Self {
        self.fault_kinds = kinds.into_iter().collect();
        self
    }

    /// New push actions arriving while clients read (default 0): before answering each
    /// list request that gets a page and no fault, `n` new records are appended, as
    /// [`Emulator::insert`] does. Requests with a fault (scripted or random, including
    /// [`Fault::Truncated`] and [`Fault::Stall`]) and requests answered with an error
    /// envelope (apptoken, model, malformed query) add nothing. The page answered already
    /// contains the request's new rows.
    ///
    /// [`Emulator::insert`]: crate::emulator::Emulator::insert
    #[must_use]
    pub fn insert_per_request(mut self, n: usize) -> Self {
        self.insert_per_request = n;
        self
    }
}
