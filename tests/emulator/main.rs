//! Drives the emulator over real HTTP with reqwest, pinning what a client would notice.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use xp_export::emulator::{Config, ERROR_MESSAGES, Emulator, Fault, Record, RetryAfter, run};

const FIELDS: [&str; 11] = [
    "action_id",
    "campaign_id",
    "create_time",
    "device_id",
    "profile_id",
    "error",
    "error_message",
    "delivery",
    "open",
    "click",
    "platform",
];

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
    json: Value,
}

impl Answer {
    fn data(&self) -> &Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.text);
        assert_eq!(self.json["code"], 200, "{}", self.text);
        assert_eq!(self.json["success"], true, "{}", self.text);
        self.json["data"].as_array().expect("data array")
    }

    fn ids(&self) -> Vec<u64> {
        self.data()
            .iter()
            .map(|r| r["action_id"].as_u64().expect("action_id"))
            .collect()
    }

    /// Asserts an error envelope with `status` as HTTP status and body code, and a message
    /// containing `message`.
    fn error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.headers["content-type"], "application/json",
            "{}",
            self.text
        );
        assert_eq!(self.json["code"], status, "{}", self.text);
        assert_eq!(self.json["success"], false, "{}", self.text);
        let msg = self.json["message"].as_str().expect("message");
        assert!(msg.contains(message), "{msg:?} lacks {message:?}");
        assert!(self.json["errors"].is_array(), "{}", self.text);
    }
}

fn url(emu: &Emulator) -> String {
    format!("{}/list/push-devices", emu.base_url())
}

async fn send_raw(client: &reqwest::Client, url: &str, body: String) -> reqwest::Result<Answer> {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        headers,
        text,
        json,
    })
}

/// POSTs `body` with the emulator's apptoken added.
async fn ask(client: &reqwest::Client, emu: &Emulator, mut body: Value) -> Answer {
    body["apptoken"] = json!(emu.apptoken());
    send_raw(client, &url(emu), body.to_string())
        .await
        .expect("request")
}

async fn small(n: usize) -> Emulator {
    Emulator::start(Config::default().records(n))
        .await
        .expect("start")
}

fn ids_of<'a>(rs: impl IntoIterator<Item = &'a Record>) -> Vec<u64> {
    rs.into_iter().map(|r| r.action_id).collect()
}

