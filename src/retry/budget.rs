//! The retry budget: how many retries a whole export may spend, shared by its concurrent pages.

use std::sync::atomic::{AtomicU64, Ordering};

/// Retries left to a whole stream. Pages take from it before each retry; once it is spent, the
/// next failure is final, and its error says the budget ran out.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    limit: Option<u64>,
    spent: AtomicU64,
}

impl RetryBudget {
    /// A budget of `limit` retries; `None` is no cap beyond each page's own.
    pub(crate) fn new(limit: Option<u64>) -> Self {
        RetryBudget {
            limit,
            spent: AtomicU64::new(0),
        }
    }

    /// Takes one retry from the budget; `false` once it is spent.
    pub(crate) fn spend(&self) -> bool {
        match self.limit {
            None => true,
            Some(limit) => self.spent.fetch_add(1, Ordering::Relaxed) < limit,
        }
    }

    /// The budget, if there is one.
    pub(crate) fn limit(&self) -> Option<u64> {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_runs_out() {
        let g = RetryBudget::new(Some(3));
        assert!((0..3).all(|_| g.spend()));
        assert!(!g.spend());
        assert!(RetryBudget::new(None).spend());
    }
}
