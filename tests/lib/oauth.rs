//! OAuth 2.0 against the emulator and scripted servers: both grants end to end, tokens renewed
//! mid-export without losing or repeating a page, one renewal for many pages in flight,
//! refusals that fail at once with the server's words, regions, and secrets shown nowhere.

use crate::common;

use std::time::Duration;

use common::quick_retry;
use futures::TryStreamExt;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use xp_export::client::{JwtAlgorithm, Region};
use xp_export::emulator::{Config, Emulator, Fault};
use xp_export::{Client, ClientBuilder, ErrorKind, PushAction};

const RSA_KEY: &str = include_str!("../fixtures/oauth_rsa.pem");
const RSA_PUB: &str = include_str!("../fixtures/oauth_rsa.pub.pem");
const EC_KEY: &str = include_str!("../fixtures/oauth_ec.pem");
const EC_PUB: &str = include_str!("../fixtures/oauth_ec.pub.pem");
const OTHER_RSA_KEY: &str = include_str!("../fixtures/oauth_other_rsa.pem");

const SECRET: &str = "cs-SECRET-9f3e-should-never-show";
const ACCESS: &str = "at-SECRET-77aa-should-never-show";

fn builder(emu: &Emulator) -> ClientBuilder {
    Client::builder()
        .api_url(emu.base_url())
        .timeout(Duration::from_secs(5))
        .retry(quick_retry().with_max_retries(5))
}

fn secret_client(emu: &Emulator) -> Client {
    builder(emu)
        .oauth_client_credentials(emu.client_id(), emu.client_secret())
        .build()
        .unwrap()
}

/// Every action id, newest first (the API's default order).
fn all_ids(emu: &Emulator) -> Vec<u64> {
    emu.records().iter().rev().map(|r| r.action_id).collect()
}

/// The offsets answered with a page (HTTP 200), in arrival order.
fn pages_served(emu: &Emulator) -> Vec<u64> {
    emu.request_log()
        .iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.offset)
        .collect()
}

fn unauthorized(emu: &Emulator) -> usize {
    emu.request_log().iter().filter(|r| r.status == 401).count()
}

fn assert_no_repeat(offsets: &[u64]) {
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        offsets.len(),
        "a page was fetched twice: {offsets:?}"
    );
}

async fn export(client: &Client, page_size: u64) -> Result<Vec<u64>, xp_export::Error> {
    common::sequential(client)
        .page_size(page_size)
        .stream()
        .map_ok(|a: PushAction| a.action_id.unwrap())
        .try_collect()
        .await
}

#[tokio::test]
async fn client_credentials_end_to_end() {
    let emu = Emulator::start(Config::default().records(1_000))
        .await
        .unwrap();
    let client = secret_client(&emu);
    assert_eq!(client.token_url(), Some(emu.token_url().as_str()));
    assert_eq!(export(&client, 100).await.unwrap(), all_ids(&emu));
    assert_eq!(emu.token_requests(), 1, "one token for the whole export");
    assert_eq!(unauthorized(&emu), 0);
}

#[tokio::test]
async fn jwt_bearer_end_to_end_with_rsa_and_ec_keys() {
    for (key, public) in [(RSA_KEY, RSA_PUB), (EC_KEY, EC_PUB)] {
        let config = Config::default().records(500).jwt_public_key_pem(public);
        let emu = Emulator::start(config).await.unwrap();
        let client = builder(&emu)
            .oauth_jwt_bearer(emu.client_id(), key)
            .build()
            .unwrap();
        assert_eq!(export(&client, 100).await.unwrap(), all_ids(&emu));
        assert_eq!(emu.token_requests(), 1);
        assert_eq!(unauthorized(&emu), 0);
    }
}

#[tokio::test]
async fn an_expiring_token_is_renewed_before_it_runs_out() {
    let config = Config::default()
        .records(1_000)
        .token_lifetime(Duration::from_secs(1))
        .latency(Duration::from_millis(50));
    let emu = Emulator::start(config).await.unwrap();
    let client = secret_client(&emu);
    assert_eq!(export(&client, 25).await.unwrap(), all_ids(&emu));
    assert!(emu.token_requests() >= 2, "{}", emu.token_requests());
    assert_eq!(
        unauthorized(&emu),
        0,
        "renewed before the server refused it"
    );
    assert_no_repeat(&pages_served(&emu));
}

#[tokio::test]
async fn a_token_refused_mid_export_is_renewed_and_the_page_retried_once() {
    let emu = Emulator::start(Config::default().records(600))
        .await
        .unwrap();
    let client = secret_client(&emu);
    let mut rows = common::sequential(&client).page_size(100).stream();
    let mut ids = Vec::new();
    while let Some(a) = rows.try_next().await.unwrap() {
        ids.push(a.action_id.unwrap());
        if ids.len() == 150 {
            emu.expire_tokens();
        }
    }
    assert_eq!(ids, all_ids(&emu), "no row lost or repeated");
    assert_eq!(emu.token_requests(), 2);
    assert_eq!(unauthorized(&emu), 1);
    assert_no_repeat(&pages_served(&emu));
}

