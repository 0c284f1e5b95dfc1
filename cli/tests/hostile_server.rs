//! A hostile server: redirects, echoes of the apptoken (in messages, rows, headers, a
//! `Location`), absurd `Retry-After`, `success: false` inside HTTP 200; and the token file.
//!
//! Every test logs into one global subscriber at TRACE (a per-thread one misses events whose
//! callsite another thread registered first, see `tests/logging/main.rs`), and the token must
//! appear in none of the captured lines.

mod common;
#[path = "../../tests/common/mod.rs"]
mod shared;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::*;
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xp_export::{Client, ErrorKind, RetryPolicy};

/// Every log line of this test binary, at TRACE.
fn logs() -> String {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    let captured = LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        logs
    });
    String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned()
}

/// Every text a user or a log could see of `err`: Display, Debug, and each link of its
/// `source()` chain both ways.
fn every_text(err: &xp_export::Error) -> String {
    let mut texts = vec![err.to_string(), format!("{err:?}"), format!("{err:#}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        texts.push(format!("caused by: {s} / {s:?}"));
        source = s.source();
    }
    texts.join("\n")
}

/// Fails if the token, or eight characters of it in a row, shows in `text`.
fn assert_no_token(text: &str) {
    for window in TOKEN.as_bytes().windows(8) {
        let window = std::str::from_utf8(window).unwrap();
        assert!(
            !text.contains(window),
            "token ({window:?}) shown in:\n{text}"
        );
    }
}

/// The first error of a sequential export against `server`.
async fn first_error(client: &Client) -> xp_export::Error {
    sequential_ids(client, 10)
        .await
        .expect_err("the export fails")
}

async fn answering(response: ResponseTemplate) -> MockServer {
    let server = serve(Dataset::new(30)).await;
    fail_next(&server, 100, response).await;
    server
}

// Case 2: a redirect loses the request, or carries the token away.

/// A server that answers every request, any method, with an empty page.
async fn empty_page_server() -> MockServer {
    let server = common::mock_server().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 200, "success": true, "data": []})),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_redirect_is_an_error_naming_the_location_and_is_not_followed() {
    logs();
    let elsewhere = empty_page_server().await;
    let target = format!("{}/api/external/list/push-devices", elsewhere.uri());
    for status in [301, 302, 303, 307, 308] {
        let server =
            answering(ResponseTemplate::new(status).insert_header("Location", target.as_str()))
                .await;
        let err = first_error(&client_for(&base(&server))).await;
        assert_eq!(err.kind(), ErrorKind::Redirected, "{status}: {err}");
        assert_eq!(err.status(), Some(status));
        assert!(!err.is_retryable());
        let want = format!("list/push-devices at offset 0: the API answered HTTP {status} ");
        assert!(err.to_string().starts_with(&want), "{err}");
        assert!(
            err.detail().contains(&format!("a redirect to {target},")),
            "{err}"
        );
        assert!(
            err.detail().contains(&format!(
                "set the API URL (--api-url) to {}/api/external",
                elsewhere.uri()
            )),
            "{err}"
        );
        assert_eq!(requests(&server).await.len(), 1, "{status}: not retried");
    }
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "no request, so no token, went where Location points"
    );
    assert_no_token(&logs());
}

#[tokio::test]
async fn a_location_holding_credentials_or_the_token_shows_neither() {
    logs();
    let location = format!(
        "http://user:hunter2@collector.example/steal?apptoken={TOKEN}&again={}",
        TOKEN.replace('-', "%2D")
    );
    let server =
        answering(ResponseTemplate::new(307).insert_header("Location", location.as_str())).await;
    let err = first_error(&client_for(&base(&server))).await;
    assert_eq!(err.kind(), ErrorKind::Redirected);
    let text = every_text(&err);
    assert_no_token(&text);
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("collector.example"), "{text}");
    assert!(text.contains("plain http"), "{text}");
}

// Case 6: the token is shown when the server echoes it.

