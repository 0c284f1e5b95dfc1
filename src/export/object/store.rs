//! The store an object output is written to, built from its cloud's standard environment
//! (never from a flag), and its errors made fit to show: naming the store, the bucket and the
//! cause, with every cloud secret of the environment and every signature taken out.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::multipart::MultipartStore;
use object_store::{Error as StoreError, ObjectStore};

use super::url::{ObjectUrl, Scheme};
use crate::client::secrets::{Secret, Secrets};
use crate::error::sanitize;
use crate::export::error::ExportError;

/// A store that takes multipart uploads part by part (S3, GCS, Azure, and the in-memory one of
/// tests): what an object output needs, so that a run on another machine can continue an
/// upload by its id and its parts'.
pub trait Store: ObjectStore + MultipartStore {}

impl<T: ObjectStore + MultipartStore> Store for T {}

/// The environment variables whose values are secrets: scrubbed from every error a store
/// returns, should it echo one.
const SECRET_VARIABLES: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_MASTER_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON",
];

/// Query parameters whose values are signatures or credentials (presigned URLs, SAS tokens).
const SECRET_PARAMETERS: &[&str] = &[
    "x-amz-signature=",
    "x-amz-credential=",
    "x-amz-security-token=",
    "x-goog-signature=",
    "x-goog-credential=",
    "sig=",
    "signature=",
];

/// The store of `url`'s bucket, configured by its cloud's environment: for S3 `AWS_*`
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, web identity, instance metadata); for GCS
/// `GOOGLE_APPLICATION_CREDENTIALS` or the metadata server; for Azure `AZURE_STORAGE_*` or a
/// managed identity.
pub(crate) fn from_env(url: &ObjectUrl) -> Result<Arc<dyn Store>, ExportError> {
    let built: Result<Arc<dyn Store>, StoreError> = match url.scheme() {
        Scheme::S3 => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(url.bucket());
            // AWS_DEFAULT_REGION is the CLI's older name for the region.
            if std::env::var_os("AWS_REGION").is_none()
                && let Ok(region) = std::env::var("AWS_DEFAULT_REGION")
            {
                builder = builder.with_region(region);
            }
            builder.build().map(|s| Arc::new(s) as Arc<dyn Store>)
        }
        Scheme::Gcs => GoogleCloudStorageBuilder::from_env()
            .with_bucket_name(url.bucket())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn Store>),
        Scheme::Azure => MicrosoftAzureBuilder::from_env()
            .with_container_name(url.bucket())
            .build()
            .map(|s| Arc::new(s) as Arc<dyn Store>),
    };
    // A store its environment cannot configure is a configuration error, however it says so.
    built.map_err(|e| {
        ExportError::output(failed(url, "cannot be configured from the environment", e).to_string())
    })
}

/// The error of `doing` something with `url`'s object: the store, the bucket and the cause,
/// scrubbed. An object store's refusal is of kind [`Output`](crate::export::ExportErrorKind::Output)
/// when it is about the target (no bucket, no permission, credentials refused), else of kind
/// [`Io`](crate::export::ExportErrorKind::Io).
pub(crate) fn failed(url: &ObjectUrl, doing: &str, e: StoreError) -> ExportError {
    let cause = scrubbed(&e);
    let about_target = matches!(
        e,
        StoreError::PermissionDenied { .. }
            | StoreError::Unauthenticated { .. }
            | StoreError::UnknownConfigurationKey { .. }
    ) || cause.contains("NoSuchBucket")
        || cause.contains("AccessDenied")
        || cause.contains("ContainerNotFound")
        || cause.contains("InvalidAccessKeyId")
        || cause.contains("SignatureDoesNotMatch");
    let word = if url.scheme() == Scheme::Azure {
        "container"
    } else {
        "bucket"
    };
    // The store's own error says why in its code; the first words say it plainly.
    let plainly = if cause.contains("NoSuchBucket") || cause.contains("ContainerNotFound") {
        format!("the {word} does not exist: ")
    } else if cause.contains("InvalidAccessKeyId")
        || cause.contains("SignatureDoesNotMatch")
        || matches!(e, StoreError::Unauthenticated { .. })
    {
        "the store refused the credentials: ".to_string()
    } else if matches!(e, StoreError::PermissionDenied { .. }) || cause.contains("AccessDenied") {
        "permission refused: ".to_string()
    } else {
        String::new()
    };
    let message = format!(
        "{url} ({} {} {}): {doing}: {plainly}{cause}",
        url.scheme().store(),
        word,
        url.bucket_url()
    );
    if about_target {
        ExportError::output(message)
    } else {
        ExportError::store(message)
    }
}

/// The store error's whole chain in one line, fit to show, with the environment's secrets and
/// every signature taken out.
pub(crate) fn scrubbed(e: &StoreError) -> String {
    let secrets = Secrets::default();
    for name in SECRET_VARIABLES {
        if let Ok(value) = std::env::var(name) {
            secrets.add(&Secret::new(value));
        }
    }
    let scrub = |t: &str| -> Option<String> {
        let once = secrets.scrub(t);
        strip_parameters(once.as_deref().unwrap_or(t)).or(once)
    };
    let text = crate::error::chain(e);
    sanitize::fit(&text, &scrub).unwrap_or(text)
}

/// `text` with the value of every secret query parameter replaced by `<redacted>`; `None`
/// when it has none.
fn strip_parameters(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut out = String::new();
    let mut last = 0;
    let mut at = 0;
    while at < text.len() {
        let found = SECRET_PARAMETERS
            .iter()
            .filter_map(|p| lower[at..].find(p).map(|i| (at + i, p.len())))
            .min();
        let Some((start, len)) = found else { break };
        let value = start + len;
        let end = text[value..]
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace() || c == '<')
            .map_or(text.len(), |i| value + i);
        out.push_str(&text[last..value]);
        out.push_str(crate::client::secrets::REDACTED);
        last = end;
        at = end.max(value);
    }
    (last > 0).then(|| {
        out.push_str(&text[last..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_s_store_is_built_from_its_url_without_a_request() {
        for (text, shown) in [
            ("s3://data/exports/rows.ndjson", "AmazonS3(data)"),
            ("gs://data/exports/rows.parquet", "GoogleCloudStorage(data)"),
        ] {
            let url = ObjectUrl::parse(text).unwrap();
            let store = from_env(&url).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(store.to_string(), shown);
        }
    }

    #[test]
    fn signatures_in_a_url_are_redacted() {
        let text = "GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA/x&X-Amz-Signature=abc123 \
                    failed; sas ?sv=1&sig=zzz9";
        let out = strip_parameters(text).unwrap();
        assert!(!out.contains("abc123") && !out.contains("zzz9") && !out.contains("AKIA"));
        assert!(out.contains("X-Amz-Signature=<redacted>"), "{out}");
        assert_eq!(strip_parameters("nothing here"), None);
    }
}
