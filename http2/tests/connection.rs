//! The client against a real HTTP/2 server over TLS on loopback: answers read and capped, the
//! server's stream limit, one opening for a burst, a failed opening shared by those who waited
//! through it, a connection the server closes, one that goes silent (found by the PING), and
//! a stream the server refuses.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http2::{Answer, Connection, Error, Settings};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

/// How the test server behaves.
#[derive(Clone, Copy)]
struct Behaviour {
    /// Bytes in each answer's body.
    answer_bytes: usize,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` it announces.
    max_streams: u32,
    /// Closes a connection (GOAWAY) once it has answered this many requests.
    requests_per_connection: Option<usize>,
    /// Resets this many of the first streams with `REFUSED_STREAM`, unread.
    refused_streams: usize,
}

/// An HTTP/2 server over TLS on 127.0.0.1 that answers every request 200.
struct Server {
    address: SocketAddr,
    certificate_pem: String,
    /// Connections accepted so far.
    accepted: Arc<AtomicUsize>,
    /// Connections numbered below this stop reading their socket (as if the path died) while
    /// keeping it open.
    silenced: tokio::sync::watch::Sender<usize>,
}

impl Server {
    async fn start(behaviour: Behaviour) -> Server {
        let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let chain: Vec<CertificateDer<'static>> = vec![certified.cert.der().clone()];
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (silenced, silence) = tokio::sync::watch::channel(0);
        let counter = accepted.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let number = counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let silence = silence.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    serve(tls, number, silence, behaviour).await;
                });
            }
        });
        Server {
            address,
            certificate_pem: certified.cert.pem(),
            accepted,
            silenced,
        }
    }

    fn origin(&self) -> String {
        format!("https://{}", self.address)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Every connection open now stops answering anything, PINGs included.
    fn silence_open_connections(&self) {
        self.silenced.send_replace(self.accepted());
    }
}

async fn serve(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    number: usize,
    mut silence: tokio::sync::watch::Receiver<usize>,
    behaviour: Behaviour,
) {
    let Ok(mut connection) = h2::server::Builder::new()
        .max_concurrent_streams(behaviour.max_streams)
        .handshake::<_, Bytes>(tls)
        .await
    else {
        return;
    };
    let mut answered = 0;
    let mut refused = 0;
    loop {
        tokio::select! {
            next = connection.accept() => {
                let Some(Ok((_request, mut respond))) = next else { return };
                if refused < behaviour.refused_streams {
                    refused += 1;
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                    continue;
                }
                let body = Bytes::from(vec![b'x'; behaviour.answer_bytes]);
                let answer = http::Response::builder().status(200).body(()).unwrap();
                if let Ok(mut stream) = respond.send_response(answer, false) {
                    let _ = stream.send_data(body, true);
                }
                answered += 1;
                if Some(answered) == behaviour.requests_per_connection {
                    connection.graceful_shutdown();
                }
            }
            changed = silence.changed() => {
                if changed.is_err() {
                    return;
                }
                if number < *silence.borrow() {
                    break;
                }
            }
        }
    }
    // Held, never polled again: the socket stays open and unread.
    let _held = connection;
    std::future::pending::<()>().await;
}

/// A `Connection` to one origin that counts the connections it opens.
struct Client {
    connection: Connection,
    origin: String,
    opened: Arc<AtomicUsize>,
}

impl Client {
    /// To `origin`, trusting `extra_root` (PEM) beside the Web PKI.
    fn new(
        origin: String,
        extra_root: Option<&str>,
        keep_alive: Duration,
        max_answer: usize,
    ) -> Client {
        let opened = Arc::new(AtomicUsize::new(0));
        let counter = opened.clone();
        let roots = http2::roots(extra_root.map(str::as_bytes)).unwrap();
        let connection = Connection::new(Settings {
            origin: origin.parse().unwrap(),
            tls: http2::client_config(roots, None).unwrap(),
            proxy: None,
            connect_timeout: Duration::from_secs(5),
            keep_alive,
            max_answer,
            on_open: Arc::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        })
        .unwrap();
        Client {
            connection,
            origin,
            opened,
        }
    }

    /// To the test server, with PINGs every `keep_alive`.
    fn of(server: &Server, keep_alive: Duration, max_answer: usize) -> Client {
        Client::new(
            server.origin(),
            Some(&server.certificate_pem),
            keep_alive,
            max_answer,
        )
    }

    /// One push, answered within `timeout`.
    async fn push(&self, timeout: Duration) -> Result<Answer, Error> {
        let request = http::Request::post(format!("{}/3/device/a1b2c3", self.origin))
            .body(())
            .unwrap();
        self.connection
            .send(request, Bytes::from_static(b"{}"), timeout)
            .await
    }

    /// One push that must be answered 200.
    async fn push_ok(&self) -> Answer {
        let answer = match self.push(Duration::from_secs(5)).await {
            Ok(answer) => answer,
            Err(error) => panic!("no answer: {error}"),
        };
        assert_eq!(answer.status, 200);
        answer
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }
}

/// The error of a request that must fail.
fn failure(sent: Result<Answer, Error>) -> Error {
    match sent {
        Ok(answer) => panic!("answered {}", answer.status),
        Err(error) => error,
    }
}

const SERVER: Behaviour = Behaviour {
    answer_bytes: 64,
    max_streams: 100,
    requests_per_connection: None,
    refused_streams: 0,
};

#[tokio::test]
async fn answers_are_read_and_capped_and_the_stream_limit_is_the_servers() {
    let server = Server::start(Behaviour {
        answer_bytes: 10_000,
        max_streams: 7,
        ..SERVER
    })
    .await;
    let client = Client::of(&server, Duration::from_secs(15), 1024);
    assert_eq!(client.connection.max_streams(), None, "not connected yet");

    for _ in 0..3 {
        let answer = client.push_ok().await;
        assert_eq!(answer.body.len(), 1024, "the body is cut at max_answer");
    }
    assert_eq!(client.connection.max_streams(), Some(7));
    assert_eq!(client.opened(), 1, "one connection for all");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn a_burst_on_a_new_client_opens_one_connection() {
    let server = Server::start(SERVER).await;
    let client = Client::of(&server, Duration::from_secs(15), 1024);
    futures::future::join_all((0..50).map(|_| client.push_ok())).await;
    assert_eq!(client.opened(), 1);
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn those_who_waited_through_a_failed_opening_take_its_failure() {
    // Accepts TCP and closes it at once: every TLS handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(tcp);
        }
    });
    let client = Client::new(
        format!("https://{address}"),
        None,
        Duration::from_secs(15),
        1024,
    );

    let sends = (0..20).map(|_| client.push(Duration::from_secs(5)));
    for sent in futures::future::join_all(sends).await {
        let error = failure(sent);
        assert!(
            matches!(&error, Error::Connect(why) if why.contains("TLS with 127.0.0.1")),
            "{error}"
        );
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "a burst against a provider that is down tries once"
    );

    // A push that starts after the failure tries again.
    let error = failure(client.push(Duration::from_secs(5)).await);
    assert!(matches!(error, Error::Connect(_)), "{error}");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_the_server_closes_is_replaced_without_failing_a_request() {
    let server = Server::start(Behaviour {
        requests_per_connection: Some(1),
        ..SERVER
    })
    .await;
    let client = Client::of(&server, Duration::from_secs(15), 1024);
    for _ in 0..5 {
        client.push_ok().await;
    }
    // Each connection closes after one answer; a request may still reach a closing one
    // before its GOAWAY does, and is answered there.
    assert!(client.opened() > 1, "{}", client.opened());
    assert_eq!(client.opened(), server.accepted());
}

#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_dropped_and_the_next_push_goes_on_a_new_one() {
    let server = Server::start(SERVER).await;
    let client = Client::of(&server, Duration::from_millis(200), 1024);
    client.push_ok().await;
    assert_eq!(client.connection.max_streams(), Some(100));

    // The path dies silently: no FIN, no RST, nothing read or answered.
    server.silence_open_connections();
    let silenced = Instant::now();
    while client.connection.max_streams().is_some() {
        assert!(
            silenced.elapsed() < Duration::from_secs(20),
            "the silent connection was never dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Without the PING this push would go on the silent connection and time out.
    client.push_ok().await;
    assert_eq!(client.opened(), 2);
}

#[tokio::test]
async fn a_server_that_never_answers_gives_a_timeout() {
    let server = Server::start(SERVER).await;
    let client = Client::of(&server, Duration::from_secs(15), 1024);
    client.push_ok().await;
    server.silence_open_connections();
    let error = failure(client.push(Duration::from_millis(300)).await);
    assert!(matches!(error, Error::Timeout), "{error}");
}

#[tokio::test]
async fn a_refused_stream_is_told_apart_from_a_broken_one() {
    let server = Server::start(Behaviour {
        refused_streams: 1,
        ..SERVER
    })
    .await;
    let client = Client::of(&server, Duration::from_secs(15), 1024);
    let error = failure(client.push(Duration::from_secs(5)).await);
    assert!(matches!(error, Error::Refused), "{error}");
    // The connection lives on: the next push goes out on it.
    client.push_ok().await;
    assert_eq!(client.opened(), 1);
}
