//! The HTTP side: own accept loop, per-request fault wrapper around an axum router, the
//! `list/<model>` handler and the error envelopes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State as AxumState};
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::Value as Json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::emulator::data::{Dataset, Record};
use crate::emulator::envelope::{ApiError, envelope, json_response, render_page};
use crate::emulator::faults::{Fault, FaultPlan, RetryAfter};
use crate::emulator::query::{Query, non_negative};
use crate::emulator::{Config, LoggedRequest};

/// Largest request body read; more gets a 413.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long a graceful shutdown waits for in-flight requests before cutting them off.
const GRACE: Duration = Duration::from_secs(1);
/// Pages up to this many rows on the fast path are answered on the runtime thread; the rest
/// (scans, sorts, huge pages) go to the blocking pool.
const INLINE_ROWS: u64 = 50_000;

/// Everything a running emulator shares between connections.
pub(crate) struct State {
    /// Readers (a page's query and rendering, snapshots) hold the read lock for one whole
    /// page, so a page always comes from one state; insertions take the write lock.
    dataset: RwLock<Dataset>,
    pub(crate) apptoken: String,
    insert_per_request: usize,
    max_limit: Option<usize>,
    latency: Duration,
    pub(crate) faults: FaultPlan,
    log: Mutex<Vec<LoggedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Generates the data set (on the blocking pool) and sets everything up.
    pub(crate) async fn build(config: Config) -> io::Result<Arc<State>> {
        let Config {
            records,
            seed,
            apptoken,
            campaigns,
            insert_per_request,
            max_limit,
            latency,
            fault_rate,
            fault_kinds,
        } = config;
        let dataset = tokio::task::spawn_blocking(move || Dataset::new(records, seed, &campaigns))
            .await
            .map_err(io::Error::other)?;
        Ok(Arc::new(State {
            dataset: RwLock::new(dataset),
            apptoken,
            insert_per_request,
            max_limit,
            latency,
            faults: FaultPlan::new(seed, fault_rate, fault_kinds),
            log: Mutex::new(Vec::new()),
        }))
    }

    /// The data set, read-locked: no insertion happens while the guard lives.
    fn dataset(&self) -> RwLockReadGuard<'_, Dataset> {
        self.dataset.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of all records, in ascending `action_id` order.
    pub(crate) fn records(&self) -> Arc<Vec<Record>> {
        self.dataset().records.clone()
    }

    /// The number of records.
    pub(crate) fn len(&self) -> usize {
        self.dataset().records.len()
    }

    /// Appends `n` new records.
    pub(crate) fn insert(&self, n: usize) {
        if n > 0 {
            self.dataset
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(n);
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        lock(&self.log).len() as u64
    }

    pub(crate) fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.log).clone()
    }

    /// Records an arriving request; returns its log index.
    fn arrive(&self, fault: Option<Fault>) -> usize {
        let mut log = lock(&self.log);
        log.push(LoggedRequest {
            offset: None,
            limit: None,
            fault,
            status: 0,
            rows: 0,
        });
        log.len() - 1
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut LoggedRequest)) {
        if let Some(entry) = lock(&self.log).get_mut(index) {
            f(entry);
        }
    }
}

/// Row count of a successful page, passed from the handler to the wrapper for the log.
#[derive(Debug, Clone, Copy)]
struct RowCount(usize);

/// Records to insert before answering, passed from the wrapper to the handler: the
/// configured number for requests without a fault, 0 for faulted ones.
#[derive(Debug, Clone, Copy)]
struct InsertRows(usize);

/// The accept loop: serves until `shutdown` completes, then stops accepting, lets open
/// connections finish for up to [`GRACE`] and drops the rest.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let router = router(state.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let state = state.clone();
                    let router = router.clone();
                    let stop_rx = stop_rx.clone();
                    conns.spawn(connection(stream, state, router, stop_rx));
                }
                Err(e) => {
                    // Per-connection errors (aborted handshakes) and resource exhaustion
                    // must not end the server.
                    tracing::warn!(error = %e, "emulator: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(GRACE, async { while conns.join_next().await.is_some() {} }).await;
    conns.shutdown().await;
    Ok(())
}

async fn connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    router: Router,
    mut stop_rx: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        handle(state.clone(), router.clone(), req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "emulator: connection ended with an error");
            }
        }
        () = async { let _ = stop_rx.wait_for(|stop| *stop).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The per-request wrapper: counts and logs the request, decides its fault, applies
/// latency, and either answers the fault itself or routes to the axum router.
async fn handle(
    state: Arc<State>,
    router: Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, io::Error> {
    let fault = state.faults.next();
    let index = state.arrive(fault.clone());
    let (mut parts, body) = req.into_parts();
    let insert = if fault.is_none() {
        state.insert_per_request
    } else {
        0
    };
    parts.extensions.insert(InsertRows(insert));
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Some(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => None,
        Err(e) => {
            // The client went away mid-body: nothing to answer.
            return Err(io::Error::other(e));
        }
    };
    if let Some(bytes) = &body
        && let Ok(Json::Object(obj)) = serde_json::from_slice::<Json>(bytes)
    {
        let offset = non_negative(&obj, "offset").ok().flatten();
        let limit = non_negative(&obj, "limit").ok().flatten();
        state.update(index, |e| {
            e.offset = offset;
            e.limit = limit;
        });
    }
    if !state.latency.is_zero() {
        tokio::time::sleep(state.latency).await;
    }
    let route = |body: Option<Bytes>| async move {
        let Some(body) = body else {
            return envelope(&ApiError::new(
                413,
                format!("Request body larger than {MAX_BODY} bytes"),
            ));
        };
        let req = Request::from_parts(parts, Body::from(body));
        match router.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        }
    };
    let response = match fault {
        Some(Fault::Reset) => {
            // hyper closes the connection without writing anything when the service fails.
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "emulator: injected reset",
            ));
        }
        Some(Fault::Stall(d)) => {
            tokio::time::sleep(d).await;
            route(body).await
        }
        Some(Fault::Truncated) => truncate(route(body).await).await,
        Some(other) => fault_response(&other),
        None => route(body).await,
    };
    let status = response.status().as_u16();
    let rows = response.extensions().get::<RowCount>().map_or(0, |r| r.0);
    state.update(index, |e| {
        e.status = status;
        e.rows = rows;
    });
    Ok(response)
}