#[tokio::test]
async fn full_answer_is_newest_first_with_all_fields_in_server_order() {
    let emu = small(300).await;
    let c = reqwest::Client::new();
    let a = ask(&c, &emu, json!({})).await;
    assert_eq!(a.headers["content-type"], "application/json");
    assert!(a.text.starts_with(r#"{"code":200,"success":true,"data":["#));
    let mut want = ids_of(emu.records().iter());
    want.reverse();
    assert_eq!(a.ids(), want);
    for (row, rec) in a.data().iter().zip(emu.records().iter().rev()) {
        assert_eq!(*row, rec.to_json());
    }
    // Key order on the wire, in the first object.
    let first = &a.text[a.text.find("[{").unwrap()..a.text.find("},").unwrap()];
    let positions: Vec<usize> = FIELDS
        .iter()
        .map(|f| first.find(&format!("\"{f}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
    assert!(first.contains("\"platform\":"));
}

#[tokio::test]
async fn error_envelopes() {
    let emu = small(50).await;
    let c = reqwest::Client::new();
    let u = url(&emu);
    // apptoken
    send_raw(&c, &u, json!({"limit": 1}).to_string())
        .await
        .unwrap()
        .error(400, "apptoken is required");
    send_raw(&c, &u, json!({"apptoken": "", "limit": 1}).to_string())
        .await
        .unwrap()
        .error(400, "apptoken is required");
    send_raw(&c, &u, json!({"apptoken": "wrong"}).to_string())
        .await
        .unwrap()
        .error(401, "Authentication failed");
    // Body
    send_raw(&c, &u, "{not json".into())
        .await
        .unwrap()
        .error(400, "not valid JSON");
    send_raw(&c, &u, String::new())
        .await
        .unwrap()
        .error(400, "not valid JSON");
    send_raw(&c, &u, "[1,2]".into())
        .await
        .unwrap()
        .error(400, "must be a JSON object");
    // Model, path, method
    let other = format!("{}/list/campaigns", emu.base_url());
    let body = json!({"apptoken": emu.apptoken()}).to_string();
    send_raw(&c, &other, body.clone())
        .await
        .unwrap()
        .error(404, "Unknown model 'campaigns'");
    let elsewhere = format!("{}/info/push-devices", emu.base_url());
    send_raw(&c, &elsewhere, body.clone())
        .await
        .unwrap()
        .error(404, "Unknown endpoint");
    let got = c.get(&u).send().await.unwrap();
    assert_eq!(got.status().as_u16(), 405);
    let v: Value = serde_json::from_str(&got.text().await.unwrap()).unwrap();
    assert_eq!(
        (v["code"].clone(), v["success"].clone()),
        (json!(405), json!(false))
    );
    // Query parts
    let cases = [
        (
            json!({"condition": [["nope", "=", 1]]}),
            "Unknown field 'nope' in condition",
        ),
        (
            json!({"condition": [["error", "LIKE", "x"]]}),
            "Unknown operator 'LIKE'",
        ),
        (json!({"condition": [["error", 1]]}), "Malformed condition"),
        (
            json!({"condition": "error = 1"}),
            "'condition' must be an array",
        ),
        (
            json!({"condition": [["error", "IN", 1]]}),
            "needs an array value",
        ),
        (
            json!({"condition": [["device_id", "=", "abc"]]}),
            "is not a number",
        ),
        (
            json!({"select": ["action_id", "nope"]}),
            "Unknown field 'nope' in select",
        ),
        (
            json!({"order": ["nope DESC"]}),
            "Unknown field 'nope' in order",
        ),
        (
            json!({"order": ["action_id UP"]}),
            "Invalid order direction",
        ),
        (
            json!({"limit": -5}),
            "'limit' must be a non-negative integer",
        ),
        (
            json!({"limit": "many"}),
            "'limit' must be a non-negative integer",
        ),
        (
            json!({"offset": -1}),
            "'offset' must be a non-negative integer",
        ),
    ];
    for (body, want) in cases {
        ask(&c, &emu, body).await.error(400, want);
    }
    // None of that hurt the server.
    assert_eq!(ask(&c, &emu, json!({"limit": 3})).await.data().len(), 3);
}

#[tokio::test]
async fn select_returns_only_those_fields_in_select_order() {
    let emu = small(200).await;
    let c = reqwest::Client::new();
    let a = ask(
        &c,
        &emu,
        json!({"select": ["error_message", "platform", "action_id"], "limit": 5}),
    )
    .await;
    let records = emu.records();
    let newest = records.last().unwrap();
    assert!(a.text.contains(&format!(
        "[{{\"error_message\":{},\"platform\":\"{}\",\"action_id\":{}}}",
        serde_json::to_string(&newest.error_message).unwrap(),
        newest.platform,
        newest.action_id
    )));
    for row in a.data() {
        assert_eq!(row.as_object().unwrap().len(), 3);
    }
}

#[tokio::test]
async fn every_operator_filters_like_the_reference() {
    let emu = small(2_000).await;
    let c = reqwest::Client::new();
    let recs = emu.records();
    let mid = recs[1_000].clone();
    type Pred = Box<dyn Fn(&Record) -> bool>;
    let m = mid.clone();
    let cases: Vec<(Value, Pred)> = vec![
        (
            json!(["campaign_id", "=", 245625]),
            Box::new(|r| r.campaign_id == 245625),
        ),
        (
            json!(["campaign_id", "=", "245625"]),
            Box::new(|r| r.campaign_id == 245625),
        ),
        (json!(["error", "!=", 1]), Box::new(|r| r.error != 1)),
        (json!(["create_time", "<", m.create_time.to_string()]), {
            let t = m.create_time;
            Box::new(move |r| r.create_time < t)
        }),
        (json!(["create_time", "<=", m.create_time]), {
            let t = m.create_time;
            Box::new(move |r| r.create_time <= t)
        }),
        (json!(["action_id", ">", m.action_id]), {
            let id = m.action_id;
            Box::new(move |r| r.action_id > id)
        }),
        (json!(["action_id", ">=", m.action_id.to_string()]), {
            let id = m.action_id;
            Box::new(move |r| r.action_id >= id)
        }),
        (
            json!(["device_id", ">", 20_000_000.5]),
            Box::new(|r| r.device_id > 20_000_000),
        ),
        (
            json!(["campaign_id", "in", [245624, "245626"]]),
            Box::new(|r| [245624, 245626].contains(&r.campaign_id)),
        ),
        (
            json!(["platform", "NOT IN", ["web", "ios"]]),
            Box::new(|r| r.platform == "android"),
        ),
        (
            json!(["error_message", "=", "DEVICE_UNREGISTERED"]),
            Box::new(|r| r.error_message.as_deref() == Some("DEVICE_UNREGISTERED")),
        ),
        // Null fields match only the negations.
        (
            json!(["error_message", "!=", "DEVICE_UNREGISTERED"]),
            Box::new(|r| r.error_message.as_deref() != Some("DEVICE_UNREGISTERED")),
        ),
        (json!(["profile_id", "NOT IN", ["x"]]), Box::new(|_| true)),
        (
            json!(["profile_id", ">=", ""]),
            Box::new(|r| r.profile_id.is_some()),
        ),
    ];
    for (cond, pred) in cases {
        let a = ask(
            &c,
            &emu,
            json!({"condition": [cond.clone()], "select": ["action_id"]}),
        )
        .await;
        let mut want: Vec<u64> = recs
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.action_id)
            .collect();
        want.reverse();
        assert!(!want.is_empty(), "{cond}");
        assert_eq!(a.ids(), want, "{cond}");
    }
    // ANDed, with the seed's example.
    let a = ask(
        &c,
        &emu,
        json!({"condition": [["campaign_id", "=", 245624], ["error", "=", 1]], "limit": 50, "offset": 0,
               "select": ["campaign_id", "action_id", "create_time", "device_id", "error_message"]}),
    )
    .await;
    let want: Vec<u64> = recs
        .iter()
        .rev()
        .filter(|r| r.campaign_id == 245624 && r.error == 1)
        .take(50)
        .map(|r| r.action_id)
        .collect();
    assert_eq!(a.ids(), want);
    assert!(a.data().iter().all(|r| r["error_message"].is_string()));
}

#[tokio::test]
async fn order_default_desc_explicit_asc_and_multi_key() {
    let emu = small(500).await;
    let c = reqwest::Client::new();
    let all = ids_of(emu.records().iter());
    let desc: Vec<u64> = all.iter().rev().copied().collect();
    assert_eq!(ask(&c, &emu, json!({})).await.ids(), desc);
    assert_eq!(
        ask(&c, &emu, json!({"order": ["action_id DESC"]}))
            .await
            .ids(),
        desc
    );
    assert_eq!(
        ask(&c, &emu, json!({"order": ["action_id asc"]}))
            .await
            .ids(),
        all
    );
    assert_eq!(
        ask(&c, &emu, json!({"order": ["action_id"]})).await.ids(),
        all
    );
    let a = ask(
        &c,
        &emu,
        json!({"order": ["campaign_id DESC", "create_time ASC"]}),
    )
    .await;
    let records = emu.records();
    let mut want: Vec<&Record> = records.iter().collect();
    want.sort_by(|x, y| {
        y.campaign_id
            .cmp(&x.campaign_id)
            .then(x.create_time.cmp(&y.create_time))
            .then(x.action_id.cmp(&y.action_id))
    });
    assert_eq!(a.ids(), ids_of(want));
}

#[tokio::test]
async fn limit_offset_windows_and_the_silent_cap() {
    let emu = Emulator::start(Config::default().records(1_000).max_limit(100))
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let desc: Vec<u64> = ids_of(emu.records().iter().rev());
    let a = ask(&c, &emu, json!({"limit": 10, "offset": 20})).await;
    assert_eq!(a.ids(), desc[20..30]);
    let a = ask(&c, &emu, json!({"limit": "10", "offset": "990"})).await;
    assert_eq!(a.ids(), desc[990..1000]);
    let a = ask(&c, &emu, json!({"limit": 10, "offset": 995})).await;
    assert_eq!(a.ids(), desc[995..]);
    assert!(
        ask(&c, &emu, json!({"limit": 10, "offset": 5_000}))
            .await
            .ids()
            .is_empty()
    );
    assert!(ask(&c, &emu, json!({"limit": 0})).await.ids().is_empty());
    // The cap: a short page that is not the end, with nothing saying so.
    let a = ask(&c, &emu, json!({"limit": 500, "offset": 100})).await;
    assert_eq!(a.ids(), desc[100..200]);
    assert_eq!(a.json.as_object().unwrap().len(), 3);
    assert_eq!(ask(&c, &emu, json!({})).await.ids(), desc[..100]);
    assert_eq!(
        ask(&c, &emu, json!({"order": ["action_id ASC"], "offset": 950}))
            .await
            .ids(),
        ids_of(&emu.records()[950..])
    );
}

#[tokio::test]
async fn keyset_paging_walks_everything() {
    let emu = Emulator::start(Config::default().records(5_000).max_limit(700))
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let mut got = Vec::new();
    let mut last: Option<u64> = None;
    loop {
        let mut body = json!({"order": ["action_id DESC"], "limit": 1000, "select": ["action_id"]});
        if let Some(l) = last {
            body["condition"] = json!([["action_id", "<", l]]);
        }
        let ids = ask(&c, &emu, body).await.ids();
        if ids.is_empty() {
            break;
        }
        last = ids.last().copied();
        got.extend(ids);
    }
    assert_eq!(got, ids_of(emu.records().iter().rev()));
}

#[tokio::test]
async fn data_set_is_deterministic_and_tricky() {
    let a = Emulator::start(Config::default().records(3_000).seed(9))
        .await
        .unwrap();
    let b = Emulator::start(Config::default().records(3_000).seed(9))
        .await
        .unwrap();
    let other = Emulator::start(Config::default().records(3_000).seed(10))
        .await
        .unwrap();
    assert_eq!(a.records(), b.records());
    assert_ne!(a.records(), other.records());
    let custom = Emulator::start(Config::default().records(100).campaigns([7, 8]))
        .await
        .unwrap();
    assert!(
        custom
            .records()
            .iter()
            .all(|r| r.campaign_id == 7 || r.campaign_id == 8)
    );

    // Every tricky message survives the trip through the server byte for byte.
    let c = reqwest::Client::new();
    let served = ask(
        &c,
        &a,
        json!({"condition": [["error", "=", 1]], "select": ["error_message"]}),
    )
    .await;
    let messages: Vec<&str> = served
        .data()
        .iter()
        .map(|r| r["error_message"].as_str().unwrap())
        .collect();
    for m in ERROR_MESSAGES {
        assert!(messages.contains(m), "{m:?} missing");
    }
    for needle in [
        "Not personalized",
        "DEVICE_UNREGISTERED",
        "Application is Uninstalled",
    ] {
        assert!(messages.contains(&needle));
    }
    assert!(messages.iter().any(|m| m.contains('"') && m.contains(',')));
    assert!(messages.iter().any(|m| m.contains('\n')));
    assert!(
        messages
            .iter()
            .any(|m| m.contains('É') && m.contains('送') && m.contains('📵'))
    );
    assert!(messages.iter().any(|m| m.starts_with('=')));
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with('-') || m.starts_with('@'))
    );
    let both = ask(
        &c,
        &a,
        json!({"condition": [["error", "=", 0]], "select": ["error_message"], "limit": 10}),
    )
    .await;
    assert!(both.data().iter().all(|r| r["error_message"].is_null()));
}

fn retry_after(a: &Answer) -> Option<String> {
    a.headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn each_fault_as_a_client_sees_it() {
    let emu = small(400).await;
    let c = reqwest::Client::new();
    let body = json!({"limit": 100});
    let date = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);

    emu.inject([Fault::InternalError]);
    ask(&c, &emu, body.clone()).await.error(500, "");

    emu.inject([Fault::BadGatewayHtml]);
    let a = ask(&c, &emu, body.clone()).await;
    assert_eq!(a.status, 502);
    assert_eq!(a.headers["content-type"], "text/html");
    assert!(a.text.contains("<h1>502 Bad Gateway</h1>") && a.text.contains("nginx"));

    emu.inject([Fault::Unavailable(Some(RetryAfter::Seconds(7)))]);
    let a = ask(&c, &emu, body.clone()).await;
    a.error(503, "");
    assert_eq!(retry_after(&a).as_deref(), Some("7"));

    emu.inject([Fault::Unavailable(None)]);
    let a = ask(&c, &emu, body.clone()).await;
    a.error(503, "");
    assert_eq!(retry_after(&a), None);

    emu.inject([Fault::RateLimited(Some(RetryAfter::Date(date)))]);
    let a = ask(&c, &emu, body.clone()).await;
    a.error(429, "");
    let header = retry_after(&a).unwrap();
    assert_eq!(header, "Sun, 17 Mar 2030 17:46:40 GMT");
    assert_eq!(httpdate::parse_http_date(&header).unwrap(), date);

    emu.inject([Fault::RateLimited(Some(RetryAfter::Seconds(0)))]);
    let a = ask(&c, &emu, body.clone()).await;
    a.error(429, "Rate limit");
    assert_eq!(retry_after(&a).as_deref(), Some("0"));

    emu.inject([Fault::EnvelopeFailure]);
    let a = ask(&c, &emu, body.clone()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["code"], 500);
    assert_eq!(a.json["success"], false);
    assert!(a.json["message"].is_string());
    assert!(a.json.get("data").is_none());

    for code in [401, 403, 410] {
        emu.inject([Fault::Status(code)]);
        ask(&c, &emu, body.clone()).await.error(code, "");
    }

    emu.inject([Fault::Reset]);
    let err = send_raw(
        &c,
        &url(&emu),
        json!({"apptoken": emu.apptoken()}).to_string(),
    )
    .await
    .err()
    .expect("reset must fail");
    assert!(err.status().is_none(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");

    emu.inject([Fault::Truncated]);
    let resp = c
        .post(url(&emu))
        .body(json!({"apptoken": emu.apptoken(), "limit": 100}).to_string())
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(resp.status().as_u16(), 200);
    let announced = resp.content_length().expect("content-length");
    let full = ask(&c, &emu, body.clone()).await.text.len() as u64;
    assert_eq!(announced, full);
    let mut resp = resp;
    let mut received = 0u64;
    let err = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => received += chunk.len() as u64,
            Ok(None) => panic!("truncated body ended cleanly after {received} bytes"),
            Err(e) => break e,
        }
    };
    assert_eq!(received, full / 2);
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err:?}"
    );

    emu.inject([Fault::Stall(Duration::from_millis(400))]);
    let t = Instant::now();
    assert_eq!(ask(&c, &emu, body.clone()).await.data().len(), 100);
    assert!(t.elapsed() >= Duration::from_millis(400));

    // After all that, a normal answer on the same client.
    assert_eq!(ask(&c, &emu, body).await.data().len(), 100);
}

