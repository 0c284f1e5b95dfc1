//! The store an object output is written to, built from its cloud's standard environment
//! (never from a flag), and its errors made fit to show: naming the store, the bucket and the
//! cause, with every cloud secret of the environment and every signature taken out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::multipart::MultipartStore;
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientConfigKey, Error as StoreError, ObjectStore, ObjectStoreExt, PutMode,
    PutOptions, PutPayload, RetryConfig, UpdateVersion,
};

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
///
/// Every request is retried as [`retry`] says, and given as long as [`limits`] says
/// for a part of `part_bytes`: a store down for a minute or two is waited for, a store that
/// stops answering fails the export within minutes, not never.
pub(crate) fn from_env(url: &ObjectUrl, part_bytes: usize) -> Result<Arc<dyn Store>, ExportError> {
    let built: Result<Arc<dyn Store>, StoreError> = match url.scheme() {
        Scheme::S3 => {
            let mut builder = AmazonS3Builder::from_env()
                .with_bucket_name(url.bucket())
                .with_retry(retry());
            for (key, value) in limits("AWS_", part_bytes) {
                builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
            }
            // AWS_DEFAULT_REGION is the CLI's older name for the region.
            if std::env::var_os("AWS_REGION").is_none()
                && let Ok(region) = std::env::var("AWS_DEFAULT_REGION")
            {
                builder = builder.with_region(region);
            }
            builder.build().map(|s| Arc::new(s) as Arc<dyn Store>)
        }
        Scheme::Gcs => {
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(url.bucket())
                .with_retry(retry());
            for (key, value) in limits("GOOGLE_", part_bytes) {
                builder = builder.with_config(GoogleConfigKey::Client(key), value);
            }
            builder.build().map(|s| Arc::new(s) as Arc<dyn Store>)
        }
        Scheme::Azure => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_container_name(url.bucket())
                .with_retry(retry());
            for (key, value) in limits("AZURE_", part_bytes) {
                builder = builder.with_config(AzureConfigKey::Client(key), value);
            }
            builder.build().map(|s| Arc::new(s) as Arc<dyn Store>)
        }
    };
    // A store its environment cannot configure is a configuration error, however it says so.
    built.map_err(|e| {
        ExportError::output(failed(url, "cannot be configured from the environment", e).to_string())
    })
}

/// How a request to a store is retried: a failed request (a connection refused or reset, a
/// timeout, a 5xx, a throttling answer) is tried again after a wait that grows from half a
/// second to 20 seconds, for up to three minutes since its first try. The store's client's
/// own default waits from a tenth of a second and spends its ten retries in a few seconds,
/// which a store restarting or a network switching over outlasts.
pub(crate) fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            base: 3.0,
        },
        max_retries: 30,
        // Kept under five minutes: a retried request is not signed again.
        retry_timeout: Duration::from_secs(180),
    }
}

/// The least rate a request's body is given time for: a part of `part_bytes` has
/// `part_bytes / LEAST_RATE` seconds (and never less than a minute) to be sent and answered.
const LEAST_RATE: usize = 256 << 10;

/// Each request's time limit: a minute, or longer for a part too big to send in a minute at
/// [`LEAST_RATE`]; 10 seconds to connect. A store that stops answering (a frozen server, a
/// network that drops packets) fails the request at its limit, then the retries, and the
/// export ends with the error instead of waiting for ever. Each is the store client's option
/// (`timeout`, `connect_timeout`), and one the environment sets (`AWS_TIMEOUT`, …) is kept:
/// `prefix` is the cloud's (`AWS_`), and the rest of the client's options stay as the
/// environment set them (`AWS_ALLOW_HTTP`, proxies).
pub(crate) fn limits(prefix: &str, part_bytes: usize) -> Vec<(ClientConfigKey, String)> {
    let timeout = (part_bytes / LEAST_RATE).max(60);
    [
        (ClientConfigKey::Timeout, "TIMEOUT", format!("{timeout}s")),
        (
            ClientConfigKey::ConnectTimeout,
            "CONNECT_TIMEOUT",
            "10s".into(),
        ),
    ]
    .into_iter()
    .filter(|(_, name, _)| std::env::var_os(format!("{prefix}{name}")).is_none())
    .map(|(key, _, value)| (key, value))
    .collect()
}

