//! The HTTP side: our own accept loop and connections, with graceful shutdown. Each request
//! goes through the fault wrapper to the axum router; state, request log, routes and fault
//! answers have files of their own.

mod fault_response;
mod log;
mod oauth;
mod routes;
mod state;
mod wrapper;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use log::LoggedRequest;
pub(crate) use state::State;

/// How long a graceful shutdown waits for in-flight requests before cutting them off.
const GRACE: Duration = Duration::from_secs(1);

/// The accept loop: serves until `shutdown` completes, then stops accepting, lets open
/// connections finish for up to [`GRACE`] and drops the rest.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let router = routes::router(state.clone());
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

/// Serves one connection; once `stop_rx` turns true, lets its request in flight finish and
/// closes it.
async fn connection(
    stream: tokio::net::TcpStream,
    state: Arc<State>,
    router: Router,
    mut stop_rx: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        wrapper::handle(state.clone(), router.clone(), req)
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
