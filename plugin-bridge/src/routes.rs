//! The MPNS HTTP API (docs/mpns-contract.md §1) and the probes `/healthz`, `/readyz`.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use gojson::encode_go_map;
use pushgate::v1::Status;

use crate::{
    backend::Backend,
    decode,
    throttle::{Limiter, ThrottleSettings},
};

/// Bodies larger than this are refused without being read whole.
pub const MAX_BODY_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct Settings {
    pub throttle: ThrottleSettings,
    pub metrics_enabled: bool,
    /// `GET /version`: the build's git hash and version.
    pub hash: String,
    pub version: String,
    /// The time a client has to send a whole request body (a slow client cannot hold a
    /// connection by dribbling it).
    pub body_read: std::time::Duration,
    /// `POST /api/v2/send` wants `Authorization: Bearer <this>` when set: the token the gRPC
    /// API wants (`GrpcAuthToken`), so both forms of `Send` are guarded alike.
    pub api_token: Option<String>,
}

impl Settings {
    /// This build's hash and version, and MPNS's 60 s to read a body.
    pub fn new(throttle: ThrottleSettings, metrics_enabled: bool) -> Settings {
        Settings {
            throttle,
            metrics_enabled,
            hash: crate::build_info::GIT_HASH.into(),
            version: crate::build_info::VERSION.into(),
            body_read: std::time::Duration::from_secs(60),
            api_token: None,
        }
    }
}

struct App<B> {
    backend: Arc<B>,
    settings: Settings,
    limiter: Limiter,
}

pub fn router<B: Backend>(backend: Arc<B>, settings: Settings) -> Router {
    let app = Arc::new(App {
        backend,
        limiter: Limiter::new(settings.throttle.clone()),
        settings,
    });
    // gorilla/mux answers another method on a GET route 405 (no `Allow`), and on MPNS's POST
    // routes 404, as if the path were unknown (checked against MPNS itself).
    let mut routes = Router::new()
        .route("/", get(root).fallback(not_allowed))
        .route("/version", get(version::<B>).fallback(not_allowed))
        .route(
            "/api/v1/send_push",
            post(send_push::<B>).fallback(not_found),
        )
        .route("/api/v1/ack", post(ack::<B>).fallback(not_found))
        .route("/api/v2/send", post(send_v2::<B>).fallback(not_found))
        .route("/healthz", get(healthz).fallback(not_allowed))
        .route("/readyz", get(readyz::<B>).fallback(not_allowed));
    if app.settings.metrics_enabled {
        routes = routes.route("/metrics", get(metrics::<B>).fallback(not_allowed));
    }
    let routes = routes.fallback(fallback).with_state(app.clone());
    // One layer around the whole router (each layer costs every request in flight a boxed
    // future): only there does the answer carry the `Allow` axum adds to a 405.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn_with_state(app, front::<B>))
}

/// gorilla/mux's answer to a path it has no route for: a redirect to the cleaned path when the
/// path is not clean (`//`, `/./`, `/../`), else Go's `http.NotFound`.
async fn fallback(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    let clean = clean_path(path);
    if clean != path {
        let location = match uri.query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        return (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    not_found().await
}

/// Go's `path.Clean`, keeping a trailing slash as gorilla/mux does.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut clean = format!("/{}", parts.join("/"));
    if path.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    clean
}

/// gorilla/mux's 405: no body, no `Allow`.
async fn not_allowed() -> Response {
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

/// Go's `http.NotFound`.
async fn not_found() -> Response {
    go_not_found()
}

/// Go's `http.NotFound`, for a caller outside the router that must answer as an unknown route
/// does (the Mattermost plugin, for a wrong path secret).
pub fn go_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        "404 page not found\n",
    )
        .into_response()
}

/// What gorilla/mux and MPNS's rate limiter do around every route: the limit first (its
/// headers on every answer), HEAD on a GET route 405 (MPNS's GET routes are `Methods("GET")`,
/// where axum would answer from the GET handler; HEAD elsewhere falls through to 404, as there),
/// and a 405 without `Allow`.
async fn front<B: Backend>(State(app): State<Arc<App<B>>>, req: Request, next: Next) -> Response {
    let verdict = app.limiter.check(req.headers()).await;
    if verdict.backend_error {
        app.backend.throttle_backend_error();
    }
    let head_on_get_route = req.method() == axum::http::Method::HEAD
        && matches!(
            req.uri().path(),
            "/" | "/version" | "/metrics" | "/healthz" | "/readyz"
        );
    let mut response = if verdict.allowed && head_on_get_route {
        not_allowed().await
    } else if verdict.allowed {
        let mut response = next.run(req).await;
        response.headers_mut().remove(header::ALLOW);
        response
    } else {
        app.backend.throttled();
        tracing::error!(path = %req.uri().path(), ip = %client_ip(&req), "Error: code=429");
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            "limit exceeded\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(verdict.reset));
        r
    };
    let h = response.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(verdict.limit));
    h.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(verdict.remaining),
    );
    h.insert("x-ratelimit-reset", HeaderValue::from(verdict.reset));
    response
}