/// The waits between tries of a conditional put whose answer did not come, after the
/// store's client's own retries: about half a minute more.
const PUT_IF_WAITS: [u64; 5] = [1, 2, 4, 8, 16];

/// Puts `bytes` at `key` as `mode` allows (create-only, or over a version), and tells a write
/// whose answer was lost from a write refused. The store's client does not try a conditional
/// put again when its connection breaks (the first try may have landed, and a second would then
/// be refused as if another writer had come): here the key is read back instead, and holds
/// `bytes` if the write landed; if not, the put is tried again. The version written, or the
/// store's error (`AlreadyExists` or `Precondition` when another writer's version is there).
pub(crate) async fn put_if(
    store: &dyn Store,
    key: &Key,
    bytes: Bytes,
    mode: PutMode,
) -> Result<UpdateVersion, StoreError> {
    let mut waits = PUT_IF_WAITS.into_iter();
    loop {
        let opts = PutOptions {
            mode: mode.clone(),
            ..Default::default()
        };
        let e = match store
            .put_opts(key, PutPayload::from(bytes.clone()), opts)
            .await
        {
            Ok(put) => {
                return Ok(UpdateVersion {
                    e_tag: put.e_tag,
                    version: put.version,
                });
            }
            Err(e) => e,
        };
        if let Some(version) = holds(store, key, &bytes).await {
            return Ok(version);
        }
        let transient = matches!(e, StoreError::Generic { .. });
        match waits.next() {
            Some(wait) if transient => tokio::time::sleep(Duration::from_secs(wait)).await,
            _ => return Err(e),
        }
    }
}

/// The version of `key` when it holds `bytes`.
async fn holds(store: &dyn Store, key: &Key, bytes: &Bytes) -> Option<UpdateVersion> {
    let meta = store.head(key).await.ok()?;
    if meta.size != bytes.len() as u64 {
        return None;
    }
    let got = store.get(key).await.ok()?;
    let version = UpdateVersion {
        e_tag: got.meta.e_tag.clone(),
        version: got.meta.version.clone(),
    };
    (got.bytes().await.ok()? == *bytes).then_some(version)
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
    ) || (no_credentials(&cause) && doing == FIRST_LOOK)
        || cause.contains("NoSuchBucket")
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
    } else if no_credentials(&cause) {
        "no credentials: the environment gives none and no metadata server gave a token (set the \
         cloud's credential variables, or run where a workload identity is bound): "
            .to_string()
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

/// The variables that name a store's endpoint, whose URL may hold a user and password
/// (`http://user:password@host`).
const ENDPOINT_VARIABLES: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL_S3",
    "AZURE_STORAGE_ENDPOINT",
    "AZURE_ENDPOINT",
    "GOOGLE_BASE_URL",
];

/// The secrets of the stores' environment, read once: the values of [`SECRET_VARIABLES`], and
/// the user and password in an endpoint's URL.
fn environment() -> &'static Secrets {
    static SECRETS: std::sync::OnceLock<Secrets> = std::sync::OnceLock::new();
    SECRETS.get_or_init(|| {
        let secrets = Secrets::default();
        for name in SECRET_VARIABLES {
            if let Ok(value) = std::env::var(name) {
                add_secret(&secrets, value);
            }
        }
        for name in ENDPOINT_VARIABLES {
            let Ok(url) = std::env::var(name) else {
                continue;
            };
            let authority = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
            let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
            if let Some((userinfo, _)) = authority.rsplit_once('@') {
                add_secret(&secrets, userinfo.to_string());
                if let Some((_, password)) = userinfo.split_once(':') {
                    add_secret(&secrets, password.to_string());
                }
            }
        }
        secrets
    })
}

