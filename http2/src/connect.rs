//! Opening one connection: TCP (through a `CONNECT` tunnel when a proxy is set), then TLS,
//! insisting on HTTP/2.

use std::{fmt, sync::Arc};

use base64::Engine as _;
use rustls::pki_types::ServerName;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

/// What TLS to the origin runs over: TCP, or a tunnel through a proxy (itself over TLS to an
/// `https://` proxy).
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Transport for T {}

pub(crate) type Io = tokio_rustls::client::TlsStream<Box<dyn Transport>>;

/// The longest proxy answer to `CONNECT` read before giving up on it.
const MAX_PROXY_ANSWER: usize = 8 * 1024;

/// A proxy reached with `CONNECT`, as `HTTPS_PROXY` names it: `http://`, or `https://` (TLS
/// to the proxy first, as Go's transport does).
#[derive(Clone)]
pub struct Proxy {
    /// `host:port` of the proxy.
    address: String,
    /// The proxy's name for TLS, when it is an `https://` proxy.
    tls_name: Option<ServerName<'static>>,
    /// `Basic …` from the URL's `user:password@`, if any.
    authorization: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credentials never reach a log line.
        f.debug_struct("Proxy")
            .field("address", &self.address)
            .finish()
    }
}

impl Proxy {
    /// `http[s]://[user:password@]host[:port]`, or `host:port` alone (taken as `http://`, as
    /// Go and curl take it). Errors never quote the credentials.
    pub fn parse(url: &str) -> Result<Proxy, String> {
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let parsed = url::Url::parse(&with_scheme).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!(
                "{}:// proxies are not supported: name an http:// or https:// proxy",
                parsed.scheme()
            ));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("no host")?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let tls_name = if parsed.scheme() == "https" {
            let bare = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            Some(
                ServerName::try_from(bare)
                    .map_err(|e| format!("{host} is not a TLS server name: {e}"))?,
            )
        } else {
            None
        };
        let authorization = (!parsed.username().is_empty()).then(|| {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let pair = format!(
                "{}:{}",
                decode(parsed.username()),
                decode(parsed.password().unwrap_or(""))
            );
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(Proxy {
            address: format!("{host}:{port}"),
            tls_name,
            authorization,
        })
    }

    /// Asks the proxy for a tunnel to `authority` and returns the tunnelled stream. `tls` is
    /// the TLS for an `https://` proxy (no ALPN: the proxy speaks HTTP/1.1).
    async fn tunnel(
        &self,
        authority: &str,
        tls: &tokio_rustls::TlsConnector,
    ) -> Result<Box<dyn Transport>, String> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("cannot reach the proxy {}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls_name {
            None => self.ask(tcp, authority).await,
            Some(name) => {
                let tls = tls
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS with the proxy {}: {e}", self.address))?;
                self.ask(tls, authority).await
            }
        }
    }

    /// Sends `CONNECT` on `stream` and reads the proxy's answer.
    async fn ask<S: Transport + 'static>(
        &self,
        mut stream: S,
        authority: &str,
    ) -> Result<Box<dyn Transport>, String> {
        let mut ask = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some(authorization) = &self.authorization {
            ask.push_str("Proxy-Authorization: ");
            ask.push_str(authorization);
            ask.push_str("\r\n");
        }
        ask.push_str("\r\n");
        stream
            .write_all(ask.as_bytes())
            .await
            .map_err(|e| format!("proxy {}: {e}", self.address))?;
        // Read byte by byte to the end of the head: nothing may be read past it, as
        // what follows belongs to TLS.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_PROXY_ANSWER {
                return Err(format!("proxy {}: answer too long", self.address));
            }
            let byte = stream.read_u8().await.map_err(|e| {
                format!(
                    "proxy {} closed before answering CONNECT: {e}",
                    self.address
                )
            })?;
            head.push(byte);
        }
        let status_line = head.split(|b| *b == b'\r').next().unwrap_or_default();
        let status_line = String::from_utf8_lossy(status_line);
        let status = status_line.split(' ').nth(1).unwrap_or_default();
        if !status_line.starts_with("HTTP/1.") || status != "200" {
            return Err(format!(
                "proxy {} refused the tunnel: {status_line}",
                self.address
            ));
        }
        Ok(Box::new(stream))
    }
}

