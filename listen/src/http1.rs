//! HTTP/1.1 connections, with buffers that start empty and are freed between requests.
//!
//! Why not hyper's: its HTTP/1 connection holds an 8 KB write buffer from the start and a read
//! buffer of at least 8 KB for its whole life, 16.7 KB of the ~29 KB each of 10,000 concurrent
//! MPNS clients cost (heaptrack, BENCHMARKS.md). A Mattermost push is a few hundred bytes and its
//! answer fewer: here the read buffer grows from nothing to what a request needs, an answer is
//! written from one buffer sized to it, and both are freed while a connection waits. Requests
//! and chunk sizes are parsed by httparse, hyper's own parser.
//!
//! What it is: one request at a time per connection (pipelined requests wait in the buffer),
//! bodies streamed to the handler as they arrive (`Content-Length` or chunked), `Expect:
//! 100-continue`, keep-alive (HTTP/1.0 when asked), a deadline for request headers, and a
//! connection that sees HTTP/2's preface handed back for hyper to serve. What it is not:
//! upgrades, request trailers (read and dropped), streamed answers (an answer is collected
//! before it is written; the API's are small).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, Router};
use bytes::{Buf, Bytes, BytesMut};
use http::{
    header, request, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode,
    Uri, Version,
};
use http_body_util::BodyExt;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::{mpsc, watch},
    time::Instant,
};
use tower::{util::Oneshot, ServiceExt};

/// A request head longer than this is refused (431), as hyper refused it with the 8 KB buffer
/// cap it had here.
const MAX_HEAD: usize = 8192;
/// Headers a request may carry (hyper's default).
const MAX_HEADERS: usize = 100;
/// What one read asks for: a whole Mattermost push in one go, usually.
const READ_SIZE: usize = 1024;
/// A chunk-size line or a trailer line longer than this is not one.
const MAX_LINE: usize = 1024;
/// What HTTP/2 prior knowledge (and TLS with ALPN `h2`) starts with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How a connection ended.
pub(crate) enum Ended<T> {
    Closed,
    /// The client speaks HTTP/2: the connection, with what was already read from it.
    Http2(Rewind<T>),
}

