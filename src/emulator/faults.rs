//! Fault kinds, their command-line syntax, and the scripted/random fault picker.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::emulator::lock::lock;

/// A failure the emulator can inflict on one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 500 with a JSON error envelope.
    InternalError,
    /// HTTP 502 with a `text/html` body (an nginx-style error page).
    BadGatewayHtml,
    /// HTTP 503 with an error envelope; a `Retry-After` header when `Some`.
    Unavailable(Option<RetryAfter>),
    /// HTTP 429 with an error envelope of code 429; a `Retry-After` header when `Some`.
    RateLimited(Option<RetryAfter>),
    /// The connection is closed before any response bytes (no status line).
    Reset,
    /// HTTP 200 with the real answer and the `Content-Length` of the full body, but only
    /// the first half of the body is sent, then the connection is dropped.
    Truncated,
    /// HTTP 200 with `{"code":500,"success":false,"message":"…"}`.
    EnvelopeFailure,
    /// Sleep this long, then answer normally.
    Stall(Duration),
    /// An error envelope with this code as HTTP status and body code (e.g. 401, 403, 410).
    Status(u16),
}

/// The value of a `Retry-After` header.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryAfter {
    /// Delay in seconds: `Retry-After: 5`.
    Seconds(u64),
    /// A point in time, rendered as an HTTP-date: `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`.
    Date(SystemTime),
}

impl RetryAfter {
    /// The header value.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::Date(t) => httpdate::fmt_http_date(*t),
        }
    }
}

impl Fault {
    /// The transient kinds that random faults are drawn from unless
    /// [`Config::fault_kinds`](crate::emulator::Config::fault_kinds) says otherwise:
    /// 500, 502 (HTML), 503 without `Retry-After`, 429 with `Retry-After: 1`, reset,
    /// truncated body and the HTTP-200 failure envelope. `Stall` and `Status` are left out
    /// (one is a timeout test of its own, the other is permanent).
    pub fn transient() -> Vec<Fault> {
        vec![
            Fault::InternalError,
            Fault::BadGatewayHtml,
            Fault::Unavailable(None),
            Fault::RateLimited(Some(RetryAfter::Seconds(1))),
            Fault::Reset,
            Fault::Truncated,
            Fault::EnvelopeFailure,
        ]
    }
}

/// Why a fault name could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown fault '{0}': expected one of 500, 502, 503[:SECS], 429[:SECS], reset, truncate, \
     envelope, stall[:SECS], status:CODE (CODE 400-599)"
)]
pub struct ParseFaultError(String);

impl FromStr for Fault {
    type Err = ParseFaultError;

    /// Parses the command-line syntax: `500`, `502`, `503`, `429`, `reset`, `truncate`,
    /// `envelope`, `stall` (60 s), `status:401`. Also `503:SECS` and `429:SECS` (with a
    /// `Retry-After` in seconds) and `stall:SECS` (fractions allowed).
    fn from_str(s: &str) -> Result<Fault, ParseFaultError> {
        let err = || ParseFaultError(s.to_owned());
        let text = s.trim().to_ascii_lowercase();
        let (name, arg) = match text.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (text.as_str(), None),
        };
        let secs = |a: &str| a.parse::<u64>().map_err(|_| err());
        Ok(match (name, arg) {
            ("500", None) => Fault::InternalError,
            ("502", None) => Fault::BadGatewayHtml,
            ("503", None) => Fault::Unavailable(None),
            ("503", Some(a)) => Fault::Unavailable(Some(RetryAfter::Seconds(secs(a)?))),
            ("429", None) => Fault::RateLimited(None),
            ("429", Some(a)) => Fault::RateLimited(Some(RetryAfter::Seconds(secs(a)?))),
            ("reset", None) => Fault::Reset,
            ("truncate" | "truncated", None) => Fault::Truncated,
            ("envelope", None) => Fault::EnvelopeFailure,
            ("stall", None) => Fault::Stall(Duration::from_secs(60)),
            ("stall", Some(a)) => {
                let d = a.parse::<f64>().map_err(|_| err())?;
                Fault::Stall(Duration::try_from_secs_f64(d).map_err(|_| err())?)
            }
            ("status", Some(a)) => match a.parse::<u16>() {
                Ok(code @ 400..=599) => Fault::Status(code),
                _ => return Err(err()),
            },
            _ => return Err(err()),
        })
    }
}

