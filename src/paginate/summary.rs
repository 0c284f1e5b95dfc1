//! What a stream did: [`Summary`] (requests, rows, retries, what was learned) and how it
//! ended ([`EndReason`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::error::ErrorKind;
use crate::query::Mode;

/// Why a stream ended.
///
/// It serialises as an object tagged with its `reason`, in snake case, beside the variant's
/// fields: `{"reason": "short_page", "offset": 2000, "rows": 345}`,
/// `{"reason": "failed", "offset": 12000, "kind": "server"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndReason {
    /// A page came back empty at `offset` (the result had no rows, or a whole number of full
    /// pages).
    EmptyPage {
        /// Where the empty page was asked for.
        offset: u64,
    },
    /// A page came back with fewer rows than asked for, at a trusted page size (or confirmed by
    /// an empty page after it).
    ShortPage {
        /// The short page's offset.
        offset: u64,
        /// How many rows it had.
        rows: u64,
    },
    /// The query's `max_rows` were delivered.
    LimitReached {
        /// How many rows were delivered.
        rows: u64,
    },
    /// A page failed after its retries; the stream's last item was that error.
    Failed {
        /// The failed page's offset: every row before it was delivered.
        offset: u64,
        /// What kind of failure it was.
        kind: ErrorKind,
    },
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::EmptyPage { offset } => write!(f, "empty page at offset {offset}"),
            EndReason::ShortPage { offset, rows } => {
                write!(f, "short page of {rows} rows at offset {offset}")
            }
            EndReason::LimitReached { rows } => write!(f, "row limit of {rows} reached"),
            EndReason::Failed { offset, kind } => {
                write!(f, "failed at offset {offset} on {}", failure(*kind))
            }
        }
    }
}

/// A failure's kind in words, for a sentence: "failed at offset 12000 on a server error".
fn failure(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "a configuration error",
        ErrorKind::Connect => "a failure to connect",
        ErrorKind::Timeout => "a timeout",
        ErrorKind::Network => "a network error",
        ErrorKind::Body => "a cut-off response",
        ErrorKind::RateLimited => "rate limiting",
        ErrorKind::Server => "a server error",
        ErrorKind::NotEnvelope => "a response that is not the API's",
        ErrorKind::Refused => "a refusal by the API",
        ErrorKind::Decode => "rows that could not be read",
        ErrorKind::Stalled => "a server that stopped making progress",
        ErrorKind::TooLarge => "a response over the page size limit",
        // A kind added later reads as this until it gets its own words.
        #[allow(unreachable_patterns)]
        _ => "an error",
    }
}

