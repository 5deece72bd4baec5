//! A CA, a server certificate for `localhost`/`127.0.0.1` and a client certificate, written
//! to files, for tests that put pushgate on (mutual) TLS and call it from other programs.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
};

/// The PEM files of one PKI.
pub struct Pki {
    pub ca: String,
    pub server_cert: String,
    pub server_key: String,
    pub client_cert: String,
    pub client_key: String,
}

impl Pki {
    /// Makes the certificates and writes them into `dir`.
    pub fn write(dir: &Path) -> Pki {
        // Distinct names: OpenSSL (Node, Python) takes a leaf whose issuer equals its subject
        // for a self-signed certificate.
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "pushgate test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: &[&str]| {
            let key = KeyPair::generate().unwrap();
            let mut params =
                CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name = DistinguishedName::new();
            params.distinguished_name.push(DnType::CommonName, names[0]);
            let cert = params.signed_by(&key, &ca).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server, client) = (leaf(&["localhost", "127.0.0.1"]), leaf(&["a-service"]));
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server.0),
            server_key: write("server.key", &server.1),
            client_cert: write("client.pem", &client.0),
            client_key: write("client.key", &client.1),
        }
    }

    /// Puts `config`'s listeners on TLS with this PKI's server certificate, requiring client
    /// certificates signed by its CA when `mutual`.
    pub fn serve(&self, config: &mut pushgate_proxy::config::Config, mutual: bool) {
        config.listeners.tls.cert_file = self.server_cert.clone();
        config.listeners.tls.key_file = self.server_key.clone();
        if mutual {
            config.listeners.tls.client_ca_file = self.ca.clone();
        }
    }
}