#[tokio::test]
async fn a_server_echoing_the_token_never_gets_it_shown() {
    logs();
    let quoted_body = format!(r#"bad request: {{"apptoken":"{TOKEN}","limit":10,"offset":0}}"#);
    let echoes = [
        ResponseTemplate::new(401)
            .set_body_json(envelope_error(401, &format!("Invalid apptoken {TOKEN}"))),
        ResponseTemplate::new(400).set_body_json(envelope_error(400, &quoted_body)),
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": [{"action_id": TOKEN}]})),
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": TOKEN})),
        ResponseTemplate::new(200)
            .set_body_string(format!(
                "<html><body>Invalid apptoken {TOKEN}</body></html>"
            ))
            .insert_header("Content-Type", format!("text/html; echo={TOKEN}").as_str()),
        ResponseTemplate::new(503)
            .set_body_json(envelope_error(503, &format!("overloaded, token {TOKEN}"))),
        ResponseTemplate::new(200).set_body_json(envelope_error(200, &format!("weird {TOKEN}"))),
    ];
    for response in echoes {
        let server = answering(response).await;
        let client = client_for(&base(&server));
        let err = first_error(&client).await;
        assert_no_token(&every_text(&err));
    }
    let logs = logs();
    assert!(
        logs.contains("retrying page"),
        "retries were logged: {logs}"
    );
    assert_no_token(&logs);
}

#[tokio::test]
async fn a_raw_row_that_is_the_token_is_not_shown_in_part() {
    logs();
    let server = answering(
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": [TOKEN]})),
    )
    .await;
    let client = client_for(&base(&server));
    let mut rows = client.push_actions().page_size(10).raw_stream();
    let err = loop {
        match futures::TryStreamExt::try_next(&mut rows).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the export must fail"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.detail().contains("is not a JSON object"), "{err}");
    assert_no_token(&every_text(&err));
}

// Siblings: an absurd Retry-After; `success: false` inside HTTP 200 (case 15).

#[tokio::test]
async fn an_absurd_retry_after_is_clamped_not_a_panic() {
    logs();
    let server = answering(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", u64::MAX.to_string().as_str())
            .set_body_json(envelope_error(429, "slow down")),
    )
    .await;
    let client = Client::builder()
        .api_url(base(&server))
        .apptoken(TOKEN)
        .retry(RetryPolicy::none().with_max_delay(Duration::MAX))
        .build()
        .unwrap();
    let err = first_error(&client).await;
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.retry_after(), Some(xp_export::client::MAX_RETRY_AFTER));
}

#[tokio::test]
async fn success_false_inside_http_200_says_what_the_server_said() {
    logs();
    let server = answering(
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": false, "message": "weird"})),
    )
    .await;
    let err = first_error(&client_for(&base(&server))).await;
    assert_eq!(err.kind(), ErrorKind::Server, "retried as before");
    assert_eq!(
        err.detail(),
        "the API reported a failure (success: false, code 200): weird"
    );
    assert!(!err.to_string().contains("HTTP 500"), "{err}");
}

// The CLI: exit codes, stderr at -vvv, --summary-json and the checkpoint.

fn xp(api_url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("XTREMEPUSH_API_URL", api_url)
        .env("XTREMEPUSH_APPTOKEN", TOKEN)
        .stdin(Stdio::null());
    c
}

/// The first page, then the token echoed back in a refusal.
struct PageThenEcho(Mutex<u32>);

impl Respond for PageThenEcho {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        match *n {
            1 => Dataset::new(30).respond(req),
            2 => ResponseTemplate::new(503)
                .set_body_json(envelope_error(503, &format!("busy; you sent {TOKEN}"))),
            _ => ResponseTemplate::new(401)
                .set_body_json(envelope_error(401, &format!("Invalid apptoken {TOKEN}"))),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_shows_the_token_nowhere_at_trace_level() {
    let server = common::mock_server().await;
    Mock::given(any())
        .respond_with(PageThenEcho(Mutex::new(0)))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let summary = dir.path().join("summary.json");
    let out = xp(&base(&server))
        .args(["-vvv", "export", "--page-size", "10", "--concurrency", "1"])
        .args(["--retry-base-ms", "1", "--summary-json"])
        .arg(&summary)
        .arg("-o")
        .arg(dir.path().join("out.ndjson"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("retrying page"), "{err}");
    assert!(err.contains("Invalid apptoken <redacted>"), "{err}");
    assert_no_token(&err);
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        assert_no_token(&std::fs::read_to_string(&p).unwrap());
        files += 1;
    }
    assert!(files >= 2, "the summary and the partial output are there");
    assert!(
        std::fs::read_to_string(&summary)
            .unwrap()
            .contains("<redacted>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_a_redirect_exits_3_and_says_to_set_the_api_url() {
    let elsewhere = empty_page_server().await;
    let server = answering(ResponseTemplate::new(301).insert_header(
        "Location",
        format!("{}/api/external/list/push-devices", elsewhere.uri()).as_str(),
    ))
    .await;
    let out = xp(&base(&server)).arg("export").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("--api-url) to {}/api/external", elsewhere.uri())),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no rows, and no 'exported 0 rows'");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

// Case 7: the token file.

fn token_file(dir: &Path, name: &str, text: &[u8], mode: u32) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path
}

fn export_with_token_file(api_url: &str, file: &Path, stdin: Option<&[u8]>) -> Output {
    let mut c = xp(api_url);
    c.env_remove("XTREMEPUSH_APPTOKEN")
        .args(["export", "--page-size", "10", "--apptoken-file"])
        .arg(file);
    match stdin {
        None => c.output().unwrap(),
        Some(bytes) => {
            use std::io::Write;
            let mut child = c
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(bytes).unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_file_is_checked_like_ssh_checks_a_key() {
    let server = serve(Dataset::new(25)).await;
    let api = base(&server);
    let dir = tempfile::tempdir().unwrap();

    // A byte order mark and CRLF are not part of the token.
    let bom = token_file(
        dir.path(),
        "bom",
        format!("\u{feff}{TOKEN}\r\n").as_bytes(),
        0o600,
    );
    let out = export_with_token_file(&api, &bom, None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout).len(), 25);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // Readable by others: used, with a warning that says how to fix it.
    #[cfg(unix)]
    {
        let open = token_file(dir.path(), "open", format!("{TOKEN}\n").as_bytes(), 0o644);
        let out = export_with_token_file(&api, &open, None);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("warning: the apptoken file"), "{err}");
        assert!(err.contains("(mode 644)"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        assert_no_token(&err);
    }

    // More than one non-empty line: refused, and no line is shown.
    let two = token_file(
        dir.path(),
        "two",
        format!("{TOKEN}\nsecond-line-SECRET\n").as_bytes(),
        0o600,
    );
    let out = export_with_token_file(&api, &two, None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("holds 2 non-empty lines"), "{err}");
    assert!(!err.contains("second-line"), "{err}");
    assert_no_token(&err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_from_stdin_is_read_the_same_way() {
    let server = serve(Dataset::new(5)).await;
    let api = base(&server);
    let dash = Path::new("-");
    let out = export_with_token_file(&api, dash, Some(format!("\u{feff}{TOKEN}\n").as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(ndjson_ids(&out.stdout).len(), 5);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    let out = export_with_token_file(&api, dash, Some(format!("{TOKEN}\n{TOKEN}\n").as_bytes()));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("standard input holds 2 non-empty lines"),
        "{err}"
    );
    assert_no_token(&err);
}