/// Where one origin's connections go and how.
pub(crate) struct Route {
    /// `host` as TCP and `CONNECT` take it (an IPv6 literal without brackets).
    pub host: String,
    pub port: u16,
    pub server_name: ServerName<'static>,
    pub tls: tokio_rustls::TlsConnector,
    pub proxy: Option<Proxy>,
    /// TLS to an `https://` proxy: the origin's, without ALPN.
    pub proxy_tls: tokio_rustls::TlsConnector,
}

impl Route {
    pub fn new(
        authority: &http::uri::Authority,
        tls: Arc<rustls::ClientConfig>,
        proxy: Option<Proxy>,
    ) -> Result<Route, String> {
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| format!("{host} is not a TLS server name: {e}"))?;
        let mut proxy_tls = (*tls).clone();
        proxy_tls.alpn_protocols.clear();
        Ok(Route {
            port: authority.port_u16().unwrap_or(443),
            host,
            server_name,
            tls: tokio_rustls::TlsConnector::from(tls),
            proxy,
            proxy_tls: tokio_rustls::TlsConnector::from(Arc::new(proxy_tls)),
        })
    }

    /// TCP (or a tunnel), then TLS that must agree on `h2`.
    pub async fn open(&self) -> Result<Io, String> {
        let tcp: Box<dyn Transport> = match &self.proxy {
            Some(proxy) => {
                let authority = if self.host.contains(':') {
                    format!("[{}]:{}", self.host, self.port)
                } else {
                    format!("{}:{}", self.host, self.port)
                };
                proxy.tunnel(&authority, &self.proxy_tls).await?
            }
            None => {
                let tcp = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| format!("cannot connect to {}:{}: {e}", self.host, self.port))?;
                let _ = tcp.set_nodelay(true);
                Box::new(tcp)
            }
        };
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", self.host))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(format!("{} did not agree to HTTP/2 (ALPN h2)", self.host));
        }
        Ok(tls)
    }
}

#[cfg(test)]
mod tests {
    use super::Proxy;

    #[test]
    fn a_proxy_url_gives_the_address_and_basic_credentials() {
        let proxy = Proxy::parse("http://us%40er:pa%3Ass@proxy.example:3128").unwrap();
        assert_eq!(proxy.address, "proxy.example:3128");
        // base64("us@er:pa:ss"), decoded from the URL's percent-encoding.
        assert_eq!(
            proxy.authorization.as_deref(),
            Some("Basic dXNAZXI6cGE6c3M=")
        );
        let shown = format!("{proxy:?}");
        assert!(
            !shown.contains("dXNAZXI6cGE6c3M=") && !shown.contains("pa:ss"),
            "credentials are not shown: {shown}"
        );

        let bare = Proxy::parse("proxy.example:8080").unwrap();
        assert_eq!(bare.address, "proxy.example:8080");
        assert_eq!(bare.authorization, None);
        assert_eq!(
            Proxy::parse("http://proxy.example").unwrap().address,
            "proxy.example:80"
        );

        let https = Proxy::parse("https://proxy.example").unwrap();
        assert_eq!(https.address, "proxy.example:443");
        assert!(https.tls_name.is_some());
        let socks = Proxy::parse("socks5://user:secret@proxy.example:1080").unwrap_err();
        assert!(
            socks.contains("socks5:// proxies are not supported"),
            "{socks}"
        );
        assert!(!socks.contains("secret"));
        assert!(Proxy::parse("http://").is_err());
    }
}
