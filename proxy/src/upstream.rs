//! Connections to the providers: the one HTTP client builder every target starts from (rustls,
//! keep-alives, an optional extra trusted CA for test or private endpoints), and the connector
//! layer that counts the connections it opens (`pushgate_upstream_connections_opened_total`).

use std::time::Duration;

use prometheus::IntCounter;

use crate::delivery::Lost;

/// The most of a provider's answer body pushgate reads. Answers are a few hundred bytes; a
/// proxy or balancer in between may send megabytes of HTML, which must not be held in memory.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// How a target's client differs from the shared defaults.
pub struct ClientSettings<'a> {
    /// The config key and path of an extra trusted root (`ApplePushCAFile`, `FcmCAFile`), or "".
    pub ca_file: (&'a str, &'a str),
    /// Budget to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Counts the connections this client opens.
    pub opened: IntCounter,
}

/// A reqwest builder with what every upstream shares; the caller adds what is its own (HTTP/2
/// only, pool sizes, a client certificate) and builds.
pub fn client_builder(settings: ClientSettings<'_>) -> Result<reqwest::ClientBuilder, String> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(settings.connect_timeout)
        .tcp_keepalive(Duration::from_secs(15))
        .http2_keep_alive_interval(Duration::from_secs(15))
        .connector_layer(CountConnections {
            opened: settings.opened,
        });
    let (key, path) = settings.ca_file;
    if !path.is_empty() {
        let pem = read(path, key)?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{key} {path}: {e}"))?;
        builder = builder.add_root_certificate(ca);
    }
    Ok(builder)
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

/// A provider's answer to one request: its status, headers and (capped) body.
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The answer's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        crate::retry::retry_after(&self.headers)
    }
}

/// The one HTTP exchange every provider makes: sends `request` and reads the answer. A body
/// lost after the status arrived is kept empty: the status is the provider's answer, and a push
/// it took never goes again because the rest of its answer was lost.
pub async fn exchange(request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
    let mut response = request.send().await?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let body = read_answer(response).await.unwrap_or_default();
    Ok(Reply {
        status,
        headers,
        body,
    })
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
