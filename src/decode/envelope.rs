//! The envelope every response comes in, `{"code", "success", "message", "data"}`: whether it
//! reports a failure (even inside HTTP 200), and its `data` array.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind, shown};

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
fn open_envelope<'a>(
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

/// The largest body [`refuses_credentials`] reads for an envelope: a refusal is a few hundred
/// bytes, and a page of rows is not read twice.
const REFUSAL_MAX_BYTES: usize = 64 << 10;

/// Whether a response says the credentials were refused (401): the envelope's `code` where it
/// has one, even inside HTTP 200, else the HTTP status.
pub(crate) fn refuses_credentials(status: u16, body: &[u8]) -> bool {
    let code = (body.len() <= REFUSAL_MAX_BYTES)
        .then(|| serde_json::from_slice::<Envelope<serde::de::IgnoredAny>>(body).ok())
        .flatten()
        .and_then(|envelope| envelope.code);
    match code {
        Some(code) => code == 401,
        None => status == 401,
    }
}

/// The error an envelope reports, if it reports one: `success: false` or a failing `code`
/// decide even inside HTTP 200; a failing HTTP status decides when the body says nothing.
///
/// A failing code (the envelope's, else the HTTP status) reads `HTTP 401 <the message>`.
/// `success: false` without one is a server error (retried, as a 500 would be) that says what
/// the server said: `the API reported a failure (success: false, code 200): <the message>`.
fn failure(
    status: u16,
    raw_code: Option<i64>,
    success: Option<bool>,
    message: Option<&Value>,
) -> Option<Error> {
    let code = raw_code
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| *c >= 400);
    let http_ok = (200..300).contains(&status);
    if success != Some(false) && code.is_none() && http_ok {
        return None;
    }
    let said = said(message);
    if let Some(code) = code.or((status >= 400).then_some(status)) {
        return Some(Error::from_status(
            code,
            said.as_deref().unwrap_or(reason(code)),
        ));
    }
    let what = match (success, raw_code) {
        (Some(false), Some(c)) => format!("the API reported a failure (success: false, code {c})"),
        (Some(false), None) => "the API reported a failure (success: false, no code)".to_string(),
        _ => format!("the API answered HTTP {status}, which is not a page"),
    };
    let detail = match said {
        Some(message) => format!("{what}: {message}"),
        None => format!("{what}, without a message"),
    };
    Some(Error::new(ErrorKind::Server, detail))
}

/// The envelope's `message`, fit to show: `None` when it is missing, null or blank.
fn said(message: Option<&Value>) -> Option<String> {
    let text = match message? {
        Value::Null => return None,
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    (!text.is_empty()).then(|| shown(&text).into_owned())
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

/// The envelope and its rows decoded into `T` in one pass: `None` when they do not decode so
/// (not the envelope, or a row that does not fit `T`), for the caller to take the path that
/// says precisely what is wrong.
pub(crate) fn open_typed<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Option<Result<Vec<T>, Error>> {
    let env = super::typed::read_page::<T>(body).ok()?;
    if let Some(e) = failure(status, env.code, env.success, env.message.as_ref()) {
        return Some(Err(e));
    }
    env.data.map(Ok)
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
    fn a_refusal_of_credentials_is_told_by_the_envelope_code_else_the_status() {
        use super::refuses_credentials;
        let refused = br#"{"code": 401, "success": false, "message": "Token expired"}"#;
        assert!(refuses_credentials(200, refused));
        assert!(refuses_credentials(401, refused));
        assert!(refuses_credentials(401, b"<html>Unauthorized</html>"));
        assert!(refuses_credentials(401, b""));
        assert!(!refuses_credentials(
            200,
            br#"{"code": 200, "success": true, "data": []}"#
        ));
        assert!(!refuses_credentials(
            200,
            br#"{"code": 403, "success": false}"#
        ));
        assert!(!refuses_credentials(
            401,
            br#"{"code": 500, "success": false}"#
        ));
        assert!(!refuses_credentials(200, b"not json"));
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
    fn success_false_without_a_failing_code_says_what_the_server_said() {
        let cases: [(&[u8], &str); 4] = [
            (
                br#"{"code":200,"success":false,"message":"weird"}"#,
                "the API reported a failure (success: false, code 200): weird",
            ),
            (
                br#"{"success":false,"message":""}"#,
                "the API reported a failure (success: false, no code), without a message",
            ),
            (
                br#"{"code":-3,"success":false,"message":{"why":["a","b"]}}"#,
                r#"the API reported a failure (success: false, code -3): {"why":["a","b"]}"#,
            ),
            (
                br#"{"code":200,"success":false,"message":"line\nbreak\u001b[2J"}"#,
                r"the API reported a failure (success: false, code 200): line\nbreak\u{1b}[2J",
            ),
        ];
        for (body, want) in cases {
            let e = open_envelope(200, "application/json", body).unwrap_err();
            assert_eq!(e.detail(), want);
            assert_eq!(e.kind(), ErrorKind::Server, "retried, as before");
            assert_eq!(e.status(), None, "no status was reported");
        }
        let e = open_envelope(401, "", br#"{"success":false,"message":" "}"#).unwrap_err();
        assert_eq!(
            e.detail(),
            "HTTP 401 Unauthorized",
            "a blank message is none"
        );
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
