//! Credentials and access tokens: the apptoken, or an OAuth 2.0 client that trades its client
//! secret or a signed assertion for a bearer token at the token endpoint.
//!
//! Xtremepush documents the endpoint (`POST /api/oauth/token`) and its two grant types; how the
//! request is encoded and the token sent follow the RFCs: RFC 6749 §4.4 (client credentials, in
//! a form body with `client_id` and `client_secret` as form fields, §2.3.1), RFC 7523 §2.1 (a
//! JWT assertion: `iss` and `sub` the client ID, `aud` the token URL, five minutes long, with a
//! `jti`), and RFC 6750 (`Authorization: Bearer`).
//!
//! The token is cached behind one async mutex: every page asks [`OAuth::bearer`], and while a
//! token is fetched the others wait for it instead of fetching their own. A token is renewed
//! before it expires (at `expires_in` less a margin) and when the API answers 401 to it
//! ([`OAuth::refresh`], which renews only if no other page has renewed it since).

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use serde::{Deserialize, Serialize};

use super::secrets::{Secret, Secrets, percent_encode};
use crate::error::{Error, ErrorKind, Result, shown};

/// How long a signed assertion is valid for (RFC 7523 asks for a short one).
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The longest a token is renewed before it expires: a fifth of its lifetime, at most a minute.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The lifetime assumed when the token endpoint gives no `expires_in`: an hour.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// The largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 64 << 10;

/// The RFC 7523 grant type.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What an OAuth client proves itself with.
pub(crate) enum Grant {
    /// `client_credentials`, with the client secret.
    ClientSecret(Secret),
    /// `jwt-bearer`, with an assertion signed by this key.
    PrivateKey {
        key: EncodingKey,
        algorithm: Algorithm,
    },
}

impl Grant {
    /// Reads a PEM private key: RSA (signs RS256) or EC P-256/P-384 (ES256/ES384). The error
    /// says which kinds are accepted and never shows the key.
    pub(crate) fn private_key(pem: &str) -> Result<Grant> {
        let pem = pem.as_bytes();
        if let Ok(key) = EncodingKey::from_rsa_pem(pem) {
            return Ok(Grant::PrivateKey {
                key,
                algorithm: Algorithm::RS256,
            });
        }
        if let Ok(key) = EncodingKey::from_ec_pem(pem) {
            for algorithm in [Algorithm::ES256, Algorithm::ES384] {
                // The curve decides the algorithm: only the matching one signs.
                if jsonwebtoken::encode(&Header::new(algorithm), &(), &key).is_ok() {
                    return Ok(Grant::PrivateKey { key, algorithm });
                }
            }
        }
        Err(Error::config(
            "the private key is not a PEM RSA key or EC P-256/P-384 key (PKCS#8 \
             \"BEGIN PRIVATE KEY\", or \"BEGIN RSA PRIVATE KEY\" / \"BEGIN EC PRIVATE KEY\")",
        ))
    }
}

/// An OAuth 2.0 client: its credentials, its token endpoint, and the cached access token.
pub(crate) struct OAuth {
    client_id: String,
    grant: Grant,
    token_url: String,
    cache: tokio::sync::Mutex<Cache>,
}

impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let grant = match &self.grant {
            Grant::ClientSecret(_) => "client_credentials".to_string(),
            Grant::PrivateKey { algorithm, .. } => format!("jwt-bearer ({algorithm:?})"),
        };
        f.debug_struct("OAuth")
            .field("client_id", &self.client_id)
            .field("grant", &grant)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// The token in use, and how many tokens were fetched before it.
#[derive(Default)]
struct Cache {
    token: Option<(Bearer, Instant)>,
    fetched: u64,
}

/// An access token to send, and which one it is (to renew it only once).
#[derive(Clone, Debug)]
pub(crate) struct Bearer {
    pub(crate) value: Secret,
    generation: u64,
}

/// What the token endpoint answers on success (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: Option<String>,
    expires_in: Option<u64>,
}

/// What it answers on failure (RFC 6749 §5.2), or the API's own envelope.
#[derive(Deserialize, Default)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
}

/// The claims of a jwt-bearer assertion (RFC 7523 §3).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

impl OAuth {
    pub(crate) fn new(client_id: String, grant: Grant, token_url: String) -> OAuth {
        OAuth {
            client_id,
            grant,
            token_url,
            cache: tokio::sync::Mutex::default(),
        }
    }

    /// The token endpoint's URL.
    pub(crate) fn token_url(&self) -> &str {
        &self.token_url
    }

    /// The token to send: the cached one while it is fresh, else a new one. Pages that ask
    /// while a token is being fetched wait for that one.
    pub(crate) async fn bearer(&self, http: &reqwest::Client, secrets: &Secrets) -> Result<Bearer> {
        let mut cache = self.cache.lock().await;
        if let Some((bearer, renew_at)) = &cache.token
            && Instant::now() < *renew_at
        {
            return Ok(bearer.clone());
        }
        self.fetch(&mut cache, http, secrets).await
    }

    /// A new token after the API refused `stale`; when another page renewed it already, that
    /// page's token.
    pub(crate) async fn refresh(
        &self,
        stale: &Bearer,
        http: &reqwest::Client,
        secrets: &Secrets,
    ) -> Result<Bearer> {
        let mut cache = self.cache.lock().await;
        if let Some((bearer, _)) = &cache.token
            && bearer.generation != stale.generation
        {
            return Ok(bearer.clone());
        }
        self.fetch(&mut cache, http, secrets).await
    }

