//! Log lines on stderr, filtered by -q/-v or `RUST_LOG`, kept clear of the progress line.

use std::io::IsTerminal;

use indicatif::ProgressBar;

/// Sets up `tracing`: errors only by default or with -q; -v warnings (retries), -vv debug,
/// -vvv trace; `RUST_LOG` overrides.
pub fn init(quiet: bool, verbose: u8, progress: Option<ProgressBar>) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "error",
        (false, 1) => "warn",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let writer = move || LogWriter {
        progress: progress.clone(),
        buf: Vec::new(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Writes log lines to stderr without tearing the progress line.
struct LogWriter {
    progress: Option<ProgressBar>,
    buf: Vec<u8>,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let write = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &buf);
        };
        match &self.progress {
            Some(p) => p.suspend(write),
            None => write(),
        }
    }
}
