//! Helpers of the command line's tests: the built binary, run against the emulator; and, re-
//! exported, every helper the library's tests share (`tests/common/mod.rs`).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use xp_export::emulator::Emulator;

pub use crate::shared::*;

pub mod outage;
pub mod s3;

/// The `xp-export` binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_xp-export");

/// The `xp-export` binary pointed at `emu`: a clean environment but for `PATH`, the API URL
/// and the apptoken; no standard input.
pub fn cmd(emu: &Emulator) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XTREMEPUSH_API_URL", emu.base_url())
        .env("XTREMEPUSH_APPTOKEN", emu.apptoken())
        .stdin(Stdio::null());
    c
}

/// The `xp-export` binary pointed at a scripted `server` (`shared::serve`, say): a clean
/// environment but for `PATH`, the API URL and the apptoken the scripted server expects.
pub fn cmd_for(server: &wiremock::MockServer) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XTREMEPUSH_API_URL", base(server))
        .env("XTREMEPUSH_APPTOKEN", TOKEN)
        .stdin(Stdio::null());
    c
}

/// How many rows the checkpoint of an export to `output` holds; 0 before there is one.
pub fn checkpointed_rows(output: &Path) -> u64 {
    std::fs::read_to_string(xp_export::export::checkpoint_path(output))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|cp| cp["rows"].as_u64())
        .unwrap_or(0)
}

/// What a run printed on stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Waits until the export writing `output` has checkpointed at least `rows` rows while it is
/// still running (a minute at most), then kills it with SIGKILL: a crash at a known point.
pub fn kill_once_checkpointed(mut child: Child, output: &Path, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while checkpointed_rows(output) < rows {
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(3));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
