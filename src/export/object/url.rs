//! What an object output's URL names: the store (`s3://`, `gs://`, `az://`), the bucket and the
//! key, checked before anything is sent; and the hidden keys kept beside the object.

use std::fmt;

use object_store::path::Path as Key;

use crate::export::error::ExportError;

/// The object stores an output can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Amazon S3 and S3-compatible stores (`s3://BUCKET/KEY`).
    S3,
    /// Google Cloud Storage (`gs://BUCKET/KEY`).
    Gcs,
    /// Azure Blob Storage (`az://CONTAINER/KEY`).
    Azure,
}

impl Scheme {
    /// The URL's scheme, `s3`, `gs` or `az`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }

    /// The store's name, as errors say it.
    pub fn store(self) -> &'static str {
        match self {
            Scheme::S3 => "S3",
            Scheme::Gcs => "Google Cloud Storage",
            Scheme::Azure => "Azure Blob Storage",
        }
    }

    /// What the store calls a bucket.
    fn bucket_word(self) -> &'static str {
        match self {
            Scheme::Azure => "container",
            Scheme::S3 | Scheme::Gcs => "bucket",
        }
    }
}

/// An object in a bucket: `s3://BUCKET/KEY`, `gs://BUCKET/KEY` or `az://CONTAINER/KEY`. It holds
/// no credential: those come from the store's environment.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    scheme: Scheme,
    bucket: String,
    key: String,
}

/// The folder beside an object that holds its hidden keys: `.NAME.xp-export`.
const SIDE_SUFFIX: &str = ".xp-export";

impl ObjectUrl {
    /// Whether `text` is written as a URL (`SCHEME://…`), which an output or state path is not
    /// taken as even when its scheme is unknown.
    pub fn is_url(text: &str) -> bool {
        text.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
    }

    /// The object `text` names, or why it names none: an unknown scheme, no bucket, no key, a
    /// key that ends in `/` (a folder, not an object), a name kept for the hidden keys beside
    /// an object, or a query string (a presigned URL's: its signature is a secret and is not
    /// repeated).
    pub fn parse(text: &str) -> Result<Self, ExportError> {
        let bad = |why: &str| ExportError::output(format!("{}: {why}", shown(text)));
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("not a URL"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "s3" | "s3a" => Scheme::S3,
            "gs" | "gcs" => Scheme::Gcs,
            "az" | "azure" | "abfs" => Scheme::Azure,
            _ => {
                return Err(bad(
                    "unknown store: an output or state in an object store is s3://BUCKET/KEY, \
                     gs://BUCKET/KEY or az://CONTAINER/KEY, a local one a path or file://PATH",
                ));
            }
        };
        if rest.contains(['?', '#']) {
            return Err(ExportError::output(format!(
                "{}://{}…: an object's URL has no query string or fragment (a presigned URL is \
                 not taken: credentials come from the store's environment)",
                scheme.as_str(),
                rest.split(['?', '#']).next().unwrap_or_default()
            )));
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let word = scheme.bucket_word();
        if bucket.contains('@') {
            return Err(ExportError::output(format!(
                "{}://…@{}/…: an object's URL holds no user or password (credentials come from \
                 the store's environment, never the URL)",
                scheme.as_str(),
                bucket.rsplit('@').next().unwrap_or_default()
            )));
        }
        if bucket.is_empty() {
            return Err(bad(&format!(
                "no {word}: give {}://{word}/KEY",
                scheme.as_str()
            )));
        }
        if key.is_empty() {
            return Err(bad(&format!(
                "no key: give the object's name, e.g. {}://{bucket}/exports/push_actions.ndjson",
                scheme.as_str()
            )));
        }
        if key.ends_with('/') {
            return Err(bad(
                "the key ends in /, which names a folder: give the object's name after it",
            ));
        }
        let parsed = Key::parse(key).map_err(|e| bad(&format!("not a valid key: {e}")))?;
        if parsed.as_ref() != key {
            return Err(bad("not a valid key: the store would name it otherwise"));
        }
        if key.split('/').any(|segment| segment.ends_with(SIDE_SUFFIX)) {
            return Err(bad(&format!(
                "a name ending in {SIDE_SUFFIX} is kept for the hidden keys beside an export"
            )));
        }
        Ok(ObjectUrl {
            scheme,
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// Its store.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Its bucket (Azure: its container).
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Its key in the bucket.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key's last segment, the object's name.
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// The key, as the store's client takes it: the key itself, byte for byte (a key with `%`
    /// or letters outside ASCII is not percent-encoded into another name).
    pub(crate) fn location(&self) -> Key {
        raw_key(&self.key)
    }

    /// The key of `file` in the hidden folder beside the object, `…/.NAME.xp-export/FILE`.
    pub(crate) fn side(&self, file: &str) -> Key {
        raw_key(&self.side_key(file))
    }

    /// The URL of `file` in the hidden folder beside the object, for messages.
    pub(crate) fn side_url(&self, file: &str) -> String {
        format!(
            "{}://{}/{}",
            self.scheme.as_str(),
            self.bucket,
            self.side_key(file)
        )
    }

    fn side_key(&self, file: &str) -> String {
        let (folder, name) = match self.key.rsplit_once('/') {
            Some((folder, name)) => (format!("{folder}/"), name),
            None => (String::new(), self.key.as_str()),
        };
        format!("{folder}.{name}{SIDE_SUFFIX}/{file}")
    }

    /// The bucket's URL, `s3://BUCKET`, for messages.
    pub(crate) fn bucket_url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.bucket)
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.scheme.as_str(), self.bucket, self.key)
    }
}

impl fmt::Debug for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl std::str::FromStr for ObjectUrl {
    type Err = ExportError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ObjectUrl::parse(s)
    }
}

