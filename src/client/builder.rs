//! [`ClientBuilder`]: the settings of a [`Client`], checked once when it is built.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::{
    Client, DEFAULT_API_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PAGE_BYTES, DEFAULT_TIMEOUT,
    Inner, Secret, Secrets,
};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

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
            timeout: DEFAULT_TIMEOUT,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
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
        self.apptoken = Some(Secret::new(token.into()));
        self
    }

    /// The longest one request may take, from connecting to the end of its body (default
    /// [`DEFAULT_TIMEOUT`], 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// The longest connecting may take (default [`DEFAULT_CONNECT_TIMEOUT`], 10 s).
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
            Some(t) if !t.expose().trim().is_empty() => t,
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
        check_no_credentials(&url)?;
        let mut secrets = Secrets::default();
        secrets.add(&apptoken);
        let http = reqwest::Client::builder()
            // A redirect is an error that names the `Location` (see `redirect`): a 301/302/303
            // turns the POST into a GET without its body, a 307/308 would resend the apptoken.
            .redirect(reqwest::redirect::Policy::none())
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
                secrets,
                retry: self.retry,
                max_page_bytes: self.max_page_bytes,
            }),
        })
    }
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

/// Refuses a user name or password in the API URL: the API takes its credentials in the
/// body, and one in the URL would show wherever the URL does.
fn check_no_credentials(url: &Url) -> Result<()> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(());
    }
    Err(Error::config(format!(
        "the API URL holds a user name or password (before the @ in front of {}): remove them; \
         the API takes its credentials in the request body (the apptoken)",
        url.host_str().unwrap_or("the host")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

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
    fn credentials_in_the_api_url_are_refused_without_being_shown() {
        for url in [
            "https://user:hunter2@api.example.com/api/external",
            "https://hunter2@api.example.com/api/external",
        ] {
            let e = Client::builder()
                .apptoken("t")
                .api_url(url)
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.to_string().contains("user name or password"), "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
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