/// The caller as MPNS logs it: `X-Forwarded-For` (whole), else `X-Real-IP`, else the peer's
/// address.
fn client_ip(req: &Request) -> String {
    ["x-forwarded-for", "x-real-ip"]
        .iter()
        .find_map(|h| {
            req.headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(String::from)
        })
        .or_else(|| {
            req.extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|peer| peer.0.ip().to_string())
        })
        .unwrap_or_default()
}

async fn root() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<html><body>Mattermost Push Proxy</body></html>",
    )
        .into_response()
}

async fn version<B: Backend>(State(app): State<Arc<App<B>>>) -> Response {
    let body = gojson::to_go_json(&serde_json::json!({
        "hash": app.settings.hash,
        "version": app.settings.version,
    })) + "\n";
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An MPNS answer: always HTTP 200, the status in the body (docs/mpns-contract.md §2.3).
pub fn answer(status: Status, error: &str) -> Response {
    let body = match status {
        Status::Fail => encode_go_map([("error", error), ("status", "FAIL")]),
        Status::Remove => encode_go_map([("status", "REMOVE")]),
        Status::Ok | Status::Unspecified => encode_go_map([("status", "OK")]),
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A backend error: `INVALID_ARGUMENT` carries MPNS's validation text; anything else (the
/// upstream proxy unreachable, a deadline) is still one definitive FAIL.
fn backend_error(status: &tonic::Status) -> Response {
    if status.code() == tonic::Code::InvalidArgument {
        answer(Status::Fail, status.message())
    } else {
        tracing::error!(code = ?status.code(), error = %status.message(), "pushgate upstream call failed");
        answer(
            Status::Fail,
            &format!("pushgate upstream error: {}", status.message()),
        )
    }
}

/// Why a body could not be read.
struct Unread {
    /// The text after `Failed to read … body: `.
    text: String,
    /// The body was left half read: the connection must not carry another request.
    close: bool,
}

async fn read_body(body: Body, within: std::time::Duration) -> Result<bytes::Bytes, Unread> {
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    let read = tokio::time::timeout(within, Limited::new(body, MAX_BODY_BYTES).collect()).await;
    let Ok(read) = read else {
        return Err(Unread {
            text: "http: timeout reading the request body".into(),
            close: true,
        });
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Unread {
            text: "http: request body too large".into(),
            close: true,
        }),
        // A broken chunk, a client that went quiet, a connection reset.
        Err(e) => Err(Unread {
            text: format!("http: {e}"),
            close: true,
        }),
    }
}

/// Reads and decodes a body; a failure is MPNS's FAIL `Failed to read <what> body: …`.
async fn decode_body<B: Backend, T>(
    app: &App<B>,
    body: Body,
    what: &str,
    decode: fn(&[u8]) -> Result<T, String>,
) -> Result<T, Response> {
    let started = std::time::Instant::now();
    let (error, close) = match read_body(body, app.settings.body_read).await {
        Ok(bytes) => match decode(&bytes) {
            Ok(decoded) => return Ok(decoded),
            Err(e) => (e, false),
        },
        Err(unread) => (unread.text, unread.close),
    };
    let text = format!("Failed to read {what} body: {error}");
    tracing::error!("{text}");
    app.backend.bad_request(started.elapsed());
    let mut fail = answer(Status::Fail, &text);
    if close {
        // Say so, so a client that pipelines knows to send its next request again elsewhere.
        fail.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    Err(fail)
}

async fn send_push<B: Backend>(State(app): State<Arc<App<B>>>, body: Body) -> Response {
    let n = match decode_body(&app, body, "message", decode::push_notification).await {
        Ok(n) => n,
        Err(fail) => return fail,
    };
    match app.backend.send_push(n).await {
        Ok(r) => answer(r.status(), &r.error),
        Err(status) => backend_error(&status),
    }
}

async fn ack<B: Backend>(State(app): State<Arc<App<B>>>, body: Body) -> Response {
    let a = match decode_body(&app, body, "ack", decode::push_ack).await {
        Ok(a) => a,
        Err(fail) => return fail,
    };
    match app.backend.send_ack(a).await {
        Ok(r) => answer(r.status(), &r.error),
        Err(status) => backend_error(&status),
    }
}

/// `Send` over HTTP: `SendRequest` in protobuf's JSON mapping in, `SendResponse` out (docs/api.md).
/// Errors are `{"code": "...", "message": "..."}` with the HTTP status of the gRPC code; a body
/// that is not a `SendRequest` is a 400 naming what is wrong, never a 500.
async fn send_v2<B: Backend>(
    State(app): State<Arc<App<B>>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    if let Some(token) = &app.settings.api_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            token.as_bytes(),
        )) {
            let status =
                tonic::Status::unauthenticated("a valid Authorization: Bearer token is needed");
            return json_error(&status);
        }
    }
    let bytes = match read_body(body, app.settings.body_read).await {
        Ok(bytes) => bytes,
        Err(unread) => {
            return json_error(&tonic::Status::invalid_argument(format!(
                "cannot read the body: {}",
                unread.text
            )))
        }
    };
    // serde_path_to_error: the error names the field (`notification.ttl`), not only a column.
    let mut json = serde_json::Deserializer::from_slice(&bytes);
    let request: pushgate::v1::SendRequest = match serde_path_to_error::deserialize(&mut json) {
        Ok(request) => request,
        Err(e) => {
            // The root's path is "."; say "body" for a body that is not a JSON object at all.
            let field = match e.path().to_string() {
                root if root == "." => "body".to_string(),
                field => field,
            };
            return json_error(&tonic::Status::invalid_argument(format!(
                "{field}: not a SendRequest in protobuf's JSON mapping: {}",
                e.inner()
            )));
        }
    };
    match app.backend.send(request).await {
        Ok(answer) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&answer).unwrap_or_default(),
        )
            .into_response(),
        Err(status) => json_error(&status),
    }
}