#[tokio::test]
async fn many_pages_in_flight_share_one_renewal() {
    let config = Config::default()
        .records(6_000)
        .latency(Duration::from_millis(20));
    let emu = Emulator::start(config).await.unwrap();
    let client = secret_client(&emu);
    let mut rows = client
        .push_actions()
        .concurrency(8)
        .seam_check(false)
        .page_size(100)
        .stream();
    let mut ids = Vec::new();
    while let Some(a) = rows.try_next().await.unwrap() {
        ids.push(a.action_id.unwrap());
        if ids.len() == 1_500 {
            emu.expire_tokens();
        }
    }
    assert_eq!(ids, all_ids(&emu));
    assert!(
        unauthorized(&emu) >= 2,
        "several pages were refused at once"
    );
    assert_eq!(emu.token_requests(), 2, "one renewal for all of them");
    assert_no_repeat(&pages_served(&emu));
}

#[tokio::test]
async fn a_bad_secret_fails_at_once_with_the_servers_words() {
    let emu = Emulator::start(Config::default().records(10))
        .await
        .unwrap();
    let client = builder(&emu)
        .oauth_client_credentials(emu.client_id(), "wrong-secret")
        .build()
        .unwrap();
    let e = export(&client, 100).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert_eq!(e.status(), Some(401));
    let shown = e.to_string();
    assert!(
        shown.contains("invalid_client: Client authentication failed"),
        "{shown}"
    );
    assert_eq!(
        (emu.token_requests(), emu.requests()),
        (1, 1),
        "no retry, no page"
    );
}

#[tokio::test]
async fn a_key_the_server_does_not_know_fails_at_once() {
    let config = Config::default().records(10).jwt_public_key_pem(RSA_PUB);
    let emu = Emulator::start(config).await.unwrap();
    let client = builder(&emu)
        .oauth_jwt_bearer(emu.client_id(), OTHER_RSA_KEY)
        .build()
        .unwrap();
    let e = export(&client, 100).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.to_string().contains("invalid_grant"), "{e}");
    assert!(e.to_string().contains("signature"), "{e}");
    assert_eq!((emu.token_requests(), emu.requests()), (1, 1));
}

#[tokio::test]
async fn an_expired_assertion_fails_at_once() {
    let config = Config::default()
        .records(10)
        .jwt_public_key_pem(EC_PUB)
        .clock_ahead(Duration::from_secs(3600));
    let emu = Emulator::start(config).await.unwrap();
    let client = builder(&emu)
        .oauth_jwt_bearer(emu.client_id(), EC_KEY)
        .build()
        .unwrap();
    let e = export(&client, 100).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(
        e.to_string()
            .contains("invalid_grant: The assertion has expired"),
        "{e}"
    );
    assert_eq!((emu.token_requests(), emu.requests()), (1, 1));
}

#[tokio::test]
async fn a_token_endpoint_that_fails_for_a_moment_is_retried() {
    let emu = Emulator::start(Config::default().records(300))
        .await
        .unwrap();
    emu.inject([Fault::InternalError, Fault::Reset]);
    assert_eq!(
        export(&secret_client(&emu), 100).await.unwrap(),
        all_ids(&emu)
    );
    let log = emu.request_log();
    let tries: Vec<bool> = log.iter().take(3).map(|r| r.offset.is_none()).collect();
    assert_eq!(tries, [true; 3], "three token requests first: {log:?}");
    assert!(log.iter().skip(3).all(|r| r.offset.is_some()), "{log:?}");
    assert_eq!(
        emu.token_requests(),
        1,
        "faults are answered before the handler"
    );
}

#[tokio::test]
async fn a_second_401_fails_the_page() {
    let config = Config::default().records(10).token_lifetime(Duration::ZERO);
    let emu = Emulator::start(config).await.unwrap();
    let e = export(&secret_client(&emu), 100).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(
        e.to_string().contains("Invalid or expired access token"),
        "{e}"
    );
    assert_eq!(emu.token_requests(), 2, "renewed once");
    assert_eq!(unauthorized(&emu), 2);
}

