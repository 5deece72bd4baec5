//! Inbound TLS for both listeners (`TlsCertFile`, `TlsKeyFile`), and mutual TLS when
//! `TlsClientCAFile` is set. Handshakes run concurrently, off the accept loop, so one slow or
//! hostile client cannot hold up the others.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

use crate::config::Tls;

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS acceptor for a listener speaking `alpn`, or `None` when TLS is not configured.
pub fn acceptor(config: &Tls, alpn: &[&[u8]]) -> Result<Option<TlsAcceptor>, String> {
    if config.cert_file.is_empty() && config.key_file.is_empty() {
        return Ok(None);
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert_file)
        .and_then(|it| it.collect())
        .map_err(|e| format!("TlsCertFile {}: {e}", config.cert_file))?;
    if certs.is_empty() {
        return Err(format!("TlsCertFile {}: no certificate", config.cert_file));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| format!("TlsKeyFile {}: {e}", config.key_file))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if config.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&config.client_ca_file)
            .map_err(|e| format!("TlsClientCAFile {}: {e}", config.client_ca_file))?
        {
            let cert =
                cert.map_err(|e| format!("TlsClientCAFile {}: {e}", config.client_ca_file))?;
            roots
                .add(cert)
                .map_err(|e| format!("TlsClientCAFile {}: {e}", config.client_ca_file))?;
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .map_err(|e| format!("TlsClientCAFile {}: {e}", config.client_ca_file))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut tls = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("TlsCertFile/TlsKeyFile: {e}"))?;
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Some(TlsAcceptor::from(Arc::new(tls))))
}

/// TLS connections from a TCP listener, usable by tonic (as a stream) and axum (as a listener).
pub struct TlsIncoming {
    ready: mpsc::Receiver<TlsStream<TcpStream>>,
    local: SocketAddr,
    accept_loop: JoinHandle<()>,
}

impl Drop for TlsIncoming {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl TlsIncoming {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(256);
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send(tls).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake refused"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsIncoming {
            ready,
            local,
            accept_loop,
        })
    }
}

impl futures::Stream for TlsIncoming {
    type Item = io::Result<TlsStream<TcpStream>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.ready.poll_recv(cx).map(|tls| tls.map(Ok))
    }
}

impl axum::serve::Listener for TlsIncoming {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Some(tls) = self.ready.recv().await {
                let peer = tls.get_ref().0.peer_addr().unwrap_or(self.local);
                return (tls, peer);
            }
            // The accept loop ended (only at shutdown): accept nothing more.
            std::future::pending::<()>().await;
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