#[tokio::test]
async fn injected_faults_come_in_order_and_are_logged() {
    let emu = small(300).await;
    let c = reqwest::Client::new();
    emu.inject([Fault::InternalError, Fault::Reset]);
    emu.inject([Fault::RateLimited(None)]);
    let mut statuses = Vec::new();
    for offset in 0..5u64 {
        let body = json!({"apptoken": emu.apptoken(), "offset": offset, "limit": "20"}).to_string();
        statuses.push(match send_raw(&c, &url(&emu), body).await {
            Ok(a) => a.status,
            Err(_) => 0,
        });
    }
    send_raw(&c, &url(&emu), "garbage".into()).await.unwrap();
    assert_eq!(statuses, [500, 0, 429, 200, 200]);
    assert_eq!(emu.requests(), 6);
    let log = emu.request_log();
    assert_eq!(log.len(), 6);
    let faults: Vec<_> = log.iter().map(|l| l.fault.clone()).collect();
    assert_eq!(
        faults,
        [
            Some(Fault::InternalError),
            Some(Fault::Reset),
            Some(Fault::RateLimited(None)),
            None,
            None,
            None
        ]
    );
    let offsets: Vec<_> = log.iter().map(|l| l.offset).collect();
    assert_eq!(offsets, [Some(0), Some(1), Some(2), Some(3), Some(4), None]);
    assert!(log[..5].iter().all(|l| l.limit == Some(20)));
    let got: Vec<_> = log.iter().map(|l| (l.status, l.rows)).collect();
    assert_eq!(
        got,
        [(500, 0), (0, 0), (429, 0), (200, 20), (200, 20), (400, 0)]
    );
}

