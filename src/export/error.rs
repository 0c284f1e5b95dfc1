//! Why an export stopped.

use std::io;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Why an export stopped before its end. Whatever was written stays, and a file export can be
/// resumed from its checkpoint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The API failed (after retries) or refused the request.
    #[error("{source}")]
    Api {
        /// The stream's error: it names the model, the offset and the cause.
        source: Error,
        /// Rows safely in the output.
        rows: u64,
        /// Keyset mode: the `action_id` of the last row in the output.
        next_key: Option<u64>,
        /// The partial file holding them, for a file export.
        partial: Option<PathBuf>,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        source: io::Error,
    },
    /// The checkpoint does not fit this export, fails its checks, or there is nothing this
    /// program finished or can continue; or a leftover of an interrupted export is in the way.
    #[error("{0}")]
    Resume(String),
    /// Another export is writing the same output (it holds the output's lock).
    #[error("{0}")]
    Busy(String),
    /// The output cannot be written as asked: a directory, a missing directory, a block
    /// device, a name this program keeps for its own files.
    #[error("{0}")]
    Output(String),
    /// A row could not be written in the chosen format.
    #[error("offset {offset}: {message}")]
    Encode {
        /// The offset of the page holding the row.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// Stopped on request (Ctrl-C) after the last complete page was saved.
    #[error("interrupted at offset {next_offset} after {rows} rows")]
    Interrupted {
        /// Where a resumed export will start.
        next_offset: u64,
        /// Keyset mode: the `action_id` a resumed export will seek past.
        next_key: Option<u64>,
        /// Rows safely in the output.
        rows: u64,
        /// The partial file holding them, for a file export.
        partial: Option<PathBuf>,
    },
}

/// Maps an I/O error on `path` to [`ExportError::Io`].
pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Maps an encoding error of the page at `offset` to [`ExportError::Encode`].
pub(crate) fn encode_err(offset: u64) -> impl FnOnce(String) -> ExportError {
    move |message| ExportError::Encode { offset, message }
}
