//! The error type: small, `Send + Sync`, and able to say what happened and where.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

mod parse;
pub(crate) mod sanitize;

pub use parse::{ParseError, ParseErrorKind};
pub(crate) use sanitize::{Scrub, shown};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What kind of failure an [`Error`] is. [`ErrorKind::is_retryable`] says which ones a page retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client or the query was set up wrong (missing apptoken, bad URL, bad model name).
    Config,
    /// No connection could be made to the API.
    Connect,
    /// The request or its response took longer than the client's timeout.
    Timeout,
    /// The connection failed after it was made, before a response arrived (a reset, for example).
    Network,
    /// The response body could not be read to its end (cut off or reset mid-way).
    Body,
    /// The API answered 429: the application's rate limit is exhausted.
    RateLimited,
    /// The API answered with a server error (500, 502, 503, 504, …), in the HTTP status or the
    /// envelope's `code`.
    Server,
    /// The response is not the API's JSON envelope (an HTML error page, truncated JSON, no
    /// `data` array).
    NotEnvelope,
    /// The API refused the request (400, 401, 403, 404, 405, 410, …): retrying cannot help.
    Refused,
    /// A row does not fit the model it is decoded into (a field of the wrong type, say).
    Decode,
    /// The server's pages cannot be paged safely: it repeated the previous page (paging would
    /// never end), did not honour a keyset seek or `order` (a page's keys out of order), or
    /// sent a key shared by two rows to a keyset walk.
    Stalled,
    /// A page's response is larger than the client's page limit
    /// ([`crate::ClientBuilder::max_page_bytes`]).
    TooLarge,
    /// The API answered with a redirect (3xx), which is not followed: a 301/302/303 would turn
    /// the request into a GET without its body, a 307/308 would carry the apptoken wherever
    /// `Location` points. The error names the `Location`; if the API has moved, point
    /// [`crate::ClientBuilder::api_url`] there.
    Redirected,
}

impl ErrorKind {
    /// Whether a page that failed this way is tried again (see [`crate::RetryPolicy`]).
    ///
    /// | kind | retried |
    /// |---|---|
    /// | `Connect`, `Timeout`, `Network`, `Body` | yes |
    /// | `RateLimited`, `Server`, `NotEnvelope` | yes |
    /// | `Config`, `Refused`, `Decode`, `Stalled`, `TooLarge`, `Redirected` | no |
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::Network
                | ErrorKind::Body
                | ErrorKind::RateLimited
                | ErrorKind::Server
                | ErrorKind::NotEnvelope
        )
    }

    /// A short lowercase name, for logs and summaries (`"timeout"`, `"http 503"` is not one: the
    /// status is in [`Error::status`]).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::Body => "body",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Server => "server",
            ErrorKind::NotEnvelope => "not-envelope",
            ErrorKind::Refused => "refused",
            ErrorKind::Decode => "decode",
            ErrorKind::Stalled => "stalled",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Redirected => "redirected",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Serialises as [`ErrorKind::as_str`] (`"rate-limited"`), so it can key a JSON object.
impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Everything that can go wrong while listing a model.
///
/// `Display` says what happened and where, in one line, for example
/// `list/push-devices at offset 12000: HTTP 401 Authentication failed`. As with reqwest, it
/// says this layer only: the cause underneath, such as the operating system's
/// `Connection refused`, is [`source()`](std::error::Error::source), so a report that walks the chain
/// (anyhow's `{:#}`, or a loop over `source()`) shows each part once:
/// `list/push-devices at offset 0: could not connect (gave up after 3 attempts): error sending
/// request: … Connection refused`. The apptoken never appears in it, nor in `Debug`, nor in
/// any link of the chain.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    detail: String,
    model: Option<String>,
    offset: Option<u64>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    attempts: u32,
    source: Option<BoxError>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                detail: detail.into(),
                model: None,
                offset: None,
                status: None,
                retry_after: None,
                attempts: 1,
                source: None,
            }),
        }
    }

    pub(crate) fn config(detail: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, detail)
    }

    /// An error for an HTTP status or envelope `code` that means failure.
    pub(crate) fn from_status(code: u16, message: &str) -> Self {
        let kind = match code {
            429 => ErrorKind::RateLimited,
            c if is_retryable_status(c) => ErrorKind::Server,
            _ => ErrorKind::Refused,
        };
        let mut e = Error::new(kind, format!("HTTP {code} {message}"));
        e.inner.status = Some(code);
        e
    }

    /// Classifies a transport error from reqwest. The URL is stripped: it may carry
    /// credentials in its user-info part.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        let kind = if err.is_timeout() {
            ErrorKind::Timeout
        } else if err.is_connect() {
            ErrorKind::Connect
        } else if err.is_body() || err.is_decode() {
            ErrorKind::Body
        } else if err.is_builder() {
            ErrorKind::Config
        } else {
            ErrorKind::Network
        };
        // This layer only: the cause ("Connection refused") is the source's to say, so that
        // a chain printed link by link (anyhow's `{:#}`) says it once.
        let detail = match kind {
            ErrorKind::Timeout => "timed out",
            ErrorKind::Connect => "could not connect",
            ErrorKind::Body => "reading the response body failed",
            ErrorKind::Config => "could not build the request",
            _ => "the connection failed",
        };
        Error::new(kind, detail).with_source(err.without_url())
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn at(mut self, model: &str, offset: u64) -> Self {
        self.inner.model = Some(model.to_string());
        self.inner.offset = Some(offset);
        self
    }

    pub(crate) fn with_retry_after(mut self, wait: Option<Duration>) -> Self {
        self.inner.retry_after = wait;
        self
    }

    /// Adds a clause to the description.
    pub(crate) fn with_note(mut self, note: impl std::fmt::Display) -> Self {
        self.inner.detail = format!("{}; {note}", self.inner.detail);
        self
    }

    /// Sets the HTTP status the error came with.
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// The error with its detail and every link of its `source()` chain made fit to show
    /// (control characters escaped, long text cut) and passed through `scrub`, which removes
    /// the client's secrets: for every error that holds text from the server.
    pub(crate) fn scrubbed(mut self, scrub: Scrub<'_>) -> Self {
        if let Some(detail) = sanitize::fit(&self.inner.detail, scrub) {
            self.inner.detail = detail;
        }
        let chain = self
            .inner
            .source
            .as_deref()
            .and_then(|s| sanitize::scrub_chain(s, scrub));
        if let Some(chain) = chain {
            self.inner.source = Some(Box::new(chain));
        }
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Whether the failure is transient: see [`ErrorKind::is_retryable`]. An error that reaches a
    /// stream's consumer has already been retried as often as the policy allows.
    pub fn is_retryable(&self) -> bool {
        self.inner.kind.is_retryable()
    }

    /// The HTTP status, or the envelope's `code` where the body reported the failure.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The list model the failed request was for, e.g. `push-devices`.
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// The offset of the page that failed: every row before it was delivered.
    pub fn offset(&self) -> Option<u64> {
        self.inner.offset
    }

    /// The wait the server asked for with `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// How many times the page was tried before this error was given up on (1: no retry).
    pub fn attempts(&self) -> u32 {
        self.inner.attempts
    }

    /// What happened, without the model and offset prefix (the server's message, for a refusal).
    pub fn detail(&self) -> &str {
        &self.inner.detail
    }
}

/// An error and its `source()` chain on one line, joined with ": " as anyhow's `{:#}` does,
/// each cause once: a link whose text the line already ends with is left out (an error that
/// shows the error it wraps, and also has it as its source, is not repeated).
///
/// ```
/// let e = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
/// assert_eq!(xp_export::error::chain(&e), "disk full");
/// ```
pub fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = s.source();
    }
    line
}

/// Whether an HTTP status (or an envelope `code`) is worth retrying: 408, 429 and the server
/// errors except 501 (not implemented) and 505 (HTTP version not supported), which will not change.
pub(crate) fn is_retryable_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500..=599) && !matches!(code, 501 | 505)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        match (&i.model, i.offset) {
            (Some(model), Some(offset)) => write!(f, "list/{model} at offset {offset}: ")?,
            (Some(model), None) => write!(f, "list/{model}: ")?,
            _ => {}
        }
        f.write_str(&i.detail)?;
        if i.attempts > 1 && i.kind.is_retryable() {
            write!(f, " (gave up after {} attempts)", i.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Error");
        d.field("kind", &i.kind).field("detail", &i.detail);
        if let Some(m) = &i.model {
            d.field("model", m);
        }
        if let Some(o) = i.offset {
            d.field("offset", &o);
        }
        if let Some(s) = i.status {
            d.field("status", &s);
        }
        if i.attempts > 1 {
            d.field("attempts", &i.attempts);
        }
        if let Some(s) = &i.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests;