#[tokio::test]
async fn random_faults_follow_rate_kinds_and_seed() {
    async fn statuses(seed: u64) -> Vec<u16> {
        let emu = Emulator::start(
            Config::default()
                .records(50)
                .seed(seed)
                .fault_rate(0.5)
                .fault_kinds([Fault::Status(418), Fault::InternalError]),
        )
        .await
        .unwrap();
        let c = reqwest::Client::new();
        let mut out = Vec::new();
        for _ in 0..60 {
            out.push(ask(&c, &emu, json!({"limit": 1})).await.status);
        }
        out
    }
    let a = statuses(3).await;
    assert_eq!(a, statuses(3).await);
    assert_ne!(a, statuses(4).await);
    for s in [200, 418, 500] {
        assert!(a.contains(&s), "{a:?}");
    }
    assert!(a.iter().all(|s| [200, 418, 500].contains(s)));
    // Scripted faults come before random ones, and rate 1 faults everything.
    let emu = Emulator::start(
        Config::default()
            .records(10)
            .fault_rate(1.0)
            .fault_kinds([Fault::Status(410)]),
    )
    .await
    .unwrap();
    emu.inject([Fault::InternalError]);
    let c = reqwest::Client::new();
    assert_eq!(ask(&c, &emu, json!({})).await.status, 500);
    for _ in 0..5 {
        assert_eq!(ask(&c, &emu, json!({})).await.status, 410);
    }
}

