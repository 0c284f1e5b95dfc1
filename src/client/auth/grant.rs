//! What an OAuth client proves itself with, and the token request's form body: the client
//! secret (RFC 6749 §4.4, `client_id` and `client_secret` as form fields, §2.3.1) or an assertion
//! signed with a private key (RFC 7523 §2.1).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::client::secrets::{Secret, Secrets, percent_encode};
use crate::error::{Error, ParseError, ParseErrorKind, Result};

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

/// What a jwt-bearer assertion is signed with: the algorithm the client ID's key was
/// registered for in the dashboard. An RSA key signs RS256 (the default), RS384 or RS512; an EC
/// key signs what its curve fixes (P-256: ES256, P-384: ES384).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256.
    Rs256,
    /// RSA PKCS#1 v1.5 with SHA-384.
    Rs384,
    /// RSA PKCS#1 v1.5 with SHA-512.
    Rs512,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
}

impl JwtAlgorithm {
    const ALL: [JwtAlgorithm; 5] = [
        JwtAlgorithm::Rs256,
        JwtAlgorithm::Rs384,
        JwtAlgorithm::Rs512,
        JwtAlgorithm::Es256,
        JwtAlgorithm::Es384,
    ];

    fn jwt(self) -> Algorithm {
        match self {
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Rs384 => Algorithm::RS384,
            JwtAlgorithm::Rs512 => Algorithm::RS512,
            JwtAlgorithm::Es256 => Algorithm::ES256,
            JwtAlgorithm::Es384 => Algorithm::ES384,
        }
    }

    fn is_rsa(self) -> bool {
        matches!(
            self,
            JwtAlgorithm::Rs256 | JwtAlgorithm::Rs384 | JwtAlgorithm::Rs512
        )
    }
}

impl std::fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.jwt())
    }
}

impl std::str::FromStr for JwtAlgorithm {
    type Err = ParseError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        JwtAlgorithm::ALL
            .into_iter()
            .find(|a| a.to_string().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                ParseError::new(
                    ParseErrorKind::JwtAlgorithm,
                    format!(
                        "unknown JWT algorithm {s:?}: expected RS256, RS384, RS512, ES256 or ES384"
                    ),
                )
            })
    }
}

