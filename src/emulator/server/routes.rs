//! The axum router: the `list/<model>` handler (apptoken, model, query, page) and the
//! answers to unknown paths and methods.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use serde_json::Value as Json;

use crate::emulator::envelope::{ApiError, envelope, json_response, render_page};
use crate::emulator::query::Query;
use crate::emulator::server::state::State;

/// Pages up to this many rows on the fast path are answered on the runtime thread; the rest
/// (scans, sorts, huge pages) go to the blocking pool.
const INLINE_ROWS: u64 = 50_000;

/// Row count of a successful page, passed from the handler to the wrapper for the log.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowCount(pub(super) usize);

/// Records to insert before answering, passed from the wrapper to the handler: the
/// configured number for requests without a fault, 0 for faulted ones.
#[derive(Debug, Clone, Copy)]
pub(super) struct InsertRows(pub(super) usize);

pub(super) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route(
            "/api/external/list/{model}",
            post(list).fallback(method_not_allowed),
        )
        .route("/api/oauth/token", post(token).fallback(method_not_allowed))
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

async fn token(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    state.oauth.answer(&headers, &body)
}

async fn list(
    AxumState(state): AxumState<Arc<State>>,
    model: Result<Path<String>, axum::extract::rejection::PathRejection>,
    insert: Option<Extension<InsertRows>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let model = match model {
        Ok(Path(m)) => m,
        Err(e) => return envelope(&ApiError::new(404, format!("Bad model in path: {e}"))),
    };
    let insert = insert.map_or(0, |Extension(InsertRows(n))| n);
    let bearer = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_owned());
    match answer(state, &model, &body, bearer.as_deref(), insert).await {
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
    authorization: Option<&str>,
    insert: usize,
) -> Result<Response<Body>, ApiError> {
    let value: Json = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad("body", format!("Request body is not valid JSON: {e}")))?;
    let Json::Object(obj) = value else {
        return Err(ApiError::bad("body", "Request body must be a JSON object"));
    };
    match (authorization, obj.get("apptoken")) {
        (Some(auth), _) => {
            let token = auth.strip_prefix("Bearer ").unwrap_or("");
            if !state.oauth.accepts(token) {
                return Err(ApiError::new(401, "Invalid or expired access token"));
            }
        }
        (None, None | Some(Json::Null)) => {
            return Err(ApiError::new(400, "apptoken is required"));
        }
        (None, Some(Json::String(t))) if t.is_empty() => {
            return Err(ApiError::new(400, "apptoken is required"));
        }
        (None, Some(Json::String(t))) if *t == state.apptoken => {}
        (None, Some(_)) => return Err(ApiError::new(401, "Authentication failed")),
    }
    if model != "push-devices" {
        return Err(ApiError::new(404, format!("Unknown model '{model}'")));
    }
    let query = Query::parse(&obj)?;
    let cheap = query.is_cheap(state.max_limit, INLINE_ROWS) && insert as u64 <= INLINE_ROWS;
    let work = move || {
        state.insert(insert);
        // The rows come from one state of the data set: no torn page.
        let rows = query.run(&state.dataset(), state.max_limit);
        let bytes = render_page(&rows, query.select.as_deref());
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
