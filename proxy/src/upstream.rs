//! Connections to the providers. APNs, and FCM over https, go out on pushgate's own HTTP/2
//! client (the `http2` crate: one request built per push, no pool or connector stack on the
//! hot path); HMS, an FCM endpoint over plain http, OAuth2 and Web Push on reqwest, built from
//! the one builder here. Both read an extra trusted CA for test or private endpoints the same
//! way and count the connections they open (`pushgate_upstream_connections_opened_total`).

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{future::Either, FutureExt};
use prometheus::IntCounter;

use crate::delivery::Lost;

/// The most of a provider's answer body pushgate reads. Answers are a few hundred bytes; a
/// proxy or balancer in between may send megabytes of HTML, which must not be held in memory.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How a target's client differs from the shared defaults; built once per target, at start-up,
/// and used for each client it builds (OAuth2, the provider, one per connection as load grows).
#[derive(Clone)]
pub struct ClientSettings {
    /// The config's extra trusted root (`ApplePushCAFile`, `FcmCAFile`, …), if it names one.
    pub extra_root: Option<ExtraRoot>,
    /// Budget to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Counts the connections this client opens.
    pub opened: IntCounter,
}

/// A root to trust beside the Web PKI (a test or private endpoint), read once from the file the
/// config names: a client built later, as load grows, does not go to the disk for it.
#[derive(Clone)]
pub struct ExtraRoot {
    /// The config key and path, as an error about it names them: `FcmCAFile /etc/ca.pem`.
    source: String,
    pem: Vec<u8>,
}

/// The file at `path` (config key `key`) as an extra root; `None` when `path` is empty.
pub fn extra_root(key: &str, path: &str) -> Result<Option<ExtraRoot>, String> {
    if path.is_empty() {
        return Ok(None);
    }
    Ok(Some(ExtraRoot {
        pem: read(path, key)?,
        source: format!("{key} {path}"),
    }))
}

/// A reqwest builder with what every upstream shares; the caller adds what is its own (HTTP/2
/// only, pool sizes, a client certificate) and builds.
pub fn client_builder(settings: &ClientSettings) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(settings.connect_timeout)
        .tcp_keepalive(Duration::from_secs(15))
        .http2_keep_alive_interval(Duration::from_secs(15))
        .connector_layer(CountConnections {
            opened: settings.opened.clone(),
        });
    if let Some(root) = &settings.extra_root {
        let ca = reqwest::Certificate::from_pem(&root.pem)
            .map_err(|e| format!("{}: {e}", root.source))?;
        builder = builder.add_root_certificate(ca);
    }
    Ok(builder)
}

/// The `http2` settings of one origin: the shared roots (with the config's extra CA), the
/// client certificate (PEM) if any, the proxy if any, and a PING every 15 s (what reqwest was
/// set to before).
pub fn http2_settings(
    origin: http::Uri,
    settings: &ClientSettings,
    identity: Option<(&str, &[u8])>,
    proxy: Option<http2::Proxy>,
) -> Result<http2::Settings, String> {
    let roots = match &settings.extra_root {
        None => http2::roots(None)?,
        Some(root) => http2::roots(Some(&root.pem)).map_err(|e| format!("{}: {e}", root.source))?,
    };
    // The errors say what is wrong with the certificate or key; the key names which.
    let tls =
        http2::client_config(roots, identity.map(|(_, pem)| pem)).map_err(|e| match identity {
            Some((key, _)) => format!("{key}: {e}"),
            None => e,
        })?;
    let opened = settings.opened.clone();
    Ok(http2::Settings {
        origin,
        tls,
        proxy,
        connect_timeout: settings.connect_timeout,
        keep_alive: Duration::from_secs(15),
        max_answer: MAX_ANSWER_BYTES,
        on_open: Arc::new(move || opened.inc()),
    })
}

/// How one connection's requests go out.
pub enum Link {
    /// pushgate's own HTTP/2 client: APNs, and FCM over https.
    Http2(http2::Connection),
    /// reqwest and its pool: HMS, and an FCM endpoint over plain http (a local relay), reached
    /// over HTTP/1.1 as Go's client would.
    Reqwest(reqwest::Client),
}

