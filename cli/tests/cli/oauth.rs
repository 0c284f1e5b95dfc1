//! The command line's OAuth 2.0 flags, through the built binary against the emulator: a client
//! secret exports every row, a wrong one is refused (exit 3) without showing it, and anything
//! but exactly one credential is a usage error (exit 2) that says what was found and where to
//! set each.

use crate::common;
use crate::common::stderr;

use std::process::{Command, Stdio};

use common::{BIN, ndjson_ids};
use xp_export::emulator::{Config, Emulator};

const CLIENT_ID: &str = "cli-client-7f3e";
const SECRET: &str = "cs-SECRET-91ab-should-never-show";

async fn oauth_emulator(records: usize) -> Emulator {
    Emulator::start(
        Config::default()
            .records(records)
            .client_id(CLIENT_ID)
            .client_secret(SECRET),
    )
    .await
    .unwrap()
}

/// The binary with a clean environment but for `PATH` and the API URL: no credential.
fn xp(emu: &Emulator) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XTREMEPUSH_API_URL", emu.base_url())
        .stdin(Stdio::null());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_and_secret_from_the_environment_export_every_row() {
    let emu = oauth_emulator(250).await;
    let out = xp(&emu)
        .args(["export", "--page-size", "40", "--client-id", CLIENT_ID])
        .env("XTREMEPUSH_CLIENT_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut ids = ndjson_ids(&out.stdout);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 250);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_file_and_an_id_from_the_environment_work_too() {
    let emu = oauth_emulator(30).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("\u{feff}{SECRET}\n")).unwrap();
    let out = xp(&emu)
        .args(["-q", "export", "--client-secret-file"])
        .arg(&file)
        .env("XTREMEPUSH_CLIENT_ID", CLIENT_ID)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout).len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_exits_3_with_the_servers_message_and_shows_no_secret() {
    let emu = oauth_emulator(30).await;
    let wrong = "cs-WRONG-55de-should-never-show";
    let out = xp(&emu)
        .args(["-vvv", "export", "--client-id", CLIENT_ID])
        .env("XTREMEPUSH_CLIENT_SECRET", wrong)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("Client authentication failed"), "{err}");
    assert!(!err.contains(wrong), "{err}");
    assert!(!err.contains(SECRET), "{err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_credential_kinds_are_a_usage_error_naming_both() {
    let emu = oauth_emulator(5).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let out = xp(&emu)
        .args(["export", "--client-id", CLIENT_ID, "--private-key-file"])
        .arg(&key)
        .env("XTREMEPUSH_APPTOKEN", emu.apptoken())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("more than one credential"), "{err}");
    assert!(
        err.contains("an apptoken (from XTREMEPUSH_APPTOKEN)"),
        "{err}"
    );
    assert!(
        err.contains("a private key (from --private-key-file)"),
        "{err}"
    );
    assert!(!err.contains(emu.apptoken()), "{err}");

    let out = xp(&emu)
        .args(["export", "--client-id", CLIENT_ID])
        .env("XTREMEPUSH_APPTOKEN", emu.apptoken())
        .env("XTREMEPUSH_CLIENT_SECRET", SECRET)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("an apptoken (from XTREMEPUSH_APPTOKEN)"),
        "{err}"
    );
    assert!(
        err.contains("a client secret (from XTREMEPUSH_CLIENT_SECRET)"),
        "{err}"
    );
    assert!(!err.contains(SECRET), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_is_a_usage_error_naming_where_to_set_each() {
    let emu = oauth_emulator(5).await;
    let out = xp(&emu)
        .args(["export", "--client-id", CLIENT_ID])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no credentials"), "{err}");
    for place in [
        "--apptoken-file",
        "XTREMEPUSH_APPTOKEN",
        "--client-secret-file",
        "XTREMEPUSH_CLIENT_SECRET",
        "--private-key-file",
        "--client-id",
        "XTREMEPUSH_CLIENT_ID",
    ] {
        assert!(err.contains(place), "{place} missing: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_without_a_client_id_is_a_usage_error() {
    let emu = oauth_emulator(5).await;
    let out = xp(&emu)
        .arg("export")
        .env("XTREMEPUSH_CLIENT_SECRET", SECRET)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--client-id"), "{err}");
}

#[test]
fn a_bad_region_is_a_usage_error() {
    let out = Command::new(BIN)
        .env_clear()
        .args(["export", "--region", "mars"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_key_file_exports_by_jwt_bearer_and_a_readable_one_is_warned_of() {
    let emu = Emulator::start(
        Config::default()
            .records(60)
            .client_id(CLIENT_ID)
            .jwt_public_key_pem(include_str!("../../../tests/fixtures/oauth_rsa.pub.pem")),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, include_str!("../../../tests/fixtures/oauth_rsa.pem")).unwrap();
    let export = |mode: u32| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = mode;
        xp(&emu)
            .args(["-vvv", "export", "--page-size", "25", "--private-key-file"])
            .arg(&key)
            .args(["--token-url", &emu.token_url()])
            .env("XTREMEPUSH_CLIENT_ID", CLIENT_ID)
            .output()
            .unwrap()
    };
    let key_body = include_str!("../../../tests/fixtures/oauth_rsa.pem")
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let out = export(0o600);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(ndjson_ids(&out.stdout).len(), 60);
    assert!(!err.contains("warning: the private key file"), "{err}");
    assert!(!err.contains(&key_body), "{err}");
    if cfg!(unix) {
        let out = export(0o644);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(err.contains("warning: the private key file"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_certificate_or_encrypted_key_as_the_private_key_says_what_it_is() {
    let emu = oauth_emulator(5).await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    let cases = [
        (
            include_str!("../../../tests/fixtures/oauth_rsa.pub.pem").to_string(),
            "holds a PUBLIC KEY, not a private key",
        ),
        (
            include_str!("../../../tests/fixtures/oauth_rsa.cert.pem").to_string(),
            "holds a CERTIFICATE, not a private key",
        ),
        (
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n\
             -----END ENCRYPTED PRIVATE KEY-----\n"
                .to_string(),
            "openssl pkcs8 -in KEY.pem -out plain.pem",
        ),
    ];
    for (pem, says) in cases {
        std::fs::write(&key, &pem).unwrap();
        let out = xp(&emu)
            .args(["export", "--client-id", CLIENT_ID, "--private-key-file"])
            .arg(&key)
            .args(["--token-url", &emu.token_url()])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{says:?} not in {err}");
        assert!(!err.contains("signature"), "{err}");
        assert!(!err.contains(pem.lines().nth(1).unwrap()), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// Kills the emulator it holds when dropped, also when an assertion fails first.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulate_prints_a_client_id_and_secret_that_export() {
    let mut child = Killed(
        Command::new(BIN)
            .env_clear()
            .args(["emulate", "--port", "0", "--records", "20", "-q"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut reader = std::io::BufReader::new(child.0.stdout.take().unwrap());
    let mut vars = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        let (name, value) = line.trim_end().split_once('=').expect("NAME=value");
        vars.push((name.to_string(), value.to_string()));
    }
    let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "XTREMEPUSH_API_URL",
            "XTREMEPUSH_APPTOKEN",
            "XTREMEPUSH_CLIENT_ID",
            "XTREMEPUSH_CLIENT_SECRET"
        ]
    );
    let out = Command::new(BIN)
        .env_clear()
        .envs(
            vars.iter()
                .filter(|(n, _)| n != "XTREMEPUSH_APPTOKEN")
                .cloned(),
        )
        .args(["-q", "export"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(child);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout).len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_may_not_be_the_client_secret_file() {
    let emu = oauth_emulator(5).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, SECRET).unwrap();
    let out = xp(&emu)
        .args(["export", "--client-id", CLIENT_ID, "--client-secret-file"])
        .arg(&file)
        .arg("-o")
        .arg(&file)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("is the client secret file"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_algorithm_signs_rs512_and_refuses_one_the_key_cannot_sign() {
    let emu = Emulator::start(
        Config::default()
            .records(30)
            .client_id(CLIENT_ID)
            .jwt_public_key_pem(include_str!("../../../tests/fixtures/oauth_rsa.pub.pem")),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(&key, include_str!("../../../tests/fixtures/oauth_rsa.pem")).unwrap();
    let export = |alg: &str| {
        xp(&emu)
            .args(["export", "--client-id", CLIENT_ID, "--jwt-algorithm", alg])
            .arg("--private-key-file")
            .arg(&key)
            .output()
            .unwrap()
    };
    let out = export("RS512");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout).len(), 30);
    let out = export("ES384");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("RSA key") && err.contains("not ES384"),
        "{err}"
    );
    let out = export("HS256");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("RS256, RS384, RS512, ES256 or ES384"), "{err}");
}
