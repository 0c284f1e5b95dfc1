//! What a token endpoint answers, as a client sees it through a whole export: `expires_in` in
//! the forms servers send it, and the answers that must fail with a message that fits them.

use crate::common;

use futures::TryStreamExt;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use xp_export::{Client, ErrorKind, PushAction};

const ACCESS: &str = "at-SECRET-5e1d-should-never-show";

/// Pages of a data set of `n` rows by offset and limit, for a request with the bearer token.
struct BearerPages(u64);

impl Respond for BearerPages {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let bearer = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if bearer != Some(&format!("Bearer {ACCESS}")) {
            return ResponseTemplate::new(401)
                .set_body_json(common::envelope_error(401, "Authentication failed"));
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        let (offset, limit) = (
            body["offset"].as_u64().unwrap(),
            body["limit"].as_u64().unwrap(),
        );
        let end = (offset + limit).min(self.0);
        let data: Vec<Value> = (offset.min(end)..end)
            .map(
                |i| json!({"action_id": 1_000 - i, "campaign_id": 1, "create_time": 1_480_000_000}),
            )
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 200, "success": true, "data": data}))
    }
}

/// A server whose token endpoint answers `token` and whose API serves `rows` rows.
async fn servers(token: ResponseTemplate, rows: u64) -> MockServer {
    let server = common::mock_server().await;
    Mock::given(method("POST"))
        .and(path("/api/oauth/token"))
        .respond_with(token)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(common::PATH))
        .respond_with(BearerPages(rows))
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .api_url(common::base(server))
        .oauth_client_credentials("id", "cs-secret")
        .retry(common::quick_retry())
        .build()
        .unwrap()
}

/// The rows of an export in pages of 10, and how many tokens it fetched.
async fn export(server: &MockServer) -> (Result<usize, xp_export::Error>, usize) {
    let rows = client(server)
        .push_actions()
        .page_size(10)
        .stream()
        .try_collect::<Vec<PushAction>>()
        .await
        .map(|r| r.len());
    let tokens = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/api/oauth/token")
        .count();
    (rows, tokens)
}

#[tokio::test]
async fn expires_in_as_a_string_a_fraction_a_huge_or_a_negative_number_still_exports() {
    for expires_in in [
        json!("3600"),
        json!(3600.0),
        json!(1e30),
        json!(-1),
        json!(0),
    ] {
        let token = ResponseTemplate::new(200).set_body_json(
            json!({"access_token": ACCESS, "token_type": "Bearer", "expires_in": expires_in}),
        );
        let server = servers(token, 35).await;
        let (rows, tokens) = export(&server).await;
        assert_eq!(
            rows.map_err(|e| e.to_string()),
            Ok(35),
            "expires_in {expires_in}"
        );
        assert_eq!(
            tokens, 1,
            "one token for the whole export: expires_in {expires_in}"
        );
    }
}

#[tokio::test]
async fn an_expires_in_that_is_no_number_is_named() {
    let token = ResponseTemplate::new(200).set_body_json(
        json!({"access_token": ACCESS, "token_type": "Bearer", "expires_in": "an hour"}),
    );
    let server = servers(token, 5).await;
    let (rows, tokens) = export(&server).await;
    let e = rows.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode, "{e}");
    assert_eq!(
        tokens, 1,
        "a field of the wrong type is not asked for again"
    );
    let said = e.to_string();
    assert!(
        said.contains(r#"expires_in: expected a number of seconds, got "an hour""#),
        "{said}"
    );
    assert!(
        !said.contains("holds no access_token") && !said.contains("SECRET"),
        "{said}"
    );
}

#[tokio::test]
async fn a_token_answer_too_large_says_so_and_not_to_ask_for_fewer_rows() {
    let huge = "x".repeat(200 << 10);
    let token =
        ResponseTemplate::new(200).set_body_json(json!({"access_token": ACCESS, "padding": huge}));
    let server = servers(token, 5).await;
    let e = export(&server).await.0.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    let said = e.to_string();
    assert!(
        said.contains("the token endpoint's answer is larger than 64 KB"),
        "{said}"
    );
    assert!(!said.contains("rows per page"), "{said}");
}

#[tokio::test]
async fn a_token_endpoint_redirect_shows_no_user_name_or_password() {
    for (location, shown) in [
        (
            "https://deploy:hunter2-pass@evil.example/oauth/token",
            "to https://evil.example/oauth/token (its user name and password not shown)",
        ),
        ("/v2/oauth/token", "/v2/oauth/token"),
        (
            "//deploy:hunter2-pass@",
            "(its user name and password not shown)",
        ),
    ] {
        let token = ResponseTemplate::new(307).insert_header("location", location);
        let server = servers(token, 5).await;
        let e = export(&server).await.0.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Redirected, "{e}");
        let said = format!("{e} {e:?}");
        assert!(said.contains(shown), "{shown:?} not in {said}");
        assert!(
            !said.contains("hunter2") && !said.contains("deploy"),
            "{said}"
        );
    }
}
