//! One HTTP/2 connection to one origin, opened by the first request that needs it and again
//! by the first request after it is lost; its driver task answers the server and pings it.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use h2::client::SendRequest;
use http::{HeaderMap, Request, StatusCode};

use crate::connect::{Io, Proxy, Route};

/// How one origin is reached.
#[derive(Clone)]
pub struct Settings {
    /// `https://host[:port]`; only the scheme and authority are used.
    pub origin: http::Uri,
    /// From `client_config`.
    pub tls: Arc<rustls::ClientConfig>,
    /// Tunnel through this proxy, or connect directly.
    pub proxy: Option<Proxy>,
    /// Budget for TCP, the tunnel, TLS and the HTTP/2 handshake together.
    pub connect_timeout: Duration,
    /// A PING goes out this often; a connection whose answer takes longer is closed, so that
    /// a path that died silently is found by a ping rather than by a push.
    pub keep_alive: Duration,
    /// The most of an answer's body kept: a balancer's HTML page must not fill memory.
    pub max_answer: usize,
    /// Called for each connection opened (a metric).
    pub on_open: Arc<dyn Fn() + Send + Sync>,
}

/// A provider's answer: status, headers and at most `max_answer` bytes of body.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Error {
    /// No connection (TCP, proxy, TLS or the HTTP/2 handshake): the request was not sent.
    Connect(String),
    /// The time ran out, connecting or waiting for the answer.
    Timeout,
    /// The server refused the stream before processing it (`REFUSED_STREAM`, RFC 9113 section
    /// 8.7; a server does so past its stream limit or while it shuts down): the request did not
    /// arrive, and may be sent again at once, as Go's HTTP/2 transport does.
    Refused,
    /// The stream or the connection failed; the request may have reached the server.
    Http2(h2::Error),
}

