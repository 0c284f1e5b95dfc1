//! The API's two envelopes: a page of rows (`{"code":200,"success":true,"data":[…]}`) and
//! an error (`{"code":…,"success":false,"message":…,"errors":[…]}`, HTTP status = code),
//! with the [`ApiError`] it carries.

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use serde_json::json;

use crate::emulator::data::{Field, Row};

/// An error answered with an error envelope.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) message: String,
    pub(crate) errors: Vec<String>,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// A 400 whose `errors` also names where in the body the problem is.
    pub(crate) fn bad(at: impl Into<String>, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError {
            status: 400,
            errors: vec![format!("{}: {}", at.into(), message)],
            message,
        }
    }
}

/// Renders the success envelope for `rows`, writing each row's JSON.
pub(crate) fn render_page(rows: &[Row], select: Option<&[Field]>) -> Vec<u8> {
    const HEAD: &[u8] = br#"{"code":200,"success":true,"data":["#;
    const TAIL: &[u8] = b"]}";
    // Room for the page: whole rows take about 260 bytes, selected fields an estimate.
    let per_row = select.map_or(288, |fields| 24 * fields.len());
    let mut out = Vec::with_capacity(HEAD.len() + TAIL.len() + rows.len() * (per_row + 1));
    out.extend_from_slice(HEAD);
    for (k, row) in rows.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        match select {
            None => row.write_json(&mut out),
            Some(fields) => row.write_fields(&mut out, fields),
        }
    }
    out.extend_from_slice(TAIL);
    out
}

/// A response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The error envelope: HTTP status = body code.
pub(crate) fn envelope(e: &ApiError) -> Response<Body> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "code": e.status,
        "success": false,
        "message": e.message,
        "errors": e.errors,
    });
    json_response(status, Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use serde_json::Value as Json;

    use super::*;
    use crate::emulator::data::{DEFAULT_CAMPAIGNS, Dataset};

    #[test]
    fn pages_render_as_envelopes() {
        let ds = Dataset::new(3_000, 11, &DEFAULT_CAMPAIGNS);
        for indices in [vec![], vec![5], vec![5, 6, 7], vec![9, 3, 4]] {
            let rows: Vec<Row> = indices.iter().map(|&i| ds.row(i)).collect();
            let v: Json = serde_json::from_slice(&render_page(&rows, None)).unwrap();
            assert_eq!(v["code"], 200);
            assert_eq!(v["success"], true);
            let data = v["data"].as_array().unwrap();
            assert_eq!(data.len(), rows.len());
            for (d, r) in data.iter().zip(&rows) {
                assert_eq!(*d, r.to_record().to_json());
            }
            let sel = [Field::ErrorMessage, Field::ActionId];
            let bytes = render_page(&rows, Some(&sel));
            let v: Json = serde_json::from_slice(&bytes).unwrap();
            for (d, r) in v["data"].as_array().unwrap().iter().zip(&rows) {
                assert_eq!(d.as_object().unwrap().len(), 2);
                assert_eq!(d["action_id"], r.action_id);
                assert_eq!(d["error_message"].as_str(), r.error_message());
            }
        }
    }
}