#[tokio::test]
async fn default_random_faults_are_transient_and_recoverable() {
    let emu = Emulator::start(Config::default().records(100).fault_rate(0.3).seed(5))
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let mut ok = 0;
    for _ in 0..100 {
        let body = json!({"apptoken": emu.apptoken(), "limit": 10}).to_string();
        if let Ok(a) = send_raw(&c, &url(&emu), body).await
            && a.status == 200
            && a.json["success"] == true
        {
            ok += 1;
        }
    }
    assert!((50..95).contains(&ok), "{ok}");
    let log = emu.request_log();
    assert_eq!(log.len(), 100);
    assert!(
        log.iter()
            .all(|l| !matches!(l.fault, Some(Fault::Stall(_) | Fault::Status(_))))
    );
}

#[tokio::test]
async fn latency_applies_to_every_reply() {
    let emu = Emulator::start(
        Config::default()
            .records(10)
            .latency(Duration::from_millis(150)),
    )
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let t = Instant::now();
    ask(&c, &emu, json!({})).await.data();
    emu.inject([Fault::InternalError]);
    ask(&c, &emu, json!({})).await.error(500, "");
    assert!(t.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_get_consistent_pages() {
    let emu = small(20_000).await;
    let desc: Vec<u64> = ids_of(emu.records().iter().rev());
    let u = url(&emu);
    let token = emu.apptoken().to_owned();
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let (u, token) = (u.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut pages = Vec::new();
            for p in 0..10u64 {
                let offset = (t * 10 + p) * 250;
                let body = json!({"apptoken": token, "limit": 250, "offset": offset}).to_string();
                pages.push((offset, send_raw(&c, &u, body).await.unwrap().ids()));
            }
            pages
        }));
    }
    let mut seen = 0;
    for t in tasks {
        for (offset, ids) in t.await.unwrap() {
            let o = offset as usize;
            assert_eq!(ids, desc[o..o + 250]);
            seen += ids.len();
        }
    }
    assert_eq!(seen, 20_000);
    assert_eq!(emu.requests(), 80);
}

