//! What the token endpoint answers: an access token with its type and lifetime (RFC 6749
//! §5.1), or a refusal (§5.2, or the API's own envelope, even inside HTTP 200).
//!
//! `expires_in` is read as token endpoints send it, not only as the RFC writes it: a number
//! of seconds, or the same number as a string (Azure AD and others send `"3599"`; Spring's and
//! Dart's OAuth clients accept it, oauth2-rs has it as an open request). A fraction is cut to
//! whole seconds, a lifetime over a day is taken as a day ([`MAX_TOKEN_LIFETIME`]), and zero
//! or a negative number (some servers' way of saying "does not expire") is taken as no
//! lifetime given: the token is kept for [`DEFAULT_TOKEN_LIFETIME`] and renewed sooner if the
//! API answers 401 to it, rather than fetched anew for every page. Anything else names the
//! field and what it held.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Error, ErrorKind, Result, shown};

/// The lifetime assumed when the token endpoint gives no `expires_in` (or zero, or a
/// negative one): an hour.
pub(super) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The longest lifetime taken from `expires_in`: a day (a larger one is taken as this).
pub(super) const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// An access token as the endpoint issued it.
pub(super) struct Issued {
    pub(super) access_token: String,
    pub(super) lifetime: Duration,
}

/// What the token endpoint answers on success (RFC 6749 §5.1); `expires_in` as sent.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<Value>,
    token_type: Option<Value>,
    /// As its JSON text: a number past what a double holds (`1e400`) is still a number of
    /// seconds, which a `Value` refuses, failing the whole answer.
    expires_in: Option<Box<RawValue>>,
}

/// What it answers on failure (RFC 6749 §5.2), or the API's own envelope.
#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// The token in a body the endpoint answered with HTTP `status` (a success), or why there is
/// none: a refusal in the body, or the field that is wrong.
pub(super) fn issued(status: u16, body: &[u8]) -> Result<Issued> {
    // An answer that is no token (a proxy's page, say) is retried; a field of the wrong type
    // is not: it will not change.
    let bad = |what: String| {
        Error::new(
            ErrorKind::NotEnvelope,
            format!("the token endpoint's answer {what}"),
        )
    };
    let wrong = |what: String| {
        Error::new(
            ErrorKind::Decode,
            format!("the token endpoint's answer {what}"),
        )
    };
    let Ok(token) = serde_json::from_slice::<TokenResponse>(body) else {
        return Err(match serde_json::from_slice::<TokenError>(body) {
            Ok(TokenError { error: Some(_), .. })
            | Ok(TokenError {
                message: Some(_), ..
            }) => refusal(status, body),
            _ => bad("is not a JSON object with an access_token".into()),
        });
    };
    let access_token = match token.access_token {
        Some(Value::String(t)) => t,
        // An error in a 200 (the API's own envelope does that) is still a refusal.
        None | Some(Value::Null) => {
            return Err(match serde_json::from_slice::<TokenError>(body) {
                Ok(TokenError {
                    error: None,
                    message: None,
                    ..
                })
                | Err(_) => bad("holds no access_token".into()),
                Ok(_) => refusal(status, body),
            });
        }
        Some(other) => {
            return Err(wrong(format!(
                "has an access_token that is {}",
                kind(&other)
            )));
        }
    };
    match token.token_type {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(t)) => {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "the token endpoint issued a {:?} token, not a bearer token",
                    shown(&t)
                ),
            ));
        }
        Some(other) => return Err(wrong(format!("has a token_type that is {}", kind(&other)))),
    }
    let lifetime = lifetime(token.expires_in.as_deref())
        .map_err(|got| {
            wrong(format!(
                "is wrong: expires_in: expected a number of seconds, got {got}"
            ))
        })?
        .unwrap_or(DEFAULT_TOKEN_LIFETIME)
        .min(MAX_TOKEN_LIFETIME);
    Ok(Issued {
        access_token,
        lifetime,
    })
}

/// The lifetime `expires_in` gives: `None` when it gives none (absent, null, zero or
/// negative); the JSON it held, fit to show, when it is not a number of seconds.
fn lifetime(expires_in: Option<&RawValue>) -> std::result::Result<Option<Duration>, String> {
    let Some(text) = expires_in.map(RawValue::get) else {
        return Ok(None);
    };
    let seconds = match text.as_bytes().first() {
        Some(b'n') => return Ok(None),
        // A JSON number's text, which parses (past a double's range, to an infinity).
        Some(b'-' | b'0'..=b'9') => text.parse::<f64>().ok(),
        Some(b'"') => serde_json::from_str::<String>(text)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite()),
        _ => None,
    };
    let got = || shown(text).into_owned();
    let seconds = seconds.ok_or_else(got)?.floor();
    if seconds < 1.0 {
        return Ok(None);
    }
    // Past a day it is a day: no need to build a Duration from 1e30 seconds.
    Ok(Some(Duration::from_secs_f64(
        seconds.min(MAX_TOKEN_LIFETIME.as_secs_f64()),
    )))
}

