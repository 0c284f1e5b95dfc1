//! The attempt loop: one page tried until it succeeds, fails for good, or runs out of retries.

use std::future::Future;
use std::time::Duration;

use super::{Attempts, RetryBudget, RetryPolicy};
use crate::error::{Error, Result};

/// Runs `attempt` until it succeeds or fails for good, per `policy`.
///
/// - A failure is retried when its kind is retryable ([`crate::ErrorKind::is_retryable`]) and
///   `budget` still has a retry to spend.
/// - The wait before each retry is [`RetryPolicy::wait`]: the server's `Retry-After`
///   (clamped), none before the first retry of a broken connection, else full jitter over the
///   exponential delay.
/// - `on_retry` hears of each retry, with its cause and wait, before the wait.
///
/// The final error carries how many attempts were made, and says so when the budget ran out.
/// The decisions are [`Attempts`]'; this loop only sleeps between them.
pub(crate) async fn retry<T, F, Fut>(
    policy: &RetryPolicy,
    budget: &RetryBudget,
    mut attempt: F,
    mut on_retry: impl FnMut(&Error, Duration),
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempts = Attempts::new(policy);
    loop {
        let e = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match attempts.failed(policy, budget, &e) {
            Some(wait) => {
                on_retry(&e, wait);
                tokio::time::sleep(wait).await;
            }
            None => return Err(attempts.give_up(e, budget)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use std::sync::Mutex;

    fn failing(kinds: Vec<ErrorKind>) -> impl FnMut() -> std::future::Ready<Result<u32>> {
        let mut left = kinds.into_iter();
        let mut n = 0;
        move || {
            n += 1;
            std::future::ready(match left.next() {
                Some(kind) => Err(Error::new(kind, "x")),
                None => Ok(n),
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_and_reports_each() {
        let policy = RetryPolicy::default().with_jitter_seed(1);
        let seen = Mutex::new(Vec::new());
        let out = retry(
            &policy,
            &RetryBudget::new(None),
            failing(vec![ErrorKind::Server, ErrorKind::Body, ErrorKind::Timeout]),
            |e, _| seen.lock().unwrap().push(e.kind()),
        )
        .await
        .unwrap();
        assert_eq!(out, 4, "three failures, then the fourth attempt");
        assert_eq!(
            *seen.lock().unwrap(),
            [ErrorKind::Server, ErrorKind::Body, ErrorKind::Timeout]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let e = retry(
            &RetryPolicy::default(),
            &RetryBudget::new(None),
            failing(vec![ErrorKind::Refused]),
            |_, _| panic!("no retry"),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert_eq!(e.attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_run_out_and_the_error_counts_attempts() {
        let e = retry(
            &RetryPolicy::default().with_max_retries(2),
            &RetryBudget::new(None),
            failing(vec![ErrorKind::Server; 5]),
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert_eq!(e.attempts(), 3);
        assert!(e.to_string().ends_with("(gave up after 3 attempts)"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_ends_retrying_and_says_so() {
        let budget = RetryBudget::new(Some(1));
        let e = retry(
            &RetryPolicy::default(),
            &budget,
            failing(vec![ErrorKind::Server; 5]),
            |_, _| {},
        )
        .await
        .unwrap_err();
        assert_eq!(e.attempts(), 2, "one retry from the budget");
        assert!(
            e.detail().contains("retry budget of 1 retries is spent"),
            "{e}"
        );
    }
}
