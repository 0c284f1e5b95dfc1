//! Why an export (or an incremental run around it) stopped: [`ExportError`], shaped as the
//! crate's [`Error`] is: a kind, the context a caller acts on, and the cause as its
//! `source()`.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;

type BoxError = Box<dyn StdError + Send + Sync>;

/// What kind of failure an [`ExportError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportErrorKind {
    /// The API failed (after retries) or refused the request: [`ExportError::api_error`] is
    /// the stream's error, which names the model, the offset and the cause.
    Api,
    /// Reading or writing a file failed: [`ExportError::path`] names it, the cause is the
    /// `source()`.
    Io,
    /// The checkpoint does not fit this export, fails its checks, or there is nothing this
    /// program finished or can continue; or a leftover of an interrupted export is in the way.
    Resume,
    /// Another export is writing the same output (it holds the output's lock).
    Busy,
    /// The output cannot be written as asked: a directory, a missing directory, a block
    /// device, a name kept for the files beside an export.
    Output,
    /// A row could not be written in the chosen format; [`ExportError::offset`] is its page's.
    Encode,
    /// Stopped on request (Ctrl-C) after the last complete page was saved.
    Interrupted,
    /// The state of incremental runs cannot be used: damaged, of another version, written
    /// for another query, or not a regular file. It is left as it was.
    State,
    /// The query cannot be run this way (an incremental run ordered other than by ascending
    /// `action_id`).
    Query,
    /// A part of a sharded export that probed its own key range found another one at its end
    /// ([`Export::part_of`](super::Export::part_of)): parts started at other times split the
    /// query differently. The rows stay in [`ExportError::partial`], not made the output.
    SplitMoved,
    /// An object store failed a request its client had retried (an object output): the
    /// message names the store, the bucket and the cause. What the checkpoint beside the object
    /// records stays for `--resume`.
    Store,
}

impl ExportErrorKind {
    /// A short lowercase name, for logs and summaries (`"busy"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ExportErrorKind::Api => "api",
            ExportErrorKind::Io => "io",
            ExportErrorKind::Resume => "resume",
            ExportErrorKind::Busy => "busy",
            ExportErrorKind::Output => "output",
            ExportErrorKind::Encode => "encode",
            ExportErrorKind::Interrupted => "interrupted",
            ExportErrorKind::State => "state",
            ExportErrorKind::Query => "query",
            ExportErrorKind::SplitMoved => "split_moved",
            ExportErrorKind::Store => "store",
        }
    }
}

impl fmt::Display for ExportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an export stopped before its end. Whatever was written stays, and a file export can be
/// resumed from its checkpoint.
///
/// `Display` says what happened in one line (an API failure shows the stream's error, a file's
/// failure its path and the cause); [`crate::error::chain`] adds every cause once. It holds no
/// secret: the stream's error has none, and neither has any path.
pub struct ExportError {
    inner: Box<Inner>,
}

#[derive(Debug)]
struct Inner {
    kind: ExportErrorKind,
    /// What happened, in words; for `Api` and `Io`, what was being done (may be empty).
    message: String,
    /// The file that failed (`Io`).
    path: Option<PathBuf>,
    /// The offset of the page whose row could not be written (`Encode`), or whose bytes could
    /// not (`Io`).
    offset: Option<u64>,
    /// Rows safely in the output (`Api`, `Interrupted`).
    rows: Option<u64>,
    /// Where a resumed export will start (`Interrupted`).
    next_offset: Option<u64>,
    /// Keyset mode: the `action_id` of the last row in the output (`Api`, `Interrupted`).
    next_key: Option<u64>,
    /// The partial file holding the rows, for a file export (`Api`, `Interrupted`, `Io` while
    /// writing a page).
    partial: Option<PathBuf>,
    /// A file export, which `--resume` continues (from its checkpoint, or from the start
    /// when nothing was saved).
    resumable: bool,
    source: Option<BoxError>,
}