    /// Fetches a token into `cache`. On failure the cache is emptied: the next page tries
    /// again (a transient failure is retried with the page, per the client's policy).
    async fn fetch(
        &self,
        cache: &mut Cache,
        http: &reqwest::Client,
        secrets: &Secrets,
    ) -> Result<Bearer> {
        cache.token = None;
        let asked_at = Instant::now();
        let (value, lifetime) = self.request(http, secrets).await?;
        cache.fetched += 1;
        let margin = (lifetime / 5).min(MAX_REFRESH_MARGIN);
        let bearer = Bearer {
            value,
            generation: cache.fetched,
        };
        cache.token = Some((bearer.clone(), asked_at + lifetime - margin));
        tracing::debug!(
            token_url = %self.token_url,
            expires_in_s = lifetime.as_secs(),
            "fetched an access token"
        );
        Ok(bearer)
    }

    /// One token request: its body, the answer, and the token with its lifetime.
    async fn request(
        &self,
        http: &reqwest::Client,
        secrets: &Secrets,
    ) -> Result<(Secret, Duration)> {
        let body = self.form(secrets)?;
        let resp = http
            .post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| Error::from_reqwest(e).with_note("fetching an access token"))?;
        let status = resp.status();
        if status.is_redirection() {
            let to = resp.headers().get(LOCATION).and_then(|l| l.to_str().ok());
            return Err(Error::new(
                ErrorKind::Redirected,
                format!(
                    "the token endpoint answered HTTP {} (to {}), a redirect that is not followed: \
                     it would resend the credentials there; check the token URL",
                    status.as_u16(),
                    shown(to.unwrap_or("nowhere"))
                ),
            )
            .with_status(status.as_u16()));
        }
        let mut resp = resp;
        let bytes = super::read_limited(&mut resp, MAX_TOKEN_RESPONSE).await?;
        if !status.is_success() {
            return Err(refusal(status.as_u16(), &bytes));
        }
        let token: TokenResponse = serde_json::from_slice(&bytes).map_err(|_| {
            Error::new(
                ErrorKind::NotEnvelope,
                "the token endpoint's answer holds no access_token",
            )
        })?;
        if let Some(kind) = token.token_type.as_deref()
            && !kind.eq_ignore_ascii_case("bearer")
        {
            return Err(Error::new(
                ErrorKind::Refused,
                format!("the token endpoint issued a {kind:?} token, not a bearer token"),
            ));
        }
        let value = Secret::new(token.access_token);
        if value.expose().trim().is_empty() {
            return Err(Error::new(
                ErrorKind::NotEnvelope,
                "the token endpoint issued an empty access token",
            ));
        }
        secrets.add(&value);
        let lifetime = token
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
        Ok((value, lifetime))
    }

    /// The form body of a token request; the assertion it signs joins `secrets`.
    fn form(&self, secrets: &Secrets) -> Result<String> {
        let id = percent_encode(&self.client_id);
        match &self.grant {
            Grant::ClientSecret(secret) => Ok(format!(
                "grant_type=client_credentials&client_id={id}&client_secret={}",
                percent_encode(secret.expose())
            )),
            Grant::PrivateKey { key, algorithm } => {
                let assertion = Secret::new(self.assertion(key, *algorithm)?);
                secrets.add(&assertion);
                Ok(format!(
                    "grant_type={}&assertion={}&client_id={id}",
                    percent_encode(JWT_BEARER),
                    assertion.expose()
                ))
            }
        }
    }

    /// A signed RFC 7523 assertion, valid for [`ASSERTION_LIFETIME`].
    fn assertion(&self, key: &EncodingKey, algorithm: Algorithm) -> Result<String> {
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud: &self.token_url,
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs(),
            jti: format!("{:032x}", fastrand::u128(..)),
        };
        jsonwebtoken::encode(&Header::new(algorithm), &claims, key)
            .map_err(|e| Error::config(format!("could not sign the OAuth assertion: {e}")))
    }
}

/// The error for a token endpoint that said no: 400/401/403 (`invalid_client`,
/// `invalid_grant`, …) are refusals, failed at once; 429 and 5xx are retried like a page.
fn refusal(status: u16, body: &[u8]) -> Error {
    let said: TokenError = serde_json::from_slice(body).unwrap_or_default();
    let message = match (said.error, said.error_description, said.message) {
        (Some(e), Some(d), _) => format!("{e}: {d}"),
        (Some(e), None, _) => e,
        (None, _, Some(m)) => m,
        (None, Some(d), None) => d,
        (None, None, None) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    };
    Error::from_status(status, &message).with_note("the token endpoint refused the request")
}

/// How a client proves itself: exactly one of the three credential kinds.
#[derive(Debug)]
pub(crate) enum Auth {
    /// The project's apptoken, in every request body.
    AppToken(Secret),
    /// An OAuth 2.0 client, sending `Authorization: Bearer` and no apptoken.
    OAuth(OAuth),
}

impl Auth {
    /// The apptoken to put in a request body, if that is how this client proves itself.
    pub(crate) fn apptoken(&self) -> Option<&str> {
        match self {
            Auth::AppToken(t) => Some(t.expose()),
            Auth::OAuth(_) => None,
        }
    }
}
