//! What is known about the page size. The API does not document its maximum `limit`, so a short
//! page is only the end once a full page has shown that the server sends what is asked for; a
//! short page before that is confirmed by one more request, and a server that caps `limit` is
//! found out and followed.

use super::Summary;

/// What is known about the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PageSize {
    /// No full page yet: a short page may be a silent cap, not the end.
    Probing { limit: u64 },
    /// A short page of `rows` at `offset`, at an unconfirmed size: the next request tells
    /// whether it was the end (nothing more) or a cap (more rows).
    Unconfirmed { limit: u64, offset: u64, rows: u64 },
    /// A full page came back at `limit`: a short page is the end, and requests may run ahead.
    Trusted { limit: u64 },
}

impl PageSize {
    /// The `limit` to send.
    pub(crate) fn limit(self) -> u64 {
        match self {
            PageSize::Probing { limit }
            | PageSize::Unconfirmed { limit, .. }
            | PageSize::Trusted { limit } => limit,
        }
    }

    /// What a page of `received` rows, asked for with `ask`, says about the page size; whether
    /// the stream ends after it.
    pub(super) fn observe(
        &mut self,
        model: &str,
        offset: u64,
        received: u64,
        ask: u64,
        summary: &mut Summary,
    ) -> bool {
        let (size, ends) = match *self {
            // The request after an unconfirmed short page brought rows: that page was not the
            // end. A full page confirms the size; a short one is the server's cap.
            PageSize::Unconfirmed { limit, rows, .. } if received < ask => {
                let cap = rows.max(received);
                tracing::warn!(
                    model,
                    offset,
                    asked = limit,
                    cap,
                    "the server caps the page size at {cap} rows ({limit} were asked for); paging on with {cap}"
                );
                summary.learned_cap = Some(cap);
                (PageSize::Trusted { limit: cap }, received < cap)
            }
            size if received >= ask => (
                PageSize::Trusted {
                    limit: size.limit(),
                },
                false,
            ),
            PageSize::Trusted { limit } => (PageSize::Trusted { limit }, true),
            size => (
                PageSize::Unconfirmed {
                    limit: size.limit(),
                    offset,
                    rows: received,
                },
                false,
            ),
        };
        *self = size;
        ends
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds pages of `(asked, received)` to a size that starts probing at `limit`; returns
    /// after each page the size and whether the stream ends there.
    fn run(limit: u64, pages: &[(u64, u64)]) -> (Vec<(PageSize, bool)>, Summary) {
        let mut size = PageSize::Probing { limit };
        let mut summary = Summary::default();
        let mut offset = 0;
        let seen = pages
            .iter()
            .map(|&(ask, received)| {
                let ends = size.observe("m", offset, received, ask, &mut summary);
                offset += received;
                (size, ends)
            })
            .collect();
        (seen, summary)
    }

    #[test]
    fn a_full_page_makes_the_size_trusted_and_a_short_one_then_ends() {
        let (seen, summary) = run(10, &[(10, 10), (10, 10), (10, 3)]);
        let trusted = PageSize::Trusted { limit: 10 };
        assert_eq!(seen, [(trusted, false), (trusted, false), (trusted, true)]);
        assert_eq!(summary.learned_cap, None);
    }

    #[test]
    fn a_first_short_page_waits_for_confirmation() {
        let (seen, _) = run(10, &[(10, 4)]);
        let unconfirmed = PageSize::Unconfirmed {
            limit: 10,
            offset: 0,
            rows: 4,
        };
        assert_eq!(seen, [(unconfirmed, false)]);
        // The next page is full: the size is trusted, the short page was not the end.
        let (seen, _) = run(10, &[(10, 4), (10, 10)]);
        assert_eq!(seen[1], (PageSize::Trusted { limit: 10 }, false));
    }

    #[test]
    fn a_silent_cap_is_learned_and_followed() {
        let table = [
            // (limit, pages, learned cap, ends on the last page)
            (10, vec![(10, 7), (10, 7)], 7, false),
            (10, vec![(10, 7), (10, 2)], 7, true),
            (1000, vec![(1000, 1), (1000, 1)], 1, false),
            (1000, vec![(1000, 2), (1000, 2)], 2, false),
            (1000, vec![(1000, 500), (1000, 500), (500, 500)], 500, false),
        ];
        for (limit, pages, cap, ends) in table {
            let (seen, summary) = run(limit, &pages);
            assert_eq!(summary.learned_cap, Some(cap), "{pages:?}");
            let (last, last_ends) = *seen.last().unwrap();
            assert_eq!(last, PageSize::Trusted { limit: cap }, "{pages:?}");
            assert_eq!(last_ends, ends, "{pages:?}");
        }
    }
}
