//! How a response body becomes rows: the envelope decides failure (`envelope`), then `data` is
//! decoded into typed rows (`typed`) or split into [`RawRow`] slices, with the keys paging needs
//! (`keys`).

mod envelope;
mod keys;
mod typed;

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};
use crate::model::RawRow;

pub(crate) use envelope::refuses_credentials;
use envelope::{open_rows, open_typed};
pub(crate) use keys::KeyIndex;
use keys::edge_keys;

/// Decodes a response body the way the stream does: the envelope decides failure (`success`,
/// `code`, then the HTTP `status`), and `data` is decoded into rows of `T`. `offset` is where
/// the page starts, for the error of a row that does not decode.
///
/// ```
/// use xp_export::PushAction;
/// let body = br#"{"code":200,"success":true,"data":[{"action_id":7,"error":1}]}"#;
/// let rows: Vec<PushAction> = xp_export::decode::decode_page(200, body, 0).unwrap();
/// assert_eq!(rows[0].action_id, Some(7));
/// ```
#[doc(hidden)] // for the benches, the fuzz target and the tests that decode without a server
pub fn decode_page<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
    offset: u64,
) -> Result<Vec<T>, Error> {
    if let Some(rows) = open_typed(status, body) {
        return rows;
    }
    decode_rows(&open_rows(status, "application/json", body)?, offset)
}

/// Splits a response body into its rows exactly as sent, the way [`crate::Query::raw_stream`]
/// does: each [`RawRow`] is a shared slice of `body`, not a copy.
#[doc(hidden)] // for the benches, the fuzz target and the tests that decode without a server
pub fn decode_page_raw(status: u16, body: &bytes::Bytes) -> Result<Vec<RawRow>, Error> {
    decode_raw(Input {
        status,
        content_type: "application/json",
        ..Input::new(body)
    })
    .map(|d| d.rows)
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

/// A decoded page: its rows, their [`fingerprint`], and (keyset mode) the keys of its first
/// and last rows.
#[derive(Debug)]
pub(crate) struct Decoded<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) print: u64,
    /// When asked for: the first and last rows' keys, or why a row has none.
    pub(crate) keys: Option<Result<(u64, u64), Error>>,
    /// When keys were asked for: every row's key, read on demand from the body.
    pub(crate) key_index: Option<KeyIndex>,
}

/// One response to decode, and what the decoder is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    /// The whole response body.
    pub(crate) body: &'a bytes::Bytes,
    /// The HTTP status.
    pub(crate) status: u16,
    /// The `Content-Type` header, for the error of a body that is not the envelope.
    pub(crate) content_type: &'a str,
    /// The offset of the page's first row, for the error of a row that does not decode.
    pub(crate) offset: u64,
    /// Whether to read the rows' keys (keyset mode, the seam check).
    pub(crate) want_keys: bool,
}

impl<'a> Input<'a> {
    /// A body with status 200 and no content type, at offset 0, keys not wanted.
    pub(crate) fn new(body: &'a bytes::Bytes) -> Self {
        Input {
            body,
            status: 200,
            content_type: "",
            offset: 0,
            want_keys: false,
        }
    }
}

