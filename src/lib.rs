//! Export everything behind the Xtremepush external API's list methods as an async stream.
//!
//! [`Client::push_actions`] (`list/push-devices`, the push actions of campaigns) and
//! [`Client::list`] (any list model) build a [`Query`]; [`Query::stream`] turns it into a
//! `Stream<Item = Result<T, Error>>` that pages through the whole result by `offset`/`limit`,
//! retrying each page with backoff, so callers write `try_for_each` and never batch by hand.
//! Memory holds at most [`Query::concurrency`] pages at a time (default
//! [`DEFAULT_CONCURRENCY`]), whatever the size of the result.
//!
//! # Examples
//! ```no_run
//! # async fn run() -> Result<(), xp_export::Error> {
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
//! - [`client`]: [`Client`] and [`ClientBuilder`]; the only place a request is built and the
//!   apptoken is held.
//! - [`query`]: the query builder, [`Condition`] and [`Op`].
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
    DEFAULT_TIMEOUT, MAX_RETRY_AFTER,
};
pub use error::{Error, ErrorKind, Result};
pub use event::Event;
pub use model::{PushAction, RawRow};
pub use paginate::{EndReason, Page, Pages, Progress, Rows, Summary};
pub use query::{
    Condition, DEFAULT_CONCURRENCY, DEFAULT_PAGE_SIZE, KEYSET_KEY, MAX_CONCURRENCY, Mode, Op,
    Query, Value,
};
pub use retry::RetryPolicy;
