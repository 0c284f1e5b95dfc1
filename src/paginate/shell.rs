//! The async side of offset and sequential keyset paging: sends what the cursor asks for, each
//! page as a task of its own that holds a request slot from its send until its page is in the
//! window, but for its backoffs (see `reorder`), and hands the cursor the pages in the order it
//! asked for them.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinError;
use tokio_util::task::AbortOnDropHandle;

use super::EndReason;
use super::cursor::Cursor;
use super::fetch::Fetcher;
use super::reorder::Window;
use super::step::{Fetched, Request, Step};
use super::summary::lock;
use crate::client::PageRequest;
use crate::decode::Decoded;
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::retry::Attempts;

/// A page back for good (its rows, or its final error), with its size in memory and the slot
/// its last try held: the slot is given back only once the page is in the window, so a page
/// that ends the walk stops new pages before its slot can be refilled past the end.
type Arrived<T> = (Fetched<T>, u64, OwnedSemaphorePermit);

/// What woke the shell up.
enum Woke<T> {
    /// A page's task ended (or was cancelled).
    Arrived(std::result::Result<Arrived<T>, JoinError>),
    /// A request slot was given back: a new page may go.
    Freed,
    /// No page is on its way.
    Quiet,
}

/// The request slots, shared by the shell and the pages' tasks.
#[derive(Debug)]
struct Slots {
    concurrency: usize,
    permits: Arc<Semaphore>,
    /// Told each time a page gives a slot back.
    freed: Notify,
}

/// Sends what the cursor asks for and hands it what comes back.
pub(super) struct Shell<T> {
    pub(super) fetcher: Arc<Fetcher<T>>,
    cursor: Cursor<T>,
    window: Window<T>,
    slots: Arc<Slots>,
    /// The pages asked for and not back yet, each a task of its own (so pages decode on every
    /// core while the consumer handles earlier ones, and go on retrying between polls);
    /// dropping the handle cancels the request.
    pages: FuturesUnordered<AbortOnDropHandle<Arrived<T>>>,
}

