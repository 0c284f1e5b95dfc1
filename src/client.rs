//! [`Client`] and its builder: where the API is, the apptoken, timeouts and the retry policy.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use crate::error::{Error, ErrorKind, Result};
use crate::model::PushAction;
use crate::query::Query;
use crate::retry::{RetryPolicy, parse_retry_after};

/// The default limit on one page's response body: 64 MiB, far above what a page of thousands of
/// push actions takes (about 230 bytes each).
pub const DEFAULT_MAX_PAGE_BYTES: u64 = 64 << 20;

/// The EU API base, the default.
pub const DEFAULT_API_URL: &str = "https://external-api.xtremepush.com/api/external";

/// A handle on the API. Cheap to clone: the connection pool and settings are shared.
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
    apptoken: Secret,
    retry: RetryPolicy,
    max_page_bytes: u64,
}

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.api_url)
            .field("apptoken", &self.inner.apptoken)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A query over `list/push-devices`, the push actions of campaigns.
    pub fn push_actions(&self) -> Query<PushAction> {
        self.list(crate::model::push_devices::NAME)
    }

    /// A query over any list model (`list/<model>`), its rows decoded as `T`
    /// (`serde_json::Value` keeps them as they came; [`Query::raw_stream`] keeps their bytes).
    pub fn list<T>(&self, model: &str) -> Query<T> {
        Query::new(self.clone(), model)
    }

    /// The API base URL, e.g. `https://external-api.xtremepush.com/api/external`.
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// The retry policy every page follows.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    pub(crate) fn apptoken(&self) -> &str {
        &self.inner.apptoken.0
    }

    /// Sends one page request and reads its whole body: one attempt, no retry.
    pub(crate) async fn post_page(&self, model: &str, body: bytes::Bytes) -> Result<PageBody> {
        let url = format!("{}/list/{model}", self.inner.api_url);
        let resp = self
            .inner
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(Error::from_reqwest)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = read_limited(resp, self.inner.max_page_bytes).await?;
        Ok(PageBody {
            status,
            content_type,
            retry_after,
            bytes,
        })
    }
}

/// Reads a body to its end without holding more than `limit` bytes of it: a larger (or
/// endless) body is an error as soon as it passes the limit.
async fn read_limited(mut resp: reqwest::Response, limit: u64) -> Result<bytes::Bytes> {
    let too_large = |what: String| {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "the response {what} the page limit of {limit} bytes: ask for fewer rows per page, \
                 or raise the limit"
            ),
        )
    };
    if let Some(len) = resp.content_length().filter(|&len| len > limit) {
        return Err(too_large(format!("announces {len} bytes, over")));
    }
    let mut chunks: Vec<bytes::Bytes> = Vec::new();
    let mut total = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(Error::from_reqwest)? {
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large("grew past".to_string()));
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

/// Refuses a scheme other than http(s), and plain http to anything but this machine unless
/// allowed: the credentials travel with every request.
fn check_scheme(url: &Url, allow_insecure_http: bool) -> Result<()> {
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = bare.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback || allow_insecure_http {
                Ok(())
            } else {
                Err(Error::config(format!(
                    "refusing to send the credentials over plain http to {}: use https, or allow \
                     insecure http (--allow-insecure-http)",
                    url.host_str().unwrap_or("?")
                )))
            }
        }
        other => Err(Error::config(format!(
            "the API URL must be http or https, not {other:?}"
        ))),
    }
}

/// A response read to its end.
pub(crate) struct PageBody {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) bytes: bytes::Bytes,
}

/// Configures a [`Client`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    api_url: String,
    apptoken: Option<Secret>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    max_page_bytes: u64,
    allow_insecure_http: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            api_url: DEFAULT_API_URL.to_string(),
            apptoken: None,
            timeout: Duration::from_secs(30),
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
        }
    }
}

