//! A mock FCM v1 endpoint and OAuth2 token endpoint over HTTP on 127.0.0.1. The token endpoint
//! verifies the JWT-bearer assertion against the service account's public key; the send
//! endpoint accepts only access tokens it issued, records every message, and answers as the
//! test scripts it.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
};

use axum::{
    extract::{Form, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use rsa::{
    pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding},
    RsaPrivateKey,
};

pub const CLIENT_EMAIL: &str = "pushgate-test@project-x.iam.gserviceaccount.com";
pub const PROJECT: &str = "project-x";

/// One RSA key per test binary: generating one takes a while.
pub fn service_key() -> &'static (String, String) {
    static KEY: OnceLock<(String, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
        let private = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        let public = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (private, public)
    })
}

pub use crate::recorder::Recorded;
use crate::recorder::Recorder;
pub use crate::reply::Reply;

impl Reply {
    /// An FCM error with an `FcmError` errorCode in its details.
    pub fn fcm_error(status: u16, google_status: &str, error_code: &str, message: &str) -> Self {
        Reply::status(
            status,
            &format!(
                r#"{{"error":{{"code":{status},"message":"{message}","status":"{google_status}","details":[{{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"{error_code}"}}]}}}}"#
            ),
        )
    }
}

/// FCM's answer to a message it took.
const SENT: &str = r#"{"name":"projects/project-x/messages/0:1"}"#;

struct Inner {
    /// The messages taken with a valid access token (token requests count only connections).
    recorder: Recorder,
    issued: Mutex<Vec<String>>,
    token_fetches: AtomicUsize,
    token_down: std::sync::atomic::AtomicBool,
    /// When set, the token endpoint never answers.
    token_hangs: std::sync::atomic::AtomicBool,
    public_pem: String,
    token_uri: OnceLock<String>,
}