impl<T: Send + 'static> Shell<T> {
    pub(super) fn new(fetcher: Arc<Fetcher<T>>, cursor: Cursor<T>) -> Self {
        let (concurrency, window) = (fetcher.plan.concurrency, fetcher.plan.reorder_window);
        Shell {
            slots: Arc::new(Slots {
                concurrency,
                permits: Arc::new(Semaphore::new(concurrency)),
                freed: Notify::new(),
            }),
            window: Window::new(window),
            fetcher,
            cursor,
            pages: FuturesUnordered::new(),
        }
    }

    /// What comes next: a repair of the seam, or the page at the head once it is back.
    pub(super) async fn next(&mut self) -> Step<T> {
        if let Some(request) = self.cursor.repair_request() {
            let result = self.fetcher.fetch(&request).await;
            let fetched = Fetched { request, result };
            return self
                .cursor
                .accept_repair(fetched, &mut lock(&self.fetcher.summary));
        }
        // The pages that came back while the consumer was away go into the window first, so
        // that a short or empty one among them stops new pages before any is sent: a consumer
        // slower than the API would otherwise have every slot refilled past the end on each
        // poll.
        while let Some(Some(arrived)) = self.pages.next().now_or_never() {
            if let Some(step) = self.arrived(arrived) {
                return step;
            }
        }
        self.fill();
        if let Some(step) = self.cursor.idle(&mut lock(&self.fetcher.summary)) {
            return step;
        }
        loop {
            if let Some(fetched) = self.window.head(self.cursor.offset) {
                return self
                    .cursor
                    .accept(fetched, &mut lock(&self.fetcher.summary));
            }
            match self.wake().await {
                Woke::Arrived(arrived) => {
                    if let Some(step) = self.arrived(arrived) {
                        return step;
                    }
                }
                Woke::Freed => {}
                Woke::Quiet => {
                    let mut s = lock(&self.fetcher.summary);
                    s.end = Some(EndReason::LimitReached { rows: s.rows });
                    return Step::End;
                }
            }
            self.fill();
        }
    }

    /// A page's task ended: its page goes into the window; a task that did not end by itself
    /// fails the stream.
    fn arrived(&mut self, arrived: std::result::Result<Arrived<T>, JoinError>) -> Option<Step<T>> {
        match arrived {
            Ok((fetched, bytes, slot)) => {
                self.window.arrive(fetched, bytes);
                drop(slot);
                None
            }
            // A panic in the request task is a bug: let it surface where the stream is polled.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                let e = Error::new(
                    ErrorKind::Network,
                    format!("the page request was cancelled: {e}"),
                );
                Some(self.cursor.fail(e, &mut lock(&self.fetcher.summary)))
            }
        }
    }

    /// Whether a new page may be asked for, slots aside: the window has room and the cursor
    /// has one to ask for.
    fn wants(&self) -> bool {
        self.window.room() && self.cursor.may_request()
    }

    /// Sends new pages while the window has room and a slot is free that no due retry is
    /// queued for (a retry takes a freed slot before any new page).
    fn fill(&mut self) {
        while self.wants() {
            let Ok(permit) = self.slots.permits.clone().try_acquire_owned() else {
                break;
            };
            let Some(request) = self.cursor.next_request() else {
                break;
            };
            self.send(request, permit);
        }
    }

    /// Fetches a page as a task of its own.
    fn send(&mut self, request: Request, permit: OwnedSemaphorePermit) {
        let (fetcher, slots) = (self.fetcher.clone(), self.slots.clone());
        self.pages
            .push(AbortOnDropHandle::new(tokio::spawn(async move {
                let (result, slot) = match fetcher.page_request(&request) {
                    Ok(page_request) => {
                        slots.fetch(&fetcher, &request, &page_request, permit).await
                    }
                    Err(e) => (Err(e), permit),
                };
                let (result, bytes) = match result {
                    Ok((page, bytes)) => (Ok(page), bytes),
                    Err(e) => (Err(e), 0),
                };
                (Fetched { request, result }, bytes, slot)
            })));
    }

    /// Waits for a page to come back, or (when a new page is wanted) a slot to be given back.
    async fn wake(&mut self) -> Woke<T> {
        if self.pages.is_empty() {
            return Woke::Quiet;
        }
        let wants = self.wants();
        let slots = self.slots.clone();
        let mut freed = pin!(slots.freed.notified());
        let pages = &mut self.pages;
        poll_fn(|cx| {
            if let Poll::Ready(Some(arrived)) = pages.poll_next_unpin(cx) {
                return Poll::Ready(Woke::Arrived(arrived));
            }
            if wants && freed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Woke::Freed);
            }
            Poll::Pending
        })
        .await
    }

    /// Tells the hook, if there is one, of a page about to be delivered.
    pub(super) fn tell(&self, step: &Step<T>) {
        if let (Step::Deliver(page, _), Some(hook)) = (step, &self.fetcher.plan.hook) {
            hook(&Event::Page {
                offset: page.offset,
                rows: page.rows.len() as u64,
            });
        }
    }
}

impl Slots {
    /// Fetches a page, retried per the policy: each try takes a slot (the first one
    /// `permit`), and gives it back before waiting out its backoff. Returns the page and its
    /// size in memory, or its final error, with the slot the last try held.
    async fn fetch<T>(
        &self,
        fetcher: &Fetcher<T>,
        request: &Request,
        page_request: &PageRequest,
        permit: OwnedSemaphorePermit,
    ) -> (Result<(Decoded<T>, u64)>, OwnedSemaphorePermit) {
        let mut attempts = Attempts::new(fetcher.plan.client.retry_policy());
        let mut permit = Some(permit);
        loop {
            let slot = match permit.take() {
                Some(p) => p,
                None => self.take().await,
            };
            self.on_wire(fetcher);
            let e = match fetcher.attempt(request, page_request).await {
                Ok((page, body)) => {
                    let bytes = body + page.rows.len() * size_of::<T>();
                    return (Ok((page, bytes as u64)), slot);
                }
                Err(e) => e,
            };
            let wait = match fetcher.failed(&mut attempts, request.position, e) {
                Ok(wait) => wait,
                Err(e) => return (Err(e), slot),
            };
            self.give_back(slot);
            tokio::time::sleep(wait).await;
        }
    }

    /// Gives a slot back, and tells the shell a new page may go.
    fn give_back(&self, permit: OwnedSemaphorePermit) {
        drop(permit);
        self.freed.notify_one();
    }

    /// A slot for a retry, once one is free: retries queue in the order they became due.
    async fn take(&self) -> OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the slots are never closed")
    }

    /// Records the requests on the wire, a try having just taken its slot.
    fn on_wire<T>(&self, fetcher: &Fetcher<T>) {
        let on_wire = (self.concurrency - self.permits.available_permits()) as u64;
        let mut s = lock(&fetcher.summary);
        s.peak_in_flight = s.peak_in_flight.max(on_wire);
    }
}