async fn connect_refused_soon(u: &str) -> bool {
    let c = reqwest::Client::new();
    for _ in 0..100 {
        match c.post(u).body("{}").send().await {
            Err(e) if e.is_connect() => return true,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    false
}

#[tokio::test]
async fn drop_stops_listener_and_open_connections() {
    let emu = small(100).await;
    let u = url(&emu);
    let token = emu.apptoken().to_owned();
    let c = reqwest::Client::new();
    assert_eq!(ask(&c, &emu, json!({"limit": 1})).await.data().len(), 1);
    emu.inject([Fault::Stall(Duration::from_secs(60))]);
    let stalled = tokio::spawn({
        let (c, u) = (c.clone(), u.clone());
        async move {
            let t = Instant::now();
            let r = send_raw(&c, &u, json!({"apptoken": token}).to_string()).await;
            (r.is_err(), t.elapsed())
        }
    });
    while emu.requests() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(emu);
    let (failed, took) = stalled.await.unwrap();
    assert!(failed);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(connect_refused_soon(&u).await);
}

#[tokio::test]
async fn graceful_shutdown_waits_for_the_server() {
    let emu = small(100).await;
    let u = url(&emu);
    let c = reqwest::Client::new();
    assert_eq!(ask(&c, &emu, json!({"limit": 2})).await.data().len(), 2);
    let t = Instant::now();
    emu.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(2));
    let err = c.post(&u).body("{}").send().await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
}

#[tokio::test]
async fn run_serves_until_its_shutdown_future() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(
        listener,
        Config::default().records(30).apptoken("tok"),
        async move {
            let _ = rx.await;
        },
    ));
    let u = format!("http://{addr}/api/external/list/push-devices");
    let c = reqwest::Client::new();
    let a = send_raw(&c, &u, json!({"apptoken": "tok", "limit": 5}).to_string())
        .await
        .unwrap();
    assert_eq!(a.ids().len(), 5);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(connect_refused_soon(&u).await);
}

#[tokio::test]
async fn bind_and_accessors() {
    let emu = Emulator::bind(
        "127.0.0.1:0".parse().unwrap(),
        Config::default().records(5).apptoken("abc"),
    )
    .await
    .unwrap();
    assert_eq!(emu.apptoken(), "abc");
    assert_eq!(emu.records().len(), 5);
    assert_eq!(emu.requests(), 0);
    assert_eq!(
        emu.base_url(),
        format!("http://127.0.0.1:{}/api/external", emu.addr().port())
    );
    assert!(
        "bogus"
            .parse::<Fault>()
            .unwrap_err()
            .to_string()
            .contains("'bogus'")
    );
}

const DEFAULT_CAMPAIGNS: [u64; 4] = [245624, 245625, 245626, 245627];