/// Serves requests on `io` until the client closes, a request breaks the protocol, or `stop`
/// turns true (the request under way, if any, is answered first, with `connection: close`).
///
/// Not an `async fn`: one would keep a second copy of its arguments in its state. The state is
/// what every connection costs while its push is in flight, so what is short-lived (reading a
/// head, writing an answer) is boxed and the request is built outside it.
#[allow(clippy::manual_async_fn)] // on purpose, as said above
pub(crate) fn serve<'a, T>(
    mut io: T,
    peer: SocketAddr,
    app: &'a Router,
    header_read: Duration,
    stop: &'a mut watch::Receiver<bool>,
) -> impl std::future::Future<Output = Ended<T>> + 'a
where
    T: AsyncRead + AsyncWrite + Unpin + 'a,
{
    async move {
        let mut buf = BytesMut::new();
        let mut first = true;
        loop {
            let reading = read_head(&mut io, &mut buf, header_read, first, stop);
            let head = match Box::pin(reading).await {
                Read::Head(head) => head,
                Read::Http2 => return Ended::Http2(Rewind::new(buf.freeze(), io)),
                Read::Closed => return Ended::Closed,
            };
            first = false;
            let mut exchange = Exchange::start(head, &mut buf, peer, app);
            if exchange.continue_first
                // The client waits for this before it sends the body.
                && io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err()
            {
                return Ended::Closed;
            }
            let response = exchange.answer(&mut io, &mut buf).await;
            // A body left half read leaves the connection at an unknown point of the stream; a
            // handler that answers `connection: close` is taken at its word.
            let closing = response
                .headers()
                .get(header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            let keep_alive =
                exchange.keep_alive && exchange.framing.is_done() && !closing && !*stop.borrow();
            let (version, is_head) = (exchange.version, exchange.is_head);
            drop(exchange);
            let writing = write_response(&mut io, response, version, is_head, keep_alive);
            if Box::pin(writing).await.is_err() || !keep_alive {
                let _ = io.shutdown().await;
                return Ended::Closed;
            }
        }
    }
}

/// One request on its way through the router, and its body still on the wire.
struct Exchange {
    answer: Oneshot<Router, Request<Body>>,
    framing: Framing,
    /// Where the rest of the body goes, until it is all there or the handler drops it.
    feed: Option<Feed>,
    continue_first: bool,
    keep_alive: bool,
    is_head: bool,
    version: Version,
}

impl Exchange {
    fn start(head: Head, buf: &mut BytesMut, peer: SocketAddr, app: &Router) -> Exchange {
        let Head {
            parts,
            mut framing,
            continue_first,
            keep_alive,
        } = head;
        let (is_head, version) = (parts.method == Method::HEAD, parts.version);
        let continue_first = continue_first && !framing.is_done() && buf.is_empty();
        let (body, feed) = body_for(buf, &mut framing);
        if buf.is_empty() {
            // The body holds what it needs of the buffer; the rest is not kept while the
            // request is answered (a push waits on APNs or FCM for most of its life).
            *buf = BytesMut::new();
        }
        let mut request = Request::from_parts(parts, body);
        request.extensions_mut().insert(ConnectInfo(peer));
        Exchange {
            answer: app.clone().oneshot(request),
            framing,
            feed,
            continue_first,
            keep_alive,
            is_head,
            version,
        }
    }

    /// The router's answer, while the body is moved to the handler as it arrives.
    async fn answer<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
        buf: &mut BytesMut,
    ) -> Response<Body> {
        let answered = loop {
            let Some(feed) = &self.feed else {
                break (&mut self.answer).await;
            };
            tokio::select! {
                biased;
                answered = &mut self.answer => break answered,
                fed = pump(io, buf, &mut self.framing, feed) => match fed {
                    Pumped::More => {}
                    // The body is all there, or the handler does not want the rest.
                    Pumped::Over => self.feed = None,
                    Pumped::Broken(e) => {
                        let _ = feed.send(Err(e)).await;
                        self.feed = None;
                    }
                },
            }
        };
        match answered {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

#[allow(clippy::large_enum_variant)] // returned once a request and taken apart at once
enum Read {
    Head(Head),
    Http2,
    /// The client left, was too slow, or sent what cannot be read (and was answered so).
    Closed,
}

/// A request's head, as the handler will see it, and what follows it on the wire.
struct Head {
    parts: request::Parts,
    framing: Framing,
    continue_first: bool,
    keep_alive: bool,
}

/// Reads until `buf` starts with a whole request head. Go's rule for the deadline: the first
/// request's head is due `header_read` after the connection opened, a later one's after its
/// first byte (until then the idle timeout applies).
async fn read_head<T: AsyncRead + AsyncWrite + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    header_read: Duration,
    first: bool,
    stop: &mut watch::Receiver<bool>,
) -> Read {
    let mut deadline = first.then(|| Instant::now() + header_read);
    loop {
        if !buf.is_empty() {
            deadline.get_or_insert_with(|| Instant::now() + header_read);
            if first && H2_PREFACE.starts_with(&buf[..buf.len().min(H2_PREFACE.len())]) {
                if buf.len() >= H2_PREFACE.len() {
                    return Read::Http2;
                }
            } else {
                match parse_head(buf) {
                    Ok(Some(head)) => return Read::Head(head),
                    Ok(None) => {}
                    Err(status) => {
                        // Its status, no body, and the end of the connection.
                        let mut refusal = Response::new(Body::empty());
                        *refusal.status_mut() = status;
                        if write_response(io, refusal, Version::HTTP_11, false, false)
                            .await
                            .is_ok()
                        {
                            let _ = io.shutdown().await;
                        }
                        return Read::Closed;
                    }
                }
            }
        } else if *stop.borrow() {
            return Read::Closed;
        }
        let idle = buf.is_empty();
        tokio::select! {
            read = read_more(io, buf) => match read {
                Ok(0) | Err(_) => return Read::Closed,
                Ok(_) => {}
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                return Read::Closed;
            }
            // Between requests a stop closes the connection at once; a head under way is read.
            _ = stop.changed(), if idle => return Read::Closed,
        }
    }
}

async fn read_more<T: AsyncRead + Unpin>(io: &mut T, buf: &mut BytesMut) -> io::Result<usize> {
    buf.reserve(READ_SIZE);
    io.read_buf(buf).await
}

/// Parses a complete head off the front of `buf`; `None` while it is incomplete.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, StatusCode> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let length = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(length)) if length <= MAX_HEAD => length,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            return Err(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        }
        Err(_) => return Err(StatusCode::BAD_REQUEST),
    };
    fn bad<E>(_: E) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
    let method = Method::from_bytes(parsed.method.unwrap_or_default().as_bytes()).map_err(bad)?;
    let uri: Uri = parsed.path.unwrap_or_default().parse().map_err(bad)?;
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(bad)?;
        let value = HeaderValue::from_bytes(h.value).map_err(bad)?;
        map.append(name, value);
    }
    buf.advance(length);

    let framing = framing(&map)?;
    let tokens = |name| {
        map.get_all(name)
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .map(str::trim)
    };
    let asks = |token: &str| tokens(header::CONNECTION).any(|t| t.eq_ignore_ascii_case(token));
    let keep_alive = match version {
        Version::HTTP_10 => asks("keep-alive"),
        _ => !asks("close"),
    } && !matches!(framing, Framing::Chunked(_) if map.contains_key(header::CONTENT_LENGTH));
    let continue_first = version == Version::HTTP_11
        && tokens(header::EXPECT).any(|t| t.eq_ignore_ascii_case("100-continue"));

    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.version = version;
    parts.headers = map;
    Ok(Some(Head {
        parts,
        framing,
        continue_first,
        keep_alive,
    }))
}

