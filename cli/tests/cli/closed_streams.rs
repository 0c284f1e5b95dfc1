//! Standard error or output closed by their reader (a log shipper that died, `2>&1 | head`):
//! what the program would have printed is lost, never the export. It exits as it would have,
//! its output complete and its `--state` written, and never panics (exit 101).

use crate::common;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use xp_export::emulator::Emulator;

/// The write end of a pipe whose read end is already closed: every write to it fails with
/// EPIPE, as when the reader of `xp-export … 2>&1 | head` has gone.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Stdio::from(writer)
}

/// An export of every row to `dir/out.ndjson` that records `dir/state.json`, with an apptoken
/// file its group can read (which the program warns about on stderr).
fn export(emu: &Emulator, dir: &Path) -> Command {
    let token = dir.join("token");
    std::fs::write(&token, format!("{}\n", emu.apptoken())).unwrap();
    let mut c = cmd(emu);
    c.env_remove("XTREMEPUSH_APPTOKEN")
        .args(["export", "--page-size", "100", "--apptoken-file"])
        .arg(&token)
        .arg("-o")
        .arg(dir.join("out.ndjson"))
        .arg("--state")
        .arg(dir.join("state.json"));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stderr_loses_the_messages_not_the_export_or_its_state() {
    let emu = emulator(1_000).await;
    let ids: Vec<u64> = emu.records().iter().map(|r| r.action_id).collect();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = d.join("token");
    // Text and JSON lines alike; the token file is readable by its group, so the warning comes
    // before any row, and the summary after the last.
    for format in ["text", "json"] {
        let _ = std::fs::remove_file(d.join("state.json"));
        let mut c = export(&emu, d);
        std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        let out = c
            .args(["--log-format", format, "-v"])
            .stdout(closed_pipe())
            .stderr(closed_pipe())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}: a closed stderr");
        assert_eq!(
            ndjson_ids(&std::fs::read(d.join("out.ndjson")).unwrap()),
            ids,
            "{format}: every row is exported"
        );
        let state = std::fs::read_to_string(d.join("state.json")).expect("the state is written");
        assert!(state.contains(&ids[ids.len() - 1].to_string()), "{state}");
    }
    // A failure still exits with its own code: here a state of another query (2).
    let out = export(&emu, d)
        .args(["--campaign", "7"])
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error with a closed stderr"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_keeps_serving_when_its_stdout_is_closed() {
    // A free port, for the emulator to listen on: its stdout, where it says the port, is closed.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args(["emulate", "--records", "10", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        let exited = child.try_wait().unwrap();
        assert!(exited.is_none(), "the emulator exited: {exited:?}");
        assert!(Instant::now() < deadline, "the emulator never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0), "stopped by SIGTERM");
}

/// `--plan`'s one line on stdout is the command's result, which an orchestrator hands to its
/// parts: with stdout closed it is not written, and the command says so and fails rather than
/// exit 0 with no plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_cannot_be_written_fails_the_command() {
    let emu = emulator(300).await;
    let plan = |stdout: Stdio| {
        cmd(&emu)
            .args(["export", "--shards", "2", "--plan"])
            .args(["--where", "create_time < 1700000000"])
            .stdout(stdout)
            .output()
            .unwrap()
    };
    let out = plan(Stdio::piped());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"shards\""));
    let out = plan(closed_pipe());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("writing the plan"),
        "{}",
        stderr(&out)
    );
}
