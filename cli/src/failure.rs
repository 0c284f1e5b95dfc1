//! How a command fails: a message, further notes and the exit code.
//!
//! Exit codes: 0 success (and a closed pipe), 1 failure (retries exhausted, I/O), 2 usage or
//! configuration (an output that cannot be written as asked, a resume that does not fit, an
//! output another export is writing), 3 the API refused the request (or redirected it), 129
//! stopped (SIGHUP), 130 interrupted (Ctrl-C) and 143 stopped (SIGTERM), with the checkpoint
//! saved.

use std::path::Path;

use xp_export::ErrorKind;
use xp_export::export::{ExportError, ExportErrorKind};
use xp_export::paginate::thousands;

/// The exit codes, as `xp-export export --help` lists them.
pub const EXIT_CODES: &str = "Exit codes: 0 success (also when a pipe's reader such as `head` \
closed it early); 1 failure (retries exhausted, I/O, --state or --summary-json not written); 2 \
usage or configuration; 3 the API refused the request; 129 stopped by SIGHUP, 130 by Ctrl-C, 143 \
by SIGTERM (128 + the signal's number), at any moment of the run, its probes included: the \
checkpoint is saved and the state left as it was.";

/// What an exit code means: the one map from the library's errors to the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: success, and a closed pipe (`| head`).
    Success,
    /// 1: the command could not do its work (retries exhausted, I/O).
    Failed,
    /// 2: a bad flag, value or configuration, an output that cannot be written as asked, a
    /// resume or state that does not fit, an output another export is writing.
    Usage,
    /// 3: the API refused the request (or redirected it).
    Refused,
    /// 129: stopped (SIGHUP), the checkpoint saved.
    HungUp,
    /// 130: interrupted (Ctrl-C), the checkpoint saved.
    Interrupted,
    /// 143: stopped (SIGTERM), the checkpoint saved.
    Terminated,
}

impl Exit {
    /// The process's exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Refused => 3,
            Exit::HungUp => 129,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// What a code means, for the JSON summary's `stop_reason` and its level.
    pub fn of_code(code: u8) -> Exit {
        match code {
            0 => Exit::Success,
            2 => Exit::Usage,
            3 => Exit::Refused,
            129 => Exit::HungUp,
            130 => Exit::Interrupted,
            143 => Exit::Terminated,
            _ => Exit::Failed,
        }
    }

    /// The exit for a failed request of this kind: a refusal or redirect 3, a configuration
    /// error 2, anything else (worth retrying later) 1.
    pub fn of_api(kind: ErrorKind) -> Exit {
        match kind {
            ErrorKind::Refused | ErrorKind::Redirected => Exit::Refused,
            ErrorKind::Config => Exit::Usage,
            _ => Exit::Failed,
        }
    }

    /// The exit for an export's error (a closed pipe aside: see [`Failure::from_export`]).
    pub fn of_export(e: &ExportError) -> Exit {
        match e.kind() {
            ExportErrorKind::Api => e
                .api_error()
                .map_or(Exit::Failed, |a| Exit::of_api(a.kind())),
            ExportErrorKind::Interrupted => Exit::Interrupted,
            ExportErrorKind::Resume
            | ExportErrorKind::Busy
            | ExportErrorKind::Output
            | ExportErrorKind::State
            | ExportErrorKind::Query => Exit::Usage,
            _ => Exit::Failed,
        }
    }

    /// The JSON summary's `stop_reason` and the level of its line.
    pub fn stop_reason(self) -> (&'static str, &'static str) {
        match self {
            Exit::Success => ("INFO", "closed_pipe"),
            Exit::Usage => ("ERROR", "usage"),
            Exit::Refused => ("ERROR", "refused"),
            Exit::HungUp => ("WARN", "hangup"),
            Exit::Interrupted => ("WARN", "interrupted"),
            Exit::Terminated => ("WARN", "terminated"),
            Exit::Failed => ("ERROR", "failed"),
        }
    }
}

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
            code: Exit::Usage.code(),
            message: message.into(),
            notes: Vec::new(),
            ..Default::default()
        }
    }

    /// Exit code 1: the command could not do its work.
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            code: Exit::Failed.code(),
            message: message.into(),
            notes: Vec::new(),
            ..Default::default()
        }
    }

    /// Exit code 0 and nothing printed: the reader closed the pipe (`| head`) and has what it
    /// wanted.
    fn closed_pipe() -> Self {
        Failure {
            code: Exit::Success.code(),
            message: String::new(),
            notes: Vec::new(),
            ..Default::default()
        }
    }

    /// Maps an export's error to its exit code and message. The message is the error's whole
    /// `source()` chain on one line, each cause once, at every verbosity (so `--summary-json`
    /// has the same `error` whatever the flags); -v adds log lines, not notes.
    pub fn from_export(e: ExportError, _verbose: u8, how: Continuation) -> Self {
        let broken_pipe = e
            .io_error()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if broken_pipe {
            return Failure::closed_pipe();
        }
        let exit = Exit::of_export(&e);
        let rows = e.rows().unwrap_or_default();
        let saved = Saved {
            rows,
            partial: e.partial(),
            resumable: e.is_resumable(),
        };
        let notes = match (e.kind(), exit) {
            (ExportErrorKind::Api, Exit::Failed) => vec![resume_note(
                saved,
                e.api_error().and_then(xp_export::Error::offset),
                e.next_key(),
                how,
            )],
            (ExportErrorKind::Interrupted, _) => {
                vec![resume_note(saved, e.next_offset(), e.next_key(), how)]
            }
            // A write that failed (a full disk): the checkpoint's rows stay for a resume.
            (ExportErrorKind::Io, _) if saved.partial.is_some() => {
                vec![resume_note(saved, e.offset(), None, how)]
            }
            // The bucket failed: the checkpoint beside the object keeps the parts uploaded.
            (ExportErrorKind::Store, _) if saved.resumable => {
                vec![resume_note(saved, None, None, how)]
            }
            (ExportErrorKind::SplitMoved, _) => vec![
                "plan the split once: the same command with --plan (and --shards N) prints the \
                 key range; give it to every part with --key-range FIRST..LAST"
                    .to_string(),
            ],
            _ => Vec::new(),
        };
        Failure {
            code: exit.code(),
            message: xp_export::error::chain(&e),
            notes,
            ..Default::default()
        }
    }

    /// A request of the command's own (a shard's key range, an incremental run's probe) that
    /// failed while `doing` something, with the exit code an export's failure would have.
    pub fn from_api(doing: &str, e: &xp_export::Error) -> Self {
        Failure {
            code: Exit::of_api(e.kind()).code(),
            message: format!("{doing}: {}", xp_export::error::chain(e)),
            ..Default::default()
        }
    }
}

