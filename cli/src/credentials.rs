//! Where an export goes and what it proves itself with: the region or API URL, and exactly one
//! credential (an apptoken, an OAuth 2.0 client secret, or an OAuth 2.0 private key).

use std::path::{Path, PathBuf};

use clap::Args;
use xp_export::client::{JwtAlgorithm, Region};
use xp_export::{Client, ClientBuilder};

use crate::failure::Failure;
use crate::token::{self, APPTOKEN, CLIENT_SECRET};

/// Where each credential can be set, for the messages that find none or too many.
const WHERE_TO_SET: &str = "an apptoken (--apptoken-file PATH or XTREMEPUSH_APPTOKEN), an OAuth \
     client secret (--client-secret-file PATH or XTREMEPUSH_CLIENT_SECRET, with --client-id ID or \
     XTREMEPUSH_CLIENT_ID), or an OAuth private key (--private-key-file PATH, with --client-id)";

#[derive(Args)]
pub struct AuthArgs {
    /// The project's data centre: its API and token URLs (--api-url wins).
    #[arg(
        long,
        env = "XTREMEPUSH_REGION",
        default_value = "eu",
        value_name = "eu|us"
    )]
    region: Region,
    /// The API base URL; default the region's.
    #[arg(long, env = "XTREMEPUSH_API_URL", value_name = "URL")]
    api_url: Option<String>,
    /// A file holding the apptoken ("-" reads standard input); else $XTREMEPUSH_APPTOKEN.
    #[arg(long, value_name = "PATH")]
    apptoken_file: Option<PathBuf>,
    /// The OAuth 2.0 client ID, with a client secret or a private key.
    #[arg(long, env = "XTREMEPUSH_CLIENT_ID", value_name = "ID")]
    client_id: Option<String>,
    /// A file holding the OAuth 2.0 client secret ("-" reads standard input); else
    /// $XTREMEPUSH_CLIENT_SECRET.
    #[arg(long, value_name = "PATH")]
    client_secret_file: Option<PathBuf>,
    /// A PEM private key file: the jwt-bearer grant instead of a client secret.
    #[arg(long, value_name = "PATH")]
    private_key_file: Option<PathBuf>,
    /// With --private-key-file: RS256 (an RSA key's default), RS384, RS512, ES256 or ES384 (an EC
    /// key's curve fixes it).
    #[arg(long, value_name = "ALG", requires = "private_key_file")]
    jwt_algorithm: Option<JwtAlgorithm>,
    /// The OAuth 2.0 token endpoint; default /api/oauth/token on the API's host.
    #[arg(long, value_name = "URL")]
    token_url: Option<String>,
}

/// A file a credential is read from, as given: `-` is standard input.
#[derive(Debug, Clone, Copy)]
pub struct SecretFile<'a> {
    pub path: &'a Path,
    /// What it holds: "apptoken", "client secret", "private key".
    pub holds: &'static str,
    /// The flag that names it.
    pub flag: &'static str,
}

/// The one credential given, read.
#[derive(Debug, PartialEq)]
enum Credential {
    AppToken(String),
    ClientSecret(String),
    PrivateKey(String),
}

impl AuthArgs {
    /// A client builder with the URLs and the one credential; refuses none or more than one.
    pub fn builder(&self) -> Result<ClientBuilder, Failure> {
        let credential = self.credential()?;
        self.configure(credential)
    }

