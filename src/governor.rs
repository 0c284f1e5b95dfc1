//! One rate governor per stream: every request of an export, concurrent ones included, asks it
//! for a turn.
//!
//! - A token bucket caps the request rate when [`crate::Query::max_rps`] sets one.
//! - A 429 slows everyone down: the rate is halved (from the configured one, or from the rate
//!   requests were being sent at), and a `Retry-After` holds back every request of the stream,
//!   not just the one that got it. Each success then raises the rate again, slowly, until it is
//!   back at the configured cap (or, with none, lifts the limit).
//!
//! The retry budget, which caps the retries of the whole stream, is `crate::retry::RetryBudget`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The lowest rate a 429 can push the governor down to, in requests per second.
const MIN_RPS: f64 = 1.0;

/// 429s within this long of a cut answer requests sent before it: they do not cut again.
const COOLDOWN: Duration = Duration::from_secs(1);

/// How many recent request starts are kept to estimate the rate being sent at.
const WINDOW: usize = 32;

#[derive(Debug)]
pub(crate) struct Governor {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The configured cap, if any.
    max_rps: Option<f64>,
    /// The rate in force: `None` is unlimited.
    rate: Option<f64>,
    /// Tokens in the bucket (at most one second's worth, and at least one).
    tokens: f64,
    last: Instant,
    /// No request starts before this (a `Retry-After` for everyone).
    paused_until: Option<Instant>,
    /// Recent request starts, for the rate requests were actually sent at.
    starts: VecDeque<Instant>,
    /// The rate in force when the last 429 came (to know when a lowered rate is recovered).
    limited_from: f64,
    /// When the rate was last cut.
    last_cut: Option<Instant>,
}

impl Governor {
    pub(crate) fn new(max_rps: Option<f64>) -> Self {
        let max_rps = max_rps.filter(|r| r.is_finite() && *r > 0.0);
        Governor {
            state: Mutex::new(State {
                max_rps,
                rate: max_rps,
                tokens: 1.0,
                last: Instant::now(),
                paused_until: None,
                starts: VecDeque::with_capacity(WINDOW),
                limited_from: 0.0,
                last_cut: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this request's turn.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.paused_until {
                    Some(until) if until > now => until - now,
                    _ => match s.rate {
                        None => {
                            s.started(now);
                            return;
                        }
                        Some(rate) => {
                            let refill = (now - s.last).as_secs_f64() * rate;
                            s.tokens = (s.tokens + refill).min(rate.max(1.0));
                            s.last = now;
                            if s.tokens >= 1.0 {
                                s.tokens -= 1.0;
                                s.started(now);
                                return;
                            }
                            // A rate so low the wait overflows a Duration waits "forever".
                            Duration::try_from_secs_f64((1.0 - s.tokens) / rate)
                                .unwrap_or(Duration::MAX)
                        }
                    },
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// A 429: halve the rate, and hold every request back for `retry_after` if given.
    pub(crate) fn rate_limited(&self, retry_after: Option<Duration>) {
        let mut s = self.lock();
        let now = Instant::now();
        if let Some(wait) = retry_after {
            let until = now + wait;
            s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        }
        if s.last_cut.is_some_and(|t| now - t < COOLDOWN) {
            return;
        }
        // Without a rate in force, cut from the rate requests went out at; too few requests to
        // tell that, and the backoff and Retry-After alone slow things down.
        let Some(current) = s.rate.or_else(|| s.observed(now)) else {
            return;
        };
        // Halved, down to MIN_RPS; a configured rate already below it is kept, never raised.
        let halved = (current / 2.0).max(MIN_RPS).min(current);
        s.limited_from = current;
        s.last_cut = Some(now);
        s.rate = Some(halved);
        s.tokens = s.tokens.min(1.0);
        tracing::warn!(
            rps = halved,
            retry_after_ms = retry_after.map(|d| d.as_millis() as u64),
            "rate limited: slowing every request of the export down"
        );
    }

    /// A page came back: raise a lowered rate by a tenth.
    pub(crate) fn succeeded(&self) {
        let mut s = self.lock();
        let Some(rate) = s.rate else { return };
        let raised = rate * 1.1;
        s.rate = match s.max_rps {
            Some(max) => Some(raised.min(max)),
            // No configured cap: lift the limit once well past the rate the 429 came at.
            None if raised >= 2.0 * s.limited_from => None,
            None => Some(raised),
        };
    }

    /// The rate in force (`None`: unlimited).
    #[cfg(test)]
    fn rate(&self) -> Option<f64> {
        self.lock().rate
    }
}

impl State {
    fn started(&mut self, now: Instant) {
        if self.starts.len() == WINDOW {
            self.starts.pop_front();
        }
        self.starts.push_back(now);
    }

    /// The rate requests were started at recently, in requests per second, once there are
    /// enough of them to tell.
    fn observed(&self, now: Instant) -> Option<f64> {
        let first = self.starts.front()?;
        (self.starts.len() >= 8)
            .then(|| self.starts.len() as f64 / (now - *first).as_secs_f64().max(1e-3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_spaces_requests_at_the_rate() {
        let g = Governor::new(Some(10.0));
        let start = Instant::now();
        for _ in 0..21 {
            g.acquire().await;
        }
        // One token to start with, then one every 100 ms.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn no_cap_means_no_wait() {
        let g = Governor::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            g.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_halves_the_rate_and_holds_everyone_back() {
        let g = Governor::new(Some(8.0));
        g.acquire().await;
        g.rate_limited(Some(Duration::from_secs(3)));
        assert_eq!(g.rate(), Some(4.0));
        let start = Instant::now();
        g.acquire().await;
        assert!(
            start.elapsed() >= Duration::from_secs(3),
            "Retry-After holds the next request"
        );
        for _ in 0..100 {
            g.succeeded();
        }
        assert_eq!(
            g.rate(),
            Some(8.0),
            "recovers, up to the cap and no further"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_429_sets_no_rate_from_too_few_requests() {
        let g = Governor::new(None);
        g.acquire().await;
        g.rate_limited(None);
        assert_eq!(g.rate(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_cap_a_429_limits_from_the_observed_rate_then_lifts() {
        let g = Governor::new(None);
        for _ in 0..10 {
            g.acquire().await;
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        g.rate_limited(None);
        let rate = g.rate().expect("limited after a 429");
        assert!((4.0..=6.0).contains(&rate), "about half of 10/s: {rate}");
        for _ in 0..500 {
            g.succeeded();
        }
        assert_eq!(g.rate(), None, "lifted after a long run of successes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_vanishing_rate_waits_instead_of_panicking() {
        let g = Governor::new(Some(1e-300));
        g.acquire().await;
        let second = tokio::time::timeout(Duration::from_secs(3600), g.acquire()).await;
        assert!(second.is_err(), "the second request waits past an hour");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_never_raises_a_rate_below_the_floor() {
        let g = Governor::new(Some(0.5));
        g.acquire().await;
        g.rate_limited(None);
        assert_eq!(g.rate(), Some(0.5));
    }
}
