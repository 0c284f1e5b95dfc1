//! The builder is the request body, field for field.

use super::*;
use serde_json::json;

fn client() -> Client {
    Client::for_tests()
}

#[test]
fn the_builder_is_the_request_body() {
    let q = client()
        .push_actions()
        .campaign(245624)
        .failed()
        .condition(Condition::new("create_time", Op::Gt, 1480000000))
        .filter("device_id", Op::In, [1, 2, 3])
        .filter("error_message", Op::NotIn, vec!["a", "b"])
        .filter("update_time", Op::Ge, "1717229073")
        .filter("click", Op::Ne, 0)
        .filter("open", Op::Le, 1)
        .filter("delivery", Op::Lt, 2)
        .select([
            "campaign_id",
            "action_id",
            "create_time",
            "device_id",
            "error_message",
        ])
        .order("action_id DESC")
        .order("create_time")
        .page_size(500);
    let body = q
        .client
        .page_request(q.model(), &q.body, 500, 1500)
        .unwrap()
        .body_json();
    assert_eq!(
        body,
        json!({
            "apptoken": "t0ken",
            "condition": [
                ["campaign_id", "=", 245624],
                ["error", "=", 1],
                ["create_time", ">", 1480000000],
                ["device_id", "IN", [1, 2, 3]],
                ["error_message", "NOT IN", ["a", "b"]],
                ["update_time", ">=", "1717229073"],
                ["click", "!=", 0],
                ["open", "<=", 1],
                ["delivery", "<", 2]
            ],
            "select": ["campaign_id", "action_id", "create_time", "device_id", "error_message"],
            "order": ["action_id DESC", "create_time"],
            "limit": 500,
            "offset": 1500
        })
    );
    assert_eq!(q.model(), "push-devices");
}

#[test]
fn an_empty_query_sends_only_token_limit_and_offset() {
    let q = client().list::<PushAction>("campaign");
    let body = q.client.page_request(q.model(), &q.body, 1000, 0).unwrap();
    let body = body.body_text();
    assert_eq!(body, r#"{"apptoken":"t0ken","limit":1000,"offset":0}"#);
}

#[test]
fn query_debug_hides_the_token() {
    let q = client().push_actions().campaign(1);
    let s = format!("{q:?}");
    assert!(!s.contains("t0ken"), "{s}");
    assert!(s.contains("campaign_id"), "{s}");
}
