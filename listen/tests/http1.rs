//! The HTTP/1.1 connections of `serve_http`, over real sockets, byte by byte as a client sees
//! them: keep-alive and pipelining, bodies in pieces and chunked, `Expect: 100-continue`,
//! HTTP/1.0, refusals, the HTTP/2 hand-over and the shutdown.

use std::{net::SocketAddr, time::Duration};

use axum::{body::Bytes, routing::get, routing::post, Router};
use listen::{serve_http, HttpSettings, Incoming, Settings, Slots};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
};

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), self.served)
            .await
            .expect("serve_http returns once the last request is answered")
            .unwrap();
    }
}

/// `/echo` answers with the body it read (or the error reading it), `/slow` after 500 ms.
async fn start() -> Server {
    let app = Router::new()
        .route(
            "/echo",
            post(|body: axum::body::Body| async move {
                match axum::body::to_bytes(body, 1 << 20).await {
                    Ok(bytes) => format!(
                        "read {} bytes: {}",
                        bytes.len(),
                        String::from_utf8_lossy(&bytes)
                    ),
                    Err(e) => format!("unreadable: {e}"),
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        )
        .route("/", get(|| async { Bytes::from_static(b"root") }))
        .route(
            "/bye",
            get(|| async { ([(axum::http::header::CONNECTION, "close")], "bye") }),
        );
    let listener = listen::bind("127.0.0.1:0").await.unwrap();
    let incoming = Incoming::new(listener, Slots::new(64), Settings::default()).unwrap();
    let addr = incoming.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let settings = HttpSettings {
        header_read: Duration::from_secs(2),
    };
    let served = tokio::spawn(serve_http(incoming, app, settings, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        served,
    }
}

/// Reads until `want` answers have arrived whole (by their `content-length`), the server
/// closes, or 3 s pass; the text, and whether the connection was closed.
async fn read_answers(tcp: &mut TcpStream, want: usize) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        if complete_answers(&seen) >= want {
            return (String::from_utf8_lossy(&seen).into_owned(), false);
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

fn complete_answers(seen: &[u8]) -> usize {
    let text = String::from_utf8_lossy(seen);
    let mut rest: &str = &text;
    let mut count = 0;
    while let Some(end) = rest.find("\r\n\r\n") {
        let head = rest[..end].to_ascii_lowercase();
        if head.starts_with("http/1.1 100") {
            rest = &rest[end + 4..];
            continue;
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if rest.len() < end + 4 + length {
            break;
        }
        rest = &rest[end + 4 + length..];
        count += 1;
    }
    count
}

/// Whether the server closes the connection within 2 s.
async fn closes(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst\
          GET / HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond",
    )
    .await
    .unwrap();
    let (seen, closed) = read_answers(&mut tcp, 3).await;
    assert!(!closed, "keep-alive: {seen}");
    let first = seen.find("read 5 bytes: first").expect(&seen);
    let root = seen.find("\r\n\r\nroot").expect(&seen);
    let second = seen.find("read 6 bytes: second").expect(&seen);
    assert!(first < root && root < second, "{seen}");
    assert_eq!(seen.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{seen}");
    assert!(seen.contains("date: "), "{seen}");

    // Later, on the same connection.
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (seen, _) = read_answers(&mut tcp, 1).await;
    assert!(seen.ends_with("\r\n\r\nroot"), "{seen}");
    server.shutdown().await;
}

#[tokio::test]
async fn bodies_in_pieces_and_chunked_reach_the_handler_whole() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // A length-delimited body in three writes.
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhel")
        .await
        .unwrap();
    for piece in [&b"lo w"[..], b"orld"] {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tcp.write_all(piece).await.unwrap();
    }
    let (seen, closed) = read_answers(&mut tcp, 1).await;
    assert!(seen.contains("read 11 bytes: hello world"), "{seen}");
    assert!(!closed);

    // Chunked, with a chunk extension and a trailer, split mid-chunk-size.
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n",
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(b"1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(
        b"1\r\n, chunked body!!!\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let (seen, closed) = read_answers(&mut tcp, 2).await;
    assert!(
        seen.contains("read 22 bytes: hello, chunked body!!!"),
        "{seen}"
    );
    assert!(
        seen.ends_with("\r\n\r\nroot"),
        "the request after it is read: {seen}"
    );
    assert!(!closed);
    server.shutdown().await;
}

#[tokio::test]
async fn a_broken_body_is_the_handlers_error_and_the_connection_closes() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n")
        .await
        .unwrap();
    let (seen, closed) = read_answers(&mut tcp, 1).await;
    assert!(seen.contains("unreadable: "), "{seen}");
    assert!(seen.contains("invalid chunk size line"), "{seen}");
    assert!(seen.contains("connection: close\r\n"), "{seen}");
    assert!(closed || closes(&mut tcp).await);

    // A client that goes away halfway through its body.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf")
        .await
        .unwrap();
    tcp.shutdown().await.unwrap();
    let (seen, _) = read_answers(&mut tcp, 1).await;
    assert!(seen.contains("unreadable: "), "{seen}");
    assert!(
        seen.contains("closed the connection before the body ended"),
        "{seen}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn expect_continue_is_answered_before_the_body_is_sent() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf))
        .await
        .expect("100 Continue before the body")
        .unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    tcp.write_all(b"body").await.unwrap();
    let (seen, _) = read_answers(&mut tcp, 1).await;
    assert!(seen.contains("read 4 bytes: body"), "{seen}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_handler_that_answers_connection_close_ends_the_connection() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /bye HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (seen, closed) = read_answers(&mut tcp, 2).await;
    assert_eq!(seen.matches("connection: close\r\n").count(), 1, "{seen}");
    assert!(
        seen.ends_with("\r\n\r\nbye"),
        "the request after it is not answered: {seen}"
    );
    assert!(closed || closes(&mut tcp).await);
    server.shutdown().await;
}

#[tokio::test]
async fn http_1_0_closes_unless_asked_to_keep_alive() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let (seen, closed) = read_answers(&mut tcp, 1).await;
    assert!(seen.starts_with("HTTP/1.0 200 OK\r\n"), "{seen}");
    assert!(seen.contains("connection: close\r\n"), "{seen}");
    assert!(closed || closes(&mut tcp).await);

    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let (seen, closed) = read_answers(&mut tcp, 1).await;
    assert!(seen.contains("connection: keep-alive\r\n"), "{seen}");
    assert!(!closed && !closes(&mut tcp).await, "kept open");
    server.shutdown().await;
}

#[tokio::test]
async fn requests_that_cannot_be_read_are_refused_and_closed() {
    let server = start().await;
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n",
        "a".repeat(9000)
    );
    for (request, status) in [
        (
            "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
            "400 Bad Request",
        ),
        (long.as_str(), "431 Request Header Fields Too Large"),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            "501 Not Implemented",
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab",
            "400 Bad Request",
        ),
        (
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            "400 Bad Request",
        ),
    ] {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let (seen, closed) = read_answers(&mut tcp, 1).await;
        assert!(
            seen.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{status}: {seen}"
        );
        assert!(seen.contains("connection: close\r\n"), "{seen}");
        assert!(seen.contains("content-length: 0\r\n"), "{seen}");
        assert!(closed || closes(&mut tcp).await, "{status}: closed");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn headers_that_never_end_are_cut_off_at_the_deadline() {
    let server = start().await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    // The server's clock starts when it takes the connection, after this one.
    let connected = tokio::time::Instant::now();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(4), tcp.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "closed at the 2 s header deadline: {read:?}"
    );
    assert!(
        connected.elapsed() >= Duration::from_millis(1900),
        "not before the deadline: closed after {:?}",
        connected.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn http2_prior_knowledge_is_served_on_the_same_port() {
    let server = start().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let answer = client
        .post(format!("http://{}/echo", server.addr))
        .body("over h2")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.version(), reqwest::Version::HTTP_2);
    assert_eq!(answer.text().await.unwrap(), "read 7 bytes: over h2");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_the_request_under_way_and_closes_idle_connections() {
    let server = start().await;
    let mut idle = TcpStream::connect(server.addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_answers(&mut idle, 1).await.0.matches("200 OK").count(),
        1
    );
    let mut busy = TcpStream::connect(server.addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let addr = server.addr;
    let stopping = tokio::spawn(server.shutdown());
    assert!(
        closes(&mut idle).await,
        "an idle connection is closed at once"
    );
    let (seen, closed) = read_answers(&mut busy, 1).await;
    assert!(seen.ends_with("\r\n\r\ndone"), "{seen}");
    assert!(seen.contains("connection: close\r\n"), "{seen}");
    assert!(closed || closes(&mut busy).await);
    stopping.await.unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
