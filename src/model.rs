//! [`PushAction`], the record of `list/push-devices`, and the API's response envelope.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind};

/// The facts of `list/push-devices`, the model [`PushAction`] is the row of: its name, its
/// unique key, the fields the API documents and the order pages are asked in.
pub mod push_devices {
    /// The model's name, as in `list/push-devices`.
    pub const NAME: &str = "push-devices";

    /// The unique, growing key: what keyset mode seeks on and seams are checked with.
    pub const KEY: &str = "action_id";

    /// The fields of a push action, in the order of [`super::PushAction`]: the CSV columns when
    /// there is no `select`.
    pub const FIELDS: [&str; 10] = [
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
    ];

    /// The order sent when a query sets none: the API's own default as observed (newest
    /// first), made explicit so that pages are stable and their seams can be checked.
    pub const DEFAULT_ORDER: &str = "action_id DESC";
}

/// One push action: one message sent (or not) to one device or profile by a campaign.
///
/// Every field is optional because `select` may leave any of them out. Fields the API sends that
/// this type does not name are kept in [`PushAction::extra`], never dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PushAction {
    /// The push action's id, unique and growing over time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u64>,
    /// The campaign that sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<u64>,
    /// When it was created, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
    /// The device it was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<u64>,
    /// The profile it was sent to (profile-based campaigns). Numbers are kept as their text.
    #[serde(
        default,
        deserialize_with = "string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_id: Option<String>,
    /// 1 when sending failed, 0 when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<u8>,
    /// Why sending failed, e.g. `"DEVICE_UNREGISTERED"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Delivery flag (or time, where the API reports one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<i64>,
    /// Open flag (or time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<i64>,
    /// Click flag (or time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<i64>,
    /// Every other field the API sent, as it sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(serde_json::Number),
    }
    Ok(Option::<Id>::deserialize(d)?.map(|id| match id {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    }))
}

/// The envelope every response comes in: `{"code", "success", "message", "data"}`, its `data`
/// read as `D` (the raw array, or the array split into raw rows).
#[derive(Deserialize)]
struct Envelope<D> {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    message: Option<Value>,
    // Not `#[serde(default)]`, which would ask `D: Default` of the borrowed types.
    #[serde(default = "absent")]
    data: Option<D>,
}

fn absent<D>() -> Option<D> {
    None
}

/// Decodes a response body the way the stream does: the envelope decides failure (`success`,
/// `code`, then the HTTP `status`), and `data` is decoded into rows of `T`. `offset` is where
/// the page starts, for the error of a row that does not decode.
///
/// ```
/// use xp_export::PushAction;
/// let body = br#"{"code":200,"success":true,"data":[{"action_id":7,"error":1}]}"#;
/// let rows: Vec<PushAction> = xp_export::model::decode_page(200, body, 0).unwrap();
/// assert_eq!(rows[0].action_id, Some(7));
/// ```
pub fn decode_page<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
    offset: u64,
) -> Result<Vec<T>, Error> {
    decode_rows(open_envelope(status, "application/json", body)?, offset)
}

/// Splits a response body into its rows exactly as sent, the way [`crate::Query::raw_stream`]
/// does: each [`RawRow`] is a shared slice of `body`, not a copy.
pub fn decode_page_raw(status: u16, body: &bytes::Bytes) -> Result<Vec<RawRow>, Error> {
    decode_raw(body, status, "application/json", 0, false).map(|d| d.rows)
}