/// `text` as a key, unchanged. Every segment of an object's key was checked by
/// [`ObjectUrl::parse`], and the hidden names beside it are made of that key's segments and of
/// names this crate chooses, so the parse holds; `Key::from` (which would encode what it does
/// not take) is only the fallback for a name that could not be stored as given.
pub(crate) fn raw_key(text: &str) -> Key {
    Key::parse(text).unwrap_or_else(|_| Key::from(text))
}

/// A URL as an error repeats it: without its query string, which may be a signature.
fn shown(text: &str) -> String {
    let text = match text.split_once(['?', '#']) {
        Some((before, _)) => format!("{before}…"),
        None => text.to_string(),
    };
    // A user and password before the bucket are not repeated either.
    match text.split_once("://") {
        Some((scheme, rest)) if rest.split('/').next().is_some_and(|b| b.contains('@')) => {
            let after = &rest[rest.find('@').map_or(0, |i| i + 1)..];
            format!("{scheme}://…@{after}")
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_and_password_in_the_url_are_refused_and_not_repeated() {
        for url in [
            "s3://user:pw-s3cret@bkt/x.ndjson",
            "gs://pw-s3cret@bkt/x.ndjson",
        ] {
            let e = ObjectUrl::parse(url).unwrap_err().to_string();
            assert!(!e.contains("pw-s3cret"), "{e}");
            assert!(
                e.contains("@bkt/…") && e.contains("no user or password"),
                "{e}"
            );
        }
        let e = ObjectUrl::parse("ftp://user:pw-s3cret@host/x")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("pw-s3cret") && e.contains("ftp://…@host/x"),
            "{e}"
        );
    }

    #[test]
    fn a_url_names_the_store_the_bucket_and_the_key() {
        let url = ObjectUrl::parse("s3://data/exports/day=1/rows.ndjson.gz").unwrap();
        assert_eq!(url.scheme(), Scheme::S3);
        assert_eq!(url.bucket(), "data");
        assert_eq!(url.key(), "exports/day=1/rows.ndjson.gz");
        assert_eq!(url.name(), "rows.ndjson.gz");
        assert_eq!(url.to_string(), "s3://data/exports/day=1/rows.ndjson.gz");
        assert_eq!(
            url.side_url("checkpoint.json"),
            "s3://data/exports/day=1/.rows.ndjson.gz.xp-export/checkpoint.json"
        );
        let top = ObjectUrl::parse("gs://b/rows.csv").unwrap();
        assert_eq!(top.scheme(), Scheme::Gcs);
        assert_eq!(
            top.side("checkpoint.json").as_ref(),
            ".rows.csv.xp-export/checkpoint.json"
        );
        assert_eq!(
            ObjectUrl::parse("az://container/a.parquet")
                .unwrap()
                .scheme(),
            Scheme::Azure
        );
    }

    #[test]
    fn a_key_is_sent_as_written() {
        for key in [
            "exports/día=1/filas €.ndjson",
            "a%20b/100%.csv",
            "x/+ &=.json",
        ] {
            let url = ObjectUrl::parse(&format!("s3://b/{key}")).unwrap();
            assert_eq!(url.location().as_ref(), key);
            let side = url.side("checkpoint.json");
            assert!(
                side.as_ref().starts_with(key.rsplit_once('/').unwrap().0),
                "{side}"
            );
            assert!(
                side.as_ref().ends_with(".xp-export/checkpoint.json"),
                "{side}"
            );
            assert!(
                !side.as_ref().contains("%25") && !side.as_ref().contains("%C3"),
                "{side}"
            );
        }
    }

    #[test]
    fn a_bad_url_says_what_is_missing() {
        for (text, said) in [
            ("s3://", "no bucket"),
            ("s3://bucket", "no key"),
            ("s3://bucket/", "no key"),
            ("s3://bucket/exports/", "ends in /"),
            ("s3://bucket/a//b.csv", "empty path segment"),
            ("ftp://host/a.csv", "unknown store"),
            ("az://c/x/.a.csv.xp-export/y", "kept for the hidden keys"),
        ] {
            let e = ObjectUrl::parse(text).unwrap_err();
            assert!(e.to_string().contains(said), "{text}: {e}");
            assert!(e.to_string().starts_with(text), "{text}: {e}");
        }
    }

    #[test]
    fn a_presigned_url_is_refused_without_repeating_its_signature() {
        let e = ObjectUrl::parse("s3://b/k.csv?X-Amz-Signature=abcdef0123456789").unwrap_err();
        assert!(!e.to_string().contains("abcdef"), "{e}");
        assert!(e.to_string().contains("no query string"), "{e}");
        let e = ObjectUrl::parse("nope://b/k.csv?sig=abcdef0123456789").unwrap_err();
        assert!(!e.to_string().contains("abcdef"), "{e}");
    }

    #[test]
    fn only_scheme_colon_slash_slash_is_a_url() {
        assert!(ObjectUrl::is_url("s3://b/k"));
        assert!(ObjectUrl::is_url("ftp://x"));
        assert!(!ObjectUrl::is_url("out.csv"));
        assert!(!ObjectUrl::is_url("./a://b"));
        assert!(!ObjectUrl::is_url("://b"));
    }
}
