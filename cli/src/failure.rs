//! How a command fails: a message, further notes and the exit code.
//!
//! Exit codes: 0 success (and a closed pipe), 1 failure (retries exhausted, I/O), 2 usage or
//! configuration (an output that cannot be written as asked, a resume that does not fit, an
//! output another export is writing), 3 the API refused the request (or redirected it), 130
//! interrupted (Ctrl-C) and 143 stopped (SIGTERM), with the checkpoint saved.

use std::path::Path;

use xp_export::ErrorKind;
use xp_export::export::ExportError;

use crate::report::thousands;

/// What the hint to continue an export that has no partial file (standard output, a device)
/// needs besides where it stopped: the flags that decide where a run starts and ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Continuation {
    /// Keyset mode: continue `--after` the last key.
    pub keyset: bool,
    /// Where this run started (`--offset`).
    pub start_offset: u64,
    /// `--max-rows` of this run: the rest is what the next run may export.
    pub max_rows: Option<u64>,
    /// A part of a sharded export (`--shard`), which no offset can continue.
    pub sharded: bool,
}

/// A failure with its exit code.
#[derive(Default)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// Further lines: how to resume.
    pub notes: Vec<String>,
    /// What the run had done when it stopped (rows, pages, retries), for the JSON summary.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Failure {
    /// Exit code 2: a bad flag, value or configuration.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
            notes: Vec::new(),
            ..Default::default()
        }
    }

    /// Exit code 1: the command could not do its work.
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
            notes: Vec::new(),
            ..Default::default()
        }
    }

    /// Exit code 0 and nothing printed: the reader closed the pipe (`| head`) and has what it
    /// wanted.
    fn closed_pipe() -> Self {
        Failure {
            code: 0,
            message: String::new(),
            notes: Vec::new(),
            ..Default::default()
        }
    }

    /// Maps an export's error to its exit code and message. The message is the error's whole
    /// `source()` chain on one line, each cause once, at every verbosity (so `--summary-json`
    /// has the same `error` whatever the flags); -v adds log lines, not notes.
    pub fn from_export(e: ExportError, _verbose: u8, how: Continuation) -> Self {
        let message = xp_export::error::chain(&e);
        match e {
            ExportError::Io { ref source, .. }
                if source.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Failure::closed_pipe()
            }
            ExportError::Api {
                source,
                rows,
                next_key,
                partial,
            } => {
                let code = match source.kind() {
                    ErrorKind::Refused | ErrorKind::Redirected => 3,
                    ErrorKind::Config => 2,
                    _ => 1,
                };
                let mut notes = Vec::new();
                if code == 1 {
                    notes.push(resume_note(
                        rows,
                        partial.as_deref(),
                        source.offset(),
                        next_key,
                        how,
                    ));
                }
                Failure {
                    code,
                    message,
                    notes,
                    ..Default::default()
                }
            }
            ExportError::Interrupted {
                next_offset,
                next_key,
                rows,
                ref partial,
            } => {
                let note = resume_note(rows, partial.as_deref(), Some(next_offset), next_key, how);
                Failure {
                    code: 130,
                    message,
                    notes: vec![note],
                    ..Default::default()
                }
            }
            ExportError::Resume(_) | ExportError::Busy(_) | ExportError::Output(_) => Failure {
                code: 2,
                message,
                notes: Vec::new(),
                ..Default::default()
            },
            _ => Failure {
                code: 1,
                message,
                notes: Vec::new(),
                ..Default::default()
            },
        }
    }
}

/// How to continue after `rows` rows: `--resume` into the partial file; else the flags that
/// start the same command where this run stopped (`--mode keyset --after KEY`, or `--offset N`
/// with `--after KEY` for the seam check), and what is left of `--max-rows`.
fn resume_note(
    rows: u64,
    partial: Option<&Path>,
    offset: Option<u64>,
    key: Option<u64>,
    how: Continuation,
) -> String {
    if let Some(p) = partial {
        return format!(
            "{} rows are saved in {}; run the same command with --resume to continue",
            thousands(rows),
            p.display()
        );
    }
    let written = format!("{} rows were written", thousands(rows));
    if how.sharded {
        return format!(
            "{written}; a shard cannot continue from an offset: run it again, or write it to a \
             file (-o PATH) so that --resume can continue it"
        );
    }
    let mut flags = match (how.keyset, key) {
        (true, Some(key)) => format!("--mode keyset --after {key}"),
        (true, None) => "--mode keyset".to_string(),
        (false, _) => {
            let at = offset.unwrap_or(how.start_offset.saturating_add(rows));
            match key {
                Some(key) => format!("--offset {at} --after {key}"),
                None => format!("--offset {at}"),
            }
        }
    };
    if let Some(max) = how.max_rows {
        match max.saturating_sub(rows) {
            0 => return format!("{written}: all that --max-rows asked for"),
            left => flags += &format!(" --max-rows {left}"),
        }
    }
    format!(
        "{written}; to continue, add `{flags}` to the same command (a flag given twice takes \
         its last value)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_to_standard_output_is_never_told_to_continue_from_an_offset() {
        let plain = Continuation::default();
        let note = resume_note(1_200, None, Some(1_200), Some(77), plain);
        assert!(note.contains("--offset 1200 --after 77"), "{note}");
        let shard = Continuation {
            sharded: true,
            ..plain
        };
        let note = resume_note(1_200, None, Some(1_200), Some(77), shard);
        assert!(
            !note.contains("--offset") && !note.contains("--after"),
            "{note}"
        );
        assert!(
            note.contains("run it again, or write it to a file"),
            "{note}"
        );
        let saved = resume_note(1_200, Some(Path::new("p.partial")), None, None, shard);
        assert!(saved.contains("with --resume to continue"), "{saved}");
    }
}
