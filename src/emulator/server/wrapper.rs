//! The per-request wrapper around the router: logs the request, decides its fault, applies
//! latency, and either answers the fault itself or routes the request.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::Value as Json;
use tower::ServiceExt;

use crate::emulator::envelope::{ApiError, envelope};
use crate::emulator::faults::Fault;
use crate::emulator::query::non_negative;
use crate::emulator::server::fault_response::{fault_response, truncate};
use crate::emulator::server::routes::{InsertRows, RowCount};
use crate::emulator::server::state::State;

/// Largest request body read; more gets a 413.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The per-request wrapper: counts and logs the request, decides its fault, applies
/// latency, and either answers the fault itself or routes to the axum router.
pub(super) async fn handle(
    state: Arc<State>,
    router: Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, io::Error> {
    let fault = state.faults.next();
    let index = state.log.arrive(fault.clone());
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
        state.log.update(index, |e| {
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
    state.log.update(index, |e| {
        e.status = status;
        e.rows = rows;
    });
    Ok(response)
}
