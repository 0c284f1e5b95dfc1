//! The envelope every response comes in, `{"code", "success", "message", "data"}`: whether it
//! reports a failure (even inside HTTP 200), and its `data` array.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind};

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
}
