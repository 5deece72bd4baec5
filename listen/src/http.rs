//! Serving an axum router on `Incoming`: HTTP/1.1 on our own small-buffer connections
//! (`http1.rs` says why), HTTP/2 (prior knowledge, or TLS with ALPN `h2`) on hyper's. axum's own
//! `serve` has no deadline for request headers, so a client that dribbles them one byte at a
//! time would hold its connection for ever.

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, Router};
use futures::StreamExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::{
    http1::{self, Ended, Rewind},
    Conn, Incoming,
};

#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    /// The time a client has to send a request's headers: from the moment the connection opens
    /// for the first request, from a request's first byte for later ones (until then an idle
    /// keep-alive connection is the idle timeout's).
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
    // Every connection holds a receiver: when they are all gone, the last request is answered.
    let (stop, _) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let conn = tokio::select! {
            conn = incoming.next() => conn,
            _ = &mut shutdown => break,
        };
        let Some(Ok(conn)) = conn else { break };
        let peer: SocketAddr = conn.peer();
        let (app, mut stopping) = (app.clone(), stop.subscribe());
        tokio::spawn(async move {
            let ended = http1::serve(conn, peer, &app, settings.header_read, &mut stopping);
            if let Ended::Http2(conn) = ended.await {
                // Boxed: hyper's connection is large, and most connections never need it.
                Box::pin(serve_http2(conn, peer, app, stopping)).await;
            }
        });
    }
    drop(incoming);
    stop.send_replace(true);
    stop.closed().await;
}

async fn serve_http2(
    conn: Rewind<Conn>,
    peer: SocketAddr,
    app: Router,
    mut stopping: watch::Receiver<bool>,
) {
    let app = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.map(axum::body::Body::new)
    });
    let served = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(conn), TowerToHyperService::new(app));
    let mut served = std::pin::pin!(served);
    let stopped = async {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let ended = tokio::select! {
        ended = served.as_mut() => ended,
        () = stopped => {
            // GOAWAY: streams under way finish, no new ones start.
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = ended {
        tracing::trace!(error = %e, "HTTP/2 connection ended with an error");
    }
}
