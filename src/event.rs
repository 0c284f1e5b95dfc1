//! [`Event`]s: what happens while a stream pages (pages, retries), handed as it happens to the
//! hook set with [`Query::on_event`](crate::Query::on_event).

use std::sync::Arc;
use std::time::Duration;

use crate::error::ErrorKind;

/// Something that happened while paging, handed to the hook set with
/// [`Query::on_event`](crate::Query::on_event).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A page was accepted and is about to be delivered.
    Page {
        /// The offset of its first row.
        offset: u64,
        /// How many rows it brings.
        rows: u64,
    },
    /// A page failed and is tried again after `wait`.
    Retry {
        /// The offset of the page.
        offset: u64,
        /// Which retry this is (1 for the first).
        attempt: u32,
        /// What kind of failure it was.
        kind: ErrorKind,
        /// What happened, as the error says it (secrets removed).
        cause: String,
        /// How long the page waits before it is tried again.
        wait: Duration,
    },
}

/// A hook that hears every [`Event`] of a stream. It runs on the stream's tasks: keep it quick.
pub(crate) type Hook = Arc<dyn Fn(&Event) + Send + Sync>;