/// An attempt that got no answer: how it was lost, and why, in words without the URL.
pub struct Failure {
    pub lost: Lost,
    pub text: String,
}

impl From<http2::Error> for Failure {
    fn from(e: http2::Error) -> Failure {
        Failure {
            lost: match e {
                http2::Error::Timeout => Lost::Timeout,
                http2::Error::Refused => Lost::Refused,
                http2::Error::Connect(_) | http2::Error::Http2(_) => Lost::Connection,
            },
            text: e.to_string(),
        }
    }
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Failure {
        Failure {
            lost: lost(&e),
            text: describe(e),
        }
    }
}

impl Link {
    /// Sends one request and reads its answer, within `timeout`.
    ///
    /// Not an `async fn`: one would keep a copy of the request beside the one the client holds
    /// while the answer is awaited (a push in flight spends most of its life here).
    pub fn send(
        &self,
        request: http::Request<Bytes>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<Reply, Failure>> + Send + '_ {
        match self {
            Link::Http2(connection) => {
                let (parts, body) = request.into_parts();
                let sending = connection.send(http::Request::from_parts(parts, ()), body, timeout);
                // A combinator, not an async block awaiting it: that would hold the future twice.
                Either::Left(sending.map(|answer| answer.map_err(Failure::from)))
            }
            Link::Reqwest(client) => {
                let request = reqwest::Request::try_from(request).map(|mut request| {
                    *request.timeout_mut() = Some(timeout);
                    request
                });
                Either::Right(async move { Ok(reply(client.execute(request?).await?).await) })
            }
        }
    }

    /// How many requests the server lets one connection carry at once, when it said so.
    pub fn max_streams(&self) -> Option<usize> {
        match self {
            Link::Http2(connection) => connection.max_streams(),
            Link::Reqwest(_) => None,
        }
    }
}

/// Reads an answer's body to its end, keeping at most `MAX_ANSWER_BYTES`. Reading to the end
/// matters on success too: an HTTP/2 stream dropped unread is reset, and a server that sees many
/// resets closes the connection with every other push on it.
pub async fn read_answer(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            // The rest is not wanted: dropping the response ends the stream here.
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A provider's answer to one request: its status, headers and (capped) body, the same over
/// either link.
pub use http2::Answer as Reply;

/// The one HTTP exchange every provider makes: sends `request` and reads the answer. A body
/// lost after the status arrived is kept empty: the status is the provider's answer, and a push
/// it took never goes again because the rest of its answer was lost.
pub async fn exchange(request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
    Ok(reply(request.send().await?).await)
}

async fn reply(mut response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let body = read_answer(response).await.unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

/// How an attempt that got no answer was lost.
pub fn lost(e: &reqwest::Error) -> Lost {
    if e.is_timeout() {
        Lost::Timeout
    } else {
        Lost::Connection
    }
}

/// An error and its causes (certificate, DNS, refused, proxy…), without the request URL,
/// which can hold a device token.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The outbound proxy for APNs, as MPNS picks it: `HTTPS_PROXY`, else `HTTP_PROXY`, uppercase
/// only, `NO_PROXY` ignored (docs/mpns-contract.md §3.1). FCM and OAuth2 use reqwest's usual
/// environment rules instead, as Go's default transport does for MPNS.
pub fn apns_proxy() -> Option<String> {
    ["HTTPS_PROXY", "HTTP_PROXY"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
}

/// The outbound proxy for an https origin other than APNs (FCM), as Go's
/// `ProxyFromEnvironment` picks it for MPNS: `HTTPS_PROXY`, else `https_proxy`; none for
/// `localhost` and loopback addresses, nor for a host that `NO_PROXY` (else `no_proxy`) names —
/// `*`, the host, a domain it is in (`example.com` or `.example.com` for `fcm.example.com`), or
/// an address block holding it (`10.0.0.0/8`).
pub fn https_proxy_for(host: &str) -> Option<String> {
    proxy_in(host, |name| std::env::var(name).ok())
}

/// `https_proxy_for` with the environment read through `env`.
fn proxy_in(host: &str, env: impl Fn(&str) -> Option<String>) -> Option<String> {
    let var = |names: [&str; 2]| names.iter().find_map(|v| env(v).filter(|u| !u.is_empty()));
    let proxy = var(["HTTPS_PROXY", "https_proxy"])?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip = host.parse::<std::net::IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
        return None;
    }
    let no_proxy = var(["NO_PROXY", "no_proxy"]).unwrap_or_default();
    let bypassed = no_proxy.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        if let (Ok(block), Some(ip)) = (entry.parse::<ipnet::IpNet>(), ip) {
            return block.contains(&ip);
        }
        // A port in the entry is not compared: the origins here are all on 443.
        let name = match entry.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() && !name.contains(':') => name,
            _ => entry,
        };
        let domain = name.trim_start_matches('.').to_ascii_lowercase();
        !domain.is_empty()
            && (host == domain
                || host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|rest| rest.ends_with('.')))
    });
    (!bypassed).then_some(proxy)
}

