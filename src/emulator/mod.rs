//! A local stand-in for the Xtremepush external API's `list/push-devices` method, with
//! fault injection.
//!
//! It serves `POST /api/external/list/push-devices` over HTTP/1.1 from a deterministic,
//! seeded synthetic data set, understands `condition`, `select`, `order`, `limit` and
//! `offset`, answers in the API's envelope, and can inject the failures a client must
//! survive (5xx, HTML error pages, 429/503 with `Retry-After`, resets, truncated bodies,
//! HTTP-200 failure envelopes, stalls). New push actions can arrive while a client pages
//! through ([`Config::insert_per_request`], [`Emulator::insert`]), to check that exports
//! neither duplicate nor miss rows.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use xp_export::emulator::{Config, Emulator, Fault};
//! let emu = Emulator::start(Config::default().records(1_000).max_limit(500)).await?;
//! emu.inject([Fault::RateLimited(None), Fault::Reset]);
//! let url = format!("{}/list/push-devices", emu.base_url());
//! // POST {"apptoken": emu.apptoken(), "limit": 100} to `url` …
//! # let _ = url; Ok(())
//! # }
//! ```
//!
//! # Testing against the emulator
//! The `emulator` feature is a stand-in for the API on `127.0.0.1`, in-process, with faults on
//! demand. A crate whose own build needs neither the emulator nor the CLI can take it for its
//! tests alone:
//! ```toml
//! [dependencies]
//! xp-export = { version = "0.1", default-features = false }
//!
//! [dev-dependencies]
//! xp-export = { version = "0.1", default-features = false, features = ["emulator"] }
//! tokio = { version = "1", features = ["macros", "rt"] }
//! ```
//! ```
//! use futures::TryStreamExt;
//! use xp_export::Client;
//! use xp_export::emulator::{Config, Emulator, Fault};
//!
//! // In a `#[tokio::test] async fn` returning `Result<(), Box<dyn std::error::Error>>`:
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::default()
//!     .records(1_000)
//!     .fault_rate(0.2) // one request in five fails, and is retried
//!     .fault_kinds([Fault::Reset, Fault::InternalError]);
//! let emulator = Emulator::start(config).await?; // on 127.0.0.1, a free port
//! let client = Client::builder()
//!     .api_url(emulator.base_url())
//!     .apptoken(emulator.apptoken())
//!     .build()?;
//! let rows: Vec<_> = client.push_actions().page_size(100).stream().try_collect().await?;
//! assert_eq!(rows.len(), 1_000);
//! # Ok(()) }
//! ```
//!

mod config;
mod data;
mod envelope;
mod faults;
mod lock;
mod query;
mod server;

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    Config, DEFAULT_APPTOKEN, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_SEED,
    DEFAULT_TOKEN_LIFETIME,
};
pub use data::{DEFAULT_CAMPAIGNS, ERROR_MESSAGES, MAX_RECORDS, Record};
pub use faults::{Fault, ParseFaultError, RetryAfter};
pub use server::LoggedRequest;

use server::State;

/// A running emulator. Dropping it stops the server: the listener is closed and open
/// connections are cut.
pub struct Emulator {
    state: Arc<State>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .field("records", &self.state.len())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Serves the seeded data set on `127.0.0.1` with an OS-chosen port, in a spawned tokio
    /// task. Starting takes the same time for any number of records: rows are computed
    /// from their index when a page asks for them.
    pub async fn start(config: Config) -> io::Result<Emulator> {
        Emulator::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Like [`Emulator::start`], on a given address.
    pub async fn bind(addr: SocketAddr, config: Config) -> io::Result<Emulator> {
        let state = State::build(config).await?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(Emulator {
            state,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base, e.g. `http://127.0.0.1:PORT/api/external`; the method URL is
    /// `{base_url}/list/push-devices`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api/external", self.addr)
    }

    /// The apptoken the server accepts.
    pub fn apptoken(&self) -> &str {
        &self.state.apptoken
    }

    /// The OAuth 2.0 client ID both grants accept.
    pub fn client_id(&self) -> &str {
        &self.state.oauth.client_id
    }

    /// The OAuth 2.0 client secret the `client_credentials` grant accepts.
    pub fn client_secret(&self) -> &str {
        &self.state.oauth.client_secret
    }

    /// The token endpoint's URL, e.g. `http://127.0.0.1:PORT/api/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("http://{}/api/oauth/token", self.addr)
    }

    /// How many token requests arrived (they count in [`Emulator::requests`] too).
    pub fn token_requests(&self) -> u64 {
        self.state.oauth.requests()
    }

    /// Expires every access token issued so far: the next request with one gets a 401.
    pub fn expire_tokens(&self) {
        self.state.oauth.expire_all();
    }

    /// The whole data set, in ascending `action_id` order (newest last).
    ///
    /// The emulator holds no rows (each is computed from its index when a page needs it),
    /// so this builds every [`Record`] on each call: time and memory in proportion to the
    /// data set (about 150 bytes a record). Tests call it on small data sets; on large ones,
    /// ask the server for the rows you need instead. Later insertions
    /// ([`Emulator::insert`], [`Config::insert_per_request`]) do not change a returned
    /// vector.
    pub fn records(&self) -> Arc<Vec<Record>> {
        self.state.records()
    }

    /// Appends `n` new push actions at the head of the data set (newest first in the
    /// default order), as a campaign that keeps sending would.
    ///
    /// They are the seed's next rows, so they are deterministic for the seed and look
    /// like the generated ones: `action_id`s above every existing one (with the same kind
    /// of gaps), `create_time`s not below the newest one, campaign ids from
    /// [`Config::campaigns`] and the same distributions of errors, messages and platforms.
    /// (Generating `N` records and inserting `n` gives the same records as generating
    /// `N + n`.) Every query path serves them like the others. Waits for pages being
    /// computed; pages never see half an insertion. O(1): nothing is stored per row.
    pub fn insert(&self, n: usize) {
        self.state.insert(n);
    }

    /// How many HTTP requests arrived so far, faulted ones included.
    pub fn requests(&self) -> u64 {
        self.state.requests()
    }

    /// One entry per request, in arrival order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.state.request_log()
    }

    /// Scripts faults: the next requests get these, in order, before any random ones.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.faults.inject(faults);
    }

    /// Stops accepting, lets in-flight requests finish (up to about a second; longer ones,
    /// such as stalls, are cut) and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "emulator: server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "emulator: server task failed"),
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            // Dropping the task drops the listener and every connection task with it.
            task.abort();
        }
    }
}

/// Serves the emulator on `listener` until `shutdown` completes (a foreground entry point,
/// e.g. for a CLI `emulate` command with `tokio::signal::ctrl_c`), then stops as
/// [`Emulator::shutdown`] does.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let state = State::build(config).await?;
    server::serve(listener, state, shutdown).await
}