pub struct MockFcm {
    pub addr: SocketAddr,
    /// With TLS (`start_tls`): the PEM of the mock's self-signed certificate, to trust.
    pub ca_pem: Option<String>,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockFcm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockFcm {
    /// Plain HTTP on 127.0.0.1.
    pub async fn start() -> Self {
        Self::start_with(false).await
    }

    /// HTTPS (HTTP/2 or 1.1 by ALPN) with a certificate also valid for Google's names, so a
    /// client that cannot be pointed elsewhere (MPNS, through a redirecting CONNECT proxy)
    /// reaches the mock.
    pub async fn start_tls() -> Self {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Self {
        let inner = Arc::new(Inner {
            recorder: Recorder::default(),
            issued: Mutex::new(Vec::new()),
            token_fetches: AtomicUsize::new(0),
            token_down: Default::default(),
            token_hangs: Default::default(),
            public_pem: service_key().1.clone(),
            token_uri: OnceLock::new(),
        });
        let app = Router::new()
            .route("/token", post(token))
            .route("/v1/projects/{project}/messages:send", post(send))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls { "https" } else { "http" };
        inner
            .token_uri
            .set(format!("{scheme}://{addr}/token"))
            .unwrap();
        if tls {
            let names = [
                "127.0.0.1",
                "localhost",
                "fcm.googleapis.com",
                "oauth2.googleapis.com",
            ];
            let crate::mock_tls::MockTls { acceptor, ca_pem } =
                crate::mock_tls::mock_tls(&names, &[b"h2", b"http/1.1"], None);
            let counted = inner.clone();
            let task = crate::mock_tls::serve(listener, acceptor, app, move || {
                counted.recorder.connected()
            });
            return MockFcm {
                addr,
                ca_pem: Some(ca_pem),
                inner,
                task,
            };
        }
        let counted = inner.clone();
        let listener = axum::serve::ListenerExt::tap_io(listener, move |tcp| {
            // Without it an answer's last segment waits for the client's delayed ACK (~40 ms).
            let _ = tcp.set_nodelay(true);
            counted.recorder.connected();
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockFcm {
            addr,
            ca_pem: None,
            inner,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn token_uri(&self) -> String {
        self.inner.token_uri.get().unwrap().clone()
    }

    /// Scripts the answers: called with each request and its 0-based number.
    pub fn reply_with(&self, f: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) {
        self.inner.recorder.reply_with(f);
    }

    /// Stops keeping requests (they are still answered and counted by the caller).
    pub fn stop_recording(&self) {
        self.inner.recorder.stop_recording();
    }

    /// The messages received (token requests are counted by `token_fetches`).
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.recorder.requests()
    }

    /// Connections accepted so far (messages and token requests share the listener).
    pub fn connections(&self) -> usize {
        self.inner.recorder.connections()
    }

    /// Messages received so far (with a valid access token), also while not recording.
    pub fn received(&self) -> usize {
        self.inner.recorder.received()
    }

    pub fn token_fetches(&self) -> usize {
        self.inner.token_fetches.load(Ordering::SeqCst)
    }

    /// Makes the token endpoint answer 503 (true) or work again (false).
    pub fn set_token_endpoint_down(&self, down: bool) {
        self.inner.token_down.store(down, Ordering::SeqCst);
    }

    /// Makes the token endpoint accept requests and never answer (true), or work again.
    pub fn set_token_endpoint_hanging(&self, hangs: bool) {
        self.inner.token_hangs.store(hangs, Ordering::SeqCst);
    }

    /// Issues an access token without the OAuth2 exchange (for clients that are not pushgate,
    /// such as the benchmark's direct scenario).
    pub fn issue_token(&self) -> String {
        let n = self.inner.token_fetches.load(Ordering::SeqCst);
        let token = format!("ya29.direct-token-{n}");
        self.inner.issued.lock().unwrap().push(token.clone());
        token
    }

    /// Forgets every issued access token, as if they had all expired at Google.
    pub fn revoke_tokens(&self) {
        self.inner.issued.lock().unwrap().clear();
    }
}

async fn token(
    State(inner): State<Arc<Inner>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if inner.token_hangs.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    if inner.token_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"unsupported_grant_type"}"#,
        )
            .into_response();
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(inner.public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[inner.token_uri.get().unwrap()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    let claims =
        match jsonwebtoken::decode::<serde_json::Value>(field("assertion"), &key, &validation) {
            Ok(data) => data.claims,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!(r#"{{"error":"invalid_grant","error_description":"{e}"}}"#),
                )
                    .into_response()
            }
        };
    // A scope that lets its holder send: FCM's own (what MPNS and pushgate ask for), or
    // cloud-platform, among those firebase-admin-go asks for (gorush).
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|s| {
        s == "https://www.googleapis.com/auth/firebase.messaging"
            || s == "https://www.googleapis.com/auth/cloud-platform"
    }) {
        return (StatusCode::BAD_REQUEST, r#"{"error":"invalid_scope"}"#).into_response();
    }
    let n = inner.token_fetches.fetch_add(1, Ordering::SeqCst);
    let access = format!("ya29.mock-token-{n}");
    inner.issued.lock().unwrap().push(access.clone());
    axum::Json(
        serde_json::json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer"}),
    )
    .into_response()
}

async fn send(
    State(inner): State<Arc<Inner>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !inner.issued.lock().unwrap().iter().any(|t| t == token) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
        )
            .into_response();
    }
    let recorded = Recorded {
        method: "POST".into(),
        path: format!("/v1/projects/{project}/messages:send"),
        headers,
        body,
    };
    let reply = inner.recorder.take(recorded);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = if reply.status == 200 && reply.body.is_empty() {
        SENT.to_string()
    } else {
        reply.body.clone()
    };
    // A late body is streamed; the rest go in one piece with a length, as Google sends them.
    let body = if reply.body_delay.is_zero() {
        axum::body::Body::from(body)
    } else {
        axum::body::Body::from_stream(reply.body_stream(body))
    };
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", "application/json; charset=UTF-8")],
        body,
    )
        .into_response();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("header value"));
    }
    response
}