/// Checks a response for failure and returns its `data` array, undecoded.
///
/// The body decides where it is the envelope: `success: false` or a failing `code` is an error
/// even inside HTTP 200. Where the body is not the envelope, the HTTP status decides.
pub(crate) fn open_envelope<'a>(
    status: u16,
    content_type: &str,
    body: &'a [u8],
) -> Result<&'a RawValue, Error> {
    let envelope = match serde_json::from_slice::<Envelope<&RawValue>>(body) {
        Ok(env) => env,
        Err(e) => {
            if !(200..300).contains(&status) {
                return Err(Error::from_status(status, reason(status)));
            }
            let what = if content_type.is_empty() {
                "no content type".to_string()
            } else {
                content_type.to_string()
            };
            return Err(Error::new(
                ErrorKind::NotEnvelope,
                format!(
                    "the response is not the API's JSON envelope ({what}, {} bytes): {e}",
                    body.len()
                ),
            ));
        }
    };
    if let Some(e) = failure(
        status,
        envelope.code,
        envelope.success,
        envelope.message.as_ref(),
    ) {
        return Err(e);
    }
    match envelope.data {
        Some(raw) if raw.get().starts_with('[') => Ok(raw),
        Some(raw) => Err(Error::new(
            ErrorKind::NotEnvelope,
            format!(
                "`data` is not an array: it starts with {:?}",
                raw.get().chars().take(16).collect::<String>()
            ),
        )),
        None => Err(Error::new(
            ErrorKind::NotEnvelope,
            "the response has no `data` array",
        )),
    }
}

/// The error an envelope reports, if it reports one: `success: false` or a failing `code`
/// decide even inside HTTP 200; a failing HTTP status decides when the body says nothing.
fn failure(
    status: u16,
    code: Option<i64>,
    success: Option<bool>,
    message: Option<&Value>,
) -> Option<Error> {
    let code = code.and_then(|c| u16::try_from(c).ok());
    let failed =
        success == Some(false) || code.is_some_and(|c| c >= 400) || !(200..300).contains(&status);
    if !failed {
        return None;
    }
    let code = code
        .filter(|c| *c >= 400)
        .unwrap_or(if status >= 400 { status } else { 500 });
    let message = match message {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Null) | None => reason(code).to_string(),
        Some(other) => other.to_string(),
    };
    Some(Error::from_status(code, &message))
}

/// Checks a response for failure and splits its `data` array into rows, in one pass.
pub(crate) fn open_rows<'a>(
    status: u16,
    content_type: &str,
    body: &'a [u8],
) -> Result<Vec<&'a RawValue>, Error> {
    match serde_json::from_slice::<Envelope<Vec<&RawValue>>>(body) {
        Ok(env) => {
            if let Some(e) = failure(status, env.code, env.success, env.message.as_ref()) {
                return Err(e);
            }
            env.data.ok_or_else(|| {
                Error::new(ErrorKind::NotEnvelope, "the response has no `data` array")
            })
        }
        // Not an envelope with a `data` array: the general path says precisely what it is.
        Err(e) => Err(open_envelope(status, content_type, body)
            .err()
            .unwrap_or_else(|| {
                Error::new(
                    ErrorKind::NotEnvelope,
                    format!("`data` is not an array of rows: {e}"),
                )
            })),
    }
}

/// A cheap fingerprint of a page's rows (their length and their first and last bytes), to
/// notice a server that sends the same page twice.
pub(crate) fn fingerprint(rows: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    const EDGE: usize = 4096;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    rows.len().hash(&mut h);
    rows[..rows.len().min(EDGE)].hash(&mut h);
    rows[rows.len().saturating_sub(EDGE)..].hash(&mut h);
    h.finish()
}

/// One row exactly as the server sent it: a shared slice of the response body, not a copy.
///
/// What the export writes for NDJSON and JSON, byte for byte. [`RawRow::parse`] decodes it
/// when needed.
#[derive(Clone, PartialEq, Eq)]
pub struct RawRow(bytes::Bytes);

impl RawRow {
    #[cfg(test)]
    pub(crate) fn new(json: &str) -> Self {
        RawRow(bytes::Bytes::copy_from_slice(json.as_bytes()))
    }

    /// The row's JSON bytes, as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Decodes the row.
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.0)
    }
}

impl std::fmt::Debug for RawRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RawRow({})", String::from_utf8_lossy(&self.0))
    }
}

/// A decoded page: its rows, their [`fingerprint`], and (keyset mode) the keys of its first
/// and last rows.
pub(crate) struct Decoded<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) print: u64,
    /// When asked for: the first and last rows' keys, or why a row has none.
    pub(crate) keys: Option<Result<(u64, u64), Error>>,
    /// When keys were asked for: every row's key, read on demand from the body.
    pub(crate) key_index: Option<KeyIndex>,
}

