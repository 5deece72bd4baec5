//! APNs certificate auth: the TLS client identity made from `ApplePushCertPrivate` — a PEM with
//! the certificate chain and a key (plain, or OpenSSL-encrypted with `ApplePushCertPassword`,
//! see `legacy_pem.rs`), or a PKCS#12 (.p12) bundle opened with `ApplePushCertPassword` — and
//! when its leaf certificate expires, for the expiry metric.

use crate::upstream::read;

use super::legacy_pem;

/// The TLS client certificate of certificate auth, as a plain PEM chain and key, from a PEM
/// (legacy-encrypted with `ApplePushCertPassword` or not) or a PKCS#12 (.p12) bundle opened
/// with `ApplePushCertPassword`. Also returns when the leaf certificate expires, for the
/// expiry metric.
pub fn client_identity(path: &str, password: &str) -> Result<(Vec<u8>, Option<i64>), String> {
    let bytes = read(path, "ApplePushCertPrivate")?;
    let pem = match Format::of(&bytes) {
        Format::Pem => bytes,
        Format::EncryptedPem => legacy_pem::decrypt(&bytes, password)
            .map_err(|e| format!("ApplePushCertPrivate {path}: {e}"))?,
        Format::Pkcs12 => pkcs12_to_pem(&bytes, password)
            .map_err(|e| format!("ApplePushCertPrivate {path}: not a PEM file, and not a PKCS#12 bundle this password opens: {e}"))?,
    };
    let expires = leaf_expiry(&pem);
    Ok((pem, expires))
}

/// What an `ApplePushCertPrivate` file holds, told from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// A PEM certificate chain and an unencrypted key.
    Pem,
    /// A PEM whose key OpenSSL encrypted with the password (`Proc-Type: 4,ENCRYPTED`).
    EncryptedPem,
    /// Anything else is taken for a PKCS#12 (`.p12`) bundle, opened with the password.
    Pkcs12,
}

impl Format {
    fn of(bytes: &[u8]) -> Format {
        if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            Format::Pkcs12
        } else if String::from_utf8_lossy(bytes).contains("Proc-Type: 4,ENCRYPTED") {
            Format::EncryptedPem
        } else {
            Format::Pem
        }
    }
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

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn the_file_says_what_it_holds() {
        assert_eq!(Format::of(b"\n-----BEGIN CERTIFICATE-----\n"), Format::Pem);
        assert_eq!(
            Format::of(b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"),
            Format::EncryptedPem
        );
        assert_eq!(Format::of(&[0x30, 0x82, 0x0a, 0x01]), Format::Pkcs12);
    }
}
