//! The binary's writes to stderr and stdout, none of which can panic.
//!
//! `eprintln!` and `println!` panic when the stream is a pipe whose reader is gone (EPIPE: a
//! log shipper that died, `2>&1 | head`): the process exits 101, and an export that finished
//! would be reported as failed, its `--state` never written. Here a stream that is closed
//! (EPIPE) or was never open (EBADF) drops what is written to it, and the command carries on
//! to its own exit code; any other error is dropped the same way, since there is nowhere left
//! to say it. The log lines ([`crate::logging`]), the summary and every message go through
//! [`Stderr`]; the `emulate` command's lines for scripts through [`out`]. The crate denies
//! `print_stderr` and `print_stdout`, so a new `eprintln!` does not build.

use std::fmt;
use std::io::{self, Write};

/// `eprintln!` that cannot panic: one line on stderr, dropped when stderr is gone.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::err_line(format_args!($($arg)*))
    };
}

/// `println!` that cannot panic: one line on stdout, dropped when stdout is gone.
macro_rules! say_out {
    ($($arg:tt)*) => {
        $crate::console::out(format_args!($($arg)*))
    };
}

pub(crate) use {say, say_out};

/// Standard error, where a closed stream is not an error: the writer of every line the
/// program prints there.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match io::stderr().lock().write(buf) {
            Err(e) if is_closed(&e) => Ok(buf.len()),
            other => other,
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match io::stderr().lock().write_all(buf) {
            Err(e) if is_closed(&e) => Ok(()),
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match io::stderr().lock().flush() {
            Err(e) if is_closed(&e) => Ok(()),
            other => other,
        }
    }
}

/// Whether `e` says the stream is gone: its reader closed it (EPIPE), or it was never open
/// (EBADF).
pub fn is_closed(e: &io::Error) -> bool {
    /// EBADF on Linux, macOS and the BSDs.
    const EBADF: i32 = 9;
    e.kind() == io::ErrorKind::BrokenPipe || (cfg!(unix) && e.raw_os_error() == Some(EBADF))
}

/// Writes `text` to stderr in one write (so lines of two threads never interleave), dropping
/// it when stderr is gone.
pub fn err(text: &str) {
    let _ = Stderr.write_all(text.as_bytes());
}

/// Writes one line to stderr: `args` and a newline, as [`err`] does.
pub fn err_line(args: fmt::Arguments<'_>) {
    err(&format!("{args}\n"));
}

/// Writes one line to stdout, dropping it when stdout is gone.
pub fn out(args: fmt::Arguments<'_>) {
    let text = format!("{args}\n");
    let mut stdout = io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_or_never_opened_stream_is_not_an_error_others_are() {
        assert!(is_closed(&io::Error::from(io::ErrorKind::BrokenPipe)));
        assert!(is_closed(&io::Error::from_raw_os_error(32)), "EPIPE");
        assert!(is_closed(&io::Error::from_raw_os_error(9)), "EBADF");
        assert!(!is_closed(&io::Error::from_raw_os_error(28)), "ENOSPC");
        assert!(!is_closed(&io::Error::from(io::ErrorKind::Interrupted)));
    }
}
