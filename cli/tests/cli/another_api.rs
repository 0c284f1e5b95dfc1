//! A `--state` or a checkpoint records where its rows came from: the endpoint (the API's base
//! URL and the model) and a fingerprint of the credential (its project). Pointed at another
//! API or run with another credential, the run is refused (exit 2) naming what differs, before
//! anything is written, and the file is left as it was.

use crate::common;

use std::path::Path;

use common::*;
use xp_export::emulator::Emulator;
use xp_export::export::{Export, ExportErrorKind, Format, Target};

/// `xp-export export --campaign 245624 --state STATE -o OUT` against `emu`.
fn daily(emu: &Emulator, state: &Path, out: &Path) -> std::process::Output {
    cmd(emu)
        .args(["export", "--campaign", "245624", "--state"])
        .arg(state)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_is_not_continued_against_another_api_or_credential() {
    let eu = emulator(30).await;
    let us = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let first = daily(&eu, &state, &dir.path().join("first.ndjson"));
    assert!(first.status.success(), "{}", stderr(&first));
    let written = std::fs::read(&state).unwrap();
    let text = String::from_utf8_lossy(&written);
    assert!(
        !text.contains(eu.apptoken()),
        "no secret in the state: {text}"
    );

    let out = dir.path().join("us.ndjson");
    let run = daily(&us, &state, &out);
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    let endpoint = |emu: &Emulator| format!("{}/list/push-devices", emu.base_url());
    assert!(
        err.contains(&format!("endpoint {} vs {}", endpoint(&eu), endpoint(&us))),
        "names both endpoints: {err}"
    );
    assert!(err.contains("fresh path"), "says what to do: {err}");
    assert!(!out.exists(), "nothing exported");
    assert_eq!(std::fs::read(&state).unwrap(), written, "the state is kept");

    // The same API, another project's apptoken.
    let run = cmd(&eu)
        .env("XTREMEPUSH_APPTOKEN", "another-projects-apptoken")
        .args(["export", "--campaign", "245624", "--state"])
        .arg(&state)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("another credential"), "{err}");
    assert!(!err.contains("another-projects-apptoken"), "{err}");
    assert!(!out.exists(), "nothing exported");
    assert_eq!(std::fs::read(&state).unwrap(), written, "the state is kept");

    // Its own API and credential continue it.
    let again = daily(&eu, &state, &dir.path().join("second.ndjson"));
    assert!(again.status.success(), "{}", stderr(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_not_resumed_against_another_api() {
    let eu = emulator(3_000).await;
    let us = emulator(3_000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.ndjson");
    // An export stopped after its second page, its checkpoint saved.
    let query = emulator_client(&eu)
        .push_actions()
        .page_size(100)
        .concurrency(1);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let job = Export::new(query, Format::Ndjson, Target::File(path.clone()))
        .checkpoint_every(std::time::Duration::ZERO);
    let err = job
        .run(
            async {
                let _ = stopped.await;
            },
            |_, rows| {
                if rows >= 200 {
                    stop.take().map(|s| s.send(()));
                }
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Interrupted, "{err}");
    let checkpoint = xp_export::export::checkpoint_path(&path);
    let saved = std::fs::read(&checkpoint).unwrap();
    assert!(!String::from_utf8_lossy(&saved).contains(eu.apptoken()));

    let run = cmd(&us)
        .args([
            "export",
            "--page-size",
            "100",
            "--concurrency",
            "1",
            "--resume",
            "-o",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "endpoint {}/list/push-devices vs {}/list/push-devices",
            eu.base_url(),
            us.base_url()
        )),
        "{err}"
    );
    assert!(err.contains("--restart"), "{err}");
    assert_eq!(us.requests(), 0, "nothing asked of the other API");
    assert!(!path.exists());
    assert_eq!(std::fs::read(&checkpoint).unwrap(), saved, "left as it was");

    let run = cmd(&eu)
        .env("XTREMEPUSH_APPTOKEN", "another-projects-apptoken")
        .args([
            "export",
            "--page-size",
            "100",
            "--concurrency",
            "1",
            "--resume",
            "-o",
        ])
        .arg(&path)
        .output()
        .unwrap();
    let err = stderr(&run);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(err.contains("another credential"), "{err}");

    // The original command resumes it.
    let run = cmd(&eu)
        .args([
            "export",
            "--page-size",
            "100",
            "--concurrency",
            "1",
            "--resume",
            "-o",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(ndjson_ids(&std::fs::read(&path).unwrap()).len(), 3_000);
}

/// `sealed` (a state or checkpoint as this build writes it) as the previous build wrote it:
/// without the endpoint and credential, sealed again.
fn as_previous_build(sealed: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(sealed).unwrap();
    let fields = value.as_object_mut().unwrap();
    for field in ["api_url", "credential", "checksum"] {
        fields.remove(field);
    }
    let mut body = serde_json::to_vec_pretty(&value).unwrap();
    body.truncate(body.len() - 2);
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    body.extend_from_slice(
        format!(",\n  \"checksum\": \"crc32:{:08x}\"\n}}\n", crc.sum()).as_bytes(),
    );
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_the_previous_build_is_continued_and_then_records_its_api() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let first = daily(&emu, &state, &dir.path().join("first.ndjson"));
    assert!(first.status.success(), "{}", stderr(&first));
    let previous = as_previous_build(&std::fs::read(&state).unwrap());
    assert!(!String::from_utf8_lossy(&previous).contains("credential"));
    std::fs::write(&state, &previous).unwrap();
    emu.insert(5);
    let out = dir.path().join("second.ndjson");
    let run = daily(&emu, &state, &out);
    assert!(run.status.success(), "{}", stderr(&run));
    let new: Vec<u64> = emu.records()[30..]
        .iter()
        .filter(|r| r.campaign_id == 245_624)
        .map(|r| r.action_id)
        .collect();
    assert_eq!(
        ndjson_ids(&std::fs::read(&out).unwrap()),
        new,
        "the new rows"
    );
    let now = std::fs::read_to_string(&state).unwrap();
    assert!(
        now.contains("\"credential\"") && now.contains(&emu.base_url()),
        "{now}"
    );
    assert!(!now.contains(emu.apptoken()), "{now}");
    // From now on, another API is refused.
    let other = emulator(30).await;
    let run = daily(&other, &state, &dir.path().join("third.ndjson"));
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}

/// The same API spelled another way (the scheme or host in capitals, the scheme's default
/// port, a trailing slash) is the same endpoint: a state written with one spelling is
/// continued with another, where it used to be refused as another API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_api_spelled_another_way_is_the_same_endpoint() {
    let emu = emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let first = daily(&emu, &state, &dir.path().join("first.ndjson"));
    assert!(first.status.success(), "{}", stderr(&first));
    let shouted =
        emu.base_url()
            .replacen("http://", "HTTP://", 1)
            .replacen("localhost", "LOCALHOST", 1)
            + "/";
    let run = cmd(&emu)
        .env("XTREMEPUSH_API_URL", &shouted)
        .args(["export", "--campaign", "245624", "--state"])
        .arg(&state)
        .arg("-o")
        .arg(dir.path().join("second.ndjson"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{shouted}: {}", stderr(&run));
}