impl Grant {
    /// Reads a PEM private key: RSA (signs RS256, or RS384/RS512 if asked) or EC P-256/P-384
    /// (ES256/ES384, as the curve fixes), PKCS#8 or (RSA) PKCS#1, alone or beside its
    /// certificate. The key signs once here, so a key that cannot sign fails now and not at
    /// the first request. The error names what the file holds (the PEM labels, see
    /// [`pem`](super::pem)) and what to give, or why the key cannot sign the algorithm asked
    /// for, and never shows the key.
    pub(crate) fn private_key(pem: &str, asked: Option<JwtAlgorithm>) -> Result<Grant> {
        let block = super::pem::private_key(pem).map_err(Error::config)?;
        let signs = |key: &EncodingKey, a: JwtAlgorithm| {
            jsonwebtoken::encode(&Header::new(a.jwt()), &(), key).is_ok()
        };
        if let Ok(key) = EncodingKey::from_rsa_pem(block.as_bytes()) {
            let a = asked.unwrap_or(JwtAlgorithm::Rs256);
            if !a.is_rsa() {
                return Err(Error::config(format!(
                    "the private key is an RSA key: it signs RS256, RS384 or RS512, not {a}"
                )));
            }
            if !signs(&key, a) {
                return Err(Error::config(format!(
                    "the private key is an RSA key that cannot sign {a}: it must be a \
                     private key of 2048 to 8192 bits"
                )));
            }
            return Ok(Grant::PrivateKey {
                key,
                algorithm: a.jwt(),
            });
        }
        if let Ok(key) = EncodingKey::from_ec_pem(block.as_bytes()) {
            // The curve decides the algorithm: only the matching one signs.
            if let Some(a) = [JwtAlgorithm::Es256, JwtAlgorithm::Es384]
                .into_iter()
                .find(|&a| signs(&key, a))
            {
                return match asked {
                    Some(other) if other != a => Err(Error::config(format!(
                        "the private key is an EC key whose curve signs {a}, not {other}"
                    ))),
                    _ => Ok(Grant::PrivateKey {
                        key,
                        algorithm: a.jwt(),
                    }),
                };
            }
            return Err(Error::config(
                "the private key is an EC key on a curve other than P-256 or P-384, which sign \
                 ES256 and ES384",
            ));
        }
        Err(Error::config(format!(
            "the private key is neither an RSA key nor an EC key that can be read: {}",
            super::pem::WANTED
        )))
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
    const RSA_PKCS1: &str = include_str!("../../../tests/fixtures/oauth_rsa.pkcs1.pem");
    const RSA_PUB: &str = include_str!("../../../tests/fixtures/oauth_rsa.pub.pem");
    const RSA_CERT: &str = include_str!("../../../tests/fixtures/oauth_rsa.cert.pem");
    const EC_PUB: &str = include_str!("../../../tests/fixtures/oauth_ec.pub.pem");

    /// The assertion `pem` signs, checked against `public` as the token endpoint checks it.
    fn verifies(pem: &str, asked: Option<&str>, public: &str) -> std::result::Result<(), String> {
        let grant = Grant::private_key(pem, asked.map(|a| a.parse().unwrap()))
            .map_err(|e| e.to_string())?;
        let Grant::PrivateKey { key, algorithm } = &grant else {
            return Err("not a key".into());
        };
        let jwt = assertion("id", "https://t.example/token", key, *algorithm)
            .map_err(|e| e.to_string())?;
        let public = match algorithm {
            Algorithm::ES256 | Algorithm::ES384 => {
                jsonwebtoken::DecodingKey::from_ec_pem(public.as_bytes())
            }
            _ => jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()),
        }
        .map_err(|e| e.to_string())?;
        let mut check = jsonwebtoken::Validation::new(*algorithm);
        check.set_audience(&["https://t.example/token"]);
        jsonwebtoken::decode::<serde_json::Value>(&jwt, &public, &check)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn pkcs8_pkcs1_and_ec_keys_sign_what_their_public_keys_verify() {
        for a in [None, Some("RS384"), Some("RS512")] {
            assert_eq!(verifies(RSA, a, RSA_PUB), Ok(()), "PKCS#8 {a:?}");
            assert_eq!(verifies(RSA_PKCS1, a, RSA_PUB), Ok(()), "PKCS#1 {a:?}");
        }
        assert_eq!(verifies(EC, None, EC_PUB), Ok(()));
        assert_eq!(verifies(EC, Some("ES256"), EC_PUB), Ok(()));
    }

    #[test]
    fn a_certificate_and_its_key_in_one_file_sign_with_the_key() {
        assert_eq!(verifies(&format!("{RSA_CERT}{RSA}"), None, RSA_PUB), Ok(()));
        assert_eq!(verifies(&format!("{RSA}{RSA_CERT}"), None, RSA_PUB), Ok(()));
    }

    #[test]
    fn a_public_key_or_a_certificate_is_named_not_a_signature_error() {
        for (pem, found) in [
            (RSA_PUB, "a PUBLIC KEY"),
            (EC_PUB, "a PUBLIC KEY"),
            (RSA_CERT, "a CERTIFICATE"),
        ] {
            let e = Grant::private_key(pem, None).map(|_| ()).unwrap_err();
            let e = e.to_string();
            assert!(
                e.contains(&format!("holds {found}, not a private key")),
                "{e}"
            );
            assert!(e.contains("-----BEGIN PRIVATE KEY-----"), "{e}");
            assert!(!e.to_lowercase().contains("signature"), "{e}");
            let body = pem.lines().nth(1).unwrap();
            assert!(!e.contains(body), "{e}");
        }
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        let algorithm = |pem: &str| match Grant::private_key(pem, None) {
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

    #[test]
    fn an_algorithm_asked_for_must_fit_the_key() {
        let signed = |pem: &str, a: &str| match Grant::private_key(pem, Some(a.parse().unwrap())) {
            Ok(Grant::PrivateKey { algorithm, .. }) => Ok(algorithm),
            Ok(Grant::ClientSecret(_)) => Err("not a key".to_string()),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(signed(RSA, "RS384"), Ok(Algorithm::RS384));
        assert_eq!(signed(RSA, "rs512"), Ok(Algorithm::RS512));
        assert_eq!(signed(EC, "ES256"), Ok(Algorithm::ES256));
        let e = signed(RSA, "ES256").unwrap_err();
        assert!(e.contains("RSA key") && e.contains("not ES256"), "{e}");
        let e = signed(EC, "ES384").unwrap_err();
        assert!(e.contains("signs ES256, not ES384"), "{e}");
        let e = signed(EC, "RS256").unwrap_err();
        assert!(e.contains("not RS256"), "{e}");
        let e = "HS256".parse::<JwtAlgorithm>().unwrap_err().to_string();
        assert!(e.contains("RS256, RS384, RS512, ES256 or ES384"), "{e}");
    }
}
