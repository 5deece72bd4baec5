//! Saying so when a client of pushgate and pushgate disagree on TLS. A plaintext client talking
//! to a TLS pushgate sees only "transport error" or "h2 protocol error"; a TLS client talking to
//! a plaintext one sees "received corrupt message of type InvalidContentType". Neither tells an
//! admin what to change, so a failed call is explained in one sentence that names the fix.
//!
//! The plaintext case needs a look at the server: a TLS handshake with no trusted roots. A TLS
//! server answers it with its certificate (refused: unknown issuer), a plaintext HTTP/2 server
//! with frames that are not TLS. It runs only after a call failed for a reason that is not a
//! refused connection or a deadline, so an outage does not double the connection attempts.

use std::{sync::Arc, time::Duration};

use tokio::net::TcpStream;
use tokio_rustls::{
    rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore},
    TlsConnector,
};

/// Where a client reaches pushgate, and whether it speaks TLS to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`.
    pub authority: String,
    pub tls: bool,
}

impl Upstream {
    /// From a gRPC URL (`http://host:port` or `https://host:port`).
    pub fn from_url(url: &str) -> Option<Upstream> {
        let uri: http::Uri = url.parse().ok()?;
        Some(Upstream {
            authority: uri.authority()?.to_string(),
            tls: uri.scheme_str() == Some("https"),
        })
    }
}

/// The sentence for a plaintext client of a TLS pushgate.
pub fn speaks_tls_text(authority: &str) -> String {
    format!("pushgate at {authority} speaks TLS: turn on Use TLS (an https:// upstream)")
}

/// The sentence for a TLS client of a plaintext pushgate.
pub fn no_tls_text(authority: &str) -> String {
    format!("pushgate at {authority} does not speak TLS: turn off Use TLS (an http:// upstream)")
}

/// `status`, or the sentence that explains it when it comes from a TLS mismatch.
pub async fn explain(status: tonic::Status, upstream: &Upstream) -> tonic::Status {
    use tonic::Code;
    if !matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Internal
    ) {
        return status;
    }
    let text = chain(&status);
    if upstream.tls {
        if text.contains("InvalidContentType") || text.contains("corrupt message") {
            return tonic::Status::unavailable(no_tls_text(&upstream.authority));
        }
        return status;
    }
    let not_a_mismatch = [
        "tcp connect error",
        "Connection refused",
        "timed out",
        "deadline",
    ];
    if not_a_mismatch.iter().any(|t| text.contains(t)) {
        return status;
    }
    match speaks_tls(&upstream.authority).await {
        Some(true) => tonic::Status::unavailable(speaks_tls_text(&upstream.authority)),
        _ => status,
    }
}

/// The status's message and every error under it.
fn chain(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&format!("{e:?}"));
        source = e.source();
    }
    text
}

/// Whether the server at `authority` answers a TLS handshake; `None` when it cannot be told
/// (unreachable, silent, closed).
pub async fn speaks_tls(authority: &str) -> Option<bool> {
    const PROBE: Duration = Duration::from_secs(3);
    let host = authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).ok()?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let handshake = async {
        let tcp = TcpStream::connect(authority).await.ok()?;
        let error = match TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
        {
            // No root is trusted: a finished handshake cannot happen, but would mean TLS.
            Ok(_) => return Some(true),
            Err(e) => e,
        };
        match error.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(_) | rustls::Error::AlertReceived(_) => Some(true),
            rustls::Error::InvalidMessage(_) => Some(false),
            _ => None,
        }
    };
    tokio::time::timeout(PROBE, handshake).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_from_urls() {
        assert_eq!(
            Upstream::from_url("https://pushgate:50051"),
            Some(Upstream {
                authority: "pushgate:50051".into(),
                tls: true
            })
        );
        assert!(!Upstream::from_url("http://127.0.0.1:1").unwrap().tls);
    }

    #[tokio::test]
    async fn a_tls_client_of_a_plaintext_server_is_told_to_turn_tls_off() {
        let upstream = Upstream {
            authority: "127.0.0.1:1".into(),
            tls: true,
        };
        let corrupt =
            tonic::Status::unavailable("received corrupt message of type InvalidContentType");
        let explained = explain(corrupt, &upstream).await;
        assert_eq!(explained.message(), no_tls_text("127.0.0.1:1"));
        let other = explain(tonic::Status::not_found("x"), &upstream).await;
        assert_eq!(
            other.message(),
            "x",
            "only transport failures are explained"
        );
    }
}