/// How one response body becomes rows.
pub(crate) type Decoder<T> = fn(Input<'_>) -> Result<Decoded<T>, Error>;

/// Typed rows: decoded with the envelope in one pass; or, when their keys are wanted too, split
/// into their slices of the body in the pass that reads the envelope, then each decoded.
pub(crate) fn decode_typed<T: DeserializeOwned>(input: Input<'_>) -> Result<Decoded<T>, Error> {
    let (body, offset) = (input.body, input.offset);
    // Without keys to find, one pass does it all; a page that does not decode so is read again
    // the way that names what is wrong.
    if !input.want_keys
        && let Some(rows) = open_typed(input.status, body)
    {
        return Ok(Decoded {
            rows: rows?,
            print: fingerprint(body),
            keys: None,
            key_index: None,
        });
    }
    let raw = open_rows(input.status, input.content_type, body)?;
    let print = rows_print(body, &raw);
    let rows = decode_rows(&raw, offset)?;
    let (keys, key_index) = if input.want_keys {
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

/// The [`fingerprint`] of the span of `body` from the first row to the last.
fn rows_print(body: &[u8], rows: &[&RawValue]) -> u64 {
    match (rows.first(), rows.last()) {
        (Some(first), Some(last)) => {
            let start = first.get().as_ptr() as usize - body.as_ptr() as usize;
            let end = last.get().as_ptr() as usize + last.get().len() - body.as_ptr() as usize;
            fingerprint(&body[start..end])
        }
        _ => 0,
    }
}

/// Raw rows: slices of the body, found in the same pass that reads the envelope.
pub(crate) fn decode_raw(input: Input<'_>) -> Result<Decoded<RawRow>, Error> {
    let (body, offset) = (input.body, input.offset);
    let rows = open_rows(input.status, input.content_type, body)?;
    let print = rows_print(body, &rows);
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
    let (keys, key_index) = if input.want_keys {
        (edge_keys(&rows, offset), Some(KeyIndex::new(body, &rows)))
    } else {
        (None, None)
    };
    let rows = rows
        .iter()
        .map(|r| RawRow::from_body(body.slice_ref(r.get().as_bytes())))
        .collect();
    Ok(Decoded {
        rows,
        print,
        keys,
        key_index,
    })
}

/// Decodes a page's rows from their slices of the body, each into `T`; an error names the row,
/// its offset and the field that does not fit.
pub(crate) fn decode_rows<T: DeserializeOwned>(
    rows: &[&RawValue],
    offset: u64,
) -> Result<Vec<T>, Error> {
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        match serde_json::from_str::<T>(row.get()) {
            Ok(r) => out.push(r),
            Err(_) => return Err(row_error::<T>(row, offset + i as u64, i)),
        }
    }
    Ok(out)
}

/// Why row `index` (at `offset`) does not decode: read again tracking the path (which costs an
/// allocation per field, so only for a row that fails), to name the field.
fn row_error<T: DeserializeOwned>(row: &RawValue, offset: u64, index: usize) -> Error {
    let mut de = serde_json::Deserializer::from_str(row.get());
    let (field, text) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            (path, e.into_inner().to_string())
        }
        // Not seen: the same row failed a moment ago. Say so rather than nothing.
        Ok(_) => (String::new(), "it does not decode".to_string()),
    };
    let field = match field.as_str() {
        "" | "." => String::new(),
        f => format!(", field `{f}`"),
    };
    // The position is within the row, which means nothing to a reader: drop it.
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    // serde's message is the detail: keeping its error as the source too would repeat it.
    Error::new(
        ErrorKind::Decode,
        format!("row {index} (offset {offset}){field}: {text}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PushAction;

    #[test]
    fn the_seed_sample_decodes() {
        let body = br#"{"code":200,"success":true,"data":[
            {"action_id":21714179,"campaign_id":245624,"create_time":1485883608,"device_id":17186391,"error_message":"Not personalized"},
            {"action_id":8958858,"campaign_id":245624,"create_time":1474649166,"device_id":7039393,"error_message":"Application is Uninstalled"}]}"#;
        let rows: Vec<PushAction> = decode_page(200, body, 0).unwrap();
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
        let rows: Vec<PushAction> = decode_page(200, body, 0).unwrap();
        assert_eq!(rows[0].extra["platform"], "ios");
        assert_eq!(rows[0].extra["meta"], serde_json::json!({"a": [1, 2]}));
        assert_eq!(rows[0].profile_id.as_deref(), Some("42"));
        let back = serde_json::to_value(&rows[0]).unwrap();
        assert_eq!(back["platform"], "ios");
    }

    #[test]
    fn raw_rows_are_the_bytes_as_sent() {
        let body = bytes::Bytes::from_static(
            br#"{"code":200,"success":true,"data":[{"b":1, "a":2.50},{"x":"\u00e9 \"q\""}]}"#,
        );
        let Decoded { rows, print, .. } = decode_raw(Input::new(&body)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].as_bytes(), br#"{"b":1, "a":2.50}"#);
        assert_eq!(rows[1].as_bytes(), br#"{"x":"\u00e9 \"q\""}"#);
        assert_eq!(
            rows[1].parse::<serde_json::Value>().unwrap()["x"],
            "é \"q\""
        );
        let typed = decode_typed::<serde_json::Value>(Input::new(&body)).unwrap();
        let typed_print = typed.print;
        assert_eq!(typed.rows.len(), 2);
        assert_ne!(print, 0);
        assert_ne!(typed_print, 0);
        let Decoded { rows: none, .. } = decode_raw(Input::new(&bytes::Bytes::from_static(
            br#"{"success":true,"data":[]}"#,
        )))
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
            let e = decode_raw(Input {
                status,
                ..Input::new(&body)
            })
            .err()
            .unwrap();
            assert_eq!(e.kind(), kind, "{}", String::from_utf8_lossy(&body));
            let t = decode_typed::<serde_json::Value>(Input {
                status,
                ..Input::new(&body)
            })
            .err()
            .unwrap();
            assert_eq!(t.kind(), kind);
        }
    }

    #[test]
    fn a_bad_row_names_row_offset_and_field() {
        let body = br#"{"code":200,"success":true,"data":[{"action_id":1},{"action_id":"x2"}]}"#;
        let e = decode_page::<PushAction>(200, body, 1000).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(
            e.detail()
                .starts_with("row 1 (offset 1001), field `action_id`: invalid type: string \"x2\""),
            "{}",
            e.detail()
        );
    }
}
