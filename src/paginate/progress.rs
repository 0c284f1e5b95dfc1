//! What a consumer can watch while a stream runs: a cloneable [`Progress`] handle on its
//! [`Summary`] that counts what was delivered. (Events as they happen: [`crate::event`].)

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::summary::{Shared, lock};
use super::{PageKeys, Summary};

/// Rows handed out of the page [`Rows`](super::Rows) is reading, for a summary that counts
/// what the consumer has, not what the stream holds.
#[derive(Debug, Default)]
pub(crate) struct Handed {
    /// Rows handed out in all.
    rows: AtomicU64,
    /// Rows handed out of the current page.
    in_page: AtomicU64,
    /// The current page, and where the stream stood before it.
    page: Mutex<Option<Mark>>,
}

#[derive(Debug)]
struct Mark {
    offset: u64,
    repair: bool,
    keys: Option<PageKeys>,
    /// Where the stream stood before the page: next offset and key.
    before: (u64, Option<u64>),
    /// The rows of the page.
    len: u64,
}

impl Mark {
    /// Next offset and key once `i` of the page's rows are handed out.
    fn after(&self, i: u64) -> (u64, Option<u64>) {
        if i == 0 {
            return self.before;
        }
        let offset = if self.repair {
            self.offset
        } else {
            self.offset + i
        };
        let key = match &self.keys {
            Some(keys) if i == self.len => Some(keys.last),
            Some(keys) => keys.key(i as usize - 1).or(self.before.1),
            None => self.before.1,
        };
        (offset, key)
    }
}

impl Handed {
    /// A new page is being read; `start` is where the stream stood before the first page.
    pub(crate) fn page(
        &self,
        offset: u64,
        repair: bool,
        keys: Option<PageKeys>,
        len: u64,
        start: (u64, Option<u64>),
    ) {
        let mut page = self.page.lock().unwrap_or_else(|p| p.into_inner());
        let before = match page.as_ref() {
            Some(m) => m.after(m.len),
            None => start,
        };
        *page = Some(Mark {
            offset,
            repair,
            keys,
            before,
            len,
        });
        self.in_page.store(0, Ordering::Release);
    }

    /// One more row handed out.
    pub(crate) fn row(&self) {
        self.rows.fetch_add(1, Ordering::Relaxed);
        self.in_page.fetch_add(1, Ordering::Release);
    }

    /// `summary`, counting what was handed out rather than what was fetched.
    fn apply(&self, summary: &mut Summary) {
        let page = self.page.lock().unwrap_or_else(|p| p.into_inner());
        let rows = self.rows.load(Ordering::Relaxed);
        summary.buffered_rows = summary.rows.saturating_sub(rows);
        summary.rows = rows;
        if let Some(mark) = page.as_ref() {
            let i = self.in_page.load(Ordering::Acquire).min(mark.len);
            (summary.next_offset, summary.next_key) = mark.after(i);
        }
    }
}

/// A handle on a stream's [`Summary`], to read while the stream is consumed (a progress line, a
/// checkpoint) or after: cheap to clone, `Send + Sync`, usable from any task.
///
/// Take it before the stream is consumed: `try_for_each` takes the stream by value.
///
/// # Examples
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use futures::TryStreamExt;
/// use xp_export::emulator::{Config, Emulator};
/// # let emulator = Emulator::start(Config::default().records(2_500)).await?;
/// # let client = xp_export::Client::builder()
/// #     .api_url(emulator.base_url()).apptoken(emulator.apptoken()).build()?;
/// let rows = client.push_actions().page_size(1000).stream();
/// let progress = rows.progress();
/// let watch = progress.clone();
/// rows.try_for_each(|_action| {
///     // Rows handed out so far, this one included: a checkpoint could be taken here.
///     assert!(watch.summary().rows >= 1);
///     async { Ok(()) }
/// })
/// .await?;
/// let summary = progress.summary();
/// assert_eq!((summary.rows, summary.next_offset, summary.buffered_rows), (2_500, 2_500, 0));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Progress {
    shared: Shared,
    handed: Option<Arc<Handed>>,
}

impl Progress {
    pub(crate) fn new(shared: Shared, handed: Option<Arc<Handed>>) -> Self {
        Progress { shared, handed }
    }

    /// What the stream did so far: rows and offsets count what was delivered to the consumer.
    pub fn summary(&self) -> Summary {
        let mut summary = lock(&self.shared).clone();
        if let Some(handed) = &self.handed {
            handed.apply(&mut summary);
        }
        summary
    }
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("summary", &self.summary())
            .finish()
    }
}