#[tokio::test]
async fn insert_puts_new_rows_at_the_head() {
    let emu = small(300).await;
    let c = reqwest::Client::new();
    let before = emu.records();
    let newest = before.last().unwrap().clone();
    emu.insert(25);
    let after = emu.records();
    assert_eq!(after.len(), 325);
    assert_eq!(after[..300], before[..]);
    for r in &after[300..] {
        assert!(r.action_id > newest.action_id);
        assert!(r.create_time >= newest.create_time);
        assert!(DEFAULT_CAMPAIGNS.contains(&r.campaign_id));
        assert_eq!(r.error == 1, r.error_message.is_some());
    }
    assert!(after.windows(2).all(|w| w[0].action_id < w[1].action_id));
    assert!(
        after
            .windows(2)
            .all(|w| w[0].create_time <= w[1].create_time)
    );

    // A fresh request at offset 0, default order: the new rows first, with all fields.
    let a = ask(&c, &emu, json!({"limit": 40})).await;
    assert_eq!(a.ids(), ids_of(after.iter().rev().take(40)));
    assert!(a.ids()[..25].iter().all(|&id| id > newest.action_id));
    assert!(a.ids()[25..].iter().all(|&id| id <= newest.action_id));
    for (row, rec) in a.data().iter().zip(after.iter().rev()) {
        assert_eq!(*row, rec.to_json());
    }
    // The other query paths serve them too: ascending, keyset, select, full scan.
    let a = ask(
        &c,
        &emu,
        json!({"order": ["action_id ASC"], "offset": 290, "select": ["action_id", "platform"]}),
    )
    .await;
    assert_eq!(a.ids(), ids_of(&after[290..]));
    for (row, rec) in a.data().iter().zip(&after[290..]) {
        assert_eq!(
            *row,
            json!({"action_id": rec.action_id, "platform": rec.platform})
        );
    }
    let a = ask(
        &c,
        &emu,
        json!({"condition": [["action_id", ">", newest.action_id]], "order": ["action_id ASC"]}),
    )
    .await;
    assert_eq!(a.ids(), ids_of(&after[300..]));
    let campaign = after[310].campaign_id;
    let a = ask(
        &c,
        &emu,
        json!({"condition": [["campaign_id", "=", campaign]], "order": ["create_time DESC", "action_id DESC"]}),
    )
    .await;
    let want: Vec<u64> = after
        .iter()
        .rev()
        .filter(|r| r.campaign_id == campaign)
        .map(|r| r.action_id)
        .collect();
    assert_eq!(a.ids(), want);

    // Deterministic: the same rows as a data set generated 325 rows long.
    let longer = small(325).await;
    assert_eq!(longer.records(), after);
    // An empty data set grows too.
    let empty = small(0).await;
    empty.insert(3);
    assert_eq!(empty.records()[..], longer.records()[..3]);
    assert_eq!(ask(&c, &empty, json!({})).await.ids().len(), 3);
}

#[tokio::test]
async fn insert_per_request_grows_by_each_successful_request() {
    let emu = Emulator::start(Config::default().records(200).insert_per_request(3))
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let old_max = emu.records().last().unwrap().action_id;
    // Every page answered adds 3 rows first, so the page already has them.
    let first = ask(&c, &emu, json!({"limit": 10})).await.ids();
    assert_eq!(emu.records().len(), 203);
    assert_eq!(first, ids_of(emu.records().iter().rev().take(10)));
    assert!(first[..3].iter().all(|&id| id > old_max));
    assert!(first[3..].iter().all(|&id| id <= old_max));
    for m in 2..=5 {
        let page = ask(&c, &emu, json!({"limit": 10, "offset": 10 * m})).await;
        assert_eq!(page.data().len(), 10);
        assert_eq!(emu.records().len(), 200 + 3 * m as usize);
    }
    // Faulted requests add nothing, also those answered with the page (truncate, stall).
    emu.inject([
        Fault::InternalError,
        Fault::RateLimited(None),
        Fault::EnvelopeFailure,
        Fault::Reset,
        Fault::Truncated,
        Fault::Stall(Duration::from_millis(10)),
        Fault::Status(401),
    ]);
    for _ in 0..7 {
        let body = json!({"apptoken": emu.apptoken(), "limit": 5}).to_string();
        let _ = send_raw(&c, &url(&emu), body).await;
    }
    assert_eq!(emu.requests(), 12);
    assert_eq!(emu.records().len(), 215);
    // So do requests answered with an error envelope.
    let u = url(&emu);
    send_raw(&c, &u, json!({"apptoken": "wrong"}).to_string())
        .await
        .unwrap()
        .error(401, "Authentication failed");
    ask(&c, &emu, json!({"limit": -1}))
        .await
        .error(400, "limit");
    let other = format!("{}/list/campaigns", emu.base_url());
    send_raw(&c, &other, json!({"apptoken": emu.apptoken()}).to_string())
        .await
        .unwrap()
        .error(404, "Unknown model");
    assert_eq!(emu.records().len(), 215);
    // An explicit insertion adds to it; the next page is 3 more.
    emu.insert(4);
    ask(&c, &emu, json!({"limit": 1})).await.data();
    assert_eq!(emu.records().len(), 222);
    let log = emu.request_log();
    let answered = log
        .iter()
        .filter(|l| l.fault.is_none() && l.status == 200)
        .count();
    assert_eq!(answered, 6);
    assert_eq!(emu.records().len(), 200 + 4 + 3 * answered);

    // With random faults: only the unfaulted pages add rows.
    let emu = Emulator::start(
        Config::default()
            .records(50)
            .seed(4)
            .fault_rate(0.4)
            .insert_per_request(2),
    )
    .await
    .unwrap();
    for _ in 0..40 {
        let body = json!({"apptoken": emu.apptoken(), "limit": 5}).to_string();
        let _ = send_raw(&c, &url(&emu), body).await;
    }
    let log = emu.request_log();
    let answered = log
        .iter()
        .filter(|l| l.fault.is_none() && l.status == 200)
        .count();
    assert!((10..40).contains(&answered), "{answered}");
    assert_eq!(emu.records().len(), 50 + 2 * answered);
}