/// Where each row of a page sits in the response body, to read a row's key only when needed
/// (at a seam where rows shifted), without decoding every row for it.
pub(crate) struct KeyIndex {
    body: bytes::Bytes,
    spans: Vec<(usize, usize)>,
}

impl KeyIndex {
    fn new(body: &bytes::Bytes, rows: &[&RawValue]) -> Self {
        let base = body.as_ptr() as usize;
        let spans = rows
            .iter()
            .map(|r| {
                let start = r.get().as_ptr() as usize - base;
                (start, start + r.get().len())
            })
            .collect();
        KeyIndex {
            body: body.clone(),
            spans,
        }
    }

    /// Row `i`'s key, if it has an integer one.
    pub(crate) fn key(&self, i: usize) -> Option<u64> {
        let (start, end) = *self.spans.get(i)?;
        row_key(&self.body[start..end], i, 0).ok()
    }
}

/// How one response body becomes rows: `(body, status, content type, offset, want keys)`.
pub(crate) type Decoder<T> = fn(&bytes::Bytes, u16, &str, u64, bool) -> Result<Decoded<T>, Error>;

/// The keyset key of one row, which must be an integer.
fn row_key(row: &[u8], index: usize, offset: u64) -> Result<u64, Error> {
    #[derive(Deserialize)]
    struct Key {
        action_id: Option<u64>,
    }
    match serde_json::from_slice::<Key>(row) {
        Ok(Key { action_id: Some(k) }) => Ok(k),
        _ => Err(Error::new(
            ErrorKind::Decode,
            format!(
                "row {index} (offset {}) has no integer `{}` to seek or check seams on",
                offset + index as u64,
                crate::query::KEYSET_KEY
            ),
        )),
    }
}

/// The keys of the first and last of `rows` (`None` for no rows).
fn edge_keys(rows: &[&RawValue], offset: u64) -> Option<Result<(u64, u64), Error>> {
    let (first, last) = (rows.first()?, rows.last()?);
    Some((|| {
        Ok((
            row_key(first.get().as_bytes(), 0, offset)?,
            row_key(last.get().as_bytes(), rows.len() - 1, offset)?,
        ))
    })())
}

/// Typed rows: the envelope, then `data` decoded into `T`.
pub(crate) fn decode_typed<T: DeserializeOwned>(
    body: &bytes::Bytes,
    status: u16,
    content_type: &str,
    offset: u64,
    want_keys: bool,
) -> Result<Decoded<T>, Error> {
    let data = open_envelope(status, content_type, body)?;
    let print = fingerprint(data.get().as_bytes());
    let rows = decode_rows(data, offset)?;
    let (keys, key_index) = if want_keys {
        let raw: Vec<&RawValue> = serde_json::from_str(data.get()).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!("`data` does not split into rows: {e}"),
            )
        })?;
        (edge_keys(&raw, offset), Some(KeyIndex::new(body, &raw)))
    } else {
        (None, None)
    };
    Ok(Decoded {
        rows,
        print,
        keys,
        key_index,
    })
}

/// Raw rows: slices of the body, found in the same pass that reads the envelope.
pub(crate) fn decode_raw(
    body: &bytes::Bytes,
    status: u16,
    content_type: &str,
    offset: u64,
    want_keys: bool,
) -> Result<Decoded<RawRow>, Error> {
    let rows = open_rows(status, content_type, body)?;
    let print = match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => {
            let start = first.get().as_ptr() as usize - body.as_ptr() as usize;
            let end = last.get().as_ptr() as usize + last.get().len() - body.as_ptr() as usize;
            fingerprint(&body[start..end])
        }
        _ => 0,
    };
    if let Some(i) = rows.iter().position(|r| !r.get().starts_with('{')) {
        let start: String = rows[i].get().chars().take(16).collect();
        return Err(Error::new(
            ErrorKind::Decode,
            format!(
                "row {i} (offset {}) is not a JSON object: it starts with {start:?}",
                offset + i as u64
            ),
        ));
    }
    let (keys, key_index) = if want_keys {
        (edge_keys(&rows, offset), Some(KeyIndex::new(body, &rows)))
    } else {
        (None, None)
    };
    let rows = rows
        .iter()
        .map(|r| RawRow(body.slice_ref(r.get().as_bytes())))
        .collect();
    Ok(Decoded {
        rows,
        print,
        keys,
        key_index,
    })
}