/// The emulator refuses an expired assertion, one for another audience, and one from another
/// client, each in RFC 6749's words.
#[tokio::test]
async fn the_emulator_checks_the_assertions_claims() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let config = Config::default().records(10).jwt_public_key_pem(RSA_PUB);
    let emu = Emulator::start(config).await.unwrap();
    let key = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id = emu.client_id().to_string();
    let aud = emu.token_url();
    let cases = [
        (
            json!({"iss": id, "sub": id, "aud": aud, "iat": now - 600, "exp": now - 300}),
            "expired",
        ),
        (
            json!({"iss": id, "sub": id, "aud": "https://elsewhere/", "iat": now, "exp": now + 300}),
            "aud",
        ),
        (
            json!({"iss": "other", "sub": "other", "aud": aud, "iat": now, "exp": now + 300}),
            "client ID",
        ),
        (
            json!({"iss": id, "sub": id, "aud": aud, "iat": now, "exp": now + 300}),
            "",
        ),
    ];
    let http = reqwest::Client::new();
    for (claims, want) in cases {
        let jwt = encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        let resp = http
            .post(emu.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
            ))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        if want.is_empty() {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["token_type"], "Bearer");
        } else {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_grant");
            let said = body["error_description"].as_str().unwrap();
            assert!(said.contains(want), "{said}");
        }
    }
}

#[tokio::test]
async fn the_apptoken_is_still_accepted() {
    let emu = Emulator::start(Config::default().records(50))
        .await
        .unwrap();
    let ids = export(&common::emulator_client(&emu), 20).await.unwrap();
    assert_eq!(ids, all_ids(&emu));
    assert_eq!(emu.token_requests(), 0);
}

#[test]
fn regions_choose_the_api_and_token_urls() {
    let us = Client::builder()
        .region(Region::Us)
        .oauth_client_credentials("id", "secret")
        .build()
        .unwrap();
    assert_eq!(us.api_url(), "https://api.us.xtremepush.com/api/external");
    assert_eq!(
        us.token_url(),
        Some("https://api.us.xtremepush.com/api/oauth/token")
    );
    let eu = Client::builder()
        .oauth_client_credentials("id", "secret")
        .build()
        .unwrap();
    assert_eq!(
        eu.api_url(),
        "https://external-api.xtremepush.com/api/external"
    );
    assert_eq!(
        eu.token_url(),
        Some("https://external-api.xtremepush.com/api/oauth/token")
    );
    let own = Client::builder()
        .region(Region::Us)
        .api_url("http://127.0.0.1:9/api/external")
        .oauth_client_credentials("id", "secret")
        .build()
        .unwrap();
    assert_eq!(own.token_url(), Some("http://127.0.0.1:9/api/oauth/token"));
    let token = Client::builder()
        .token_url("https://login.example.com/oauth/token")
        .oauth_jwt_bearer("id", EC_KEY)
        .build()
        .unwrap();
    assert_eq!(
        token.token_url(),
        Some("https://login.example.com/oauth/token")
    );
    assert_eq!(
        Client::builder().apptoken("t").build().unwrap().token_url(),
        None
    );
}

#[test]
fn exactly_one_credential_kind() {
    let cases = [
        (Client::builder(), "no credentials"),
        (
            Client::builder()
                .apptoken("t")
                .oauth_client_credentials("id", "s"),
            "an apptoken and an OAuth client secret",
        ),
        (
            Client::builder()
                .oauth_client_credentials("id", "s")
                .oauth_jwt_bearer("id", RSA_KEY),
            "an OAuth client secret and an OAuth private key",
        ),
        (
            Client::builder().oauth_client_credentials("id", " "),
            "client secret is empty",
        ),
        (
            Client::builder().oauth_client_credentials("", "s"),
            "client ID is empty",
        ),
        (
            Client::builder().oauth_jwt_bearer("id", "not a key"),
            "the private key is not PEM",
        ),
        (
            Client::builder()
                .oauth_client_credentials("id", "s")
                .token_url("http://example.com/token"),
            "plain http",
        ),
    ];
    for (b, want) in cases {
        let e = b.build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().contains(want), "{e} / {want}");
    }
}

#[test]
fn debug_shows_no_secret_or_key() {
    let secret = Client::builder().oauth_client_credentials("id", SECRET);
    let key = Client::builder().oauth_jwt_bearer("id", RSA_KEY);
    let key_line = RSA_KEY.lines().nth(3).unwrap();
    for shown in [
        format!("{secret:?}"),
        format!("{:?}", secret.build().unwrap()),
        format!("{key:?}"),
        format!("{:?}", key.build().unwrap()),
    ] {
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains(key_line), "{shown}");
        assert!(!shown.contains("PRIVATE"), "{shown}");
    }
}

