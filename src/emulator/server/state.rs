//! What a running emulator shares between connections: the data set behind its lock, the
//! settings requests read, the fault plan and the request log.

use std::io;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use crate::emulator::config::Config;
use crate::emulator::data::{Dataset, Record};
use crate::emulator::faults::FaultPlan;
use crate::emulator::lock::{read, write};
use crate::emulator::server::log::{LoggedRequest, RequestLog};
use crate::emulator::server::oauth::OAuthState;

/// Everything a running emulator shares between connections.
pub(crate) struct State {
    /// A page's query holds the read lock while it computes its rows, so a page always
    /// comes from one state; insertions take the write lock. (The data set is a length and
    /// a row function: holding it costs nothing per row.)
    dataset: RwLock<Dataset>,
    pub(crate) apptoken: String,
    pub(super) insert_per_request: usize,
    pub(super) max_limit: Option<usize>,
    pub(super) latency: Duration,
    pub(crate) faults: FaultPlan,
    pub(super) log: RequestLog,
    pub(crate) oauth: OAuthState,
}

impl State {
    /// Sets up the data set (in O(1): rows are computed when asked for) and everything else.
    pub(crate) async fn build(config: Config) -> io::Result<Arc<State>> {
        let Config {
            records,
            seed,
            apptoken,
            campaigns,
            insert_per_request,
            max_limit,
            latency,
            fault_rate,
            fault_kinds,
            client_id,
            client_secret,
            jwt_public_key_pem,
            token_lifetime,
            clock_ahead,
        } = config;
        let oauth = OAuthState::new(
            client_id,
            client_secret,
            jwt_public_key_pem.as_deref(),
            token_lifetime,
            clock_ahead,
        )?;
        Ok(Arc::new(State {
            dataset: RwLock::new(Dataset::new(records, seed, &campaigns)),
            apptoken,
            insert_per_request,
            max_limit,
            latency,
            faults: FaultPlan::new(seed, fault_rate, fault_kinds),
            log: RequestLog::default(),
            oauth,
        }))
    }

    /// The data set, read-locked: no insertion happens while the guard lives.
    pub(super) fn dataset(&self) -> RwLockReadGuard<'_, Dataset> {
        read(&self.dataset)
    }

    /// All records, in ascending `action_id` order, computed outside the lock.
    pub(crate) fn records(&self) -> Arc<Vec<Record>> {
        let snapshot = self.dataset().clone();
        Arc::new(snapshot.records())
    }

    /// The number of records.
    pub(crate) fn len(&self) -> usize {
        self.dataset().len()
    }

    /// Appends `n` new records.
    pub(crate) fn insert(&self, n: usize) {
        if n > 0 {
            write(&self.dataset).insert(n);
        }
    }

    /// How many requests arrived so far.
    pub(crate) fn requests(&self) -> u64 {
        self.log.len() as u64
    }

    /// A copy of the request log.
    pub(crate) fn request_log(&self) -> Vec<LoggedRequest> {
        self.log.entries()
    }
}
