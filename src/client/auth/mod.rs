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

mod answer;
mod grant;
mod pem;

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};

pub(crate) use grant::Grant;
pub use grant::JwtAlgorithm;

use super::secrets::{Secret, Secrets};
use crate::error::{Error, ErrorKind, Result};

/// The longest a token is renewed before it expires: a fifth of its lifetime, at most a minute.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The largest token response read.
const MAX_TOKEN_RESPONSE: u64 = 64 << 10;

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
        let body = self.grant.form(&self.client_id, &self.token_url, secrets)?;
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
            let to = match resp.headers().get(LOCATION).map(|l| l.to_str()) {
                None => "nowhere".to_string(),
                Some(Err(_)) => "a Location that is not text".to_string(),
                Some(Ok(to)) => super::redirect::target(to, &self.token_url),
            };
            return Err(Error::new(
                ErrorKind::Redirected,
                format!(
                    "the token endpoint answered HTTP {} (to {to}), a redirect that is not \
                     followed: it would resend the credentials there; check the token URL",
                    status.as_u16(),
                ),
            )
            .with_status(status.as_u16()));
        }
        let mut resp = resp;
        let bytes =
            super::read_limited(&mut resp, MAX_TOKEN_RESPONSE, super::Answer::Token).await?;
        if !status.is_success() {
            return Err(answer::refusal(status.as_u16(), &bytes));
        }
        let token = answer::issued(status.as_u16(), &bytes)?;
        let value = Secret::new(token.access_token);
        if value.expose().trim().is_empty() {
            return Err(Error::new(
                ErrorKind::NotEnvelope,
                "the token endpoint issued an empty access token",
            ));
        }
        secrets.add(&value);
        Ok((value, token.lifetime))
    }
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

    /// What tells this credential apart from another, to fingerprint: the apptoken (one per
    /// project), or the OAuth client's ID (the same client when its secret or key is rotated),
    /// each after a label of its kind.
    pub(crate) fn identifying(&self) -> Vec<u8> {
        let (kind, value) = match self {
            Auth::AppToken(t) => ("apptoken", t.expose()),
            Auth::OAuth(oauth) => ("oauth-client", oauth.client_id.as_str()),
        };
        [kind.as_bytes(), b"\0", value.as_bytes()].concat()
    }
}
