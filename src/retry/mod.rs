//! Which failures retry, and how long to wait between tries.
//!
//! The whole page is the unit of retry: sending the request, reading the body to its end and
//! decoding it. [`crate::ErrorKind::is_retryable`] is the one table that decides what is tried
//! again; [`RetryPolicy`] decides how often and how long to wait. The waits come from
//! [`backon`]'s exponential backoff with full jitter applied on top, and a `Retry-After` from the
//! server replaces the computed wait.
//!
//! - `run`: the attempt loop every page goes through (when to retry, how long to wait, what
//!   to report).
//! - `attempts`: one page's tries as plain data: after a failure, try again after what wait,
//!   or give up with which error.
//! - `budget`: the retries a whole export may spend, shared by its concurrent pages.

mod attempts;
mod budget;
mod run;

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

use crate::error::{Error, ErrorKind};

pub(crate) use attempts::Attempts;
pub(crate) use budget::RetryBudget;
pub(crate) use run::retry;

/// How a page is retried: exponential backoff with full jitter, `Retry-After` honoured.
///
/// Before retry `n` (counting from 0) the wait is a random duration in
/// `[0, min(max_delay, base_delay * 2^n)]` ("full jitter"), unless the failed response carried
/// `Retry-After` (seconds or an HTTP date): then the wait is that, clamped to `max_delay`. The
/// first retry after a connection broke mid-request (reset, body cut off) goes at once: that is
/// most often a pooled connection the server had closed, and a new connection is all it takes.
///
/// # Default
/// - `base_delay`: 200 ms
/// - `max_delay`: 30 s
/// - `max_retries`: 8 (so a page is tried at most 9 times)
/// - jitter: full, from a random seed; [`RetryPolicy::with_jitter_seed`] makes the waits repeatable.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use xp_export::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .with_base_delay(Duration::from_millis(100))
///     .with_max_delay(Duration::from_secs(10))
///     .with_max_retries(5);
/// assert_eq!(policy.max_retries(), 5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    base_delay: Duration,
    max_delay: Duration,
    max_retries: u32,
    jitter: bool,
    seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_retries: 8,
            jitter: true,
            seed: None,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries: the first failure ends the stream.
    pub fn none() -> Self {
        RetryPolicy::default().with_max_retries(0)
    }

    /// The wait before the first retry, doubled before each next one.
    #[must_use]
    pub fn with_base_delay(mut self, d: Duration) -> Self {
        self.base_delay = d;
        self
    }

    /// The longest wait between two tries, also the clamp for `Retry-After`.
    #[must_use]
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// How many times a failed page is tried again before its error is returned.
    #[must_use]
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// Seeds the jitter, so the sequence of waits is the same on every run (for tests).
    #[must_use]
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Turns jitter off: every wait is the full exponential delay.
    #[must_use]
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// How many times a failed page is tried again.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The wait before the first retry, before jitter.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The clamp for every wait.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The exponential delays before jitter, one per allowed retry.
    pub(crate) fn backoff(&self) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_max_times(self.max_retries as usize)
            .build()
    }

    /// The random source for the jitter of one page's retries.
    pub(crate) fn rng(&self) -> fastrand::Rng {
        match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        }
    }

    /// The wait before the next try: the server's `Retry-After` (clamped); none before the
    /// first retry of a connection that broke mid-request (a reset or a cut-off body, most
    /// often a pooled connection the server had closed: a new one is all it takes); else full
    /// jitter over the exponential delay.
    pub(crate) fn wait(
        &self,
        delay: Duration,
        err: &Error,
        first: bool,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        match err.retry_after() {
            Some(ra) => ra.min(self.max_delay),
            None if first && matches!(err.kind(), ErrorKind::Network | ErrorKind::Body) => {
                Duration::ZERO
            }
            None if self.jitter => delay.mul_f64(rng.f64()),
            None => delay,
        }
    }
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (a date in the past means "now").
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_failures_retry() {
        let cases = [
            (ErrorKind::Connect, true),
            (ErrorKind::Timeout, true),
            (ErrorKind::Network, true),
            (ErrorKind::Body, true),
            (ErrorKind::RateLimited, true),
            (ErrorKind::Server, true),
            (ErrorKind::NotEnvelope, true),
            (ErrorKind::Config, false),
            (ErrorKind::Refused, false),
            (ErrorKind::Decode, false),
            (ErrorKind::Stalled, false),
            (ErrorKind::TooLarge, false),
        ];
        for (kind, retried) in cases {
            assert_eq!(kind.is_retryable(), retried, "{kind:?}");
        }
    }

    #[test]
    fn default_policy_is_documented_one() {
        let p = RetryPolicy::default();
        assert_eq!(p.base_delay, Duration::from_millis(200));
        assert_eq!(p.max_delay, Duration::from_secs(30));
        assert_eq!(p.max_retries, 8);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_stops_after_max_retries() {
        let p = RetryPolicy::default().without_jitter();
        let delays: Vec<Duration> = p.backoff().collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(
            ms,
            [200, 400, 800, 1600, 3200, 6400, 12800, 25600],
            "8 retries, doubling from 200 ms"
        );
        let capped = RetryPolicy::default()
            .with_max_delay(Duration::from_secs(1))
            .with_max_retries(4)
            .without_jitter();
        let ms: Vec<u128> = capped.backoff().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [200, 400, 800, 1000]);
        assert_eq!(RetryPolicy::none().backoff().next(), None);
    }

    #[test]
    fn full_jitter_stays_within_the_delay_and_is_repeatable_with_a_seed() {
        let p = RetryPolicy::default().with_jitter_seed(7);
        let err = Error::from_status(503, "x");
        let run = || {
            let mut rng = p.rng();
            p.backoff()
                .enumerate()
                .map(|(i, d)| (d, p.wait(d, &err, i == 0, &mut rng)))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same waits");
        for (delay, wait) in &a {
            assert!(wait <= delay, "{wait:?} > {delay:?}");
        }
        assert!(
            a.iter().any(|(d, w)| w < d),
            "jitter must shorten some waits"
        );
    }

    #[test]
    fn retry_after_replaces_the_wait_and_is_clamped() {
        let p = RetryPolicy::default().with_max_delay(Duration::from_secs(5));
        let mut rng = p.rng();
        let d = Duration::from_millis(200);
        let limited =
            |secs| Error::from_status(429, "x").with_retry_after(Some(Duration::from_secs(secs)));
        assert_eq!(
            p.wait(d, &limited(2), true, &mut rng),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.wait(d, &limited(3600), false, &mut rng),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_broken_connection_is_retried_at_once_the_first_time_only() {
        let p = RetryPolicy::default().without_jitter();
        let mut rng = p.rng();
        let d = Duration::from_millis(200);
        for kind in [ErrorKind::Network, ErrorKind::Body] {
            let e = Error::new(kind, "reset");
            assert_eq!(p.wait(d, &e, true, &mut rng), Duration::ZERO, "{kind:?}");
            assert_eq!(p.wait(d, &e, false, &mut rng), d, "{kind:?}");
        }
        for kind in [
            ErrorKind::Connect,
            ErrorKind::Timeout,
            ErrorKind::Server,
            ErrorKind::NotEnvelope,
        ] {
            let e = Error::new(kind, "x");
            assert_eq!(p.wait(d, &e, true, &mut rng), d, "{kind:?}");
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