/// A token endpoint and an API that echo every secret they were sent.
async fn echoing_servers(token_status: u16) -> MockServer {
    let server = common::mock_server().await;
    let token = if token_status == 200 {
        ResponseTemplate::new(200).set_body_json(
            json!({"access_token": ACCESS, "token_type": "bearer", "expires_in": 3600}),
        )
    } else {
        ResponseTemplate::new(token_status).set_body_json(json!({
            "error": "invalid_client",
            "error_description": format!("unknown secret {SECRET} for {}", RSA_KEY.lines().nth(2).unwrap()),
        }))
    };
    Mock::given(method("POST"))
        .and(path("/api/oauth/token"))
        .respond_with(token)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(common::envelope_error(
                401,
                &format!("token Bearer {ACCESS} (\"{}\") is not valid", &ACCESS[..12]),
            )),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn secrets_echoed_by_the_servers_are_redacted() {
    for status in [401, 200] {
        let server = echoing_servers(status).await;
        let client = Client::builder()
            .api_url(common::base(&server))
            .oauth_client_credentials("id", SECRET)
            .retry(quick_retry())
            .build()
            .unwrap();
        let e = export(&client, 10).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
        let shown = format!("{e} | {e:?} | {}", xp_export::error::chain(&e));
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let tokens = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/api/oauth/token")
            .count();
        assert_eq!(tokens, if status == 200 { 2 } else { 1 }, "renewed once");
    }
}

#[tokio::test]
async fn the_token_request_is_a_form_and_pages_carry_a_bearer_and_no_apptoken() {
    let server = echoing_servers(200).await;
    let client = Client::builder()
        .api_url(common::base(&server))
        .oauth_jwt_bearer("my-client", EC_KEY)
        .build()
        .unwrap();
    let _ = export(&client, 10).await.unwrap_err();
    let requests = server.received_requests().await.unwrap();
    let token = &requests[0];
    assert_eq!(
        token.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form = String::from_utf8_lossy(&token.body).into_owned();
    assert!(
        form.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=eyJ"
        ),
        "{form}"
    );
    let page = &requests[1];
    assert_eq!(page.headers["authorization"], format!("Bearer {ACCESS}"));
    let body: serde_json::Value = serde_json::from_slice(&page.body).unwrap();
    assert!(body.get("apptoken").is_none(), "{body}");
}

/// The API of `docs/api.md` may refuse inside HTTP 200 (`"success": false, "code": 401`): the
/// token is renewed once and the page sent again, as for an HTTP 401.
#[tokio::test]
async fn a_401_inside_http_200_renews_the_token_once() {
    use wiremock::matchers::{body_partial_json, header};
    let server = common::mock_server().await;
    for (priority, token) in [(1, "tok-one"), (2, "tok-two")] {
        Mock::given(method("POST"))
            .and(path("/api/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}),
            ))
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .and(header("authorization", "Bearer tok-one"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 401, "success": false, "message": "Token expired"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .and(header("authorization", "Bearer tok-two"))
        .and(body_partial_json(json!({"offset": 0})))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"code": 200, "success": true, "data": [{"action_id": 7}, {"action_id": 9}]}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .and(header("authorization", "Bearer tok-two"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 200, "success": true, "data": []})),
        )
        .mount(&server)
        .await;
    let client = Client::builder()
        .api_url(common::base(&server))
        .oauth_client_credentials("id", SECRET)
        .retry(quick_retry())
        .build()
        .unwrap();
    assert_eq!(export(&client, 10).await.unwrap(), vec![7, 9]);
    let requests = server.received_requests().await.unwrap();
    let tokens = requests
        .iter()
        .filter(|r| r.url.path() == "/api/oauth/token")
        .count();
    assert_eq!(tokens, 2, "renewed once");
    let refused = requests
        .iter()
        .filter(|r| {
            r.headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer tok-one")
        })
        .count();
    assert_eq!(refused, 1, "one page was refused, then sent again");
}

#[tokio::test]
async fn an_rsa_key_signs_the_algorithm_asked_for() {
    for (asked, header) in [
        (None, jsonwebtoken::Algorithm::RS256),
        (Some(JwtAlgorithm::Rs384), jsonwebtoken::Algorithm::RS384),
        (Some(JwtAlgorithm::Rs512), jsonwebtoken::Algorithm::RS512),
    ] {
        let server = echoing_servers(200).await;
        let mut builder = Client::builder()
            .api_url(common::base(&server))
            .oauth_jwt_bearer("my-client", RSA_KEY);
        if let Some(a) = asked {
            builder = builder.jwt_algorithm(a);
        }
        let _ = export(&builder.build().unwrap(), 10).await.unwrap_err();
        let requests = server.received_requests().await.unwrap();
        let form = String::from_utf8_lossy(&requests[0].body).into_owned();
        let assertion = form.split("assertion=").nth(1).unwrap();
        let signed = jsonwebtoken::decode_header(assertion).unwrap();
        assert_eq!(signed.alg, header, "{asked:?}");
    }
    let e = Client::builder()
        .oauth_jwt_bearer("my-client", RSA_KEY)
        .jwt_algorithm(JwtAlgorithm::Es256)
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("not ES256"), "{e}");
}