impl ClientBuilder {
    /// The API base, without the method: default [`DEFAULT_API_URL`] (EU); the US one is
    /// `https://api.us.xtremepush.com/api/external`.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = url.into();
        self
    }

    /// The project's apptoken, sent in every request body and shown nowhere else.
    pub fn apptoken(mut self, token: impl Into<String>) -> Self {
        self.apptoken = Some(Secret(token.into()));
        self
    }

    /// The longest one request may take, from connecting to the end of its body (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The longest connecting may take (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The largest response body accepted for one page (default [`DEFAULT_MAX_PAGE_BYTES`]). A
    /// larger or endless body fails the page ([`ErrorKind::TooLarge`]) without being held whole.
    pub fn max_page_bytes(mut self, bytes: u64) -> Self {
        self.max_page_bytes = bytes;
        self
    }

    /// Allows plain `http://` to a host other than this machine (default: refused, since every
    /// request carries the credentials). `http://` to `localhost` or a loopback address, such as
    /// the emulator, is always allowed.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// How pages are retried (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Checks the settings and makes the client.
    ///
    /// # Errors
    /// A [`crate::ErrorKind::Config`] error when the apptoken is missing or empty, the API
    /// URL is not an absolute `http`/`https` URL, or it is plain `http` to another machine
    /// without [`ClientBuilder::allow_insecure_http`].
    pub fn build(self) -> Result<Client> {
        let apptoken = match self.apptoken {
            Some(t) if !t.0.trim().is_empty() => t,
            Some(_) => return Err(Error::config("the apptoken is empty")),
            None => {
                return Err(Error::config(
                    "no apptoken: set it with ClientBuilder::apptoken",
                ));
            }
        };
        let url = Url::parse(&self.api_url).map_err(|e| {
            Error::config(format!("the API URL {:?} is not a URL: {e}", self.api_url))
        })?;
        check_scheme(&url, self.allow_insecure_http)?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("xp-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::config("could not set up the HTTP client").with_source(e.without_url())
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                api_url: self.api_url.trim_end_matches('/').to_string(),
                apptoken,
                retry: self.retry,
                max_page_bytes: self.max_page_bytes,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_token() {
        let b = Client::builder().apptoken("s3cr3t-t0ken");
        assert!(!format!("{b:?}").contains("s3cr3t"));
        let c = b.build().unwrap();
        let s = format!("{c:?}");
        assert!(!s.contains("s3cr3t"), "{s}");
        assert!(s.contains("<redacted>"), "{s}");
    }

    #[test]
    fn build_needs_a_token_and_a_http_url() {
        let e = Client::builder().build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("no apptoken"), "{e}");
        let e = Client::builder().apptoken("  ").build().unwrap_err();
        assert_eq!(e.to_string(), "the apptoken is empty");
        let e = Client::builder()
            .apptoken("t")
            .api_url("ftp://x/api")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("http or https"), "{e}");
        let e = Client::builder()
            .apptoken("t")
            .api_url("not a url")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("is not a URL"), "{e}");
    }

    #[test]
    fn trailing_slash_is_trimmed_and_default_is_eu() {
        let c = Client::builder().apptoken("t").build().unwrap();
        assert_eq!(c.api_url(), DEFAULT_API_URL);
        let c = Client::builder()
            .apptoken("t")
            .api_url("http://127.0.0.1:9/api/external/")
            .build()
            .unwrap();
        assert_eq!(c.api_url(), "http://127.0.0.1:9/api/external");
    }

    #[test]
    fn plain_http_only_to_this_machine_unless_allowed() {
        let build = |url: &str, allow: bool| {
            Client::builder()
                .apptoken("t")
                .api_url(url)
                .allow_insecure_http(allow)
                .build()
        };
        for url in [
            "http://localhost:8080/api/external",
            "http://127.0.0.1/api/external",
            "http://127.3.4.5/api/external",
            "http://[::1]:9/api/external",
            "https://example.com/api/external",
        ] {
            assert!(build(url, false).is_ok(), "{url}");
        }
        let e = build("http://example.com/api/external", false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("plain http to example.com"), "{e}");
        assert!(build("http://example.com/api/external", true).is_ok());
        let e = build("http://localhost.evil.com/api", false).unwrap_err();
        assert!(e.to_string().contains("plain http"), "{e}");
    }
}