/// What a stream did so far: requests, rows, retries, and how it ended.
///
/// Read it from [`Rows::summary`](crate::Rows::summary) or
/// [`Pages::summary`](crate::Pages::summary) while the stream runs (for progress) or after it
/// ended (for a report).
///
/// # Display and JSON
/// `Display` is the report `xp-export` prints after an export, a few lines without a trailing
/// newline. `Serialize` writes every field under its own name in snake case, with these
/// choices, and three values computed from the fields:
///
/// | key | value |
/// |---|---|
/// | `retries` | an object: [`ErrorKind::as_str`] → retries of that kind (`{"timeout": 2}`) |
/// | `retry_wait_seconds` | [`Summary::retry_wait`] in seconds, a float |
/// | `end` | `null` while the stream runs, else [`EndReason`] as an object tagged with its `reason` |
/// | `mode` | `"offset"` or `"keyset"` |
/// | `retries_total` | [`Summary::total_retries`] |
/// | `complete` | [`Summary::is_complete`] |
/// | `warnings` | [`Summary::warnings`], an array of sentences |
///
/// A field added to `Summary` later shows up under its own name; no key changes meaning.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::TryStreamExt;
/// use xp_export::Client;
/// use xp_export::emulator::{Config, Emulator};
///
/// let emu = Emulator::start(Config::default().records(1234)).await?;
/// let client = Client::builder()
///     .api_url(emu.base_url())
///     .apptoken(emu.apptoken())
///     .build()?;
/// let mut rows = client.push_actions().page_size(500).stream();
/// while let Some(_action) = rows.try_next().await? {}
/// let summary = rows.summary();
///
/// // rows 1,234 · pages 3 · requests 6
/// // retries: 0
/// // stopped on: short page of 235 rows at offset 999
/// // mode: offset; rows shifted between pages: 0 seam(s), 0 repaired
/// println!("{summary}");
/// assert!(summary.to_string().contains("\nstopped on: short page of 235 rows at offset 999\n"));
///
/// // {"requests":6,"pages":3,"rows":1234,…,"end":{"reason":"short_page","offset":999,"rows":235},…}
/// let json = serde_json::to_string(&summary)?;
/// println!("{json}");
/// let value: serde_json::Value = serde_json::from_str(&json)?;
/// assert_eq!(value["rows"], 1234);
/// assert_eq!(value["end"]["reason"], "short_page");
/// assert_eq!(value["retries"], serde_json::json!({}));
/// assert_eq!(value["complete"], true);
/// # Ok(()) }
/// ```
// `remote = "Self"` makes the derive write an inherent `Summary::serialize` instead of the
// trait impl, which the `Serialize` impl below wraps to add the computed keys: a field added
// here is serialised with no more work.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(remote = "Self")]
#[non_exhaustive]
pub struct Summary {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Non-empty pages delivered.
    pub pages: u64,
    /// Rows delivered: handed to the consumer ([`Rows`](super::Rows): row by row;
    /// [`Pages`](super::Pages): page by page). Rows fetched and not handed out yet are
    /// [`Summary::buffered_rows`].
    pub rows: u64,
    /// Rows fetched and waiting in the stream to be handed out (the rest of the page
    /// [`Rows`](super::Rows) is reading).
    pub buffered_rows: u64,
    /// The offset right after the last row delivered: where to continue from
    /// ([`Query::start_offset`](crate::Query::start_offset)). In keyset mode, rows delivered
    /// counted from the start offset.
    pub next_offset: u64,
    /// The `action_id` of the last row delivered, where the stream reads keys (keyset mode,
    /// and offset mode with the seam check): with `next_offset`, where to continue from
    /// ([`Query::start_after`](crate::Query::start_after)).
    pub next_key: Option<u64>,
    /// Retries, by the kind of failure that caused them.
    pub retries: BTreeMap<ErrorKind, u64>,
    /// Time spent waiting before retries.
    #[serde(rename = "retry_wait_seconds", serialize_with = "seconds")]
    pub retry_wait: Duration,
    /// The page size the server was found to cap `limit` at, if it does.
    pub learned_cap: Option<u64>,
    /// The most page requests on the wire at once (at most the query's concurrency). A page
    /// waiting out its backoff is not on the wire; pages that came back early are bounded
    /// apart, by the reorder window (offset mode) or per key range (keyset mode with key
    /// ranges in parallel; see [`crate::paginate`]).
    pub peak_in_flight: u64,
    /// Why the stream ended; `None` while it runs.
    pub end: Option<EndReason>,
    /// How the stream paged.
    pub mode: Mode,
    /// Offset mode: page seams where the rows had shifted since the page before (the row
    /// before the page was not the last one delivered): rows were added or removed during the
    /// export.
    pub shifts_detected: u64,
    /// Of those, the seams repaired: rows delivered already were skipped, and rows that moved
    /// out of reach were fetched by key, so none came out twice or went missing.
    pub shifts_repaired: u64,
    /// Why completeness cannot be checked for this query, if it cannot (see
    /// [`Summary::warnings`]).
    pub order_warning: Option<String>,
}

