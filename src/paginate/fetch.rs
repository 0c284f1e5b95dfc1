//! One page fetched: its request built by the client, sent when the governor allows, its body
//! decoded, the whole of it retried per the policy.

use std::sync::Arc;
use std::time::Duration;

use super::plan::Plan;
use super::step::{Request, Seek};
use super::summary::{Shared, lock};
use crate::client::PageRequest;
use crate::decode::{Decoded, Decoder, Input};
use crate::error::{Error, ErrorKind, Result};
use crate::event::Event;
use crate::governor::Governor;
use crate::retry::{Attempts, RetryBudget, retry};

/// What every request of one stream shares: the plan, how rows are decoded, the rate governor,
/// the retry budget, and the summary it reports into.
pub(crate) struct Fetcher<T> {
    pub(crate) plan: Plan,
    pub(crate) decode: Decoder<T>,
    pub(crate) summary: Shared,
    governor: Governor,
    budget: RetryBudget,
}

impl<T> std::fmt::Debug for Fetcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("plan", &self.plan)
            .field("governor", &self.governor)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl<T> Fetcher<T> {
    pub(crate) fn new(plan: Plan, decode: Decoder<T>, summary: Shared) -> Arc<Self> {
        Arc::new(Fetcher {
            governor: Governor::new(plan.max_rps),
            budget: RetryBudget::new(plan.retry_budget),
            plan,
            decode,
            summary,
        })
    }

    /// Fetches and decodes one page, retrying the whole of it (send, body, decode) per the
    /// client's policy. Errors name the model and the request's position.
    pub(crate) async fn fetch(&self, request: &Request) -> Result<Decoded<T>> {
        let page_request = self.page_request(request)?;
        let offset = request.position;
        let mut retries = 0u32;
        let attempt = || async { self.attempt(request, &page_request).await.map(|(p, _)| p) };
        retry(
            self.plan.client.retry_policy(),
            &self.budget,
            attempt,
            |e, wait| {
                retries += 1;
                self.retrying(offset, retries, e, wait);
            },
        )
        .await
    }

    /// The HTTP request for `request`, built by the client.
    pub(crate) fn page_request(&self, request: &Request) -> Result<PageRequest> {
        let plan = &self.plan;
        match request.seek {
            Seek::Offset(at) => {
                plan.client
                    .page_request(&plan.model, plan.offset_body(), request.ask, at)
            }
            Seek::Keys {
                after,
                before,
                direction,
            } => {
                // A keyset page that overlaps the one before asks from its last key on.
                let body = plan.keyset_body(after, before, direction, request.overlap);
                plan.client.page_request(&plan.model, &body, request.ask, 0)
            }
        }
    }

    /// One try at a page: waits for the governor, sends, decodes. Returns the page and the
    /// size of its response body; errors name the model and the request's position.
    pub(crate) async fn attempt(
        &self,
        request: &Request,
        page_request: &PageRequest,
    ) -> Result<(Decoded<T>, usize)> {
        let plan = &self.plan;
        let model: &str = &plan.model;
        let offset = request.position;
        let cap = plan.client.retry_policy().max_delay();
        self.governor.acquire().await;
        lock(&self.summary).requests += 1;
        // Every error from here on may hold the server's words: the client scrubs its
        // secrets out of them before they are retried, logged or returned.
        let resp = plan
            .client
            .send(page_request)
            .await
            .map_err(|e| plan.client.scrub(e).at(model, offset))?;
        let page = (self.decode)(Input {
            body: &resp.bytes,
            status: resp.status,
            content_type: &resp.content_type,
            offset,
            want_keys: request.want_keys,
        })
        .map_err(|e| {
            plan.client
                .scrub(e)
                .with_retry_after(resp.retry_after)
                .at(model, offset)
        });
        match &page {
            Ok(_) => self.governor.succeeded(),
            Err(e) if e.kind() == ErrorKind::RateLimited => self
                .governor
                .rate_limited(e.retry_after().map(|d| d.min(cap))),
            Err(_) => {}
        }
        page.map(|p| (p, resp.bytes.len()))
    }

    /// Weighs a failed try of the page at `offset`: `Ok(wait)` to try again after `wait`
    /// (reported as a retry), or the final error.
    pub(crate) fn failed(
        &self,
        attempts: &mut Attempts,
        offset: u64,
        e: Error,
    ) -> std::result::Result<Duration, Error> {
        let policy = self.plan.client.retry_policy();
        match attempts.failed(policy, &self.budget, &e) {
            Some(wait) => {
                self.retrying(offset, attempts.retries(), &e, wait);
                Ok(wait)
            }
            None => Err(attempts.give_up(e, &self.budget)),
        }
    }

    /// Reports a retry: in the summary, to the hook, and as a `tracing` warning.
    fn retrying(&self, offset: u64, attempt: u32, e: &Error, wait: Duration) {
        {
            let mut s = lock(&self.summary);
            *s.retries.entry(e.kind()).or_default() += 1;
            s.retry_wait += wait;
        }
        let cause = crate::error::chain(e);
        if let Some(hook) = &self.plan.hook {
            hook(&Event::Retry {
                offset,
                attempt,
                kind: e.kind(),
                cause: cause.clone(),
                wait,
            });
        }
        tracing::warn!(
            model = %self.plan.model,
            offset,
            attempt,
            cause = %cause,
            kind = %e.kind(),
            wait_ms = wait.as_millis() as u64,
            "retrying page"
        );
    }
}