/// For the fuzz target: requests off the front of `input`, each head and then its body as far
/// as `input` goes, as a connection reads them.
#[cfg(feature = "fuzzing")]
pub fn read_requests(input: &[u8]) {
    let mut buf = BytesMut::from(input);
    while let Ok(Some(head)) = parse_head(&mut buf) {
        let mut framing = head.framing;
        while let Ok(Some(_)) = framing.next(&mut buf) {}
        if !framing.is_done() {
            return;
        }
    }
}

/// Where a request's body ends (RFC 9112, section 6.3: chunked over a length; a length that is not
/// one number is refused).
fn framing(headers: &HeaderMap) -> Result<Framing, StatusCode> {
    if let Some(last) = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .next_back()
    {
        let chunked = last
            .to_str()
            .ok()
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        return if chunked {
            Ok(Framing::Chunked(Chunk::Size))
        } else {
            Err(StatusCode::NOT_IMPLEMENTED)
        };
    }
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or("x").split(',') {
            let n: u64 = part.trim().parse().map_err(|_| StatusCode::BAD_REQUEST)?;
            if length.is_some_and(|l| l != n) {
                return Err(StatusCode::BAD_REQUEST);
            }
            length = Some(n);
        }
    }
    Ok(match length {
        None | Some(0) => Framing::Done,
        Some(n) => Framing::Length(n),
    })
}

/// What is left of a request's body on the wire.
enum Framing {
    Length(u64),
    Chunked(Chunk),
    Done,
}

enum Chunk {
    /// The next chunk's size line.
    Size,
    /// Bytes left of a chunk's data.
    Data(u64),
    /// The line end after a chunk's data.
    DataEnd,
    /// Trailer lines, up to an empty one.
    Trailers,
}

impl Framing {
    fn is_done(&self) -> bool {
        matches!(self, Framing::Done)
    }

    /// Takes the next piece of body data from `buf`: `Ok(None)` when `buf` holds none yet (or
    /// the body is complete).
    fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
        loop {
            match self {
                Framing::Done => return Ok(None),
                Framing::Length(left) => {
                    let piece = take(buf, left);
                    if *left == 0 {
                        *self = Framing::Done;
                    }
                    return Ok(piece);
                }
                Framing::Chunked(chunk) => match chunk {
                    Chunk::Size => match httparse::parse_chunk_size(buf) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            buf.advance(used);
                            *chunk = if size == 0 {
                                Chunk::Trailers
                            } else {
                                Chunk::Data(size)
                            };
                        }
                        Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => {
                            return Err("invalid chunk size line")
                        }
                        Ok(httparse::Status::Partial) => return Ok(None),
                        Err(_) => return Err("invalid chunk size line"),
                    },
                    Chunk::Data(left) => {
                        let piece = take(buf, left);
                        if *left == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                        return Ok(piece);
                    }
                    Chunk::DataEnd => {
                        if buf.len() < 2 {
                            return Ok(None);
                        }
                        if &buf[..2] != b"\r\n" {
                            return Err("invalid chunk data end");
                        }
                        buf.advance(2);
                        *chunk = Chunk::Size;
                    }
                    Chunk::Trailers => {
                        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                            if buf.len() > MAX_LINE {
                                return Err("invalid trailer line");
                            }
                            return Ok(None);
                        };
                        buf.advance(end + 2);
                        if end == 0 {
                            *self = Framing::Done;
                        }
                    }
                },
            }
        }
    }
}

