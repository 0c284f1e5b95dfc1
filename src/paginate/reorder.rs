//! The reorder window (no I/O), and how it stands apart from the request slots.
//!
//! - A **slot** is a request on the wire, until its page is in the window: at most
//!   [`Query::concurrency`](crate::Query::concurrency) at once (a semaphore in the shell). A page
//!   that ends the walk is thus seen before its slot can go to a page past the end. A page
//!   waiting out its backoff before a retry gives its slot back, so the pages behind it keep
//!   being fetched; when its retry is due it queues for a slot ahead of any new page.
//! - The **reorder window** holds the pages that came back before the page to deliver next
//!   (the *head*), until it arrives. It is bounded in bytes, not pages: while it holds
//!   [`Query::reorder_window`](crate::Query::reorder_window) bytes or more (default
//!   [`DEFAULT_REORDER_WINDOW`](crate::query::DEFAULT_REORDER_WINDOW)), no new page is asked
//!   for; the head and the retries of pages already asked for still go. Memory holds at most
//!   the window, plus one page per slot, plus the page that filled it.
//! - A page held that ends the walk (short, or failed for good) stops new pages too: nothing
//!   past it will be delivered.

use std::collections::BTreeMap;

use super::step::Fetched;

/// A page that came back ahead of the head.
#[derive(Debug)]
struct Held<T> {
    fetched: Fetched<T>,
    bytes: u64,
    /// Short or failed: nothing past it will be delivered.
    ends: bool,
}

/// The reorder window of one stream: the pages that came back ahead of the head.
#[derive(Debug)]
pub(crate) struct Window<T> {
    limit: u64,
    held: BTreeMap<u64, Held<T>>,
    held_bytes: u64,
    peak_bytes: u64,
}

impl<T> Window<T> {
    /// A window of `limit` bytes.
    pub(crate) fn new(limit: u64) -> Self {
        Window {
            limit,
            held: BTreeMap::new(),
            held_bytes: 0,
            peak_bytes: 0,
        }
    }

    /// Whether a new page may be asked for: the window is empty or has room, and no page held
    /// ends the walk. An empty window always has room, so even a window of 0 bytes lets the
    /// page to deliver next be asked for.
    pub(crate) fn room(&self) -> bool {
        (self.held.is_empty() || self.held_bytes < self.limit)
            && !self.held.values().any(|h| h.ends)
    }

    /// The most bytes the window held at once.
    #[cfg(test)]
    pub(crate) fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }

    /// A page came back for good (rows, or its final error), `bytes` its size in memory: held
    /// until it is the head.
    pub(crate) fn arrive(&mut self, fetched: Fetched<T>, bytes: u64) {
        let ends = match &fetched.result {
            Ok(page) => (page.rows.len() as u64) < fetched.request.ask,
            Err(_) => true,
        };
        self.held_bytes += bytes;
        self.peak_bytes = self.peak_bytes.max(self.held_bytes);
        let held = Held {
            fetched,
            bytes,
            ends,
        };
        self.held.insert(held.fetched.request.position, held);
    }

    /// The page at `head`, if it has come back: it leaves the window.
    pub(crate) fn head(&mut self, head: u64) -> Option<Fetched<T>> {
        let held = self.held.remove(&head)?;
        self.held_bytes -= held.bytes;
        Some(held.fetched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoded;
    use crate::error::{Error, ErrorKind};
    use crate::paginate::step::Request;
    use crate::paginate::step::Seek;

    fn request(position: u64) -> Request {
        Request {
            seek: Seek::Offset(position),
            position,
            ask: 10,
            overlap: false,
            want_keys: false,
        }
    }

    fn page(position: u64, rows: usize) -> Fetched<u32> {
        Fetched {
            request: request(position),
            result: Ok(Decoded {
                rows: vec![0; rows],
                print: position,
                keys: None,
                key_index: None,
            }),
        }
    }

    #[test]
    fn the_window_counts_bytes_and_empties_as_the_head_arrives() {
        let mut f = Window::new(100);
        f.arrive(page(20, 10), 60);
        assert!(f.room(), "60 of 100 bytes");
        assert!(f.head(0).is_none(), "the head has not come back");
        f.arrive(page(10, 10), 50);
        assert!(!f.room(), "110 of 100 bytes: no new page");
        assert_eq!(f.peak_bytes(), 110);
        f.arrive(page(0, 10), 40);
        let order: Vec<u64> = [0, 10, 20]
            .into_iter()
            .map(|at| f.head(at).unwrap().request.position)
            .collect();
        assert_eq!(order, [0, 10, 20]);
        assert!(f.room());
        assert_eq!(f.peak_bytes(), 150);
    }

    #[test]
    fn a_tiny_window_stops_new_pages_as_soon_as_one_is_held() {
        for limit in [0, 1] {
            let mut f = Window::new(limit);
            assert!(f.room(), "window {limit}: nothing held, the head may go");
            f.arrive(page(10, 10), 1);
            assert!(!f.room(), "window {limit}");
            f.head(10);
            assert!(f.room(), "window {limit}");
        }
    }

    #[test]
    fn a_held_page_that_ends_the_walk_stops_new_pages() {
        let mut f = Window::new(1 << 20);
        f.arrive(page(10, 3), 10);
        assert!(!f.room(), "a short page: nothing past it is needed");
        f.head(10);
        let failed = Fetched {
            request: request(20),
            result: Err(Error::new(ErrorKind::Server, "x")),
        };
        f.arrive(failed, 0);
        assert!(!f.room(), "a failed page: nothing past it is delivered");
    }
}