/// What a stopped export kept: its rows, the partial file holding them, and whether it was a
/// file export (which `--resume` continues even when it saved nothing).
#[derive(Debug, Clone, Copy)]
struct Saved<'a> {
    rows: u64,
    partial: Option<&'a Path>,
    resumable: bool,
}

/// How to continue after `saved.rows` rows: `--resume` for a file export (into its partial
/// file, or from the start when it saved nothing); else the flags that start the same command
/// where this run stopped (`--mode keyset --after KEY`, or `--offset N` with `--after KEY` for
/// the seam check), and what is left of `--max-rows`.
fn resume_note(
    saved: Saved<'_>,
    offset: Option<u64>,
    key: Option<u64>,
    how: Continuation,
) -> String {
    let rows = saved.rows;
    if let Some(p) = saved
        .partial
        .filter(|p| p.to_string_lossy().contains("://"))
    {
        return format!(
            "{} rows are uploaded, recorded by {}; run the same command with --resume to \
             continue, on this machine or another",
            thousands(rows),
            p.display()
        );
    }
    if let Some(p) = saved.partial {
        return format!(
            "{} rows are saved in {}; run the same command with --resume to continue",
            thousands(rows),
            p.display()
        );
    }
    if saved.resumable {
        return "no rows were saved; run the same command with --resume to continue (it starts \
                from the beginning)"
            .to_string();
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
    use crate::signal::Signal;

    #[test]
    fn the_help_lists_every_exit_code_and_each_code_means_one_exit() {
        let all = [
            Exit::Success,
            Exit::Failed,
            Exit::Usage,
            Exit::Refused,
            Exit::HungUp,
            Exit::Interrupted,
            Exit::Terminated,
        ];
        for exit in all {
            let code = exit.code();
            assert_eq!(Exit::of_code(code), exit);
            assert!(
                EXIT_CODES.contains(&format!(" {code} ")),
                "{code}: {EXIT_CODES}"
            );
        }
        for s in [Signal::Hangup, Signal::Interrupt, Signal::Terminate] {
            assert!(all.contains(&Exit::of_code(s.exit_code())), "{s:?}");
            assert_ne!(Exit::of_code(s.exit_code()), Exit::Failed, "{s:?}");
        }
    }

    fn written(rows: u64) -> Saved<'static> {
        Saved {
            rows,
            partial: None,
            resumable: false,
        }
    }

    #[test]
    fn a_file_export_that_saved_nothing_is_told_to_resume_not_to_start_at_offset_0() {
        let file = Saved {
            resumable: true,
            ..written(0)
        };
        let note = resume_note(file, Some(0), None, Continuation::default());
        assert!(note.contains("with --resume"), "{note}");
        assert!(!note.contains("--offset"), "{note}");
    }

    #[test]
    fn a_shard_to_standard_output_is_never_told_to_continue_from_an_offset() {
        let plain = Continuation::default();
        let note = resume_note(written(1_200), Some(1_200), Some(77), plain);
        assert!(note.contains("--offset 1200 --after 77"), "{note}");
        let shard = Continuation {
            sharded: true,
            ..plain
        };
        let note = resume_note(written(1_200), Some(1_200), Some(77), shard);
        assert!(
            !note.contains("--offset") && !note.contains("--after"),
            "{note}"
        );
        assert!(
            note.contains("run it again, or write it to a file"),
            "{note}"
        );
        let saved = Saved {
            partial: Some(Path::new("p.partial")),
            ..written(1_200)
        };
        let saved = resume_note(saved, None, None, shard);
        assert!(saved.contains("with --resume to continue"), "{saved}");
    }
}