/// Decodes a page's rows; an error names the row and the field that does not fit.
pub(crate) fn decode_rows<T: DeserializeOwned>(
    data: &RawValue,
    offset: u64,
) -> Result<Vec<T>, Error> {
    let mut de = serde_json::Deserializer::from_str(data.get());
    serde_path_to_error::deserialize::<_, Vec<T>>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (row, field) = split_path(&path);
        let place = match row {
            Some(r) => format!("row {r} (offset {})", offset + r),
            None => "the page".to_string(),
        };
        let field = if field.is_empty() {
            String::new()
        } else {
            format!(", field `{field}`")
        };
        // The position is within the `data` array, which means nothing to a reader: drop it.
        let text = inner.to_string();
        let text = match text.rfind(" at line ") {
            Some(at) => &text[..at],
            None => &text,
        };
        Error::new(ErrorKind::Decode, format!("{place}{field}: {text}")).with_source(inner)
    })
}

/// Splits a path like `[17].action_id` into the row index and the field path.
fn split_path(path: &str) -> (Option<u64>, &str) {
    let Some(rest) = path.strip_prefix('[') else {
        return (None, path);
    };
    let Some((index, field)) = rest.split_once(']') else {
        return (None, path);
    };
    (index.parse().ok(), field.trim_start_matches('.'))
}