    /// Every file a credential is read from ("-": standard input), with what it holds and
    /// its flag: for an export to keep everything it writes off them.
    pub fn secret_files(&self) -> Vec<SecretFile<'_>> {
        [
            (&self.apptoken_file, "apptoken", "--apptoken-file"),
            (
                &self.client_secret_file,
                "client secret",
                "--client-secret-file",
            ),
            (&self.private_key_file, "private key", "--private-key-file"),
        ]
        .into_iter()
        .filter_map(|(file, holds, flag)| {
            file.as_deref().map(|path| SecretFile { path, holds, flag })
        })
        .collect()
    }

    /// Each credential given, with where it was found (not yet read: reading standard input
    /// for one that is then refused would lose it).
    fn found(&self) -> Vec<String> {
        let from_file_or_env =
            |file: &Option<PathBuf>, flag: &str, env: bool, var: &str| match (file, env) {
                (Some(_), _) => Some(format!("from {flag}")),
                (None, true) => Some(format!("from {var}")),
                (None, false) => None,
            };
        let mut found = Vec::new();
        if let Some(w) = from_file_or_env(
            &self.apptoken_file,
            "--apptoken-file",
            token::env_is_set(&APPTOKEN),
            APPTOKEN.env,
        ) {
            found.push(format!("an apptoken ({w})"));
        }
        if let Some(w) = from_file_or_env(
            &self.client_secret_file,
            "--client-secret-file",
            token::env_is_set(&CLIENT_SECRET),
            CLIENT_SECRET.env,
        ) {
            found.push(format!("a client secret ({w})"));
        }
        if self.private_key_file.is_some() {
            found.push("a private key (from --private-key-file)".to_string());
        }
        found
    }

    /// Reads the one credential given.
    fn credential(&self) -> Result<Credential, Failure> {
        let found = self.found();
        if found.len() > 1 {
            return Err(Failure::usage(format!(
                "more than one credential: {}; give exactly one: {WHERE_TO_SET}",
                found.join(" and ")
            )));
        }
        if let Some(path) = &self.private_key_file {
            return Ok(Credential::PrivateKey(token::private_key(path)?));
        }
        if self.client_secret_file.is_some() || token::env_is_set(&CLIENT_SECRET) {
            let secret =
                token::one_line_secret(&CLIENT_SECRET, self.client_secret_file.as_deref())?;
            return Ok(Credential::ClientSecret(secret));
        }
        if self.apptoken_file.is_some() || token::env_is_set(&APPTOKEN) {
            return Ok(Credential::AppToken(token::apptoken(
                self.apptoken_file.as_deref(),
            )?));
        }
        Err(Failure::usage(format!(
            "no credentials: give one of {WHERE_TO_SET}"
        )))
    }

    /// The builder for `credential`: region, API URL (which wins), token URL and client ID.
    fn configure(&self, credential: Credential) -> Result<ClientBuilder, Failure> {
        let mut builder = Client::builder().region(self.region);
        if let Some(url) = &self.api_url {
            builder = builder.api_url(url);
        }
        if let Some(url) = &self.token_url {
            builder = builder.token_url(url);
        }
        let client_id = || {
            self.client_id
                .as_deref()
                .map(str::trim)
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    Failure::usage(
                        "OAuth needs a client ID with the client secret or private key: pass \
                         --client-id ID or set XTREMEPUSH_CLIENT_ID",
                    )
                })
        };
        Ok(match credential {
            Credential::AppToken(t) => builder.apptoken(t),
            Credential::ClientSecret(s) => builder.oauth_client_credentials(client_id()?, s),
            Credential::PrivateKey(pem) => {
                let builder = builder.oauth_jwt_bearer(client_id()?, pem);
                match self.jwt_algorithm {
                    Some(a) => builder.jwt_algorithm(a),
                    None => builder,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(region: Region, api_url: Option<&str>) -> AuthArgs {
        AuthArgs {
            region,
            api_url: api_url.map(str::to_string),
            apptoken_file: None,
            client_id: Some("id".to_string()),
            client_secret_file: None,
            private_key_file: None,
            jwt_algorithm: None,
            token_url: None,
        }
    }

    fn built(args: &AuthArgs, credential: Credential) -> Client {
        match args.configure(credential) {
            Ok(builder) => builder.build().expect("built"),
            Err(f) => panic!("not configured: {}", f.message),
        }
    }

    #[test]
    fn region_us_without_an_api_url_targets_the_us_host() {
        let client = built(
            &auth(Region::Us, None),
            Credential::ClientSecret("s".into()),
        );
        assert_eq!(client.api_url(), Region::Us.api_url());
        assert_eq!(client.token_url(), Some(Region::Us.token_url().as_str()));
        let client = built(&auth(Region::Us, None), Credential::AppToken("t".into()));
        assert_eq!(
            client.api_url(),
            "https://api.us.xtremepush.com/api/external"
        );
    }

    #[test]
    fn the_default_region_is_the_eu_host_and_an_api_url_wins_over_the_region() {
        let client = built(&auth(Region::Eu, None), Credential::AppToken("t".into()));
        assert_eq!(client.api_url(), xp_export::client::DEFAULT_API_URL);
        let client = built(
            &auth(Region::Us, Some("http://127.0.0.1:9/api/external")),
            Credential::ClientSecret("s".into()),
        );
        assert_eq!(client.api_url(), "http://127.0.0.1:9/api/external");
        assert_eq!(
            client.token_url(),
            Some("http://127.0.0.1:9/api/oauth/token")
        );
    }

    #[test]
    fn oauth_without_a_client_id_is_a_usage_error() {
        let mut args = auth(Region::Eu, None);
        args.client_id = Some("  ".into());
        let Err(err) = args.configure(Credential::ClientSecret("s".into())) else {
            panic!("a client secret without a client ID was accepted");
        };
        assert_eq!(err.code, 2);
        assert!(err.message.contains("--client-id"), "{}", err.message);
    }
}