impl ExportError {
    fn new(kind: ExportErrorKind, message: impl Into<String>) -> Self {
        ExportError {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                path: None,
                offset: None,
                rows: None,
                next_offset: None,
                next_key: None,
                partial: None,
                resumable: false,
                source: None,
            }),
        }
    }

    /// The stream failed after `rows` rows reached the output; a file export's partial file
    /// holds them, if any.
    pub(crate) fn api(
        source: Error,
        rows: u64,
        next_key: Option<u64>,
        file: Option<Option<PathBuf>>,
    ) -> Self {
        let mut e = ExportError::new(ExportErrorKind::Api, "");
        e.inner.rows = Some(rows);
        e.inner.next_key = next_key;
        e.inner.resumable = file.is_some();
        e.inner.partial = file.flatten();
        e.inner.source = Some(Box::new(source));
        e
    }

    /// A request of its own (an incremental run's probe) failed while `doing` something.
    pub(crate) fn request(doing: impl Into<String>, source: Error) -> Self {
        let mut e = ExportError::new(ExportErrorKind::Api, doing);
        e.inner.source = Some(Box::new(source));
        e
    }

    /// Reading or writing `path` failed; `doing` says what for (may be empty).
    pub(crate) fn io(path: &Path, doing: impl Into<String>, source: io::Error) -> Self {
        let mut e = ExportError::new(ExportErrorKind::Io, doing);
        e.inner.path = Some(path.to_path_buf());
        e.inner.source = Some(Box::new(source));
        e
    }

    /// A write of the page at `offset` failed: an I/O error says where, and, for a file
    /// export, which partial file holds the `saved` rows of its last checkpoint.
    pub(crate) fn writing_page(
        mut self,
        offset: u64,
        saved: Option<u64>,
        partial: Option<&Path>,
    ) -> Self {
        if self.inner.kind != ExportErrorKind::Io || self.inner.offset.is_some() {
            return self;
        }
        let i = &mut self.inner;
        i.message = match i.message.as_str() {
            "" => format!("writing the page at offset {offset}"),
            doing => format!("writing the page at offset {offset} ({doing})"),
        };
        i.offset = Some(offset);
        i.rows = saved;
        i.resumable = partial.is_some();
        i.partial = partial.map(Path::to_path_buf);
        self
    }

    /// A checkpoint or leftover that does not allow this start.
    pub(crate) fn resume(message: impl Into<String>) -> Self {
        ExportError::new(ExportErrorKind::Resume, message)
    }

    /// Another export holds the output's lock.
    pub(crate) fn busy(message: impl Into<String>) -> Self {
        ExportError::new(ExportErrorKind::Busy, message)
    }

    /// An output that cannot be written as asked.
    pub(crate) fn output(message: impl Into<String>) -> Self {
        ExportError::new(ExportErrorKind::Output, message)
    }

    /// An object store that failed a request.
    #[cfg_attr(not(feature = "object-store"), allow(dead_code))]
    pub(crate) fn store(message: impl Into<String>) -> Self {
        ExportError::new(ExportErrorKind::Store, message)
    }

    /// An export of an object stopped: `rows` rows are kept in the upload that the checkpoint
    /// `kept` (its URL) records, which `--resume` continues.
    pub(crate) fn kept_in(mut self, rows: u64, kept: String) -> Self {
        self.inner.rows = Some(rows);
        self.inner.resumable = true;
        self.inner.partial = Some(PathBuf::from(kept));
        self
    }

    /// An incremental state that cannot be used.
    pub(crate) fn state(message: impl Into<String>) -> Self {
        ExportError::new(ExportErrorKind::State, message)
    }

    /// A query that cannot be run this way.
    pub(crate) fn query(message: impl Into<String>) -> Self {
        ExportError::new(ExportErrorKind::Query, message)
    }

    /// A self-probed part's key range moved while it ran; `rows` rows are in `partial`.
    pub(crate) fn split_moved(
        message: impl Into<String>,
        rows: u64,
        partial: Option<PathBuf>,
    ) -> Self {
        let mut e = ExportError::new(ExportErrorKind::SplitMoved, message);
        e.inner.rows = Some(rows);
        e.inner.partial = partial;
        e
    }

    /// A row of the page at `offset` that cannot be written.
    pub(crate) fn encode(offset: u64, message: impl Into<String>) -> Self {
        let mut e = ExportError::new(ExportErrorKind::Encode, message);
        e.inner.offset = Some(offset);
        e
    }

    /// Stopped on request after `rows` rows reached the output.
    pub(crate) fn interrupted(
        next_offset: u64,
        next_key: Option<u64>,
        rows: u64,
        partial: Option<PathBuf>,
    ) -> Self {
        let mut e = ExportError::new(ExportErrorKind::Interrupted, "");
        e.inner.next_offset = Some(next_offset);
        e.inner.next_key = next_key;
        e.inner.rows = Some(rows);
        e.inner.partial = partial;
        e
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ExportErrorKind {
        self.inner.kind
    }

    /// The stream's (or a probe's) error, for a failure of kind [`ExportErrorKind::Api`].
    pub fn api_error(&self) -> Option<&Error> {
        self.inner.source.as_deref()?.downcast_ref::<Error>()
    }

    /// The I/O error, for a failure of kind [`ExportErrorKind::Io`].
    pub fn io_error(&self) -> Option<&io::Error> {
        self.inner.source.as_deref()?.downcast_ref::<io::Error>()
    }

    /// The file that failed, for a failure of kind [`ExportErrorKind::Io`].
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The offset of the page holding the row that could not be written
    /// ([`ExportErrorKind::Encode`]), or of the page whose bytes could not be written
    /// ([`ExportErrorKind::Io`], a full disk say).
    pub fn offset(&self) -> Option<u64> {
        self.inner.offset
    }

    /// Rows safely in the output when the export stopped (an API failure, an interruption; for
    /// a write that failed, the rows of the last checkpoint, which a resume keeps).
    pub fn rows(&self) -> Option<u64> {
        self.inner.rows
    }

    /// Where a resumed export will start, after an interruption.
    pub fn next_offset(&self) -> Option<u64> {
        self.inner.next_offset
    }

    /// Keyset mode: the `action_id` of the last row in the output, which a resumed export
    /// seeks past.
    pub fn next_key(&self) -> Option<u64> {
        self.inner.next_key
    }

    /// The partial file (or Parquet parts) holding the rows written, for a file export that
    /// a resume can continue.
    pub fn partial(&self) -> Option<&Path> {
        self.inner.partial.as_deref()
    }

    /// Whether this was a file export, which the same export with `--resume`
    /// ([`Export::resume`](super::Export::resume)) continues: from its checkpoint, or from the
    /// start when nothing was saved. `false` for standard output and streams (a device, a
    /// FIFO), which only an offset or a key continues.
    pub fn is_resumable(&self) -> bool {
        self.inner.resumable
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        match i.kind {
            ExportErrorKind::Interrupted => {
                return write!(
                    f,
                    "interrupted at offset {} after {} rows",
                    i.next_offset.unwrap_or_default(),
                    i.rows.unwrap_or_default()
                );
            }
            ExportErrorKind::Encode => {
                return write!(f, "offset {}: {}", i.offset.unwrap_or_default(), i.message);
            }
            _ => {}
        }
        let mut parts: Vec<String> = Vec::new();
        if !i.message.is_empty() {
            parts.push(i.message.clone());
        }
        if let Some(path) = &i.path {
            parts.push(path.display().to_string());
        }
        if matches!(i.kind, ExportErrorKind::Api | ExportErrorKind::Io)
            && let Some(source) = &i.source
        {
            parts.push(source.to_string());
        }
        f.write_str(&parts.join(": "))
    }
}