/// Up to `left` bytes of what `buf` holds, counted off `left`; `None` when it holds none.
fn take(buf: &mut BytesMut, left: &mut u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let n = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
    *left -= n as u64;
    Some(buf.split_to(n).freeze())
}

type Feed = mpsc::Sender<Result<Bytes, io::Error>>;

/// The request's body: whole when it is already in `buf` (a push usually is), otherwise a
/// channel that `pump` fills as the rest arrives.
fn body_for(buf: &mut BytesMut, framing: &mut Framing) -> (Body, Option<Feed>) {
    match framing {
        Framing::Done => (Body::empty(), None),
        Framing::Length(n) if *n <= buf.len() as u64 => {
            let whole = buf.split_to(*n as usize).freeze();
            *framing = Framing::Done;
            (Body::from(whole), None)
        }
        _ => {
            let (feed, pieces) = mpsc::channel(1);
            (Body::new(Pieces(pieces)), Some(feed))
        }
    }
}

/// A body fed piece by piece by the connection.
struct Pieces(mpsc::Receiver<Result<Bytes, io::Error>>);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|piece| piece.map(|piece| piece.map(http_body::Frame::data)))
    }
}

enum Pumped {
    More,
    /// The body is complete, or the handler dropped it.
    Over,
    Broken(io::Error),
}

/// Moves the next piece of the body from the wire to the handler, once it wants one.
async fn pump<T: AsyncRead + Unpin>(
    io: &mut T,
    buf: &mut BytesMut,
    framing: &mut Framing,
    feed: &Feed,
) -> Pumped {
    let Ok(permit) = feed.reserve().await else {
        return Pumped::Over;
    };
    loop {
        match framing.next(buf) {
            Ok(Some(piece)) => {
                permit.send(Ok(piece));
                return if framing.is_done() {
                    Pumped::Over
                } else {
                    Pumped::More
                };
            }
            Ok(None) if framing.is_done() => return Pumped::Over,
            Ok(None) => {}
            Err(e) => return Pumped::Broken(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        match read_more(io, buf).await {
            Ok(0) => {
                return Pumped::Broken(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection before the body ended",
                ))
            }
            Ok(_) => {}
            Err(e) => return Pumped::Broken(e),
        }
    }
}

/// Writes `response` whole, in one write: its head, `date`, its length, and `connection: close`
/// when the connection ends after it.
async fn write_response<T: AsyncWrite + Unpin>(
    io: &mut T,
    response: Response<Body>,
    version: Version,
    is_head: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| io::Error::other(e.to_string()))?
        .to_bytes();
    let status = parts.status;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let mut out = Vec::with_capacity(128 + parts.headers.len() * 48 + body.len());
    out.extend_from_slice(match version {
        Version::HTTP_10 => b"HTTP/1.0 ",
        _ => b"HTTP/1.1 ",
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut line = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in &parts.headers {
        if name != header::CONNECTION {
            line(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if !bodiless && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        line(b"content-length", body.len().to_string().as_bytes());
    }
    if !keep_alive {
        line(b"connection", b"close");
    } else if version == Version::HTTP_10 {
        line(b"connection", b"keep-alive");
    }
    line(b"date", &date());
    out.extend_from_slice(b"\r\n");
    if !bodiless && !is_head {
        out.extend_from_slice(&body);
    }
    io.write_all(&out).await?;
    io.flush().await
}

/// Now as an HTTP date, formatted once a second per thread rather than once an answer.
fn date() -> [u8; 29] {
    use std::{cell::Cell, time::SystemTime};
    thread_local! {
        static CACHED: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let (at, text) = cached.get();
        if at == second {
            return text;
        }
        let mut text = [0; 29];
        text.copy_from_slice(httpdate::fmt_http_date(now).as_bytes());
        cached.set((second, text));
        text
    })
}

/// A connection with bytes already read from it in front, for the server that takes it over.
pub(crate) struct Rewind<T> {
    read: Bytes,
    io: T,
}

impl<T> Rewind<T> {
    fn new(read: Bytes, io: T) -> Self {
        Rewind { read, io }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(out.remaining());
            out.put_slice(&self.read.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, out)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
