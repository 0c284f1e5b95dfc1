//! A credential's fingerprint: what a checkpoint or an incremental state records to tell the
//! credential it was written with (and so, the project whose rows it holds) from another,
//! without holding the credential.
//!
//! The fingerprint is PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) of what identifies the credential
//! (the apptoken; for OAuth, the client ID, so a rotated client secret or key is the same
//! client), with a random salt of its own and [`ROUNDS`] rounds, both stored beside it. The
//! salt makes every file's fingerprint different (two files do not show that they share a
//! credential, and no table computed in advance matches one); the rounds make each guess at an
//! apptoken checked against a stolen file cost what the check costs this program, which is the
//! least that cannot be avoided: a file that lets the next run recognise its credential lets
//! anyone holding it test a guess. A fingerprint is never shown: its `Debug` hides it, and
//! the errors that compare it say only "another credential".

use std::fmt;

use aws_lc_rs::pbkdf2;
use serde::{Deserialize, Serialize};

/// The rounds of PBKDF2 a new fingerprint is made with, once per export and per incremental
/// run: a few milliseconds. An apptoken is a random token, not a password a person chose: no
/// guess finds it, and the rounds make testing a list of known tokens against a stolen file
/// cost that much per token.
pub(crate) const ROUNDS: u32 = 100_000;

/// The most rounds a stored fingerprint may ask for: an edited file must not make the check
/// take hours.
const MAX_ROUNDS: u32 = 10_000_000;

/// The name of the scheme, stored with the fingerprint; another is refused rather than guessed
/// at.
const SCHEME: &str = "pbkdf2-hmac-sha256";

/// The fingerprint of a credential, with the salt and rounds it was made with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Fingerprint {
    salt: [u8; 16],
    rounds: u32,
    hash: [u8; 32],
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(<hidden>)")
    }
}

impl Fingerprint {
    /// The fingerprint of `credential` with a fresh random salt.
    pub(crate) fn new(credential: &[u8]) -> Fingerprint {
        let mut salt = [0; 16];
        if aws_lc_rs::rand::fill(&mut salt).is_err() {
            // No system randomness: a salt still differs from file to file, by time and
            // process; it needs to be unique, not secret.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            salt = (now ^ (u128::from(std::process::id()) << 96)).to_le_bytes();
        }
        Fingerprint::with(credential, salt, ROUNDS)
    }

    fn with(credential: &[u8], salt: [u8; 16], rounds: u32) -> Fingerprint {
        Fingerprint {
            salt,
            rounds,
            hash: pbkdf2_sha256(credential, &salt, rounds),
        }
    }

    /// Whether this is the fingerprint of `credential`.
    pub(crate) fn is_of(&self, credential: &[u8]) -> bool {
        Fingerprint::with(credential, self.salt, self.rounds) == *self
    }
}

/// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) of `password`, one block of 32 bytes long.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut out = [0; 32];
    let rounds = std::num::NonZeroU32::new(rounds).unwrap_or(std::num::NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, password, &mut out);
    out
}

/// A fingerprint as it is written: the scheme, the rounds, and the salt and hash in hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    scheme: String,
    rounds: u32,
    salt: String,
    hash: String,
}

impl From<Fingerprint> for Stored {
    fn from(f: Fingerprint) -> Stored {
        Stored {
            scheme: SCHEME.to_string(),
            rounds: f.rounds,
            salt: hex(&f.salt),
            hash: hex(&f.hash),
        }
    }
}

impl TryFrom<Stored> for Fingerprint {
    type Error = String;

    fn try_from(s: Stored) -> Result<Fingerprint, String> {
        if s.scheme != SCHEME {
            return Err(format!(
                "the credential's fingerprint is of scheme {:?}, not {SCHEME}",
                s.scheme
            ));
        }
        if !(1..=MAX_ROUNDS).contains(&s.rounds) {
            return Err(format!(
                "the credential's fingerprint asks for {} rounds (1 to {MAX_ROUNDS})",
                s.rounds
            ));
        }
        let (Some(salt), Some(hash)) = (unhex(&s.salt), unhex(&s.hash)) else {
            return Err("the credential's fingerprint is not hex of the right length".into());
        };
        Ok(Fingerprint {
            salt,
            rounds: s.rounds,
            hash,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut out = [0; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex32(text: &str) -> [u8; 32] {
        unhex(text).unwrap()
    }

    /// The published test vectors of PBKDF2-HMAC-SHA256 (RFC 7914 §11, and the SHA-256
    /// counterparts of RFC 6070's).
    #[test]
    fn pbkdf2_matches_the_published_vectors() {
        let cases: [(&[u8], &[u8], u32, &str); 3] = [
            (
                b"passwd",
                b"salt",
                1,
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
            ),
            (
                b"password",
                b"salt",
                1,
                "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
            ),
            (
                b"password",
                b"salt",
                4096,
                "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
            ),
        ];
        for (password, salt, rounds, expected) in cases {
            assert_eq!(pbkdf2_sha256(password, salt, rounds), unhex32(expected));
        }
    }

    #[test]
    fn a_fingerprint_knows_its_credential_and_shows_nothing() {
        let a = Fingerprint::new(b"apptoken\0s3cret-token");
        let again = Fingerprint::new(b"apptoken\0s3cret-token");
        assert_ne!(a, again, "each has a salt of its own");
        assert!(a.is_of(b"apptoken\0s3cret-token") && again.is_of(b"apptoken\0s3cret-token"));
        assert!(!a.is_of(b"apptoken\0another-token"));
        assert_eq!(format!("{a:?}"), "Fingerprint(<hidden>)");
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        let back: Fingerprint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        for (from, to) in [
            (SCHEME, "sha1"),
            ("\"rounds\":100000", "\"rounds\":4000000000"),
            ("\"rounds\":100000", "\"rounds\":0"),
            ("\"salt\":\"", "\"salt\":\"0"),
        ] {
            let edited = json.replace(from, to);
            assert!(
                serde_json::from_str::<Fingerprint>(&edited).is_err(),
                "{edited}"
            );
        }
    }
}
