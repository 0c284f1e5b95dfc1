//! Log lines on stderr, filtered by -q/-v or `RUST_LOG`, kept clear of the progress line; as
//! text for a person, or with `--log-format json` as one JSON object per line for a machine.
//!
//! In JSON, every line has the four keys log shippers (Vector, Fluent Bit, Datadog, Loki) index:
//! `timestamp` (RFC 3339, UTC), `level` (uppercase, as `tracing` writes it: `ERROR`, `WARN`,
//! `INFO`, `DEBUG`, `TRACE`), `target` (the module that wrote it, such as
//! `xp_export::paginate::fetch`, or the program's own `xp_export_cli::…`) and a `message` for a
//! person, then the line's own fields. The program's own lines also have an `event`:
//! `warning`, `progress` (every `--progress-interval` seconds), `listening` (the emulator) and
//! last `summary`, which carries the run's `stop_reason` and `exit_code`.

use std::io::IsTerminal;
use std::sync::{Mutex, OnceLock};

use indicatif::ProgressBar;
use serde_json::{Map, Value};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

use crate::console::say;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for a person to read.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format chosen at [`init`].
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}

/// Whether log lines are JSON.
pub fn is_json() -> bool {
    format() == LogFormat::Json
}

/// Sets up `tracing`. Text: errors only by default or with -q; -v warnings (retries), -vv
/// debug, -vvv trace. JSON: warnings, progress and the summary by default, errors only with
/// -q, -vv debug, -vvv trace. `RUST_LOG` overrides either.
pub fn init(format: LogFormat, quiet: bool, verbose: u8, progress: Option<ProgressBar>) {
    use tracing_subscriber::EnvFilter;
    let _ = FORMAT.set(format);
    let default = match (format, quiet, verbose) {
        (_, true, _) => "error",
        (LogFormat::Text, false, 0) => "error",
        (LogFormat::Text, false, 1) => "warn",
        (LogFormat::Json, false, 0 | 1) => "warn,xp_export=info",
        (_, false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let writer = move || LogWriter {
        progress: progress.clone(),
        buf: Vec::new(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        LogFormat::Json => builder
            .with_target(true)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

/// Whether the command line (or `XTREMEPUSH_LOG_FORMAT`) asks for JSON log lines, for a
/// command line too broken to parse.
pub fn asked_for_json(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let mut json = std::env::var("XTREMEPUSH_LOG_FORMAT").is_ok_and(|v| v == "json");
    let mut after_flag = false;
    for arg in args {
        let arg = arg.to_string_lossy();
        if after_flag {
            json = arg == "json";
        } else if let Some(value) = arg.strip_prefix("--log-format=") {
            json = value == "json";
        }
        after_flag = arg == "--log-format";
    }
    json
}

static LAST: Mutex<Option<String>> = Mutex::new(None);

/// Keeps a JSON line to write at [`finish`], after every other line.
pub fn json_line_last(level: &str, target: &str, message: &str, fields: Map<String, Value>) {
    let line = json_text(level, target, message, fields);
    *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(line);
}

/// Writes the line kept by [`json_line_last`], if any.
pub fn finish() {
    if let Some(line) = LAST.lock().unwrap_or_else(|e| e.into_inner()).take() {
        crate::console::err(&line);
    }
}

/// A warning the user should read whatever the verbosity: `xp-export: warning: …` as text, a
/// `warning` event in JSON.
pub fn warning(text: &str) {
    match format() {
        LogFormat::Text => say!("xp-export: warning: {text}"),
        LogFormat::Json => {
            let mut fields = Map::new();
            fields.insert("event".into(), "warning".into());
            json_line("WARN", "xp_export_cli::warning", text, fields);
        }
    }
}

/// Writes one JSON log line with the program's own `fields` (an `event` among them), after
/// the `timestamp`, `level`, `target` and `message` every line has. It is one write, so lines
/// never interleave.
pub fn json_line(level: &str, target: &str, message: &str, fields: Map<String, Value>) {
    let text = json_text(level, target, message, fields);
    crate::console::err(&text);
}

/// One JSON log line, its newline included. A `message` or `target` among `fields` gives way
/// to the line's own.
fn json_text(level: &str, target: &str, message: &str, mut fields: Map<String, Value>) -> String {
    let mut timestamp = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    fields.remove("message");
    fields.remove("target");
    // The four keys every line has first; the rest in key order.
    let mut text = format!(
        "{{\"timestamp\":{},\"level\":{},\"target\":{},\"message\":{}",
        Value::from(timestamp),
        Value::from(level),
        Value::from(target),
        Value::from(message)
    );
    let rest = Value::Object(fields).to_string();
    if rest.len() > 2 {
        text.push(',');
        text.push_str(&rest[1..]);
    } else {
        text.push('}');
    }
    text.push('\n');
    text
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
        let mut buf = std::mem::take(&mut self.buf);
        // A library's trace line may hold a store's URL with its password, or a signature.
        if let Some(clean) = xp_export::export::object::redact(&String::from_utf8_lossy(&buf)) {
            buf = clean.into_bytes();
        }
        let write = || {
            let _ = std::io::Write::write_all(&mut crate::console::Stderr, &buf);
        };
        match &self.progress {
            Some(p) => p.suspend(write),
            None => write(),
        }
    }
}