/// The fewest characters a value of the environment must have to be scrubbed as a secret.
/// Real keys and tokens are tens of characters; a test's `AWS_ACCESS_KEY_ID=x` scrubbed
/// would take every `x` out of every message (`ma<redacted>_retries`) and hide nothing.
const MIN_SECRET_CHARS: usize = 8;

/// Adds `value` to `secrets`, unless it is too short to be one ([`MIN_SECRET_CHARS`]).
fn add_secret(secrets: &Secrets, value: String) {
    if value.trim().chars().count() >= MIN_SECRET_CHARS {
        secrets.add(&Secret::new(value));
    }
}

/// `text` with the object stores' secrets of the environment (keys, tokens, an endpoint's
/// password) and every signature in a URL replaced by `<redacted>`; `None` when it holds none.
/// The command line passes every log line through it.
pub fn redact(text: &str) -> Option<String> {
    let once = environment().scrub(text);
    strip_parameters(once.as_deref().unwrap_or(text)).or(once)
}

/// What the first request of an export to a bucket does (a listing beside the object): no
/// credentials there is a configuration to fix (exit 2), while a token refused later, mid-export,
/// may be the metadata server's passing failure.
pub(crate) const FIRST_LOOK: &str = "cannot be read";

/// Whether a store's error says it found no credentials to sign with: a token request to the
/// metadata server (the last link of each cloud's chain) that failed.
fn no_credentials(cause: &str) -> bool {
    cause.contains("Error performing token request") || cause.contains("Error getting token")
}

/// The store error's whole chain in one line, fit to show, with the environment's secrets and
/// every signature taken out.
pub(crate) fn scrubbed(e: &StoreError) -> String {
    let text = crate::error::chain(e);
    sanitize::fit(&text, &redact).unwrap_or(text)
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
            let store = from_env(&url, crate::export::object::PART_BYTES)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(store.to_string(), shown);
        }
    }

    #[test]
    fn a_request_has_time_for_its_part_and_retries_for_minutes() {
        // Three minutes of retries with waits that grow: a store down for a minute is waited for.
        let retry = retry();
        assert_eq!(retry.retry_timeout, Duration::from_secs(180));
        assert!(retry.backoff.init_backoff >= Duration::from_millis(500));
        assert!(retry.max_retries >= 10);
        let limit = |bytes| limits("XP_EXPORT_TEST_UNSET_", bytes);
        // The default part has a minute; a part of 5 GiB has hours, not a minute.
        assert_eq!(limit(8 << 20)[0], (ClientConfigKey::Timeout, "60s".into()));
        assert_eq!(
            limit(5 << 30)[0],
            (ClientConfigKey::Timeout, "20480s".into())
        );
        assert_eq!(limit(8 << 20)[1].1, "10s");
    }

    #[test]
    fn no_credentials_at_the_first_look_is_a_configuration_to_fix() {
        let url = ObjectUrl::parse("gs://data/rows.ndjson").unwrap();
        let token = || {
            StoreError::Generic {
            store: "GCS",
            source: "Error performing token request: Error performing GET \
                     http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token"
                .into(),
        }
        };
        let e = failed(&url, FIRST_LOOK, token());
        assert_eq!(e.kind(), crate::export::ExportErrorKind::Output, "{e}");
        assert!(
            e.to_string().contains("cannot be read: no credentials"),
            "{e}"
        );
        let later = failed(&url, "uploading part 3", token());
        assert_eq!(
            later.kind(),
            crate::export::ExportErrorKind::Store,
            "{later}"
        );
        assert!(later.to_string().contains("no credentials"), "{later}");
    }

    #[test]
    fn a_value_too_short_to_be_a_key_is_not_scrubbed_out_of_every_word() {
        let secrets = Secrets::default();
        add_secret(&secrets, "x".into());
        add_secret(&secrets, "pw".into());
        assert_eq!(secrets.scrub("max_retries: prefix=x.ndjson, user pw"), None);
        add_secret(&secrets, "tEsTsEcReT+KeY/0123".into());
        assert_eq!(
            secrets
                .scrub("max_retries: key tEsTsEcReT+KeY/0123")
                .as_deref(),
            Some("max_retries: key <redacted>")
        );
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