fn router(state: Arc<State>) -> Router {
    Router::new()
        .route(
            "/api/external/list/{model}",
            post(list).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> Response<Body> {
    envelope(&ApiError::new(
        404,
        format!("Unknown endpoint '{}'", uri.path()),
    ))
}

async fn method_not_allowed(method: axum::http::Method) -> Response<Body> {
    let mut resp = envelope(&ApiError::new(
        405,
        format!("Method {method} not allowed, use POST"),
    ));
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    resp
}

async fn list(
    AxumState(state): AxumState<Arc<State>>,
    model: Result<Path<String>, axum::extract::rejection::PathRejection>,
    insert: Option<Extension<InsertRows>>,
    body: Bytes,
) -> Response<Body> {
    let model = match model {
        Ok(Path(m)) => m,
        Err(e) => return envelope(&ApiError::new(404, format!("Bad model in path: {e}"))),
    };
    let insert = insert.map_or(0, |Extension(InsertRows(n))| n);
    match answer(state, &model, &body, insert).await {
        Ok(resp) => resp,
        Err(e) => envelope(&e),
    }
}

/// Checks and runs one list request. Only a request that gets a page inserts: `insert` new
/// records are appended after all checks passed and before the page is computed.
async fn answer(
    state: Arc<State>,
    model: &str,
    body: &[u8],
    insert: usize,
) -> Result<Response<Body>, ApiError> {
    let value: Json = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad("body", format!("Request body is not valid JSON: {e}")))?;
    let Json::Object(obj) = value else {
        return Err(ApiError::bad("body", "Request body must be a JSON object"));
    };
    match obj.get("apptoken") {
        None | Some(Json::Null) => return Err(ApiError::new(400, "apptoken is required")),
        Some(Json::String(t)) if t.is_empty() => {
            return Err(ApiError::new(400, "apptoken is required"));
        }
        Some(Json::String(t)) if *t == state.apptoken => {}
        Some(_) => return Err(ApiError::new(401, "Authentication failed")),
    }
    if model != "push-devices" {
        return Err(ApiError::new(404, format!("Unknown model '{model}'")));
    }
    let query = Query::parse(&obj)?;
    let cheap = query.is_cheap(state.max_limit, INLINE_ROWS) && insert as u64 <= INLINE_ROWS;
    let work = move || {
        state.insert(insert);
        // One read guard for query and rendering: no torn page.
        let dataset = state.dataset();
        let rows = query.run(&dataset, state.max_limit);
        let bytes = render_page(&dataset, &rows, query.select.as_deref());
        (rows.len(), bytes)
    };
    let (rows, bytes) = if cheap {
        work()
    } else {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ApiError::new(500, format!("Query failed: {e}")))?
    };
    let mut resp = json_response(StatusCode::OK, Bytes::from(bytes));
    resp.extensions_mut().insert(RowCount(rows));
    Ok(resp)
}

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

fn with_retry_after(mut resp: Response<Body>, ra: Option<&RetryAfter>) -> Response<Body> {
    if let Some(ra) = ra
        && let Ok(v) = HeaderValue::from_str(&ra.header_value())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The answer of a fault that does not need the real page.
fn fault_response(fault: &Fault) -> Response<Body> {
    match fault {
        Fault::InternalError => envelope(&ApiError::new(500, status_message(500))),
        Fault::BadGatewayHtml => {
            let mut resp = Response::new(Body::from(BAD_GATEWAY_HTML));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            resp
        }
        Fault::Unavailable(ra) => {
            with_retry_after(envelope(&ApiError::new(503, status_message(503))), ra.as_ref())
        }
        Fault::RateLimited(ra) => {
            with_retry_after(envelope(&ApiError::new(429, status_message(429))), ra.as_ref())
        }
        Fault::EnvelopeFailure => json_response(
            StatusCode::OK,
            Bytes::from_static(
                br#"{"code":500,"success":false,"message":"Internal error, please try again later"}"#,
            ),
        ),
        Fault::Status(code) => envelope(&ApiError::new(*code, status_message(*code))),
        // Handled by the wrapper; answering normally is the safe fallback.
        Fault::Reset | Fault::Truncated | Fault::Stall(_) => {
            envelope(&ApiError::new(500, status_message(500)))
        }
    }
}

/// Keeps status and headers, announces the full length, sends half the body, then fails.
async fn truncate(resp: Response<Body>) -> Response<Body> {
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
