//! A mock APNs: HTTP/2 over TLS (ALPN h2, a certificate made at start-up by rcgen) that records
//! every request and answers as a test scripts it. Optionally requires a client certificate.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::{body::Incoming, service::service_fn, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{
    mock_tls::{mock_tls, MockTls},
    recorder::Recorder,
};

pub use crate::recorder::Recorded;
pub use crate::reply::Reply;

impl Reply {
    /// An APNs error answer `{"reason":…}`.
    pub fn reason(status: u16, reason: &str) -> Self {
        Reply::status(status, &format!(r#"{{"reason":"{reason}"}}"#))
    }
}

/// APNs names every answer.
const APNS_ID: &str = "11111111-2222-3333-4444-555555555555";

pub struct MockApns {
    pub addr: SocketAddr,
    /// The PEM of the mock's self-signed certificate: the CA file a client must trust.
    pub ca_pem: String,
    state: Arc<Recorder>,
    /// Bumped to have every open connection say GOAWAY and close, as APNs does at times.
    goaway: tokio::sync::watch::Sender<u64>,
    /// Streams still to be reset with `REFUSED_STREAM`, unread and unrecorded.
    refusing: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockApns {
    /// A mock that answers 200 to everything.
    pub async fn start() -> Self {
        Self::start_tls(None, 1000).await
    }

    /// A mock that lets each connection carry at most `streams` requests at once (APNs
    /// advertises its limit the same way, in its HTTP/2 settings).
    pub async fn start_with_streams(streams: u32) -> Self {
        Self::start_tls(None, streams).await
    }

    /// A mock that only accepts clients presenting a certificate signed by `client_ca_pem`.
    pub async fn start_requiring_client_cert(client_ca_pem: &str) -> Self {
        Self::start_tls(Some(client_ca_pem), 1000).await
    }

    async fn start_tls(client_ca_pem: Option<&str>, streams: u32) -> Self {
        let names = [
            "127.0.0.1",
            "localhost",
            "api.push.apple.com",
            "api.sandbox.push.apple.com",
        ];
        let MockTls { acceptor, ca_pem } = mock_tls(&names, &[b"h2"], client_ca_pem);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Recorder::default());
        let (goaway, _) = tokio::sync::watch::channel(0);
        let refusing = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            (state.clone(), refusing.clone()),
            streams,
            goaway.clone(),
        ));
        MockApns {
            addr,
            ca_pem,
            state,
            goaway,
            refusing,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Scripts the answers: called with each request and its 0-based number.
    pub fn reply_with(&self, f: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) {
        self.state.reply_with(f);
    }

    /// Stops keeping requests (they are still answered and counted by the caller).
    pub fn stop_recording(&self) {
        self.state.stop_recording();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests()
    }

    /// Pushes received so far, also while not recording.
    pub fn received(&self) -> usize {
        self.state.received()
    }

    /// TLS connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections()
    }

    /// TLS connections open now.
    pub fn open_connections(&self) -> usize {
        self.state.open_connections()
    }

    /// The next `n` streams are reset with `REFUSED_STREAM` before they are read, as a server
    /// past its stream limit does: not processed, so not recorded.
    pub fn refuse_streams(&self, n: usize) {
        self.refusing.store(n, Ordering::SeqCst);
    }

    /// Streams still to be refused.
    pub fn streams_to_refuse(&self) -> usize {
        self.refusing.load(Ordering::SeqCst)
    }

    /// Every open connection says GOAWAY and closes once its requests are answered.
    pub fn close_connections(&self) {
        self.goaway.send_modify(|n| *n += 1);
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    (state, refusing): (Arc<Recorder>, Arc<AtomicUsize>),
    streams: u32,
    goaway: tokio::sync::watch::Sender<u64>,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let (state, refusing) = (state.clone(), refusing.clone());
        let mut goaway = goaway.subscribe();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            state.connected();
            let closing = state.clone();
            let service = service_fn(move |req| handle(req, state.clone(), refusing.clone()));
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .max_concurrent_streams(streams)
                .serve_connection(TokioIo::new(tls), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = goaway.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            closing.disconnected();
        });
    }
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Recorder>,
    refusing: Arc<AtomicUsize>,
) -> Result<
    Response<BoxBody<Bytes, std::convert::Infallible>>,
    Box<dyn std::error::Error + Send + Sync>,
> {
    let refuse = refusing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if refuse {
        // hyper resets the stream with the h2 reason its service's error carries.
        return Err(h2::Error::from(h2::Reason::REFUSED_STREAM).into());
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let reply = state.take(recorded);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    if !reply.headers.iter().any(|(name, _)| *name == "apns-id") {
        response = response.header("apns-id", APNS_ID);
    }
    for (name, value) in &reply.headers {
        response = response.header(*name, value);
    }
    // A late body is streamed; the rest go in one piece, as APNs sends them.
    let body = if reply.body_delay.is_zero() {
        BoxBody::new(Full::new(Bytes::from(reply.body)))
    } else {
        let stream = reply
            .body_stream(reply.body.clone())
            .map(|chunk| chunk.map(hyper::body::Frame::data));
        BoxBody::new(StreamBody::new(stream))
    };
    Ok(response.body(body).unwrap())
}
