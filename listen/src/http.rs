//! Serving an axum router on `Incoming`. axum's own `serve` has no deadline for request headers,
//! so a client that dribbles them one byte at a time holds its connection for ever; this is the
//! same loop on hyper's builder with that deadline set.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, Router};
use futures::StreamExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tower::ServiceExt;

use crate::Incoming;

#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// The time a client has to send a request's headers, from the moment the server waits for
    /// them (also between keep-alive requests).
    pub header_read: Duration,
}

/// Serves `app` on `incoming` until `shutdown` resolves, then stops accepting and waits for the
/// requests under way (idle keep-alive connections are closed at once).
pub async fn serve_http(
    mut incoming: Incoming,
    app: Router,
    settings: HttpSettings,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read)
        // hyper's smallest: MPNS requests are a few hundred bytes, and the buffer may
        // otherwise grow while a request in flight still holds the first (10,000 clients: 362 →
        // 322 MB in one run each; at 2,000 the heap profile showed no difference).
        .max_buf_size(8192);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            conn = incoming.next() => conn,
            _ = &mut shutdown => break,
        };
        let Some(Ok(conn)) = conn else { break };
        let peer: SocketAddr = conn.peer();
        let app =
            app.clone()
                .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                });
        let served = builder
            .serve_connection(TokioIo::new(conn), TowerToHyperService::new(app))
            .into_owned();
        let served = graceful.watch(served);
        tokio::spawn(async move {
            if let Err(e) = served.await {
                tracing::trace!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(incoming);
    graceful.shutdown().await;
}
