//! What the cursor and the async shell tell each other: the requests to send ([`Request`]),
//! what came back ([`Fetched`]), and what the stream does next ([`Step`]).

use super::plan::Direction;
use super::{EndReason, Page};
use crate::decode::Decoded;
use crate::error::{Error, Result};

/// What one request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seek {
    /// `limit` rows from `offset`.
    Offset(u64),
    /// Rows past `after` (and short of `before`, when set), in key order, from offset 0.
    Keys {
        after: Option<u64>,
        before: Option<u64>,
        direction: Direction,
    },
}

/// A request the cursor wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) seek: Seek,
    /// The position of the first new row it brings.
    pub(crate) position: u64,
    /// The `limit` to send.
    pub(crate) ask: u64,
    /// Whether its first row is the previous page's last (the seam check).
    pub(crate) overlap: bool,
    /// Whether the decoder must read the rows' keys.
    pub(crate) want_keys: bool,
}

/// A request's outcome, with the request.
#[derive(Debug)]
pub(crate) struct Fetched<T> {
    pub(crate) request: Request,
    pub(crate) result: Result<Decoded<T>>,
}

/// What the stream does next.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Deliver this page; the stream ends after it when it carries a reason.
    Deliver(Page<T>, Option<EndReason>),
    /// Nothing to deliver yet: ask the cursor again. A seam repair
    /// ([`super::cursor::Cursor::repair_request`]) or a confirmation comes first.
    Continue,
    /// The stream ends here ([`super::Summary::end`] says why).
    End,
    /// The stream ends with this error as its last item.
    Fail(Error),
}
