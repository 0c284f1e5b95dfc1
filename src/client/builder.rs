//! [`ClientBuilder`]: the settings of a [`Client`], checked once when it is built.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::auth::{Auth, Grant, JwtAlgorithm, OAuth};
use super::region::{Region, TOKEN_PATH};
use super::{
    Client, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_PAGE_BYTES, DEFAULT_TIMEOUT, Inner, Secret,
    Secrets,
};
use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// Configures a [`Client`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    region: Region,
    api_url: Option<String>,
    token_url: Option<String>,
    apptoken: Option<Secret>,
    client_id: Option<String>,
    client_secret: Option<Secret>,
    private_key: Option<Secret>,
    jwt_algorithm: Option<JwtAlgorithm>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    max_page_bytes: u64,
    allow_insecure_http: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            region: Region::default(),
            api_url: None,
            token_url: None,
            apptoken: None,
            client_id: None,
            client_secret: None,
            private_key: None,
            jwt_algorithm: None,
            timeout: DEFAULT_TIMEOUT,
            max_page_bytes: DEFAULT_MAX_PAGE_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
        }
    }
}

impl ClientBuilder {
    /// The project's data centre (default [`Region::Eu`]): its API and token URLs, unless
    /// [`ClientBuilder::api_url`] or [`ClientBuilder::token_url`] say otherwise.
    pub fn region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// The API base, without the method; it wins over [`ClientBuilder::region`]. Default the
    /// region's, [`super::DEFAULT_API_URL`] for the EU; the US one is
    /// `https://api.us.xtremepush.com/api/external`.
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The OAuth 2.0 token endpoint (default `/api/oauth/token` on the API URL's host).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        self
    }

    /// The project's apptoken, sent in every request body and shown nowhere else.
    pub fn apptoken(mut self, token: impl Into<String>) -> Self {
        self.apptoken = Some(Secret::new(token.into()));
        self
    }

    /// OAuth 2.0 with the `client_credentials` grant: the client ID and secret from the
    /// dashboard (Settings > Integrations > API Integration) buy an access token.
    pub fn oauth_client_credentials(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.client_secret = Some(Secret::new(client_secret.into()));
        self
    }

    /// OAuth 2.0 with the `jwt-bearer` grant: assertions signed with this PEM private key (RSA,
    /// signing RS256, or EC P-256/P-384, signing ES256/ES384), whose public key or certificate
    /// is uploaded for `client_id` in the dashboard, buy an access token.
    ///
    /// # Examples
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use xp_export::Client;
    /// use xp_export::client::Region;
    ///
    /// let client = Client::builder()
    ///     .region(Region::Us)
    ///     .oauth_jwt_bearer("my-client-id", std::fs::read_to_string("xtremepush-key.pem")?)
    ///     .build()?;
    /// assert_eq!(client.token_url(), Some("https://api.us.xtremepush.com/api/oauth/token"));
    /// # Ok(()) }
    /// ```
    pub fn oauth_jwt_bearer(
        mut self,
        client_id: impl Into<String>,
        private_key_pem: impl Into<String>,
    ) -> Self {
        self.client_id = Some(client_id.into());
        self.private_key = Some(Secret::new(private_key_pem.into()));
        self
    }

