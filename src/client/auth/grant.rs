//! What an OAuth client proves itself with, and the token request's form body: the client
//! secret (RFC 6749 §4.4, `client_id` and `client_secret` as form fields, §2.3.1) or an assertion
//! signed with a private key (RFC 7523 §2.1).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::client::secrets::{Secret, Secrets, percent_encode};
use crate::error::{Error, Result};

/// How long a signed assertion is valid for (RFC 7523 asks for a short one).
pub(crate) const ASSERTION_LIFETIME: Duration = Duration::from_secs(5 * 60);

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
            "the private key is not a PEM RSA key or EC P-256/P-384 key (\"BEGIN PRIVATE KEY\" \
             or \"BEGIN RSA PRIVATE KEY\"); an \"EC PRIVATE KEY\" converts with `openssl pkcs8 \
             -topk8 -nocrypt -in KEY.pem`",
        ))
    }
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

impl Grant {
    /// The form body of a token request for `client_id` at `token_url`; the assertion it signs
    /// joins `secrets`.
    pub(crate) fn form(
        &self,
        client_id: &str,
        token_url: &str,
        secrets: &Secrets,
    ) -> Result<String> {
        let id = percent_encode(client_id);
        match self {
            Grant::ClientSecret(secret) => Ok(format!(
                "grant_type=client_credentials&client_id={id}&client_secret={}",
                percent_encode(secret.expose())
            )),
            Grant::PrivateKey { key, algorithm } => {
                let assertion = Secret::new(assertion(client_id, token_url, key, *algorithm)?);
                secrets.add(&assertion);
                Ok(format!(
                    "grant_type={}&assertion={}&client_id={id}",
                    percent_encode(JWT_BEARER),
                    assertion.expose()
                ))
            }
        }
    }
}

/// A signed RFC 7523 assertion, valid for [`ASSERTION_LIFETIME`].
fn assertion(
    client_id: &str,
    token_url: &str,
    key: &EncodingKey,
    algorithm: Algorithm,
) -> Result<String> {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: token_url,
        iat,
        exp: iat + ASSERTION_LIFETIME.as_secs(),
        jti: format!("{:032x}", fastrand::u128(..)),
    };
    jsonwebtoken::encode(&Header::new(algorithm), &claims, key)
        .map_err(|e| Error::config(format!("could not sign the OAuth assertion: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSA: &str = include_str!("../../../tests/fixtures/oauth_rsa.pem");
    const EC: &str = include_str!("../../../tests/fixtures/oauth_ec.pem");

    #[test]
    fn the_key_decides_the_algorithm() {
        let algorithm = |pem: &str| match Grant::private_key(pem) {
            Ok(Grant::PrivateKey { algorithm, .. }) => Ok(algorithm),
            Ok(Grant::ClientSecret(_)) => Err("not a key".to_string()),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(algorithm(RSA), Ok(Algorithm::RS256));
        assert_eq!(algorithm(EC), Ok(Algorithm::ES256));
        let e = algorithm("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----")
            .unwrap_err();
        assert!(e.contains("openssl pkcs8"), "{e}");
        assert!(!e.contains("MHcCAQEE"), "{e}");
    }
}
