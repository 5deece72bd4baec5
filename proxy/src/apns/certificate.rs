//! APNs certificate auth: the TLS client identity made from `ApplePushCertPrivate` — a PEM with
//! the certificate chain and a key (plain, or OpenSSL-encrypted with `ApplePushCertPassword`,
//! see `legacy_pem.rs`), or a PKCS#12 (.p12) bundle opened with `ApplePushCertPassword` — and
//! when its leaf certificate expires, for the expiry metric.

use crate::upstream::read;

use super::legacy_pem;

/// The TLS client certificate of certificate auth: a PEM with the certificate chain and a key
/// (legacy-encrypted with `ApplePushCertPassword` or not), or a PKCS#12 (.p12) bundle opened
/// with `ApplePushCertPassword`.
/// Also returns when the leaf certificate expires, for the expiry metric.
pub fn client_identity(
    path: &str,
    password: &str,
) -> Result<(reqwest::Identity, Option<i64>), String> {
    let bytes = read(path, "ApplePushCertPrivate")?;
    let pem = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        if String::from_utf8_lossy(&bytes).contains("Proc-Type: 4,ENCRYPTED") {
            legacy_pem::decrypt(&bytes, password)
                .map_err(|e| format!("ApplePushCertPrivate {path}: {e}"))?
        } else {
            bytes
        }
    } else {
        pkcs12_to_pem(&bytes, password)
            .map_err(|e| format!("ApplePushCertPrivate {path}: not a PEM file, and not a PKCS#12 bundle this password opens: {e}"))?
    };
    let identity = reqwest::Identity::from_pem(&pem)
        .map_err(|e| format!("ApplePushCertPrivate {path}: not a certificate and key: {e}"))?;
    Ok((identity, leaf_expiry(&pem)))
}

/// `notAfter` of the first certificate in a PEM bundle, as Unix seconds.
fn leaf_expiry(pem_bytes: &[u8]) -> Option<i64> {
    let blocks = pem::parse_many(pem_bytes).ok()?;
    let leaf = blocks.iter().find(|b| b.tag() == "CERTIFICATE")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.contents()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn pkcs12_to_pem(der: &[u8], password: &str) -> Result<Vec<u8>, String> {
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| e.to_string())?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or("no private key in the bundle")?;
    if chain.certs().is_empty() {
        return Err("no certificate for the private key".into());
    }
    let mut out = String::new();
    for cert in chain.certs() {
        out.push_str(&pem::encode(&pem::Pem::new(
            "CERTIFICATE",
            cert.as_der().to_vec(),
        )));
    }
    out.push_str(&pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        chain.key().as_der().to_vec(),
    )));
    Ok(out.into_bytes())
}
