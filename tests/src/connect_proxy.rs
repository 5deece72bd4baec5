//! A minimal HTTP CONNECT proxy (what corporate proxies offer for HTTPS), counting its tunnels.
//! It opens tunnels to loopback only: a target that is neither redirected to a mock nor a
//! loopback address is refused (403), so a client that reaches for a real service (a public
//! name we did not redirect) sends nothing off the machine.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

pub struct ConnectProxy {
    pub addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
    /// The `Proxy-Authorization` of each CONNECT that had one.
    authorizations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectProxy {
    pub async fn start() -> Self {
        Self::start_redirecting(Vec::new()).await
    }

    /// An `https://` proxy: TLS first (a certificate for 127.0.0.1, whose PEM is returned for
    /// the client to trust), then CONNECT inside it.
    pub async fn start_tls() -> (Self, String) {
        let crate::mock_tls::MockTls { acceptor, ca_pem } =
            crate::mock_tls::mock_tls(&["127.0.0.1"], &[], None);
        (Self::start_with(Vec::new(), Some(acceptor)).await, ca_pem)
    }

    /// A proxy that sends CONNECTs for the given `host:port`s to other addresses (a client
    /// that only knows `api.push.apple.com:443` reaches a mock).
    pub async fn start_redirecting(redirects: Vec<(String, SocketAddr)>) -> Self {
        Self::start_with(redirects, None).await
    }

    async fn start_with(
        redirects: Vec<(String, SocketAddr)>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Self {
        let redirects = Arc::new(redirects);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(AtomicUsize::new(0));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let (counter, seen) = (tunnels.clone(), authorizations.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (counter, seen, redirects, tls) = (
                    counter.clone(),
                    seen.clone(),
                    redirects.clone(),
                    tls.clone(),
                );
                tokio::spawn(async move {
                    let _ = match tls {
                        None => tunnel(client, counter, &seen, &redirects).await,
                        Some(tls) => match tls.accept(client).await {
                            Ok(client) => tunnel(client, counter, &seen, &redirects).await,
                            Err(e) => Err(e),
                        },
                    };
                });
            }
        });
        ConnectProxy {
            addr,
            tunnels,
            authorizations,
            task,
        }
    }

    /// CONNECT tunnels opened so far.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }

    /// The `Proxy-Authorization` values CONNECTs carried, in order.
    pub fn authorizations(&self) -> Vec<String> {
        self.authorizations.lock().unwrap().clone()
    }
}

async fn tunnel(
    mut client: impl AsyncRead + AsyncWrite + Unpin,
    counter: Arc<AtomicUsize>,
    authorizations: &Mutex<Vec<String>>,
    redirects: &[(String, SocketAddr)],
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).await? == 0 || head.len() > 8192 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    if let Some(value) = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_string())
    }) {
        authorizations.lock().unwrap().push(value);
    }
    let mut words = head.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await?;
        return Ok(());
    };
    let to = match redirects.iter().find(|(from, _)| from == target) {
        Some((_, to)) => Some(*to),
        // Only an address literal, so that no name is even looked up.
        None => target
            .parse::<SocketAddr>()
            .ok()
            .filter(|a| a.ip().is_loopback()),
    };
    let Some(to) = to else {
        client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(to).await?;
    counter.fetch_add(1, Ordering::SeqCst);
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
