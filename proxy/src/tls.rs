//! Inbound TLS for both listeners (`TlsCertFile`, `TlsKeyFile`), and mutual TLS when
//! `TlsClientCAFile` is set. The handshakes themselves run in `listen`, off the accept loop.

use std::sync::Arc;

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::Tls;

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