impl From<h2::Error> for Error {
    fn from(e: h2::Error) -> Error {
        if e.is_remote() && e.reason() == Some(h2::Reason::REFUSED_STREAM) {
            Error::Refused
        } else {
            Error::Http2(e)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(why) => write!(f, "cannot connect: {why}"),
            Error::Timeout => f.write_str("timed out"),
            Error::Refused => f.write_str("HTTP/2: the server refused the stream unread"),
            Error::Http2(e) => write!(f, "HTTP/2: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// One connection; cheap to share between tasks.
pub struct Connection {
    shared: Arc<Shared>,
}

struct Shared {
    route: Route,
    connect_timeout: Duration,
    keep_alive: Duration,
    max_answer: usize,
    on_open: Arc<dyn Fn() + Send + Sync>,
    /// The open connection, if any: a handle to send on, and which opening it was.
    live: Mutex<Option<(u64, SendRequest<Bytes>)>>,
    /// Held while opening, so that a burst opens one connection; holds the last failure,
    /// which callers that waited through it take as theirs instead of trying again at once.
    opening: tokio::sync::Mutex<Option<(Instant, String)>>,
    openings: AtomicU64,
}

impl Connection {
    /// Checks the settings; connects on the first `send`.
    pub fn new(settings: Settings) -> Result<Connection, String> {
        if settings.origin.scheme_str() != Some("https") {
            return Err("the endpoint must be https://".into());
        }
        let authority = settings
            .origin
            .authority()
            .cloned()
            .ok_or("the endpoint has no host")?;
        Ok(Connection {
            shared: Arc::new(Shared {
                route: Route::new(&authority, settings.tls, settings.proxy)?,
                connect_timeout: settings.connect_timeout,
                keep_alive: settings.keep_alive,
                max_answer: settings.max_answer,
                on_open: settings.on_open,
                live: Mutex::new(None),
                opening: tokio::sync::Mutex::new(None),
                openings: AtomicU64::new(0),
            }),
        })
    }

    /// How many streams the server lets this connection have open, once it is open and has
    /// said so (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub fn max_streams(&self) -> Option<usize> {
        let live = self.shared.live.lock().unwrap_or_else(|e| e.into_inner());
        live.as_ref()
            .map(|(_, sender)| sender.current_max_send_streams())
            .filter(|max| *max != usize::MAX)
    }

    /// Sends `request` with `body` and reads the answer, all within `timeout`. A connection
    /// found dead before the request went out is replaced and the request sent on the new one.
    ///
    /// Not an `async fn`: one would keep a second copy of the request for the whole exchange.
    pub fn send(
        &self,
        request: Request<()>,
        body: Bytes,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Answer, Error>> + Send + '_ {
        // A combinator, not an async block awaiting it: that would hold the future twice.
        futures::FutureExt::map(
            tokio::time::timeout(timeout, self.exchange(request, body)),
            |answer| answer.unwrap_or(Err(Error::Timeout)),
        )
    }

    async fn exchange(&self, request: Request<()>, body: Bytes) -> Result<Answer, Error> {
        let mut replaced = false;
        let mut sender = loop {
            let (opening, sender) = self.sender().await?;
            match sender.ready().await {
                Ok(sender) => break sender,
                // Lost since it was last used (GOAWAY, reset): nothing was sent yet.
                Err(e) if !replaced => {
                    tracing::debug!(error = %e, "HTTP/2 connection lost; opening another");
                    self.shared.forget(opening);
                    replaced = true;
                }
                Err(e) => return Err(Error::Http2(e)),
            }
        };
        let (answer, mut stream) = sender.send_request(request, body.is_empty())?;
        if !body.is_empty() {
            // h2 holds it until the flow-control window lets it out (pushes are a few KB).
            stream.send_data(body, true)?;
        }
        let (parts, mut incoming) = answer.await?.into_parts();
        let mut body = Vec::new();
        // A body lost after the status arrived is kept as far as it came: the status is the
        // provider's answer. Reading to the end matters: a stream dropped unread is reset.
        while let Some(Ok(chunk)) = incoming.data().await {
            let _ = incoming.flow_control().release_capacity(chunk.len());
            let room = self.shared.max_answer - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The open connection, or a new one.
    async fn sender(&self) -> Result<(u64, SendRequest<Bytes>), Error> {
        if let Some(live) = self.shared.current() {
            return Ok(live);
        }
        let asked = Instant::now();
        let mut last_failure = self.shared.opening.lock().await;
        if let Some(live) = self.shared.current() {
            return Ok(live);
        }
        if let Some((when, why)) = &*last_failure {
            if *when >= asked {
                return Err(Error::Connect(why.clone()));
            }
        }
        // Boxed: connecting (TCP, tunnel, TLS) is a 2.7 KB future, and inline it would make
        // every push's future that much larger, while few pushes ever connect.
        let opening = Box::pin(self.shared.open());
        let opened = tokio::time::timeout(self.shared.connect_timeout, opening).await;
        match opened {
            Ok(Ok((sender, connection))) => {
                *last_failure = None;
                let opening = self.shared.openings.fetch_add(1, Ordering::Relaxed) + 1;
                let live = (opening, sender);
                *self.shared.live.lock().unwrap_or_else(|e| e.into_inner()) = Some(live.clone());
                tokio::spawn(drive(
                    connection,
                    Arc::downgrade(&self.shared),
                    opening,
                    self.shared.keep_alive,
                ));
                Ok(live)
            }
            Ok(Err(why)) => {
                *last_failure = Some((Instant::now(), why.clone()));
                Err(Error::Connect(why))
            }
            Err(_) => {
                *last_failure = Some((Instant::now(), "timed out".into()));
                Err(Error::Timeout)
            }
        }
    }
}

impl Shared {
    fn current(&self) -> Option<(u64, SendRequest<Bytes>)> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Drops the handle of opening `opening`, unless a newer connection replaced it already.
    fn forget(&self, opening: u64) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.as_ref().is_some_and(|(o, _)| *o == opening) {
            *live = None;
        }
    }

    async fn open(
        &self,
    ) -> Result<(SendRequest<Bytes>, h2::client::Connection<Io, Bytes>), String> {
        let io = self.route.open().await?;
        let opened = h2::client::Builder::new()
            .enable_push(false)
            .handshake(io)
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        (self.on_open)();
        Ok(opened)
    }
}

/// Runs the connection until it ends or stops answering PINGs, then forgets it so that the
/// next request opens another. Dropping every `Connection` closes it (h2 says GOAWAY once no
/// handle is left).
async fn drive(
    mut connection: h2::client::Connection<Io, Bytes>,
    shared: Weak<Shared>,
    opening: u64,
    keep_alive: Duration,
) {
    let mut pings = connection.ping_pong().expect("taken once, here");
    let pinging = async move {
        loop {
            tokio::time::sleep(keep_alive).await;
            let pong = tokio::time::timeout(keep_alive, pings.ping(h2::Ping::opaque())).await;
            if !matches!(pong, Ok(Ok(_))) {
                return;
            }
        }
    };
    tokio::select! {
        ended = connection => {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "HTTP/2 connection ended");
            }
        }
        () = pinging => tracing::debug!("no answer to a PING: closing the HTTP/2 connection"),
    }
    if let Some(shared) = shared.upgrade() {
        shared.forget(opening);
    }
}
