//! What a retry logs, and that the apptoken shows nowhere (this binary holds only tests that set
//! a subscriber first: `main.rs` says why).

use crate::common;

use common::*;
use wiremock::ResponseTemplate;

#[tokio::test]
async fn retries_are_logged_and_the_token_appears_nowhere() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());

    let server = serve(Dataset::capped(30, 7)).await;
    fail_next(
        &server,
        1,
        ResponseTemplate::new(503).set_body_json(envelope_error(503, "Unavailable")),
    )
    .await;
    let client = client_for(&base(&server));
    assert_eq!(sequential_ids(&client, 10).await.unwrap().len(), 30);

    let refusing = serve(Dataset::new(1)).await;
    fail_next(
        &refusing,
        1,
        ResponseTemplate::new(401).set_body_json(envelope_error(401, "Authentication failed")),
    )
    .await;
    let err = sequential_ids(&client_for(&base(&refusing)), 10)
        .await
        .unwrap_err();

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("retrying page"), "{logs}");
    assert!(logs.contains("offset=0"), "{logs}");
    assert!(logs.contains("wait_ms="), "{logs}");
    assert!(logs.contains("HTTP 503 Unavailable"), "{logs}");
    assert!(logs.contains("caps"), "the learned cap is logged: {logs}");
    for text in [
        logs,
        err.to_string(),
        format!("{err:?}"),
        format!("{client:?}"),
        format!("{:?}", sequential(&client).campaign(1)),
    ] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
    }
}