/// A failed `POST /api/v2/send`: the gRPC code and message, with the HTTP status Google's
/// HTTP/JSON transcoding gives that code.
fn json_error(status: &tonic::Status) -> Response {
    use tonic::Code;
    let http = match status.code() {
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    };
    let body = serde_json::json!({
        "code": format!("{:?}", status.code()),
        "message": status.message(),
    });
    (
        http,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz<B: Backend>(State(app): State<Arc<App<B>>>) -> Response {
    let r = app.backend.readiness().await;
    let targets: serde_json::Map<String, serde_json::Value> = r
        .targets
        .iter()
        .map(|(name, serving)| {
            let state = if *serving { "SERVING" } else { "NOT_SERVING" };
            (name.clone(), state.into())
        })
        .collect();
    let body = serde_json::json!({
        "status": if r.ready { "ready" } else { "not ready" },
        "targets": targets,
    });
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn metrics<B: Backend>(State(app): State<Arc<App<B>>>) -> Response {
    match app.backend.metrics() {
        Some(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        None => not_found().await,
    }
}

#[cfg(test)]
mod tests {
    use super::{clean_path, client_ip, Request};

    #[test]
    fn the_429_log_names_the_client_as_mpns_does() {
        let peer = std::net::SocketAddr::from(([10, 1, 2, 3], 5555));
        let request = |headers: &[(&str, &str)]| {
            let mut r = Request::new(axum::body::Body::empty());
            for (k, v) in headers {
                let name = axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
                r.headers_mut().insert(name, v.parse().unwrap());
            }
            r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            r
        };
        let both = [
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-real-ip", "3.3.3.3"),
        ];
        assert_eq!(
            client_ip(&request(&both)),
            "1.1.1.1, 2.2.2.2",
            "the whole header"
        );
        assert_eq!(client_ip(&request(&[("x-real-ip", "3.3.3.3")])), "3.3.3.3");
        assert_eq!(client_ip(&request(&[])), "10.1.2.3", "the peer's address");
    }

    #[test]
    fn cleans_like_go() {
        for (dirty, clean) in [
            ("/", "/"),
            ("//api/v1/send_push", "/api/v1/send_push"),
            ("/api/./v1/ack", "/api/v1/ack"),
            ("/api/x/../v1/ack", "/api/v1/ack"),
            ("/..", "/"),
            ("/api/v1/send_push/", "/api/v1/send_push/"),
            ("/a//b/", "/a/b/"),
        ] {
            assert_eq!(clean_path(dirty), clean, "{dirty}");
        }
    }
}
