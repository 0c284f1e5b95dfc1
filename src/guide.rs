//! The user's guide: one chapter per module, each with its examples compiled and run by
//! `cargo test` against the in-process emulator.
//!
//! - [`queries`]: queries, `--where` and the command line.
//! - [`paging`]: offset/limit, short pages, silent caps, requests in flight, the summary.
//! - [`modes`]: offset mode and its seam check, or keyset mode (in parallel too).
//! - [`retries`]: what is retried, backoff, rate limits and the retry budget.
//! - [`auth`]: the apptoken, OAuth 2.0 `client_credentials` and `jwt-bearer`, regions.
//! - [`resume`]: checkpoints, `--resume`, and the outputs an export refuses.
//! - [`daily`]: time windows and incremental runs (`--state`).
//! - [`backfills`]: shards, a Kubernetes Indexed Job and an Airflow DAG (`deploy/`).
//! - [`formats`]: NDJSON, CSV, JSON, gzip and Parquet.
//! - `object_stores`: outputs and states in S3, GCS and Azure (feature `object-store`).
//! - [`logs`]: JSON log lines for collectors and orchestrators.
//! - [`exit_codes`]: what each exit code means.
//! - [`emulator`]: the stand-in API, its faults, and the tests that use it.
//! - [`python`]: the Python package: rows, Arrow batches, asyncio, exports, a dlt source.

#[doc = include_str!("../docs/guide/queries.md")]
pub mod queries {}

#[doc = include_str!("../docs/guide/paging.md")]
pub mod paging {}

#[doc = include_str!("../docs/guide/modes.md")]
pub mod modes {}

#[doc = include_str!("../docs/guide/retries.md")]
pub mod retries {}

#[doc = include_str!("../docs/guide/auth.md")]
pub mod auth {}

#[doc = include_str!("../docs/guide/resume.md")]
pub mod resume {}

#[doc = include_str!("../docs/guide/daily.md")]
pub mod daily {}

#[doc = include_str!("../docs/guide/backfills.md")]
pub mod backfills {}

#[cfg(feature = "object-store")]
#[doc = include_str!("../docs/guide/object_stores.md")]
pub mod object_stores {}

#[doc = include_str!("../docs/guide/formats.md")]
pub mod formats {}

#[doc = include_str!("../docs/guide/logs.md")]
pub mod logs {}

#[doc = include_str!("../docs/guide/exit_codes.md")]
pub mod exit_codes {}

#[doc = include_str!("../docs/guide/emulator.md")]
pub mod emulator {}

#[doc = include_str!("../docs/guide/python.md")]
pub mod python {}
