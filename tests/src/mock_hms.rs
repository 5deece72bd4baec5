//! A mock Huawei Push Kit over HTTP on 127.0.0.1: an OAuth2 token endpoint that takes only the
//! client-credentials grant of `APP_ID` and `SECRET`, and `POST /v1/{app}/messages:send` that
//! takes only tokens it issued (else HTTP 401 with code 80200003, as HMS answers an expired
//! token), records every message and answers as the test scripts it.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use axum::{
    extract::{Form, Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};

use crate::recorder::{Recorded, Recorder};
pub use crate::reply::Reply;

pub const APP_ID: &str = "101234567";
pub const SECRET: &str = "hms-app-secret-not-a-real-one";

/// HMS's body for a result code.
pub fn hms_reply(status: u16, code: &str, msg: &str) -> Reply {
    Reply::status(
        status,
        &format!(r#"{{"code":"{code}","msg":"{msg}","requestId":"req-{code}"}}"#),
    )
}

struct Inner {
    recorder: Recorder,
    issued: Mutex<Vec<String>>,
    token_fetches: AtomicUsize,
}

pub struct MockHms {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockHms {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockHms {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            recorder: Recorder::default(),
            issued: Mutex::new(Vec::new()),
            token_fetches: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/oauth2/v3/token", post(token))
            .route("/v1/{app}/messages:send", post(send))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockHms { addr, inner, task }
    }

    /// A `HuaweiPushSettings` entry of `kind` that sends here.
    pub fn entry(&self, kind: &str) -> serde_json::Value {
        serde_json::json!({
            "Type": kind,
            "HmsAppId": APP_ID,
            "HmsClientId": APP_ID,
            "HmsClientSecret": SECRET,
            "HmsTokenEndpoint": format!("http://{}/oauth2/v3/token", self.addr),
            "HmsPushEndpoint": format!("http://{}", self.addr),
        })
    }

    pub fn reply_with(&self, f: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) {
        self.inner.recorder.reply_with(f);
    }

    /// The messages received with a valid token.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.recorder.requests()
    }

    pub fn token_fetches(&self) -> usize {
        self.inner.token_fetches.load(Ordering::SeqCst)
    }

    /// Forgets every issued token, as if they had all expired at Huawei.
    pub fn expire_tokens(&self) {
        self.inner.issued.lock().unwrap().clear();
    }
}

async fn token(
    State(inner): State<Arc<Inner>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let field = |k: &str| {
        form.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if field("grant_type") != "client_credentials"
        || field("client_id") != APP_ID
        || field("client_secret") != SECRET
    {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":1101,"sub_error":20155,"error_description":"invalid client"}"#,
        )
            .into_response();
    }
    let n = inner.token_fetches.fetch_add(1, Ordering::SeqCst);
    let access = format!("CF1mock-hms-token-{n}");
    inner.issued.lock().unwrap().push(access.clone());
    axum::Json(
        serde_json::json!({"access_token": access, "expires_in": 3600, "token_type": "Bearer"}),
    )
    .into_response()
}

async fn send(
    State(inner): State<Arc<Inner>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if app != APP_ID || !inner.issued.lock().unwrap().iter().any(|t| t == token) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"code":"80200003","msg":"OAuth token expired."}"#,
        )
            .into_response();
    }
    let reply = inner.recorder.take(Recorded {
        method: "POST".into(),
        path: format!("/v1/{app}/messages:send"),
        headers,
        body,
    });
    let body = if reply.status == 200 && reply.body.is_empty() {
        r#"{"code":"80000000","msg":"Success","requestId":"161234567890123456789"}"#.to_string()
    } else {
        reply.body.clone()
    };
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", "application/json;charset=UTF-8")],
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