/// Decides the fault of each request: scripted ones first, then random ones.
pub(crate) struct FaultPlan {
    queue: Mutex<VecDeque<Fault>>,
    rng: Mutex<fastrand::Rng>,
    rate: f64,
    kinds: Vec<Fault>,
}

impl FaultPlan {
    pub(crate) fn new(seed: u64, rate: f64, kinds: Vec<Fault>) -> FaultPlan {
        FaultPlan {
            queue: Mutex::new(VecDeque::new()),
            // A stream of its own, independent of the data set's draws.
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15)),
            rate: if rate.is_nan() {
                0.0
            } else {
                rate.clamp(0.0, 1.0)
            },
            kinds,
        }
    }

    pub(crate) fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.queue).extend(faults);
    }

    /// The fault for the next request, if any.
    pub(crate) fn next(&self) -> Option<Fault> {
        if let Some(f) = lock(&self.queue).pop_front() {
            return Some(f);
        }
        if self.rate <= 0.0 || self.kinds.is_empty() {
            return None;
        }
        let mut rng = lock(&self.rng);
        if rng.f64() < self.rate {
            Some(self.kinds[rng.usize(0..self.kinds.len())].clone())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cli_names() {
        let cases = [
            ("500", Fault::InternalError),
            ("502", Fault::BadGatewayHtml),
            ("503", Fault::Unavailable(None)),
            ("503:7", Fault::Unavailable(Some(RetryAfter::Seconds(7)))),
            ("429", Fault::RateLimited(None)),
            ("429:2", Fault::RateLimited(Some(RetryAfter::Seconds(2)))),
            ("reset", Fault::Reset),
            ("Truncate", Fault::Truncated),
            ("envelope", Fault::EnvelopeFailure),
            ("stall", Fault::Stall(Duration::from_secs(60))),
            ("stall:0.5", Fault::Stall(Duration::from_millis(500))),
            ("status:401", Fault::Status(401)),
            (" status:410 ", Fault::Status(410)),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Fault>(), Ok(want), "{text}");
        }
        for bad in [
            "",
            "404",
            "boom",
            "status",
            "status:200",
            "status:x",
            "429:-1",
            "reset:1",
            "stall:-1",
        ] {
            let e = bad.parse::<Fault>().unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
            assert!(e.to_string().contains("status:CODE"), "{e}");
        }
    }

    #[test]
    fn retry_after_renders() {
        assert_eq!(RetryAfter::Seconds(3).header_value(), "3");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            RetryAfter::Date(t).header_value(),
            "Wed, 21 Oct 2015 07:28:00 GMT"
        );
    }

    #[test]
    fn scripted_then_random_seeded() {
        let plan = FaultPlan::new(5, 0.5, vec![Fault::Reset, Fault::InternalError]);
        plan.inject([Fault::Status(403), Fault::Truncated]);
        assert_eq!(plan.next(), Some(Fault::Status(403)));
        assert_eq!(plan.next(), Some(Fault::Truncated));
        let a: Vec<_> = (0..200).map(|_| plan.next()).collect();
        let again = FaultPlan::new(5, 0.5, vec![Fault::Reset, Fault::InternalError]);
        let b: Vec<_> = (0..200).map(|_| again.next()).collect();
        assert_eq!(a, b);
        let faulted = a.iter().filter(|f| f.is_some()).count();
        assert!((60..140).contains(&faulted), "{faulted}");
        assert!(a.contains(&Some(Fault::Reset)) && a.contains(&Some(Fault::InternalError)));
        let never = FaultPlan::new(5, 0.0, Fault::transient());
        assert!((0..100).all(|_| never.next().is_none()));
        let always = FaultPlan::new(5, 1.0, vec![Fault::Reset]);
        assert!((0..100).all(|_| always.next() == Some(Fault::Reset)));
    }
}