/// What a JSON value is, for an error: `a number`, `an object`.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The error for a token endpoint that said no: 400/401/403 (`invalid_client`,
/// `invalid_grant`, …) are refusals, failed at once; 429 and 5xx are retried like a page.
pub(super) fn refusal(status: u16, body: &[u8]) -> Error {
    let said: TokenError = serde_json::from_slice(body).unwrap_or_default();
    let message = match (said.error, said.error_description, said.message) {
        (Some(e), Some(d), _) => format!("{e}: {d}"),
        (Some(e), None, _) => e,
        (None, _, Some(m)) => m,
        (None, Some(d), None) => d,
        (None, None, None) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    // A refusal in an HTTP 200 is a refusal all the same.
    let status = if status < 300 { 400 } else { status };
    Error::from_status(status, &message).with_note("the token endpoint refused the request")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(expires_in: &str) -> std::result::Result<u64, String> {
        let body =
            format!(r#"{{"access_token":"at","token_type":"Bearer","expires_in":{expires_in}}}"#);
        issued(200, body.as_bytes())
            .map(|t| t.lifetime.as_secs())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expires_in_as_token_endpoints_send_it() {
        let hour = DEFAULT_TOKEN_LIFETIME.as_secs();
        let day = MAX_TOKEN_LIFETIME.as_secs();
        let cases: [(&str, u64); 14] = [
            ("3600", 3600),
            (r#""3600""#, 3600),
            (r#"" 120 ""#, 120),
            ("3600.0", 3600),
            ("3599.9", 3599),
            (r#""90.5""#, 90),
            ("1e30", day),
            ("18446744073709551616", day),
            // Past what a double holds: still a number, and past a day.
            ("1e400", day),
            ("-1e400", hour),
            ("-1", hour),
            ("0", hour),
            ("0.4", hour),
            ("null", hour),
        ];
        for (sent, secs) in cases {
            assert_eq!(answer(sent), Ok(secs), "expires_in {sent}");
        }
        let absent = issued(200, br#"{"access_token":"at"}"#).map(|t| t.lifetime.as_secs());
        assert_eq!(absent.ok(), Some(hour));
    }

    #[test]
    fn a_wrong_expires_in_is_named_with_what_it_held() {
        for (sent, got) in [
            (r#""soon""#, r#"got "soon""#),
            (r#""NaN""#, r#"got "NaN""#),
            ("true", "got true"),
            (r#"{"s":1}"#, r#"got {"s":1}"#),
        ] {
            let e = answer(sent).unwrap_err();
            assert!(
                e.contains("expires_in: expected a number of seconds"),
                "{e}"
            );
            assert!(e.contains(got), "{got} not in {e}");
            assert!(!e.contains("holds no access_token"), "{e}");
        }
    }

    #[test]
    fn other_fields_are_named_too() {
        let said = |body: &str| match issued(200, body.as_bytes()) {
            Ok(_) => "issued".to_string(),
            Err(e) => e.to_string(),
        };
        assert!(said(r#"{"token_type":"bearer"}"#).contains("holds no access_token"));
        assert!(said(r#"{"access_token":7}"#).contains("an access_token that is a number"));
        assert!(said(r#"{"access_token":"a","token_type":1}"#).contains("token_type that is"));
        assert!(said(r#"{"access_token":"a","token_type":"mac"}"#).contains("\"mac\" token"));
        assert!(said("[1]").contains("is not a JSON object"));
        assert!(
            said(r#"{"code":401,"message":"Authentication failed"}"#)
                .contains("Authentication failed")
        );
    }

    #[test]
    fn refusals_quote_the_server() {
        let cases: [(u16, &str, ErrorKind, &str); 5] = [
            (
                401,
                r#"{"error":"invalid_client","error_description":"no"}"#,
                ErrorKind::Refused,
                "invalid_client: no",
            ),
            (
                400,
                r#"{"error":"invalid_grant"}"#,
                ErrorKind::Refused,
                "HTTP 400 invalid_grant",
            ),
            (
                200,
                r#"{"code":401,"message":"Authentication failed"}"#,
                ErrorKind::Refused,
                "Authentication failed",
            ),
            (
                503,
                "<html>down</html>",
                ErrorKind::Server,
                "<html>down</html>",
            ),
            (
                429,
                r#"{"message":"slow down"}"#,
                ErrorKind::RateLimited,
                "slow down",
            ),
        ];
        for (status, body, kind, says) in cases {
            let e = refusal(status, body.as_bytes());
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
