//! One page's tries as plain data: after each failure, whether to try again and after what
//! wait. The attempt loop ([`super::retry`]) and the paging shell (which parks a waiting page
//! without holding a request slot) both go through it, so they decide alike.

use std::time::Duration;

use backon::ExponentialBackoff;

use super::{RetryBudget, RetryPolicy};
use crate::error::Error;

/// Where one page's tries stand: the exponential delays left, the jitter, and the counts.
#[derive(Debug)]
pub(crate) struct Attempts {
    backoff: ExponentialBackoff,
    rng: fastrand::Rng,
    /// Failures weighed so far that were retryable and within the budget.
    waits: u32,
    /// Retries granted so far.
    retries: u32,
    /// Whether the last failure was final because the export's budget was spent.
    budget_spent: bool,
}

impl Attempts {
    /// A page not tried yet.
    pub(crate) fn new(policy: &RetryPolicy) -> Self {
        Attempts {
            backoff: policy.backoff(),
            rng: policy.rng(),
            waits: 0,
            retries: 0,
            budget_spent: false,
        }
    }

    /// Retries granted so far.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// Weighs a failure: `Some(wait)` to try again after `wait` (a retry is taken from
    /// `budget`), `None` when it is final (not retryable, the budget is spent, or the page's
    /// retries are used up); then [`Attempts::give_up`] makes the error to return.
    pub(crate) fn failed(
        &mut self,
        policy: &RetryPolicy,
        budget: &RetryBudget,
        e: &Error,
    ) -> Option<Duration> {
        if !e.is_retryable() {
            return None;
        }
        if !budget.spend() {
            self.budget_spent = true;
            return None;
        }
        self.waits += 1;
        let delay = self.backoff.next()?;
        self.retries += 1;
        Some(policy.wait(delay, e, self.waits == 1, &mut self.rng))
    }

    /// The final error: it carries how many attempts were made, and says so when the budget
    /// ran out.
    pub(crate) fn give_up(&self, e: Error, budget: &RetryBudget) -> Error {
        let e = e.with_attempts(self.retries + 1);
        match (self.budget_spent, budget.limit()) {
            (true, Some(limit)) => e.with_note(format!(
                "the export's retry budget of {limit} retries is spent"
            )),
            _ => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn waits_double_and_run_out_after_max_retries() {
        let policy = RetryPolicy::default()
            .with_base_delay(Duration::from_millis(100))
            .with_max_retries(3)
            .without_jitter();
        let budget = RetryBudget::new(None);
        let mut a = Attempts::new(&policy);
        let e = Error::new(ErrorKind::Server, "x");
        let waits: Vec<_> = (0..4)
            .map(|_| a.failed(&policy, &budget, &e).map(|d| d.as_millis()))
            .collect();
        assert_eq!(waits, [Some(100), Some(200), Some(400), None]);
        assert_eq!(a.give_up(e, &budget).attempts(), 4);
    }

    #[test]
    fn a_broken_connection_is_retried_at_once_the_first_time() {
        let policy = RetryPolicy::default().without_jitter();
        let budget = RetryBudget::new(None);
        let mut a = Attempts::new(&policy);
        let e = Error::new(ErrorKind::Network, "reset");
        assert_eq!(a.failed(&policy, &budget, &e), Some(Duration::ZERO));
        let second = a.failed(&policy, &budget, &e).map(|d| d.as_millis());
        assert_eq!(
            second,
            Some(400),
            "the zero wait still counts in the doubling"
        );
    }

    #[test]
    fn a_refusal_is_final_and_spends_nothing() {
        let policy = RetryPolicy::default();
        let budget = RetryBudget::new(Some(1));
        let mut a = Attempts::new(&policy);
        let e = Error::new(ErrorKind::Refused, "no");
        assert_eq!(a.failed(&policy, &budget, &e), None);
        assert_eq!(a.give_up(e, &budget).attempts(), 1);
        assert!(budget.spend(), "the budget is untouched");
    }

    #[test]
    fn a_spent_budget_is_final_and_the_error_says_so() {
        let policy = RetryPolicy::default();
        let budget = RetryBudget::new(Some(1));
        let mut a = Attempts::new(&policy);
        let e = Error::new(ErrorKind::Server, "x");
        assert!(a.failed(&policy, &budget, &e).is_some());
        assert_eq!(a.failed(&policy, &budget, &e), None);
        let e = a.give_up(e, &budget);
        assert_eq!(e.attempts(), 2);
        assert!(
            e.detail().contains("retry budget of 1 retries is spent"),
            "{e}"
        );
    }
}