#[tokio::test]
async fn keyset_export_sees_inserted_rows_at_the_end() {
    let emu = Emulator::start(
        Config::default()
            .records(1_000)
            .max_limit(100)
            .insert_per_request(7),
    )
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let initial = emu.records();
    let mut got: Vec<u64> = Vec::new();
    let mut last = 0u64;
    let mut pages = 0;
    loop {
        let body = json!({
            "condition": [["action_id", ">", last]],
            "order": ["action_id ASC"],
            "limit": 100,
            "select": ["action_id"],
        });
        let ids = ask(&c, &emu, body).await.ids();
        pages += 1;
        got.extend(&ids);
        match ids.last() {
            Some(&l) if ids.len() == 100 => last = l,
            _ => break,
        }
        if pages == 5 {
            // Rows also arrive between pages.
            emu.insert(150);
        }
    }
    let all = emu.records();
    assert_eq!(all.len(), 1_000 + 150 + 7 * pages);
    assert_eq!(all[..1_000], initial[..]);
    // Every row exactly once, in order; the inserted ones at the end.
    assert_eq!(got, ids_of(all.iter()));
    assert_eq!(got[..1_000], ids_of(initial.iter())[..]);
}

#[tokio::test]
async fn records_snapshots_do_not_change() {
    let emu = Emulator::start(Config::default().records(100).insert_per_request(5))
        .await
        .unwrap();
    let c = reqwest::Client::new();
    let snapshot = emu.records();
    let copy: Vec<Record> = snapshot.to_vec();
    emu.insert(10);
    let second = emu.records();
    ask(&c, &emu, json!({"limit": 3})).await.data();
    ask(&c, &emu, json!({"order": ["device_id"], "limit": 3}))
        .await
        .data();
    assert_eq!(*snapshot, copy);
    assert_eq!(second.len(), 110);
    assert_eq!(second[..100], copy[..]);
    let now = emu.records();
    assert_eq!(now.len(), 120);
    assert_eq!(now[..110], second[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_consistent_while_rows_arrive() {
    let emu = std::sync::Arc::new(
        Emulator::start(Config::default().records(3_000).insert_per_request(2))
            .await
            .unwrap(),
    );
    let initial = emu.records().len();
    let inserter = tokio::task::spawn_blocking({
        let emu = emu.clone();
        move || {
            for _ in 0..200 {
                emu.insert(3);
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    let mut tasks = Vec::new();
    for t in 0..4u64 {
        let (u, token) = (url(&emu), emu.apptoken().to_owned());
        let start = emu.records()[t as usize * 700].action_id;
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::new();
            let mut heads = Vec::new();
            let mut walks = Vec::new();
            let mut last = start;
            for _ in 0..15 {
                let body = json!({"apptoken": token, "limit": 120}).to_string();
                heads.push(send_raw(&c, &u, body).await.unwrap().ids());
                let body = json!({
                    "apptoken": token,
                    "condition": [["action_id", ">", last]],
                    "order": ["action_id ASC"],
                    "limit": 300,
                    "select": ["action_id"],
                })
                .to_string();
                let ids = send_raw(&c, &u, body).await.unwrap().ids();
                walks.push((last, ids.clone()));
                if let Some(&l) = ids.last() {
                    last = l;
                }
            }
            (heads, walks)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    inserter.await.unwrap();
    let all = ids_of(emu.records().iter());
    assert_eq!(all.len(), initial + 600 + 2 * 4 * 30);
    let pos = |id: u64| all.binary_search(&id).unwrap();
    for (heads, walks) in results {
        // Each head page is the newest 120 rows of one state of the data set.
        for ids in heads {
            assert_eq!(ids.len(), 120);
            let top = pos(ids[0]);
            assert!(top >= initial);
            let want: Vec<u64> = all[top + 1 - 120..=top].iter().rev().copied().collect();
            assert_eq!(ids, want);
        }
        // Each keyset page is the rows right after its key, in order, with no gap.
        for (after, ids) in walks {
            let from = all.partition_point(|&id| id <= after);
            assert!(!ids.is_empty());
            assert_eq!(ids, all[from..from + ids.len()]);
            assert!(ids.len() == 300 || from + ids.len() >= initial);
        }
    }
}
