//! A redirect is not followed. Following it loses the request or the secret: a 301, 302 or
//! 303 turns the POST into a GET without its body (the server answers an empty page, and the
//! export would end "complete" with no rows), and a 307 or 308 resends the body, apptoken
//! included, to wherever `Location` points, plain http to another host too. So a 3xx is an
//! [`ErrorKind::Redirected`] error that names the `Location` and says to set the API URL to it.

use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};

use crate::error::{Error, ErrorKind, shown};

/// The error for a redirect answered to the request for `request_url`, whose API base is
/// `api_url`. The `Location` is shown resolved, without any user name or password, fit to
/// show; the client scrubs its secrets out of it.
pub(super) fn error(
    status: StatusCode,
    location: Option<&HeaderValue>,
    request_url: &str,
    api_url: &str,
) -> Error {
    let answered = format!(
        "the API answered HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Redirect")
    );
    let detail = match location.map(|l| l.to_str()) {
        None => format!(
            "{answered} without a Location, a redirect that is not followed: check the API URL \
             (--api-url)"
        ),
        Some(Err(_)) => format!(
            "{answered} with a Location that is not text, a redirect that is not followed: \
             check the API URL (--api-url)"
        ),
        Some(Ok(location)) => {
            let (target, base) = resolve(location, request_url, api_url);
            let plain = match Url::parse(&base) {
                Ok(u) if u.scheme() == "http" => {
                    " (plain http: the apptoken would travel unencrypted; prefer https)"
                }
                _ => "",
            };
            format!(
                "{answered}, a redirect to {target}, which is not followed (it would drop the \
                 request body or resend the apptoken there): if the API has moved, set the API \
                 URL (--api-url) to {base}{plain}"
            )
        }
    };
    Error::new(ErrorKind::Redirected, detail).with_status(status.as_u16())
}

/// The `Location` resolved against the request's URL, without credentials, and the API base
/// it implies (the `Location` less the method's path, `/list/{model}`, when it ends so).
fn resolve(location: &str, request_url: &str, api_url: &str) -> (String, String) {
    let Some((url, had_credentials)) = resolved(location, request_url) else {
        let raw = shown(location).into_owned();
        return (raw.clone(), raw);
    };
    let target = url.to_string();
    let method_path = request_url.strip_prefix(api_url).unwrap_or("");
    let base = match target.strip_suffix(method_path) {
        Some(base) if !method_path.is_empty() && url.query().is_none() => base.to_string(),
        _ => target.clone(),
    };
    (
        shown(&noted(target, had_credentials)).into_owned(),
        shown(&base).into_owned(),
    )
}

/// Where a redirect answered to the request for `request_url` points, for an error: the
/// `Location` resolved, without any user name or password (a note says they were there), fit
/// to show. A `Location` that is no URL is shown as sent, but for what looks like credentials.
pub(super) fn target(location: &str, request_url: &str) -> String {
    match resolved(location, request_url) {
        Some((url, had_credentials)) => {
            shown(&noted(url.to_string(), had_credentials)).into_owned()
        }
        None => match location.rsplit_once('@') {
            Some((_, host)) => {
                shown(&format!("…@{host} (its user name and password not shown)")).into_owned()
            }
            None => shown(location).into_owned(),
        },
    }
}

/// `location` resolved against `request_url` with its user name and password taken out, and
/// whether it had any.
fn resolved(location: &str, request_url: &str) -> Option<(Url, bool)> {
    let mut url = Url::parse(request_url)
        .ok()
        .and_then(|base| base.join(location.trim()).ok())?;
    let had_credentials = !url.username().is_empty() || url.password().is_some();
    // Both only fail for URLs that cannot hold credentials.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some((url, had_credentials))
}

fn noted(target: String, had_credentials: bool) -> String {
    if had_credentials {
        format!("{target} (its user name and password not shown)")
    } else {
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "https://old.example.com/api/external";
    const REQUEST: &str = "https://old.example.com/api/external/list/push-devices";

    fn detail(status: u16, location: Option<&str>) -> String {
        let value = location.map(|l| HeaderValue::from_str(l).unwrap());
        let e = error(
            StatusCode::from_u16(status).unwrap(),
            value.as_ref(),
            REQUEST,
            API,
        );
        assert_eq!(e.kind(), ErrorKind::Redirected);
        assert_eq!(e.status(), Some(status));
        assert!(!e.is_retryable());
        e.detail().to_string()
    }

    #[test]
    fn names_the_location_and_the_api_url_to_set() {
        let d = detail(
            301,
            Some("https://new.example.com/api/external/list/push-devices"),
        );
        assert_eq!(
            d,
            "the API answered HTTP 301 Moved Permanently, a redirect to \
             https://new.example.com/api/external/list/push-devices, which is not followed (it \
             would drop the request body or resend the apptoken there): if the API has moved, \
             set the API URL (--api-url) to https://new.example.com/api/external"
        );
    }

    #[test]
    fn a_relative_location_is_resolved_and_plain_http_is_called_out() {
        let d = detail(308, Some("/v2/list/push-devices"));
        assert!(
            d.contains("to https://old.example.com/v2/list/push-devices,"),
            "{d}"
        );
        assert!(
            d.ends_with("--api-url) to https://old.example.com/v2"),
            "{d}"
        );
        let d = detail(307, Some("http://evil.example/collect"));
        assert!(d.contains("to http://evil.example/collect"), "{d}");
        assert!(d.ends_with("(plain http: the apptoken would travel unencrypted; prefer https)"));
    }

    #[test]
    fn credentials_in_the_location_are_not_shown() {
        let d = detail(
            302,
            Some("https://user:hunter2@new.example.com/api/external/list/push-devices"),
        );
        assert!(!d.contains("hunter2") && !d.contains("user:"), "{d}");
        assert!(d.contains("(its user name and password not shown)"), "{d}");
        assert!(d.contains("set the API URL (--api-url) to https://new.example.com/api/external"));
    }

    #[test]
    fn no_location_or_an_opaque_one_still_says_what_to_check() {
        assert!(detail(300, None).contains("without a Location"));
        let opaque = HeaderValue::from_bytes(b"\xff\xfe").unwrap();
        let e = error(StatusCode::FOUND, Some(&opaque), REQUEST, API);
        assert!(e.detail().contains("not text"), "{}", e.detail());
    }
}
