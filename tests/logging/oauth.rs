//! No OAuth secret (client secret, private key, access token, assertion) in the logs at TRACE,
//! even from servers that echo them (this binary holds only tests that set a subscriber first:
//! `main.rs` says why).

use crate::common;

use std::time::Duration;

use common::{Captured, quick_retry};
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use xp_export::emulator::{Config, Emulator};
use xp_export::{Client, PushAction};

const RSA_KEY: &str = include_str!("../fixtures/oauth_rsa.pem");
const RSA_PUB: &str = include_str!("../fixtures/oauth_rsa.pub.pem");
const SECRET: &str = "cs-SECRET-9f3e-should-never-show";
const ACCESS: &str = "at-SECRET-77aa-should-never-show";

async fn ids(client: &Client) -> Result<Vec<u64>, xp_export::Error> {
    common::sequential(client)
        .page_size(50)
        .stream()
        .map_ok(|a: PushAction| a.action_id.unwrap())
        .try_collect()
        .await
}

#[tokio::test]
async fn no_oauth_secret_is_logged_at_trace() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());
    let mut shown = Vec::new();

    // Both grants, a token renewed on a 401, and a transient token failure retried.
    let config = Config::default()
        .records(300)
        .client_secret(SECRET)
        .jwt_public_key_pem(RSA_PUB);
    let emu = Emulator::start(config).await.unwrap();
    let base = || {
        Client::builder()
            .api_url(emu.base_url())
            .timeout(Duration::from_secs(5))
            .retry(quick_retry())
    };
    let secret = base()
        .oauth_client_credentials(emu.client_id(), SECRET)
        .build()
        .unwrap();
    let jwt = base()
        .oauth_jwt_bearer(emu.client_id(), RSA_KEY)
        .build()
        .unwrap();
    for client in [&secret, &jwt] {
        emu.inject([xp_export::emulator::Fault::InternalError]);
        assert_eq!(ids(client).await.unwrap().len(), 300);
        emu.expire_tokens();
        assert_eq!(ids(client).await.unwrap().len(), 300);
        shown.push(format!("{client:?}"));
    }

    // Servers that echo the secret, the key and the access token.
    let server = common::mock_server().await;
    Mock::given(method("POST"))
        .and(path("/api/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": ACCESS, "token_type": "Bearer", "expires_in": 3600}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(common::envelope_error(401, &format!("bad token {ACCESS}"))),
        )
        .mount(&server)
        .await;
    let echoed = Client::builder()
        .api_url(common::base(&server))
        .oauth_client_credentials("id", SECRET)
        .build()
        .unwrap();
    let err = ids(&echoed).await.unwrap_err();
    shown.push(format!("{err} {err:?}"));

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("fetched an access token"), "{logs}");
    assert!(logs.contains("retrying page"), "{logs}");
    shown.push(logs);
    let key_lines: Vec<&str> = RSA_KEY
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for text in shown {
        assert!(!text.contains("SECRET"), "secret leaked: {text}");
        assert!(!text.contains("eyJ"), "an assertion leaked: {text}");
        for line in &key_lines {
            assert!(!text.contains(line), "the key leaked: {text}");
        }
    }
}
