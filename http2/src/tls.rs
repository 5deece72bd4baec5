//! The TLS client configuration of one origin, built once and shared by its connections (so
//! they also share TLS session resumption).

use std::sync::Arc;

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

/// The Web PKI roots, plus `extra` (PEM certificates, for a test or private endpoint).
pub fn roots(extra: Option<&[u8]>) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("not a usable CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("no PEM certificate in it".into());
        }
    }
    Ok(roots)
}

/// TLS trusting `roots`, with the client certificate chain and key in `identity` (PEM) when
/// the origin authenticates clients by certificate. Offers HTTP/2 only.
pub fn client_config(
    roots: rustls::RootCertStore,
    identity: Option<&[u8]>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let chain = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("not a PEM certificate chain: {e}"))?;
            if chain.is_empty() {
                return Err("no certificate in it".into());
            }
            let key = PrivateKeyDer::from_pem_slice(pem)
                .map_err(|e| format!("no private key in it: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the key does not fit the certificate: {e}"))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::{client_config, roots};

    #[test]
    fn a_client_identity_without_its_key_or_with_another_is_refused_by_name() {
        let ours = rcgen::generate_simple_self_signed(vec!["client".into()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["other".into()]).unwrap();
        let cert = ours.cert.pem();
        let whole = format!("{cert}{}", ours.signing_key.serialize_pem());
        let mismatched = format!("{cert}{}", other.signing_key.serialize_pem());

        assert!(client_config(roots(None).unwrap(), Some(whole.as_bytes())).is_ok());
        let error = client_config(roots(None).unwrap(), Some(cert.as_bytes())).unwrap_err();
        assert!(error.starts_with("no private key in it"), "{error}");
        let error = client_config(roots(None).unwrap(), Some(mismatched.as_bytes())).unwrap_err();
        assert!(
            error.starts_with("the key does not fit the certificate"),
            "{error}"
        );
        let error = client_config(roots(None).unwrap(), Some(b"")).unwrap_err();
        assert_eq!(error, "no certificate in it");
        let error = roots(Some(b"not pem")).unwrap_err();
        assert_eq!(error, "no PEM certificate in it");
    }
}
