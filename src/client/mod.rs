//! [`Client`] and its builder: where the API is (`region`), the credentials, timeouts and the
//! retry policy.
//!
//! The client owns the wire: it is the only place that builds a request body, and no credential
//! leaves this module (`builder` checks the settings and makes the client). It proves itself
//! with an apptoken in the body or an OAuth 2.0 bearer token (`auth`: the client secret or a
//! signed assertion bought at the token endpoint, cached, renewed). It knows its secrets
//! (`secrets`) and scrubs them out of every error that holds text from the server; it follows no
//! redirect (`redirect`).

mod auth;
mod builder;
mod fingerprint;
mod redirect;
mod region;
pub(crate) mod secrets;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use serde::Serialize;

pub use auth::JwtAlgorithm;
use auth::{Auth, Bearer};
pub use builder::ClientBuilder;
pub use fingerprint::Fingerprint;
pub use region::Region;
use secrets::{Secret, Secrets};

use crate::error::{Error, ErrorKind, Result};
use crate::retry::{RetryPolicy, parse_retry_after};

/// The default limit on one page's response body: 64 MiB, far above what a page of thousands of
/// push actions takes (about 230 bytes each).
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 64 << 20;

/// The longest one request may take by default, from connecting to the end of its body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `Retry-After` taken from a server: a day. A longer one (up to `u64::MAX`
/// seconds, which no clock can add) is taken as this; the retry policy clamps it further.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The EU API base, the default.
pub const DEFAULT_API_URL: &str = "https://external-api.xtremepush.com/api/external";

/// A handle on the API. Cheap to clone: the connection pool, settings and access token are
/// shared.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), xp_export::Error> {
/// use futures::TryStreamExt;
/// use xp_export::Client;
///
/// let client = Client::builder()
///     .apptoken(std::env::var("XTREMEPUSH_APPTOKEN").unwrap_or_default())
///     .build()?;
/// client
///     .push_actions()
///     .campaign(245624)
///     .failed()
///     .stream()
///     .try_for_each(|a| async move {
///         println!("{:?} {:?}", a.action_id, a.error_message);
///         Ok(())
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: String,
    auth: Auth,
    /// Every secret of `auth`, access tokens and assertions included, to scrub out of what the
    /// server says.
    secrets: Secrets,
    retry: RetryPolicy,
    max_page_bytes: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.api_url)
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The API base URL, e.g. `https://external-api.xtremepush.com/api/external`.
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// A client for unit tests that send nothing: apptoken `t0ken`, the default URL.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Client {
        Client::builder()
            .apptoken("t0ken")
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The OAuth 2.0 token endpoint this client asks for access tokens; `None` for a client
    /// with an apptoken.
    pub fn token_url(&self) -> Option<&str> {
        match &self.inner.auth {
            Auth::OAuth(oauth) => Some(oauth.token_url()),
            Auth::AppToken(_) => None,
        }
    }

    /// A fingerprint of this client's credential, with a salt of its own: what a checkpoint
    /// or an incremental state records so that a run with another credential (of another
    /// project, perhaps) is told apart, without the credential. See [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::new(&self.inner.auth.identifying())
    }

    /// Whether `fingerprint` was made of this client's credential.
    pub fn is_fingerprinted_by(&self, fingerprint: &Fingerprint) -> bool {
        fingerprint.is_of(&self.inner.auth.identifying())
    }

    /// The retry policy every page follows.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The request for `limit` rows from `offset` of `list/{model}`, narrowed by `query` (its
    /// conditions, select and order): the one place a request body is made. The body is
    /// serialised once, and sent as often as the page is tried.
    pub(crate) fn page_request(
        &self,
        model: &str,
        query: &impl Serialize,
        limit: u64,
        offset: u64,
    ) -> Result<PageRequest> {
        let body = RequestBody {
            apptoken: self.inner.auth.apptoken(),
            query,
            limit,
            offset,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::config("the query could not be serialised").with_source(e))?;
        Ok(PageRequest {
            url: format!("{}/list/{model}", self.inner.api_url),
            body: bytes::Bytes::from(body),
        })
    }

    /// `err` with every secret of this client scrubbed out of its detail and its `source()`
    /// chain, and its text made fit to show: for every error that holds text from the server.
    pub(crate) fn scrub(&self, err: Error) -> Error {
        err.scrubbed(&|text| self.inner.secrets.scrub(text))
    }

    /// Sends one page request and reads its whole body: one attempt, no retry. A redirect is
    /// not followed: it is an [`ErrorKind::Redirected`] error naming the `Location`.
    ///
    /// With OAuth, the request carries the cached access token (fetched first if there is none
    /// or it is about to expire); when the API answers 401 to it (the HTTP status, or the
    /// envelope's `code` inside HTTP 200), the token is renewed once and the request sent again.
    /// A second 401 is the page's answer: a refusal.
    pub(crate) async fn send(&self, request: &PageRequest) -> Result<PageBody> {
        let inner = &*self.inner;
        match &inner.auth {
            Auth::AppToken(_) => self.exchange(request, None).await,
            Auth::OAuth(oauth) => {
                let bearer = oauth.bearer(&inner.http, &inner.secrets).await?;
                let page = self.exchange(request, Some(&bearer)).await?;
                if !crate::decode::refuses_credentials(page.status, &page.bytes) {
                    return Ok(page);
                }
                tracing::debug!("the API refused the access token: renewing it once");
                let fresh = oauth.refresh(&bearer, &inner.http, &inner.secrets).await?;
                self.exchange(request, Some(&fresh)).await
            }
        }
    }

    /// One request and its whole body, with the access token if there is one.
    async fn exchange(&self, request: &PageRequest, bearer: Option<&Bearer>) -> Result<PageBody> {
        let mut resp = self.post(request, bearer).await?;
        if resp.status().is_redirection() {
            let e = redirect::error(
                resp.status(),
                resp.headers().get(LOCATION),
                &request.url,
                &self.inner.api_url,
            );
            return Err(self.scrub(e));
        }
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
            .map(|wait| wait.min(MAX_RETRY_AFTER));
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = read_limited(&mut resp, self.inner.max_page_bytes, Answer::Page).await?;
        Ok(PageBody {
            status,
            content_type,
            retry_after,
            bytes,
        })
    }
}