impl fmt::Debug for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl StdError for ExportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

/// Maps an I/O error on `path` to an error of kind [`ExportErrorKind::Io`].
pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::io(path, "", source)
}

/// Maps an encoding error of the page at `offset` to an error of kind
/// [`ExportErrorKind::Encode`].
pub(crate) fn encode_err(offset: u64) -> impl FnOnce(String) -> ExportError {
    move |message| ExportError::encode(offset, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::chain;

    #[test]
    fn each_kind_says_what_happened_once_in_its_chain() {
        let io = ExportError::io(
            Path::new("out.csv.partial"),
            "",
            io::Error::other("disk full"),
        );
        assert_eq!(io.kind(), ExportErrorKind::Io);
        assert_eq!(chain(&io), "out.csv.partial: disk full");
        assert_eq!(io.path(), Some(Path::new("out.csv.partial")));
        assert_eq!(
            io.io_error().map(|e| e.to_string()),
            Some("disk full".into())
        );

        let api = ExportError::api(
            Error::from_status(401, "Authentication failed").at("push-devices", 0),
            12,
            Some(77),
            None,
        );
        assert_eq!(
            chain(&api),
            "list/push-devices at offset 0: HTTP 401 Authentication failed"
        );
        assert_eq!((api.rows(), api.next_key()), (Some(12), Some(77)));
        assert_eq!(api.api_error().map(Error::status), Some(Some(401)));

        let probe = ExportError::request(
            "finding the first row of the lookback",
            Error::from_status(503, "Unavailable").at("push-devices", 0),
        );
        assert_eq!(
            chain(&probe),
            "finding the first row of the lookback: list/push-devices at offset 0: HTTP 503 \
             Unavailable"
        );

        let stop = ExportError::interrupted(2_000, None, 2_000, None);
        assert_eq!(
            stop.to_string(),
            "interrupted at offset 2000 after 2000 rows"
        );
        let bad = ExportError::encode(50, "a row is not an object");
        assert_eq!(bad.to_string(), "offset 50: a row is not an object");
        assert_eq!(ExportError::busy("taken").to_string(), "taken");
    }
}
