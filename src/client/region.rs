//! [`Region`]: which Xtremepush data centre a project lives in, and its hosts.

use crate::error::{ParseError, ParseErrorKind};

/// The data centre of an Xtremepush project: its API host and token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Region {
    /// Europe, `https://external-api.xtremepush.com` (the default).
    #[default]
    Eu,
    /// The United States, `https://api.us.xtremepush.com`.
    Us,
}

impl Region {
    /// The region's host, without a path.
    pub fn host_url(self) -> &'static str {
        match self {
            Region::Eu => "https://external-api.xtremepush.com",
            Region::Us => "https://api.us.xtremepush.com",
        }
    }

    /// The region's API base, e.g. `https://api.us.xtremepush.com/api/external`.
    pub fn api_url(self) -> String {
        format!("{}/api/external", self.host_url())
    }

    /// The region's OAuth 2.0 token endpoint, e.g. `https://api.us.xtremepush.com/api/oauth/token`.
    pub fn token_url(self) -> String {
        format!("{}{TOKEN_PATH}", self.host_url())
    }
}

/// The token endpoint's path on the API's host.
pub(crate) const TOKEN_PATH: &str = "/api/oauth/token";

impl std::str::FromStr for Region {
    type Err = ParseError;

    /// `eu` or `us`, in any case.
    fn from_str(s: &str) -> Result<Region, ParseError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "eu" => Ok(Region::Eu),
            "us" => Ok(Region::Us),
            other => Err(ParseError::new(
                ParseErrorKind::Region,
                format!("unknown region {other:?}: use eu or us"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_per_region() {
        assert_eq!(
            Region::Eu.api_url(),
            "https://external-api.xtremepush.com/api/external"
        );
        assert_eq!(
            Region::Us.api_url(),
            "https://api.us.xtremepush.com/api/external"
        );
        assert_eq!(
            Region::Us.token_url(),
            "https://api.us.xtremepush.com/api/oauth/token"
        );
        assert_eq!("US".parse::<Region>(), Ok(Region::Us));
        assert!("asia".parse::<Region>().is_err());
    }
}
