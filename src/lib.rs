//! Export everything behind the Xtremepush external API's list methods as an async stream.
//!
//! [`Client::push_actions`] (`list/push-devices`, the push actions of campaigns) and
//! [`Client::list`] (any list model) build a [`Query`]; [`Query::stream`] turns it into a
//! `Stream<Item = Result<T, Error>>` that pages through the whole result by `offset`/`limit`,
//! retrying each page with backoff, so callers write `try_for_each` and never batch by hand.
//! Up to [`Query::concurrency`] requests are on the wire at once (default
//! [`DEFAULT_CONCURRENCY`]); pages that come back early wait in a reorder window bounded in
//! bytes ([`DEFAULT_REORDER_WINDOW`]), so memory stays bounded whatever the size of the result.
//!
//! # Examples
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures::TryStreamExt;
//! use xp_export::{Client, Condition, Op};
//!
//! let client = Client::builder()
//!     .apptoken(std::env::var("XTREMEPUSH_APPTOKEN").unwrap_or_default())
//!     .timeout(std::time::Duration::from_secs(30))
//!     .build()?;
//! client
//!     .push_actions()
//!     .campaign(245624)
//!     .failed()
//!     .condition(Condition::new("create_time", Op::Gt, 1480000000))
//!     .select(["campaign_id", "action_id", "create_time", "device_id", "error_message"])
//!     .order("action_id DESC")
//!     .page_size(500)
//!     .stream()
//!     .try_for_each(|a| async move {
//!         println!("{:?} {:?}", a.action_id, a.error_message);
//!         Ok(())
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! To count or sum while streaming, fold, or read the rows in a loop with
//! `while let Some(row) = rows.try_next().await?`. A closure returning
//! `async move { count += 1; .. }` counts into a copy and leaves `count` at 0 (the compiler
//! only warns: "value captured by `count` is never read").
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let emulator = xp_export::emulator::Emulator::start(
//! #     xp_export::emulator::Config::default().records(1_000).campaigns([245624]),
//! # )
//! # .await?;
//! # let client = xp_export::Client::builder()
//! #     .api_url(emulator.base_url())
//! #     .apptoken(emulator.apptoken())
//! #     .build()?;
//! use futures::TryStreamExt;
//! let failed = client
//!     .push_actions()
//!     .campaign(245624)
//!     .failed()
//!     .stream()
//!     .try_fold(0u64, |n, _action| async move { Ok(n + 1) })
//!     .await?;
//! assert!(failed > 0);
//! # Ok(()) }
//! ```
//!
//! # Runtime
//! The streams need a [tokio](https://docs.rs/tokio) runtime with its I/O and time drivers
//! (`#[tokio::main]`, `#[tokio::test]`, current-thread or multi-thread alike): each page request
//! runs as a task of its own, and the HTTP client is tokio's. Under any other executor, such as
//! `futures::executor::block_on`, the first poll panics with "there is no reactor running, must
//! be called from the context of a Tokio 1.x runtime".
//!
//! # The streams
//! - [`Rows`] and [`Pages`] are `Send + 'static`, so they can be moved into `tokio::spawn`; they
//!   are not `Sync`: one task polls a stream at a time.
//! - Nothing is sent before the first poll. Dropping a stream, or a future that owns it
//!   (`rows.try_for_each(..)` cut short by a timeout), cancels its requests in flight and their
//!   retries: nothing more is sent. A timeout around `rows.try_next()` drops only that call;
//!   the requests go on.
//! - Memory holds the page being read, one page per request in flight ([`Query::concurrency`]),
//!   and the pages that came back early while one before them waits out a retry, up to the
//!   reorder window's bytes (64 MiB by default; and, while a seam is repaired, the rows
//!   fetched for it). A [`RawRow`] keeps its page's body alive for as long as it is kept.
//! - With the seam check (offset mode, on by default), each page after the first asks for
//!   `limit` rows from one row before its offset: the first is the row delivered last, so the
//!   page brings `limit − 1` new rows. [`Query::seam_check`]`(false)` makes it `limit`.
//! - `client.list::<serde_json::Value>(..)` sorts each row's fields by name, as a
//!   `serde_json::Map` does unless serde_json's `preserve_order` feature is on somewhere in the
//!   build. [`Query::raw_stream`] keeps the server's field order, and its bytes.
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
//! # Layout
//! - [`client`]: [`Client`], [`ClientBuilder`] and [`Region`]; the only place a request is built
//!   and a credential (apptoken, OAuth 2.0 client secret or private key, access token) is held.
//! - [`query`]: the query builder, [`Condition`] and [`Op`]; [`Query::key_range`] and
//!   [`Query::shard`], one of N disjoint parts of a query by key ([`query::Shard`]).
//! - [`model`]: [`PushAction`], [`RawRow`] and the model's facts ([`model::push_devices`]).
//! - [`decode`]: response bodies into rows (the envelope, typed rows, raw rows, keys).
//! - [`paginate`]: the paging state machine, [`Rows`], [`Pages`] and their [`Summary`].
//! - [`retry`]: what is retried, the [`RetryPolicy`], the attempt loop and the retry budget.
//! - `governor`: one rate limiter per stream, shared by its requests.
//! - [`error`]: [`Error`] and [`ErrorKind`].
//! - [`event`]: [`Event`]s (pages, retries) for a hook set with [`Query::on_event`].
//! - `export` (feature `export`): bulk export to NDJSON, CSV or JSON with checkpoints.
//! - `emulator` (feature `emulator`): a local stand-in for the API, with fault injection.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod client;
pub mod decode;
pub mod error;
pub mod event;
mod governor;
pub mod guide;
pub mod model;
pub mod paginate;
pub mod query;
pub mod retry;

#[cfg(feature = "emulator")]
pub mod emulator;
#[cfg(feature = "export")]
pub mod export;

pub use client::{
    Client, ClientBuilder, DEFAULT_API_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PAGE_BYTES,
    DEFAULT_TIMEOUT, JwtAlgorithm, MAX_RETRY_AFTER, Region,
};
pub use error::{Error, ErrorKind, Result};
pub use event::Event;
pub use model::{PushAction, RawRow};
pub use paginate::{EndReason, Page, Pages, Progress, Rows, Summary};
pub use query::{
    Condition, DEFAULT_CONCURRENCY, DEFAULT_PAGE_SIZE, DEFAULT_REORDER_WINDOW, KEYSET_KEY,
    MAX_CONCURRENCY, Mode, Op, Query, Value,
};
pub use retry::RetryPolicy;

/// Every Rust snippet of README.md, compiled (and run, unless `no_run`) by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