    /// With [`oauth_jwt_bearer`](Self::oauth_jwt_bearer): the algorithm the key was registered
    /// for. An RSA key signs RS256 unless told RS384 or RS512; an EC key signs what its curve
    /// fixes, and asking for another is a configuration error at [`build`](Self::build).
    pub fn jwt_algorithm(mut self, algorithm: JwtAlgorithm) -> Self {
        self.jwt_algorithm = Some(algorithm);
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
    /// larger or endless body fails the page ([`crate::ErrorKind::TooLarge`]) without being held whole.
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
    /// A [`crate::ErrorKind::Config`] error when there is not exactly one credential (apptoken,
    /// OAuth client secret, OAuth private key) or it is empty, the private key is not one that
    /// signs, the API or token URL is not an absolute `http`/`https` URL, or it is plain `http`
    /// to another machine without [`ClientBuilder::allow_insecure_http`].
    pub fn build(self) -> Result<Client> {
        let api_url = self
            .api_url
            .clone()
            .unwrap_or_else(|| self.region.api_url());
        let url = parse_url("API", &api_url, self.allow_insecure_http)?;
        let secrets = Secrets::default();
        let auth = self.auth(&url, &secrets)?;
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
                // As parsed: the scheme and host in lower case, without the scheme's default
                // port, so that one endpoint has one spelling in a checkpoint or a state.
                api_url: url.as_str().trim_end_matches('/').to_string(),
                auth,
                secrets,
                retry: self.retry,
                max_page_bytes: self.max_page_bytes,
            }),
        })
    }

    /// The one credential given, its secrets added to `secrets`.
    fn auth(&self, api: &Url, secrets: &Secrets) -> Result<Auth> {
        let given: Vec<&str> = [
            (self.apptoken.is_some(), "an apptoken"),
            (self.client_secret.is_some(), "an OAuth client secret"),
            (self.private_key.is_some(), "an OAuth private key"),
        ]
        .into_iter()
        .filter_map(|(set, what)| set.then_some(what))
        .collect();
        if given.len() > 1 {
            return Err(Error::config(format!(
                "more than one credential: {}; give exactly one of an apptoken, an OAuth client \
                 secret or an OAuth private key",
                given.join(" and ")
            )));
        }
        let non_empty = |s: &Option<Secret>, what: &str| match s {
            Some(s) if !s.expose().trim().is_empty() => {
                secrets.add(s);
                Ok(s.clone())
            }
            _ => Err(Error::config(format!("the {what} is empty"))),
        };
        let grant = if self.apptoken.is_some() {
            return Ok(Auth::AppToken(non_empty(&self.apptoken, "apptoken")?));
        } else if self.client_secret.is_some() {
            Grant::ClientSecret(non_empty(&self.client_secret, "OAuth client secret")?)
        } else if self.private_key.is_some() {
            let pem = non_empty(&self.private_key, "OAuth private key")?;
            for line in pem.expose().lines().filter(|l| !l.starts_with("-----")) {
                secrets.add(&Secret::new(line.to_string()));
            }
            Grant::private_key(pem.expose(), self.jwt_algorithm)?
        } else {
            return Err(Error::config(
                "no credentials: no apptoken, no OAuth client secret, no OAuth private key; set \
                 one with ClientBuilder::apptoken, oauth_client_credentials or oauth_jwt_bearer",
            ));
        };
        let client_id = self.client_id.as_deref().unwrap_or("").trim();
        if client_id.is_empty() {
            return Err(Error::config("the OAuth client ID is empty"));
        }
        let token_url = match &self.token_url {
            Some(t) => t.clone(),
            None => {
                let mut origin = api.clone();
                origin.set_path(TOKEN_PATH);
                origin.set_query(None);
                origin.set_fragment(None);
                origin.to_string()
            }
        };
        parse_url("token", &token_url, self.allow_insecure_http)?;
        Ok(Auth::OAuth(OAuth::new(
            client_id.to_string(),
            grant,
            token_url,
        )))
    }
}

/// `url` parsed and checked: an absolute http(s) URL, plain http only as allowed, with no
/// user name or password.
fn parse_url(what: &str, url: &str, allow_insecure_http: bool) -> Result<Url> {
    let parsed = Url::parse(url).map_err(|e| {
        let shown = without_userinfo(url);
        Error::config(format!("the {what} URL {shown:?} is not a URL: {e}"))
    })?;
    check_scheme(&parsed, allow_insecure_http)?;
    check_no_credentials(&parsed)?;
    Ok(parsed)
}

/// `url` with what stands before an `@` in its authority (a user name and password) replaced by
/// `<redacted>`: the text of a URL that does not parse is shown in its error, and must not show
/// a password.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => {
            let sep = if scheme.is_empty() && !url.contains("://") {
                ""
            } else {
                "://"
            };
            format!("{scheme}{sep}<redacted>{}", &rest[at..])
        }
        None => url.to_string(),
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
mod tests;