impl Client {
    /// One POST of a page request, with the access token if there is one.
    async fn post(
        &self,
        request: &PageRequest,
        bearer: Option<&Bearer>,
    ) -> Result<reqwest::Response> {
        let mut post = self
            .inner
            .http
            .post(&request.url)
            .header(CONTENT_TYPE, "application/json");
        if let Some(bearer) = bearer {
            let mut value = reqwest::header::HeaderValue::from_str(&format!(
                "Bearer {}",
                bearer.value.expose()
            ))
            .map_err(|_| {
                Error::new(
                    ErrorKind::NotEnvelope,
                    "the token endpoint issued an access token that is not fit for a header",
                )
            })?;
            value.set_sensitive(true);
            post = post.header(AUTHORIZATION, value);
        }
        post.body(request.body.clone())
            .send()
            .await
            .map_err(Error::from_reqwest)
    }
}

/// One page's request body: the apptoken (none with OAuth), the query's part, and where the
/// page lies.
#[derive(Serialize)]
struct RequestBody<'a, Q> {
    #[serde(skip_serializing_if = "Option::is_none")]
    apptoken: Option<&'a str>,
    #[serde(flatten)]
    query: &'a Q,
    limit: u64,
    offset: u64,
}

/// A page request, ready to send as often as the page is tried.
pub(crate) struct PageRequest {
    url: String,
    body: bytes::Bytes,
}

impl fmt::Debug for PageRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body holds the apptoken.
        f.debug_struct("PageRequest")
            .field("url", &self.url)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

impl PageRequest {
    /// The request body as JSON (tests only: it holds the apptoken).
    #[cfg(test)]
    pub(crate) fn body_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The request body as sent (tests only: it holds the apptoken).
    #[cfg(test)]
    pub(crate) fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_default()
    }
}

/// Which answer a body is: what the error says when it outgrows its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A page of rows, limited by [`ClientBuilder::max_page_bytes`].
    Page,
    /// The token endpoint's answer, a few hundred bytes, limited to a fixed size.
    Token,
}

impl Answer {
    /// The error for a body of this answer that is (or announces it is, `announced`) larger
    /// than `limit` bytes.
    fn too_large(self, limit: u64, announced: Option<u64>) -> Error {
        let size = match announced {
            Some(len) => format!("announces {len} bytes, over"),
            None => "grew past".to_string(),
        };
        let detail = match self {
            Answer::Page => format!(
                "the response {size} the page limit of {limit} bytes: ask for fewer rows per \
                 page, or raise the limit"
            ),
            Answer::Token => format!(
                "the token endpoint's answer is larger than {} KB (it {size} the limit): an \
                 access token's answer takes a few hundred bytes; check the token URL",
                limit >> 10
            ),
        };
        Error::new(ErrorKind::TooLarge, detail)
    }
}

/// Reads a body to its end without holding more than `limit` bytes of it: a larger (or
/// endless) body is an error, worded for the `answer` it is, as soon as it passes the limit.
async fn read_limited(
    resp: &mut reqwest::Response,
    limit: u64,
    answer: Answer,
) -> Result<bytes::Bytes> {
    if let Some(len) = resp.content_length().filter(|&len| len > limit) {
        return Err(answer.too_large(limit, Some(len)));
    }
    let mut chunks: Vec<bytes::Bytes> = Vec::new();
    let mut total = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(Error::from_reqwest)? {
        total += chunk.len() as u64;
        if total > limit {
            return Err(answer.too_large(limit, None));
        }
        chunks.push(chunk);
    }
    Ok(match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut all = bytes::BytesMut::with_capacity(total as usize);
            for c in &chunks {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    })
}

/// A response read to its end.
#[derive(Debug)]
pub(crate) struct PageBody {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) bytes: bytes::Bytes,
}
