//! The builder's checks: credentials, URLs, Debug.

use super::*;
use crate::client::DEFAULT_API_URL;
use crate::error::ErrorKind;

#[test]
fn debug_redacts_the_token() {
    let b = Client::builder().apptoken("s3cr3t-t0ken");
    assert!(!format!("{b:?}").contains("s3cr3t"));
    let c = b.build().unwrap();
    let s = format!("{c:?}");
    assert!(!s.contains("s3cr3t"), "{s}");
    assert!(s.contains("<redacted>"), "{s}");
}

#[test]
fn build_needs_a_token_and_a_http_url() {
    let e = Client::builder().build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("no credentials: no apptoken"), "{e}");
    let e = Client::builder().apptoken("  ").build().unwrap_err();
    assert_eq!(e.to_string(), "the apptoken is empty");
    let e = Client::builder()
        .apptoken("t")
        .api_url("ftp://x/api")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("http or https"), "{e}");
    let e = Client::builder()
        .apptoken("t")
        .api_url("not a url")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("is not a URL"), "{e}");
}

#[test]
fn trailing_slash_is_trimmed_and_default_is_eu() {
    let c = Client::builder().apptoken("t").build().unwrap();
    assert_eq!(c.api_url(), DEFAULT_API_URL);
    let c = Client::builder()
        .apptoken("t")
        .api_url("http://127.0.0.1:9/api/external/")
        .build()
        .unwrap();
    assert_eq!(c.api_url(), "http://127.0.0.1:9/api/external");
    let c = Client::builder()
        .apptoken("t")
        .api_url("HTTPS://External-API.Xtremepush.com:443/api/external/")
        .build()
        .unwrap();
    assert_eq!(c.api_url(), DEFAULT_API_URL, "one endpoint, one spelling");
}

#[test]
fn credentials_in_the_api_url_are_refused_without_being_shown() {
    for url in [
        "https://user:hunter2@api.example.com/api/external",
        "https://hunter2@api.example.com/api/external",
    ] {
        let e = Client::builder()
            .apptoken("t")
            .api_url(url)
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("user name or password"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}

#[test]
fn plain_http_only_to_this_machine_unless_allowed() {
    let build = |url: &str, allow: bool| {
        Client::builder()
            .apptoken("t")
            .api_url(url)
            .allow_insecure_http(allow)
            .build()
    };
    for url in [
        "http://localhost:8080/api/external",
        "http://127.0.0.1/api/external",
        "http://127.3.4.5/api/external",
        "http://[::1]:9/api/external",
        "https://example.com/api/external",
    ] {
        assert!(build(url, false).is_ok(), "{url}");
    }
    let e = build("http://example.com/api/external", false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("plain http to example.com"), "{e}");
    assert!(build("http://example.com/api/external", true).is_ok());
    let e = build("http://localhost.evil.com/api", false).unwrap_err();
    assert!(e.to_string().contains("plain http"), "{e}");
}

#[test]
fn a_url_that_does_not_parse_is_shown_without_its_password() {
    for url in [
        "https://user:hunter2-secret@api.example.com:99999/api/external",
        "user:hunter2-secret@api.example.com:99999",
    ] {
        let err = Client::builder()
            .api_url(url)
            .apptoken("token-of-the-test")
            .build()
            .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(err.kind(), ErrorKind::Config);
        if url.starts_with("https") {
            assert!(text.contains("<redacted>@api.example.com:99999"), "{text}");
        }
    }
}
