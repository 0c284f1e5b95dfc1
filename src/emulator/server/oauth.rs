//! The emulator's OAuth 2.0 side: `POST /api/oauth/token` with the `client_credentials` and
//! `jwt-bearer` grants (RFC 6749, RFC 7523), and the bearer tokens it issued, which the list
//! handler checks.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, header};
use bytes::Bytes;
use jsonwebtoken::errors::ErrorKind as JwtError;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::json;

use crate::emulator::envelope::json_response;
use crate::emulator::lock::lock;

/// The client, its keys, and the tokens issued to it.
pub(crate) struct OAuthState {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    public_key: Option<(DecodingKey, Vec<Algorithm>)>,
    lifetime: Duration,
    /// How far the emulator's clock runs ahead of the client's, for assertions' expiry.
    clock_ahead: Duration,
    /// Every token issued, with when it expires.
    issued: Mutex<HashMap<String, Instant>>,
    requests: AtomicU64,
}

/// The claim the emulator checks itself (the rest is checked by `Validation`): the expiry, by
/// the emulator's clock.
#[derive(Deserialize)]
struct Claims {
    exp: u64,
}

impl OAuthState {
    /// Reads the public key (RSA or EC, PEM), if any.
    pub(crate) fn new(
        client_id: String,
        client_secret: String,
        public_key_pem: Option<&str>,
        lifetime: Duration,
        clock_ahead: Duration,
    ) -> io::Result<OAuthState> {
        let public_key = match public_key_pem {
            None => None,
            Some(pem) => Some(public_key(pem.as_bytes())?),
        };
        Ok(OAuthState {
            client_id,
            client_secret,
            public_key,
            lifetime,
            clock_ahead,
            issued: Mutex::default(),
            requests: AtomicU64::new(0),
        })
    }

    /// How many token requests arrived.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Whether `token` was issued here and has not expired.
    pub(crate) fn accepts(&self, token: &str) -> bool {
        lock(&self.issued)
            .get(token)
            .is_some_and(|expiry| Instant::now() < *expiry)
    }

    /// Expires every token issued so far, as a server that restarted would.
    pub(crate) fn expire_all(&self) {
        let now = Instant::now();
        for expiry in lock(&self.issued).values_mut() {
            *expiry = now;
        }
    }

    /// Answers one token request.
    pub(crate) fn answer(&self, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let form = parse_form(body);
        let get = |k: &str| form.get(k).map(String::as_str);
        let checked = match get("grant_type") {
            Some("client_credentials") => self.check_secret(get("client_id"), get("client_secret")),
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                self.check_assertion(get("assertion"), &token_url(headers))
            }
            Some(other) => Err(refuse(
                400,
                "unsupported_grant_type",
                &format!("The grant type {other:?} is not supported"),
            )),
            None => Err(refuse(400, "invalid_request", "grant_type is required")),
        };
        if let Err(refusal) = checked {
            return refusal.response();
        }
        let token = format!("{:032x}", fastrand::u128(..));
        lock(&self.issued).insert(token.clone(), Instant::now() + self.lifetime);
        let body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.lifetime.as_secs(),
        });
        json_response(StatusCode::OK, Bytes::from(body.to_string()))
    }

    fn check_secret(&self, id: Option<&str>, secret: Option<&str>) -> Result<(), Refusal> {
        if id == Some(self.client_id.as_str()) && secret == Some(self.client_secret.as_str()) {
            Ok(())
        } else {
            Err(refuse(
                401,
                "invalid_client",
                "Client authentication failed",
            ))
        }
    }

    fn check_assertion(&self, assertion: Option<&str>, aud: &str) -> Result<(), Refusal> {
        let invalid = |why: &str| refuse(400, "invalid_grant", why);
        let Some(assertion) = assertion else {
            return Err(refuse(400, "invalid_request", "assertion is required"));
        };
        let Some((key, algorithms)) = &self.public_key else {
            return Err(invalid("No public key is uploaded for this client"));
        };
        let mut validation = Validation::new(algorithms[0]);
        validation.algorithms = algorithms.clone();
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.set_audience(&[aud]);
        validation.set_issuer(&[&self.client_id]);
        validation.sub = Some(self.client_id.clone());
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        let now = jsonwebtoken::get_current_timestamp() + self.clock_ahead.as_secs();
        match jsonwebtoken::decode::<Claims>(assertion, key, &validation) {
            Ok(data) if data.claims.exp <= now => Err(invalid("The assertion has expired")),
            Ok(_) => Ok(()),
            Err(e) => Err(invalid(match e.kind() {
                JwtError::ExpiredSignature => "The assertion has expired",
                JwtError::InvalidSignature => {
                    "The assertion's signature does not match the uploaded public key"
                }
                JwtError::InvalidAudience => "The assertion's aud is not the token URL",
                JwtError::InvalidIssuer | JwtError::InvalidSubject => {
                    "The assertion's iss and sub must be the client ID"
                }
                _ => "The assertion is malformed",
            })),
        }
    }
}

/// The token URL as the client reached it: the assertion's `aud` must name it.
fn token_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/api/oauth/token")
}

/// An RFC 6749 §5.2 error answer, to be.
struct Refusal {
    status: u16,
    error: &'static str,
    description: String,
}

impl Refusal {
    fn response(self) -> Response<Body> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"error": self.error, "error_description": self.description});
        json_response(status, Bytes::from(body.to_string()))
    }
}

fn refuse(status: u16, error: &'static str, description: &str) -> Refusal {
    Refusal {
        status,
        error,
        description: description.to_owned(),
    }
}

/// A PEM public key (or certificate's key, as `BEGIN PUBLIC KEY`), RSA or EC, and the
/// algorithms it verifies.
fn public_key(pem: &[u8]) -> io::Result<(DecodingKey, Vec<Algorithm>)> {
    use Algorithm::{ES256, ES384, RS256, RS384, RS512};
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, vec![RS256, RS384, RS512]));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((key, vec![ES256, ES384]));
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "the JWT public key is not a PEM RSA or EC public key",
    ))
}

/// An `application/x-www-form-urlencoded` body as a map (the last of a repeated key wins).
fn parse_form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding, with `+` as a space; a `%` not followed by two hex digits stays.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_percent_decoded() {
        let form = parse_form(b"grant_type=client_credentials&client_secret=a%2Bb+c%&x");
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["client_secret"], "a+b c%");
        assert_eq!(form["x"], "");
    }
}
