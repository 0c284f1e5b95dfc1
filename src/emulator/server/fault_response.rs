//! What a faulted request gets: error statuses with their envelopes, the nginx-style HTML
//! page, `Retry-After`, the HTTP-200 failure envelope, and the body cut off mid-way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};

use crate::emulator::envelope::{ApiError, envelope, json_response};
use crate::emulator::faults::{Fault, RetryAfter};

const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

fn status_message(code: u16) -> String {
    match code {
        400 => "Bad request".into(),
        401 => "Authentication failed".into(),
        403 => "Access not authorised".into(),
        404 => "Not found".into(),
        405 => "Method not allowed".into(),
        410 => "This endpoint has been turned off".into(),
        429 => "Rate limit exceeded".into(),
        500 => "Internal server error".into(),
        502 => "Bad gateway".into(),
        503 => "Service temporarily unavailable".into(),
        other => format!("Error {other}"),
    }
}

/// The error envelope of a bare status: its code and usual message.
fn status_envelope(code: u16) -> Response<Body> {
    envelope(&ApiError::new(code, status_message(code)))
}

fn with_retry_after(mut resp: Response<Body>, ra: Option<&RetryAfter>) -> Response<Body> {
    if let Some(ra) = ra
        && let Ok(v) = HeaderValue::from_str(&ra.header_value())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The answer of a fault that does not need the real page.
pub(super) fn fault_response(fault: &Fault) -> Response<Body> {
    match fault {
        Fault::InternalError => status_envelope(500),
        Fault::BadGatewayHtml => {
            let mut resp = Response::new(Body::from(BAD_GATEWAY_HTML));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            resp
        }
        Fault::Unavailable(ra) => {
            with_retry_after(status_envelope(503), ra.as_ref())
        }
        Fault::RateLimited(ra) => {
            with_retry_after(status_envelope(429), ra.as_ref())
        }
        Fault::EnvelopeFailure => json_response(
            StatusCode::OK,
            Bytes::from_static(
                br#"{"code":500,"success":false,"message":"Internal error, please try again later"}"#,
            ),
        ),
        Fault::Status(code) => status_envelope(*code),
        // Handled by the wrapper; answering normally is the safe fallback.
        Fault::Reset | Fault::Truncated | Fault::Stall(_) => {
            status_envelope(500)
        }
    }
}

/// Keeps status and headers, announces the full length, sends half the body, then fails.
pub(super) async fn truncate(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let full = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    let half = full.slice(..full.len() / 2);
    let body = TruncatedBody {
        first: Some(half),
        full_len: full.len() as u64,
        pause: None,
    };
    Response::from_parts(parts, Body::new(body))
}

/// A body that claims `full_len` bytes, yields `first`, waits a moment (so that hyper
/// flushes head and first half to the socket), then errors.
struct TruncatedBody {
    first: Option<Bytes>,
    full_len: u64,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl hyper::body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(b) = self.first.take() {
            self.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(5))));
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "emulator: injected truncation",
        ))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.full_len)
    }
}