/// The standard reason phrase of an HTTP status, for errors that come without a message.
fn reason(code: u16) -> &'static str {
    reqwest::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_sample_decodes() {
        let body = br#"{"code":200,"success":true,"data":[
            {"action_id":21714179,"campaign_id":245624,"create_time":1485883608,"device_id":17186391,"error_message":"Not personalized"},
            {"action_id":8958858,"campaign_id":245624,"create_time":1474649166,"device_id":7039393,"error_message":"Application is Uninstalled"}]}"#;
        let data = open_envelope(200, "application/json", body).unwrap();
        let rows: Vec<PushAction> = decode_rows(data, 0).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].action_id, Some(21714179));
        assert_eq!(rows[0].campaign_id, Some(245624));
        assert_eq!(rows[0].create_time, Some(1485883608));
        assert_eq!(rows[0].device_id, Some(17186391));
        assert_eq!(rows[0].error_message.as_deref(), Some("Not personalized"));
        assert_eq!(
            rows[1].error_message.as_deref(),
            Some("Application is Uninstalled")
        );
        assert!(rows[0].extra.is_empty());
    }

    #[test]
    fn unknown_fields_are_kept() {
        let body = br#"{"code":200,"success":true,"data":[{"action_id":1,"platform":"ios","meta":{"a":[1,2]},"profile_id":42}]}"#;
        let rows: Vec<PushAction> = decode_rows(open_envelope(200, "", body).unwrap(), 0).unwrap();
        assert_eq!(rows[0].extra["platform"], "ios");
        assert_eq!(rows[0].extra["meta"], serde_json::json!({"a": [1, 2]}));
        assert_eq!(rows[0].profile_id.as_deref(), Some("42"));
        let back = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(back["platform"], "ios");
    }

    #[test]
    fn failure_inside_http_200_is_an_error() {
        let body = br#"{"code":500,"success":false,"message":"Temporary failure"}"#;
        let e = open_envelope(200, "application/json", body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.status(), Some(500));
        assert_eq!(e.detail(), "HTTP 500 Temporary failure");

        let body = br#"{"code":401,"success":false,"message":"Authentication failed"}"#;
        let e = open_envelope(200, "application/json", body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert_eq!(e.detail(), "HTTP 401 Authentication failed");
    }

    #[test]
    fn envelope_code_decides_over_http_status() {
        let body = br#"{"code":429,"success":false,"message":"Rate limit exhausted"}"#;
        let e = open_envelope(400, "application/json", body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        let body = br#"{"code":403,"success":false,"message":"Access not authorised"}"#;
        let e = open_envelope(403, "application/json", body).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
        assert_eq!(e.detail(), "HTTP 403 Access not authorised");
    }

    #[test]
    fn html_error_pages_are_classified_by_status() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let e = open_envelope(502, "text/html", html).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.detail(), "HTTP 502 Bad Gateway");
        let e = open_envelope(200, "text/html", html).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotEnvelope);
        assert!(e.detail().contains("text/html"), "{}", e.detail());
        let e = open_envelope(404, "text/html", html).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Refused);
    }

    #[test]
    fn truncated_json_and_missing_data_are_not_envelopes() {
        let e = open_envelope(
            200,
            "application/json",
            br#"{"code":200,"success":true,"data":[{"a"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotEnvelope);
        let e =
            open_envelope(200, "application/json", br#"{"code":200,"success":true}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotEnvelope);
        let e = open_envelope(
            200,
            "application/json",
            br#"{"success":true,"data":{"a":1}}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotEnvelope);
        assert!(e.detail().contains("not an array"));
    }

    #[test]
    fn raw_rows_are_the_bytes_as_sent() {
        let body = bytes::Bytes::from_static(
            br#"{"code":200,"success":true,"data":[{"b":1, "a":2.50},{"x":"\u00e9 \"q\""}]}"#,
        );
        let Decoded { rows, print, .. } = decode_raw(&body, 200, "", 0, false).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_bytes(), br#"{"b":1, "a":2.50}"#);
        assert_eq!(rows[1].as_bytes(), br#"{"x":"\u00e9 \"q\""}"#);
        assert_eq!(
            rows[1].parse::<serde_json::Value>().unwrap()["x"],
            "é \"q\""
        );
        let typed = decode_typed::<serde_json::Value>(&body, 200, "", 0, false).unwrap();
        let typed_print = typed.print;
        assert_eq!(typed.rows.len(), 2);
        assert_ne!(print, 0);
        assert_ne!(typed_print, 0);
        let Decoded { rows: none, .. } = decode_raw(
            &bytes::Bytes::from_static(br#"{"success":true,"data":[]}"#),
            200,
            "",
            0,
            false,
        )
        .unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn raw_rows_fail_like_typed_ones() {
        let cases: [(u16, &[u8], ErrorKind); 5] = [
            (
                200,
                br#"{"code":401,"success":false,"message":"Authentication failed","data":{}}"#,
                ErrorKind::Refused,
            ),
            (
                200,
                br#"{"code":500,"success":false,"message":"x"}"#,
                ErrorKind::Server,
            ),
            (502, b"<html>Bad Gateway</html>", ErrorKind::Server),
            (
                200,
                br#"{"success":true,"data":{"a":1}}"#,
                ErrorKind::NotEnvelope,
            ),
            (
                200,
                br#"{"success":true,"data":[{"a"#,
                ErrorKind::NotEnvelope,
            ),
        ];
        for (status, body, kind) in cases {
            let body = bytes::Bytes::copy_from_slice(body);
            let e = decode_raw(&body, status, "", 0, false).err().unwrap();
            assert_eq!(e.kind(), kind, "{}", String::from_utf8_lossy(&body));
            let t = decode_typed::<serde_json::Value>(&body, status, "", 0, false)
                .err()
                .unwrap();
            assert_eq!(t.kind(), kind);
        }
    }

    #[test]
    fn a_bad_row_names_row_offset_and_field() {
        let body = br#"{"code":200,"success":true,"data":[{"action_id":1},{"action_id":"x2"}]}"#;
        let data = open_envelope(200, "", body).unwrap();
        let e = decode_rows::<PushAction>(data, 1000).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(
            e.detail()
                .starts_with("row 1 (offset 1001), field `action_id`: invalid type: string \"x2\""),
            "{}",
            e.detail()
        );
    }
}
