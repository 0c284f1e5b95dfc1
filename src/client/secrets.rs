//! The secrets a client holds, and scrubbing them out of every text that came from the server.
//!
//! A server may echo what it was sent: "Invalid apptoken …", a 400 that quotes the request
//! body, a row or a `Location` holding the token, a snippet cut short in the middle of it.
//! [`Secrets`] knows every secret of a client (the apptoken, or the OAuth client secret or
//! private key, and every access token and assertion since) and the forms a server may send it
//! back in, and
//! [`Secrets::scrub`] replaces each with `<redacted>`: the whole secret and any run of at least
//! [`MIN_FRAGMENT`] characters of it, so a truncated echo is caught too.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

/// The shortest run of a secret's characters that is redacted on its own (a secret shorter
/// than this is redacted only whole). Eight characters of a random token do not appear in a
/// message by chance; a server that cuts the token short shows more than that.
pub(crate) const MIN_FRAGMENT: usize = 8;

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Self {
        Secret(value)
    }

    /// The value itself, for the one place it is sent.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// Every secret a client holds, in each form a server may echo it in: as sent, escaped inside
/// a JSON string (`\/` too, as PHP writes it), and percent-encoded. Clones share one set:
/// an access token added while pages are in flight is scrubbed from every page's error.
#[derive(Clone, Default)]
pub(crate) struct Secrets {
    forms: Arc<RwLock<Vec<Vec<u8>>>>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets(<{} forms redacted>)", self.read().len())
    }
}

impl Secrets {
    /// Adds a secret (its surrounding whitespace is not part of it). An empty one adds nothing.
    pub(crate) fn add(&self, secret: &Secret) {
        let raw = secret.expose().trim();
        if raw.is_empty() {
            return;
        }
        let json = serde_json::to_string(raw).unwrap_or_default();
        let json = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or(raw);
        let forms = [
            raw.to_string(),
            json.to_string(),
            json.replace('/', "\\/"),
            percent_encode(raw),
        ];
        let mut all = self.forms.write().unwrap_or_else(PoisonError::into_inner);
        for form in forms {
            let form = form.into_bytes();
            if !all.contains(&form) {
                all.push(form);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vec<u8>>> {
        self.forms.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// `text` with every secret, and every run of [`MIN_FRAGMENT`] or more of a secret's
    /// characters, replaced by `<redacted>`; `None` when there is nothing to replace.
    pub(crate) fn scrub(&self, text: &str) -> Option<String> {
        let forms = self.read();
        if forms.is_empty() {
            return None;
        }
        let bytes = text.as_bytes();
        let mut out = String::new();
        let (mut last, mut i) = (0, 0);
        while i < bytes.len() {
            let mut len = longest_at(&forms, &bytes[i..]);
            while len > 0 && !text.is_char_boundary(i + len) {
                len -= 1;
            }
            if len > 0 && text.is_char_boundary(i) {
                out.push_str(&text[last..i]);
                out.push_str(REDACTED);
                i += len;
                last = i;
            } else {
                i += 1;
            }
        }
        if last == 0 {
            return None;
        }
        out.push_str(&text[last..]);
        Some(out)
    }
}

/// The length of the longest run of a secret's bytes that `text` starts with, counting only
/// runs long enough to redact; 0 when there is none.
fn longest_at(forms: &[Vec<u8>], text: &[u8]) -> usize {
    let mut best = 0;
    for form in forms {
        let min = form.len().min(MIN_FRAGMENT);
        for start in 0..form.len() {
            if form[start] != text[0] {
                continue;
            }
            let n = form[start..]
                .iter()
                .zip(text)
                .take_while(|(a, b)| a == b)
                .count();
            if n >= min && n > best {
                best = n;
            }
        }
    }
    best
}

/// `s` percent-encoded as a URL query or a form body would carry it (unreserved characters
/// kept).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(values: &[&str]) -> Secrets {
        let s = Secrets::default();
        for v in values {
            s.add(&Secret::new(v.to_string()));
        }
        s
    }

    #[test]
    fn the_whole_secret_and_its_encodings_are_redacted() {
        let s = secrets(&["tok/SECRET+4c1d"]);
        let cases = [
            (
                "HTTP 401 Invalid apptoken tok/SECRET+4c1d",
                "HTTP 401 Invalid apptoken <redacted>",
            ),
            (
                r#"{"apptoken":"tok\/SECRET+4c1d"}"#,
                r#"{"apptoken":"<redacted>"}"#,
            ),
            (
                "?apptoken=tok%2FSECRET%2B4c1d&x=1",
                "?apptoken=<redacted>&x=1",
            ),
            ("tok/SECRET+4c1dtok/SECRET+4c1d", "<redacted><redacted>"),
        ];
        for (text, want) in cases {
            assert_eq!(s.scrub(text).as_deref(), Some(want), "{text}");
        }
        assert_eq!(s.scrub("Authentication failed"), None);
        assert_eq!(Secrets::default().scrub("tok/SECRET+4c1d"), None);
    }

    #[test]
    fn a_truncated_echo_is_redacted_from_eight_characters() {
        let s = secrets(&["tok-SECRET-4c1d-should-never-show"]);
        assert_eq!(
            s.scrub("it starts with \"tok-SECRET-4c1").as_deref(),
            Some("it starts with \"<redacted>")
        );
        assert_eq!(
            s.scrub("token …4c1d-should-never-show").as_deref(),
            Some("token …<redacted>")
        );
        assert_eq!(s.scrub("tok-SEC is 7"), None, "shorter runs stay");
    }

    #[test]
    fn a_short_secret_is_redacted_only_whole() {
        let s = secrets(&[" t0k "]);
        assert_eq!(s.scrub("a t0k b t0").as_deref(), Some("a <redacted> b t0"));
        assert_eq!(
            secrets(&["  "]).scrub("  "),
            None,
            "an empty secret is none"
        );
    }

    #[test]
    fn non_ascii_text_and_secrets_keep_char_boundaries() {
        let s = secrets(&["clé-secrète-très-longue"]);
        assert_eq!(
            s.scrub("é clé-secrète-très-longue é").as_deref(),
            Some("é <redacted> é")
        );
        assert_eq!(s.scrub("ééé"), None);
        assert!(!format!("{s:?}").contains("clé"));
    }
}
