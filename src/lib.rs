//! Export everything behind the Xtremepush external API's list methods as an async stream.
//!
//! [`Client::push_actions`] (`list/push-devices`, the push actions of campaigns) and
//! [`Client::list`] (any list model) build a [`Query`]; [`Query::stream`] turns it into a
//! `Stream<Item = Result<T, Error>>` that pages through the whole result by `offset`/`limit`,
//! retrying each page with backoff, so callers write `try_for_each` and never batch by hand.
//! Up to [`Query::concurrency`] requests are on the wire at once (default
//! [`query::DEFAULT_CONCURRENCY`]); pages that come back early wait in a reorder window
//! bounded in bytes ([`query::DEFAULT_REORDER_WINDOW`]), so memory stays bounded whatever the
//! size of the result.
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
//! # Layout
//! - [`guide`]: the user's guide, a chapter per topic (queries, paging, modes, retries, auth,
//!   resume, daily runs, backfills, formats, logs, exit codes, the emulator).
//! - [`client`]: [`Client`], [`ClientBuilder`], [`client::Region`] and the client's defaults;
//!   the only place a request is built and a credential (apptoken, OAuth 2.0 client secret or
//!   private key, access token) is held.
//! - [`query`]: the query builder, [`Condition`], [`Op`] and [`query::Mode`];
//!   [`Query::key_range`] and [`Query::shard`], one of N disjoint parts of a query by key
//!   ([`query::Shard`]); the paging defaults ([`query::DEFAULT_PAGE_SIZE`], …).
//! - [`model`]: [`PushAction`], [`RawRow`] and the model's facts ([`model::push_devices`]).
//! - [`paginate`]: the paging state machine, [`Rows`], [`Pages`], their [`Summary`] and
//!   [`Progress`]; how to read a stream, the runtime it needs, what it holds and when it sends.
//! - [`retry`]: what is retried, the [`RetryPolicy`], the attempt loop and the retry budget.
//! - [`error`]: [`Error`], [`ErrorKind`] and [`error::ParseError`].
//! - [`event`]: [`Event`]s (pages, retries) for a hook set with [`Query::on_event`].
//! - `decode`: response bodies into rows (the envelope, typed rows, raw rows, keys).
//! - `governor`: one rate limiter per stream, shared by its requests.
//! - `export` (feature `export`): bulk export to NDJSON, CSV, JSON or Parquet with checkpoints.
//! - `emulator` (feature `emulator`): a local stand-in for the API, with fault injection; how
//!   to test against it.
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod client;
// Public for the benches, the fuzz target and the tests that decode a body without a server.
#[doc(hidden)]
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

pub use client::{Client, ClientBuilder};
pub use error::{Error, ErrorKind, Result};
pub use event::Event;
pub use model::{PushAction, RawRow};
pub use paginate::{Pages, Progress, Rows, Summary};
pub use query::{Condition, Op, Query};
pub use retry::RetryPolicy;

/// Every Rust snippet of README.md, compiled (and run, unless `no_run`) by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
