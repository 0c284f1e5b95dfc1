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
