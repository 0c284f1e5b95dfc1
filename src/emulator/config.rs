//! [`Config`]: how an emulator behaves (data set, credentials, page cap, latency, faults,
//! insertions), as a builder with documented defaults.

use std::time::Duration;

use crate::emulator::data::DEFAULT_CAMPAIGNS;
use crate::emulator::faults::Fault;

/// The apptoken the emulator accepts unless told otherwise.
pub const DEFAULT_APPTOKEN: &str = "emulator-token";

/// The OAuth 2.0 client ID the emulator accepts unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "emulator-client";

/// The OAuth 2.0 client secret the emulator accepts unless told otherwise.
pub const DEFAULT_CLIENT_SECRET: &str = "emulator-secret";

/// How long the emulator's access tokens last unless told otherwise: an hour.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

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
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) jwt_public_key_pem: Option<String>,
    pub(crate) token_lifetime: Duration,
    pub(crate) clock_ahead: Duration,
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
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            jwt_public_key_pem: None,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            clock_ahead: Duration::ZERO,
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

    /// The OAuth 2.0 client ID accepted by both grants (default `"emulator-client"`).
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The client secret the `client_credentials` grant accepts (default
    /// `"emulator-secret"`).
    #[must_use]
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = secret.into();
        self
    }

    /// The public key (PEM, RSA or EC) that `jwt-bearer` assertions must be signed for
    /// (default none: the grant is refused). [`Emulator::start`] fails on a key it cannot read.
    ///
    /// [`Emulator::start`]: crate::emulator::Emulator::start
    #[must_use]
    pub fn jwt_public_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.jwt_public_key_pem = Some(pem.into());
        self
    }

    /// How long an issued access token lasts (default an hour; `expires_in` says it in whole
    /// seconds). The API answers 401 to an expired one.
    #[must_use]
    pub fn token_lifetime(mut self, d: Duration) -> Self {
        self.token_lifetime = d;
        self
    }

    /// How far the emulator's clock runs ahead of the client's when it checks a `jwt-bearer`
    /// assertion's `exp` (default none): more than the assertion's lifetime, and every
    /// assertion arrives expired.
    #[must_use]
    pub fn clock_ahead(mut self, d: Duration) -> Self {
        self.clock_ahead = d;
        self
    }
}
