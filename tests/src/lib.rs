//! Shared pieces of pushgate's end-to-end tests: configs, a server started on free loopback
//! ports, clients, and the path of the built binaries.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use pushgate::v1::push_proxy_client::PushProxyClient;
use pushgate_proxy::{config::Config, server};
use tonic::transport::Channel;

pub mod android;
pub mod apple;
pub mod connect_proxy;
pub mod examples;
pub mod mock_apns;
pub mod mock_fcm;
pub mod mock_hms;
pub mod mock_tls;
pub mod mock_webpush;
pub mod otlp_receiver;
pub mod pki;
pub mod process;
pub mod recorder;
pub mod redis;
pub mod reply;

/// The first retry wait of in-process tests ([`dry_run_config`]).
pub const RETRY_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

/// A config whose four targets are dry-run, listening on free loopback ports.
pub fn dry_run_config() -> Config {
    let mut config = Config::embedded_dry_run();
    config.listeners.http = "127.0.0.1:0".into();
    config.listeners.grpc = "127.0.0.1:0".into();
    // In-process tests shut down often; the drain grace has its own test.
    config.listeners.drain_grace = std::time::Duration::ZERO;
    // Retries wait 50 ms, then 100 ms, not MPNS's 1 s and 2 s: the schedule is the same, the
    // suite does not sleep real seconds. One test keeps the real waits (apns.rs).
    config.delivery.retry_backoff = RETRY_BACKOFF;
    config
}

/// [`dry_run_config`] with more top-level keys, e.g. the section of a provider MPNS has no
/// struct for (`HuaweiPushSettings`), which pushgate reads from the file as given.
pub fn config_with(keys: serde_json::Value) -> Config {
    let mut file: serde_json::Value =
        serde_json::from_str(pushgate_proxy::config::EMBEDDED_DRY_RUN).unwrap();
    for (key, value) in keys.as_object().expect("an object of config keys") {
        file[key] = value.clone();
    }
    let parsed = Config::parse(file.to_string().as_bytes()).expect("a valid config");
    let mut config = dry_run_config();
    config.targets = parsed.targets;
    config
}

pub async fn start(config: &Config) -> server::Running {
    server::start(config).await.expect("pushgate starts")
}

pub async fn grpc_client(running: &server::Running) -> PushProxyClient<Channel> {
    PushProxyClient::connect(format!("http://{}", running.grpc_addr))
        .await
        .expect("gRPC connects")
}

/// Sends `n` pushes for `platform` (tokens `tok0`, `tok1`, …) over one StreamPush call, all in
/// flight at once, and checks that each is answered exactly once, with OK.
pub async fn stream_pushes_all_ok(running: &server::Running, platform: &str, n: usize) {
    use futures::StreamExt;
    use pushgate::v1::{PushNotification, SendPushRequest, Status};
    let mut client = grpc_client(running).await;
    let platform = platform.to_string();
    let requests = (0..n).map(move |i| SendPushRequest {
        notification: Some(PushNotification {
            platform: platform.clone(),
            server_id: "s".into(),
            device_id: format!("{i:08x}"),
            r#type: "message".into(),
            message: "m".into(),
            ..Default::default()
        }),
        request_id: i.to_string(),
    });
    let mut answers = client
        .stream_push(tokio_stream::iter(requests))
        .await
        .expect("StreamPush starts")
        .into_inner();
    let mut answered = std::collections::HashSet::new();
    while let Some(answer) = answers.next().await {
        let answer = answer.expect("the stream stays healthy");
        assert_eq!(answer.status(), Status::Ok, "{answer:?}");
        assert!(
            answered.insert(answer.request_id.clone()),
            "{} answered twice",
            answer.request_id
        );
    }
    assert_eq!(answered.len(), n, "every push answered");
}

/// A push as the HTTP bridge decodes a Mattermost server's bytes.
pub fn push_from_json(json: &str) -> pushgate::v1::PushNotification {
    pushgate_bridge::decode::push_notification(json.as_bytes()).expect("a valid push")
}

/// One `SendPush`; a delivery outcome is expected (not a gRPC error).
pub async fn send(
    client: &mut PushProxyClient<Channel>,
    n: pushgate::v1::PushNotification,
) -> pushgate::v1::SendPushResponse {
    client
        .send_push(pushgate::v1::SendPushRequest {
            notification: Some(n),
            request_id: "r".into(),
        })
        .await
        .expect("a delivery outcome")
        .into_inner()
}

/// What gRPC health says of `service`; `None` when it is not a known service.
pub async fn health_of(
    running: &server::Running,
    service: &str,
) -> Option<tonic_health::pb::health_check_response::ServingStatus> {
    health_at(&running.grpc_addr.to_string(), service).await
}

/// `grpc.health.v1.Health/Check` of `service` at `grpc_addr` (`host:port`); `None` when the
/// server does not know the service.
pub async fn health_at(
    grpc_addr: &str,
    service: &str,
) -> Option<tonic_health::pb::health_check_response::ServingStatus> {
    use tonic_health::pb::{health_client::HealthClient, HealthCheckRequest};
    let channel = Channel::from_shared(format!("http://{grpc_addr}"))
        .expect("an address")
        .connect()
        .await
        .expect("gRPC connects");
    let mut health = HealthClient::new(channel);
    match health
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
    {
        Ok(answer) => Some(answer.into_inner().status()),
        Err(status) if status.code() == tonic::Code::NotFound => None,
        Err(status) => panic!("health check of {service}: {status}"),
    }
}

/// Every sample of a Prometheus text exposition: `name{labels}` as written → value.
pub fn samples(text: &str) -> std::collections::HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

pub fn http_url(running: &server::Running, path: &str) -> String {
    format!("http://{}{path}", running.http_addr)
}

/// A built binary of this workspace (`cargo test --workspace` builds them before tests run).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run the tests with `cargo test --workspace`",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir, unique per call.
pub fn temp_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pushgate-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A loopback port that was free a moment ago, for processes that take a fixed address.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A minimal message push for `device_id` on `platform`: what delivery tests send.
pub fn push(platform: &str, device_id: &str) -> pushgate::v1::PushNotification {
    pushgate::v1::PushNotification {
        platform: platform.into(),
        server_id: "s".into(),
        device_id: device_id.into(),
        r#type: "message".into(),
        message: "m".into(),
        ..Default::default()
    }
}

/// Fails the test, naming `what` to install, unless `command` (a program and its arguments,
/// e.g. `["go", "version"]`) runs and succeeds. Outside CI a test whose tool is missing is
/// compiled as ignored (tests/build.rs), so this fails only where the tool must be there.
pub fn need(command: &[&str], what: &str) {
    let found = std::process::Command::new(command[0])
        .args(&command[1..])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "this test needs {what}: `{}` failed",
        command.join(" ")
    );
}
