//! Which statuses retry, and what an error says.

use super::*;

#[test]
fn which_statuses_retry() {
    let cases = [
        (400, false),
        (401, false),
        (403, false),
        (404, false),
        (405, false),
        (408, true),
        (410, false),
        (429, true),
        (500, true),
        (501, false),
        (502, true),
        (503, true),
        (504, true),
        (505, false),
        (507, true),
    ];
    for (code, retried) in cases {
        assert_eq!(is_retryable_status(code), retried, "{code}");
        let kind = Error::from_status(code, "x").kind();
        assert_eq!(kind.is_retryable(), retried, "{code} -> {kind:?}");
    }
}

#[test]
fn display_names_model_offset_status_and_message() {
    let e = Error::from_status(401, "Authentication failed").at("push-devices", 12000);
    assert_eq!(
        e.to_string(),
        "list/push-devices at offset 12000: HTTP 401 Authentication failed"
    );
    assert_eq!(e.kind(), ErrorKind::Refused);
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.offset(), Some(12000));
    assert!(!e.is_retryable());
}

#[test]
fn display_counts_attempts_after_retries() {
    let e = Error::from_status(503, "Service Unavailable")
        .at("campaign", 0)
        .with_attempts(9);
    assert_eq!(
        e.to_string(),
        "list/campaign at offset 0: HTTP 503 Service Unavailable (gave up after 9 attempts)"
    );
    assert_eq!(e.kind(), ErrorKind::Server);
    assert!(e.is_retryable());
}

#[test]
fn a_refusal_after_a_retry_does_not_claim_to_give_up() {
    let e = Error::from_status(401, "Authentication failed")
        .at("push-devices", 0)
        .with_attempts(2);
    assert_eq!(
        e.to_string(),
        "list/push-devices at offset 0: HTTP 401 Authentication failed"
    );
    assert_eq!(e.attempts(), 2);
}

#[test]
fn status_codes_map_to_kinds() {
    assert_eq!(Error::from_status(429, "").kind(), ErrorKind::RateLimited);
    for code in [500, 502, 503, 504] {
        assert_eq!(Error::from_status(code, "").kind(), ErrorKind::Server);
    }
    for code in [400, 401, 403, 404, 405, 410] {
        assert_eq!(Error::from_status(code, "").kind(), ErrorKind::Refused);
    }
}

#[test]
fn error_is_small_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Error>();
    assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
}

/// `e` and its `source()` chain, joined with ": " the way anyhow's `{:#}` prints an error.
fn alternate(e: &(dyn StdError + 'static)) -> String {
    let mut links = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        links.push(s.to_string());
        source = s.source();
    }
    links.join(": ")
}

/// The texts of `e`'s `source()` chain, without `e` itself.
fn sources(e: &(dyn StdError + 'static)) -> Vec<String> {
    let mut texts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        texts.push(s.to_string());
        source = s.source();
    }
    texts
}

#[tokio::test]
async fn display_says_this_layer_and_the_chain_says_the_cause_once() {
    // Bind then drop a listener: nothing listens on that port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let refused = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    let e = Error::from_reqwest(refused)
        .at("push-devices", 0)
        .with_attempts(3);
    assert_eq!(e.kind(), ErrorKind::Connect);
    let display = e.to_string();
    assert_eq!(
        display,
        "list/push-devices at offset 0: could not connect (gave up after 3 attempts)"
    );
    let sources = sources(&e);
    let root = sources.last().expect("a cause").clone();
    assert!(root.to_lowercase().contains("connection refused"), "{root}");
    for text in &sources {
        assert!(!display.contains(text.as_str()), "{text:?} in {display:?}");
    }
    let chain = alternate(&e);
    assert!(chain.starts_with(&display), "{chain}");
    assert_eq!(chain.matches(root.as_str()).count(), 1, "{chain}");
    assert_eq!(
        chain.to_lowercase().matches("connection refused").count(),
        1
    );
}

#[test]
fn a_source_is_in_the_chain_once_and_not_in_display() {
    let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "Connection reset");
    let e = Error::new(ErrorKind::Network, "the connection failed")
        .with_source(cause)
        .at("campaign", 500);
    assert_eq!(
        e.to_string(),
        "list/campaign at offset 500: the connection failed"
    );
    assert_eq!(
        alternate(&e),
        "list/campaign at offset 500: the connection failed: Connection reset"
    );
}

#[test]
fn a_secret_in_the_source_chain_is_scrubbed_and_the_cause_still_shows_once() {
    let scrub = |t: &str| {
        t.contains("s3cr3t")
            .then(|| t.replace("s3cr3t", "<redacted>"))
    };
    let cause = std::io::Error::other("proxy said: token s3cr3t is wrong");
    let e = Error::new(ErrorKind::Network, "the connection failed")
        .with_source(cause)
        .scrubbed(&scrub);
    let chain = alternate(&e);
    assert_eq!(
        chain,
        "the connection failed: proxy said: token <redacted> is wrong"
    );
    assert!(!format!("{chain} {e:?}").contains("s3cr3t"), "{e:?}");
}
