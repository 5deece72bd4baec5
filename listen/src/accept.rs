//! The accept loop and the connections it yields.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{mpsc, OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// A TLS handshake that takes longer than this is dropped: a client that opens a connection and
/// says nothing must not hold a slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Waits after a failed `accept`, doubling from the first to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Open connections allowed across every listener that shares it (one per connection, held
/// until it closes).
#[derive(Clone)]
pub struct Slots(Arc<Semaphore>);

impl Slots {
    pub fn new(max_connections: usize) -> Self {
        Slots(Arc::new(Semaphore::new(max_connections.max(1))))
    }

    /// Connections that could still be opened.
    pub fn free(&self) -> usize {
        self.0.available_permits()
    }
}

/// How one listener treats its connections.
#[derive(Clone, Default)]
pub struct Settings {
    /// TLS for every connection, or plain TCP.
    pub tls: Option<TlsAcceptor>,
    /// A connection that sends nothing for this long is closed (an idle keep-alive connection,
    /// a stalled body). `None` for protocols with long quiet streams (gRPC relies on pings).
    pub read_idle: Option<Duration>,
    /// A write that cannot progress for this long (a peer that stopped reading) closes the
    /// connection.
    pub write_stall: Option<Duration>,
}

/// Accepted connections of one listener: a stream for tonic, a `Listener` for axum.
pub struct Incoming {
    ready: mpsc::Receiver<Conn>,
    local: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        // Stops accepting; connections already yielded live on.
        self.accept_loop.abort();
    }
}

impl Incoming {
    pub fn new(listener: TcpListener, slots: Slots, settings: Settings) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let accept_loop = tokio::spawn(accept_loop(listener, slots, settings, tx));
        Ok(Incoming {
            ready,
            local,
            accept_loop,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

async fn accept_loop(
    listener: TcpListener,
    slots: Slots,
    settings: Settings,
    tx: mpsc::Sender<Conn>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        // At the cap, new clients wait in the kernel's backlog, costing nothing here. A free
        // slot is awaited but not held while `accept` waits, or every listener would keep one.
        match slots.0.acquire().await {
            Ok(free) => drop(free),
            Err(_) => return,
        }
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = FIRST_BACKOFF;
                accepted
            }
            Err(e) => {
                // EMFILE/ENFILE/ENOBUFS: the same error comes back at once until something
                // closes; connection-level errors (ECONNABORTED) are harmless. Either way wait.
                tracing::warn!(error = %e, wait = ?backoff, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        // Another listener may have taken the last slot meanwhile: this one connection waits.
        let Ok(slot) = slots.0.clone().acquire_owned().await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().ok();
        let (settings, tx) = (settings.clone(), tx.clone());
        // Handshakes run beside the loop, so one slow client cannot hold up the others.
        tokio::spawn(async move {
            let io = match &settings.tls {
                None => Io::Plain(tcp),
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => Io::Tls(Box::new(tls)),
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake refused");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            let mut io = TimeoutStream::new(io);
            io.set_read_timeout(settings.read_idle);
            io.set_write_timeout(settings.write_stall);
            let _ = tx
                .send(Conn {
                    io: Box::pin(io),
                    local,
                    peer,
                    _slot: slot,
                })
                .await;
        });
    }
}

/// One accepted connection; its slot is free again when it is dropped.
pub struct Conn {
    io: Pin<Box<TimeoutStream<Io>>>,
    local: Option<SocketAddr>,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
}

impl Conn {
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.local,
            remote_addr: Some(self.peer),
        }
    }
}

impl futures::Stream for Incoming {
    type Item = io::Result<Conn>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.ready.poll_recv(cx).map(|conn| conn.map(Ok))
    }
}