/// A proxy URL fit for a log line: any `user:password@` removed.
pub fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{scheme}://{}", rest.rsplit('@').next().unwrap_or(rest)),
        None => url.rsplit('@').next().unwrap_or(url).to_string(),
    }
}

/// Reads a file the config names; the error names the key and the path, never the contents.
pub fn read(path: &str, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key} {path}: {e}"))
}

/// Counts successful connects of the connector it wraps (reqwest's connector type is sealed,
/// so this is generic over whatever it returns).
#[derive(Clone)]
pub struct CountConnections {
    opened: IntCounter,
}

impl<S> tower::Layer<S> for CountConnections {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            opened: self.opened.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    opened: IntCounter,
}

impl<S, R> tower::Service<R> for Counted<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let connecting = self.inner.call(req);
        let opened = self.opened.clone();
        Box::pin(async move {
            let conn = connecting.await;
            if conn.is_ok() {
                opened.inc();
            }
            conn
        })
    }
}

#[cfg(test)]
mod tests {
    use super::proxy_in;

    #[test]
    fn fcm_takes_the_proxy_go_takes() {
        let proxy = "http://proxy:3128";
        let pick = |host: &str, vars: &[(&str, &str)]| {
            proxy_in(host, |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        let some = Some(proxy.to_string());
        let fcm = "fcm.googleapis.com";
        assert_eq!(pick(fcm, &[("HTTPS_PROXY", proxy)]), some);
        assert_eq!(pick(fcm, &[("https_proxy", proxy)]), some);
        assert_eq!(
            pick(fcm, &[("HTTP_PROXY", proxy)]),
            None,
            "http's is not https's"
        );
        assert_eq!(pick(fcm, &[]), None);
        for local in ["localhost", "127.0.0.1", "[::1]", "127.0.0.2"] {
            assert_eq!(pick(local, &[("HTTPS_PROXY", proxy)]), None, "{local}");
        }
        for no_proxy in [
            "*",
            "fcm.googleapis.com",
            "googleapis.com",
            ".googleapis.com",
            "example.com, googleapis.com:443",
        ] {
            let vars = [("HTTPS_PROXY", proxy), ("NO_PROXY", no_proxy)];
            assert_eq!(pick(fcm, &vars), None, "NO_PROXY={no_proxy}");
        }
        for no_proxy in ["apis.com", "example.com", "", ","] {
            let vars = [("HTTPS_PROXY", proxy), ("no_proxy", no_proxy)];
            assert_eq!(pick(fcm, &vars), some, "no_proxy={no_proxy}");
        }
        let vars = [("HTTPS_PROXY", proxy), ("NO_PROXY", "10.0.0.0/8")];
        assert_eq!(pick("10.1.2.3", &vars), None);
        assert_eq!(pick("11.1.2.3", &vars), some);
    }
}