impl Summary {
    /// What stands between this export and a guarantee that every row that existed when it
    /// started came out exactly once. Empty when nothing does.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(o) = &self.order_warning {
            w.push(o.clone());
        }
        if self.shifts_detected > self.shifts_repaired {
            w.push(format!(
                "rows shifted between pages {} time(s) during the export and {} could not be \
                 repaired: the output may hold duplicates or miss rows there; keyset mode rules \
                 this out",
                self.shifts_detected,
                self.shifts_detected - self.shifts_repaired
            ));
        }
        if let Some(EndReason::Failed { offset, kind }) = &self.end {
            w.push(format!(
                "incomplete: the export stopped at offset {offset} on {}",
                failure(*kind)
            ));
        }
        w
    }

    /// All retries, whatever their cause.
    pub fn total_retries(&self) -> u64 {
        self.retries.values().sum()
    }

    /// Whether the stream reached the end of the result (an empty or short page, or the
    /// query's `max_rows`); `false` while it runs and after a failure.
    pub fn is_complete(&self) -> bool {
        matches!(
            self.end,
            Some(
                EndReason::EmptyPage { .. }
                    | EndReason::ShortPage { .. }
                    | EndReason::LimitReached { .. }
            )
        )
    }
}

impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        /// The fields as derived, then what is computed from them.
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            fields: Fields<'a>,
            retries_total: u64,
            complete: bool,
            warnings: Vec<String>,
        }
        struct Fields<'a>(&'a Summary);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // The inherent function the derive wrote, not this trait's method.
                Summary::serialize(self.0, serializer)
            }
        }
        Json {
            fields: Fields(self),
            retries_total: self.total_retries(),
            complete: self.is_complete(),
            warnings: self.warnings(),
        }
        .serialize(serializer)
    }
}

fn seconds<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(d.as_secs_f64())
}

/// The report `xp-export` prints: rows, pages and requests; retries by cause and the time
/// waited; how the stream ended; the learned cap; the mode and the seams; the warnings. One
/// line each, no trailing newline.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rows {} · pages {} · requests {}",
            thousands(self.rows),
            thousands(self.pages),
            thousands(self.requests)
        )?;
        match self.total_retries() {
            0 => f.write_str("\nretries: 0")?,
            total => {
                let causes: Vec<String> = self
                    .retries
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                write!(
                    f,
                    "\nretries: {total} ({}), {:.2} s waited",
                    causes.join(", "),
                    self.retry_wait.as_secs_f64()
                )?;
            }
        }
        if let Some(end) = &self.end {
            write!(f, "\nstopped on: {end}")?;
        }
        if let Some(cap) = self.learned_cap {
            write!(
                f,
                "\nthe server caps the page size at {cap} rows (learned cap)"
            )?;
        }
        write!(
            f,
            "\nmode: {}; rows shifted between pages: {} seam(s), {} repaired",
            self.mode, self.shifts_detected, self.shifts_repaired
        )?;
        for w in self.warnings() {
            write!(f, "\nwarning: {w}")?;
        }
        Ok(())
    }
}

/// `1234567` as `1,234,567`: how counts read in summaries and messages.
///
/// ```
/// assert_eq!(xp_export::paginate::thousands(1_234_567), "1,234,567");
/// assert_eq!(xp_export::paginate::thousands(999), "999");
/// ```
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary a stream and its requests report into.
pub(crate) type Shared = Arc<Mutex<Summary>>;

pub(crate) fn lock(s: &Shared) -> MutexGuard<'_, Summary> {
    // A panic while holding the lock leaves plain counters behind: still worth reading.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_and_warnings_read_as_sentences() {
        let failed = EndReason::Failed {
            offset: 12_000,
            kind: ErrorKind::Server,
        };
        assert_eq!(
            failed.to_string(),
            "failed at offset 12000 on a server error"
        );
        let summary = Summary {
            shifts_detected: 3,
            shifts_repaired: 1,
            end: Some(failed),
            ..Summary::default()
        };
        for w in summary.warnings() {
            for debug in ["Some(", "None", "{", "::"] {
                assert!(!w.contains(debug), "{w}");
            }
        }
        assert!(summary.warnings()[1].contains("on a server error"));
    }

    #[test]
    fn thousands_groups_by_three() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (123_456, "123,456"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), text);
        }
    }
}
