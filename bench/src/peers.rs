//! The proxies pushgate is measured against, run on the same load and the same mocks in the same
//! run: MPNS (`--peer mpns=BINARY`, on the MPNS HTTP API) and gorush (`--peer gorush=BINARY`,
//! on its gRPC `Send` and REST `/api/push`, one token a call).
//!
//! Neither can be pointed at another APNs or FCM, so they reach the mocks as they would reach
//! Apple and Google: through one CONNECT router (`HTTPS_PROXY`, gorush's `core.http_proxy`)
//! that sends `api.push.apple.com:443` and `fcm.googleapis.com:443` to the mocks and refuses
//! anything but loopback, with the mocks' CAs trusted through `SSL_CERT_FILE`; the service
//! account's `token_uri` names the mock's token endpoint. This repository keeps no code of
//! theirs: the binaries are built outside it (bench/README.md).

use std::process::Command;

use pushgate_tests::{
    android::service_account_file,
    apple::{AppleKey, KEY_ID, TEAM_ID},
    connect_proxy::ConnectProxy,
    free_port,
    mock_apns::MockApns,
    mock_fcm::MockFcm,
    temp_dir,
};

use crate::{closed_loop, first_error, log_to_file, notification, Args, Logs, Proxy, Run};

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Mpns,
    Gorush,
}

pub struct Peer {
    pub kind: Kind,
    pub process: Proxy,
}

/// What the peers need to reach the mocks.
pub struct Reach<'a> {
    pub apns: &'a MockApns,
    pub fcm: &'a MockFcm,
    pub key: &'a AppleKey,
    pub router: &'a ConnectProxy,
}

impl Peer {
    /// `spec` is `mpns=BINARY` or `gorush=BINARY`.
    pub fn start(spec: &str, reach: &Reach<'_>, a: &Args) -> Peer {
        let (name, exe) = spec
            .split_once('=')
            .unwrap_or_else(|| panic!("--peer {spec}: expected NAME=BINARY"));
        let kind = match name {
            "mpns" => Kind::Mpns,
            "gorush" => Kind::Gorush,
            other => panic!("--peer {other}: the peers are mpns and gorush"),
        };
        assert!(
            std::path::Path::new(exe).exists(),
            "--peer {name}: {exe} is missing (bench/README.md says how to build it)"
        );
        let dir = temp_dir(name);
        let cas = dir.join("mock-cas.pem");
        std::fs::write(
            &cas,
            format!(
                "{}{}",
                reach.apns.ca_pem,
                reach.fcm.ca_pem.as_ref().expect("the mock FCM speaks TLS")
            ),
        )
        .unwrap();
        let sa = service_account_file(&dir, true);
        let mut account: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&sa).unwrap()).unwrap();
        account["token_uri"] = reach.fcm.token_uri().into();
        std::fs::write(&sa, account.to_string()).unwrap();
        let router = format!("http://{}", reach.router.addr);
        let mut cmd = Command::new(exe);
        let (http, grpc) = (free_port(), free_port());
        match kind {
            Kind::Mpns => {
                let config = dir.join("mpns.json");
                std::fs::write(
                    &config,
                    mpns_config(http, reach.key, &sa, a.logs).to_string(),
                )
                .unwrap();
                cmd.args(["-config", config.to_str().unwrap()]);
            }
            Kind::Gorush => {
                // JSON is YAML: gorush reads it by the file's extension.
                let config = dir.join("gorush.yml");
                let yaml = gorush_config(http, grpc, reach.key, &sa, &router, &dir, a);
                std::fs::write(&config, yaml.to_string()).unwrap();
                cmd.args(["-c", config.to_str().unwrap()]);
            }
        }
        cmd.env("HTTPS_PROXY", &router)
            .env("SSL_CERT_FILE", &cas)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .current_dir(&dir);
        log_to_file(&mut cmd, &dir);
        let process = Proxy {
            child: cmd.spawn().unwrap_or_else(|e| panic!("{exe} starts: {e}")),
            http,
            grpc: if kind == Kind::Gorush { grpc } else { 0 },
        };
        let ports: Vec<u16> = [http, process.grpc]
            .into_iter()
            .filter(|p| *p != 0)
            .collect();
        process.wait_listening(&ports);
        Peer { kind, process }
    }

    /// How its rows start: `mpns `, `gorush `.
    pub fn label(&self) -> &'static str {
        match self.kind {
            Kind::Mpns => "mpns ",
            Kind::Gorush => "gorush ",
        }
    }

    /// How this peer serves one of pushgate's scenarios, if it does: its name for it.
    pub fn scenario(&self, kind: &str) -> Option<&'static str> {
        match (self.kind, kind) {
            (Kind::Mpns, "http-bridge") => Some("http-bridge"),
            (Kind::Gorush, "grpc-unary") => Some("grpc-send"),
            (Kind::Gorush, "http-bridge") => Some("rest-push"),
            _ => None,
        }
    }

    /// One scenario's pushes on this peer.
    pub async fn run(&self, kind: &str, platform: &'static str, a: &Args) -> Run {
        match (self.kind, kind) {
            (Kind::Mpns, _) => crate::http_bridge(&self.process, platform, a).await,
            (Kind::Gorush, "grpc-unary") => gorush_grpc(&self.process, platform, a).await,
            _ => gorush_rest(&self.process, platform, a).await,
        }
    }
}

/// MPNS as an operator runs it, with the bench's Apple key and service account.
fn mpns_config(http: u16, key: &AppleKey, sa: &std::path::Path, logs: Logs) -> serde_json::Value {
    let apple = |kind: &str| {
        serde_json::json!({
            "Type": kind, "ApplePushTopic": "com.mattermost.react.native",
            "AppleAuthKeyFile": key.p8_path, "AppleAuthKeyID": KEY_ID, "AppleTeamID": TEAM_ID,
        })
    };
    serde_json::json!({
        "ListenAddress": format!("127.0.0.1:{http}"),
        "ThrottlePerSec": 300, "ThrottleMemoryStoreSize": 50000,
        "ThrottleVaryByHeader": "X-Forwarded-For",
        "SendTimeoutSec": 30, "RetryTimeoutSec": 8, "EnableMetrics": true,
        "ApplePushSettings": [apple("apple"), apple("apple_rn")],
        "AndroidPushSettings": [
            {"Type": "android", "ServiceFileLocation": sa},
            {"Type": "android_rn", "ServiceFileLocation": sa},
        ],
        // Its quietest is no log at all.
        "EnableConsoleLog": logs == Logs::Default, "EnableFileLog": false, "LogFormat": "plain",
    })
}

/// gorush measured fairly: answers after delivery (`core.sync`, REST only), as many workers and
/// concurrent APNs pushes as the load has pushes in flight, APNs in production through the
/// router.
fn gorush_config(
    http: u16,
    grpc: u16,
    key: &AppleKey,
    sa: &std::path::Path,
    router: &str,
    dir: &std::path::Path,
    a: &Args,
) -> serde_json::Value {
    let level = match a.logs {
        Logs::Default => "debug",
        Logs::Quietest => "error",
    };
    serde_json::json!({
        "core": {
            "enabled": true, "address": "127.0.0.1", "port": http.to_string(),
            "sync": true, "worker_num": a.concurrency.max(2), "queue_num": 65536,
            "max_notification": 1000, "mode": "release", "http_proxy": router,
        },
        "grpc": {"enabled": true, "port": grpc.to_string()},
        "ios": {
            "enabled": true, "key_path": key.p8_path, "key_type": "p8", "key_id": KEY_ID,
            "team_id": TEAM_ID, "production": true,
            "max_concurrent_pushes": a.concurrency.max(100),
        },
        "android": {"enabled": true, "key_path": sa},
        "log": {
            "format": "string",
            "access_log": dir.join("access.log"), "access_level": level,
            "error_log": dir.join("error.log"), "error_level": "error",
            "hide_token": true, "hide_messages": false,
        },
        "stat": {"engine": "memory"},
    })
}

/// gorush's platform numbers.
fn gorush_platform(platform: &str) -> i32 {
    if platform.starts_with("apple") {
        1
    } else {
        2
    }
}

/// The bench's Mattermost push as gorush takes it.
fn gorush_request(platform: &'static str, i: usize) -> GorushRequest {
    let n = notification(platform, i);
    GorushRequest {
        tokens: vec![n.device_id],
        platform: gorush_platform(platform),
        message: n.message,
        title: n.channel_name,
        topic: if platform.starts_with("apple") {
            "com.mattermost.react.native".into()
        } else {
            String::new()
        },
        badge: n.badge,
        category: n.category,
        thread_id: n.channel_id,
        mutable_content: true,
        priority: 1,
    }
}

/// gorush's gRPC `Send`, one token a call. gorush answers before it delivers, so its latency
/// is acceptance only; `settle` waits for the mock to have every push before CPU is read.
async fn gorush_grpc(p: &Proxy, platform: &'static str, a: &Args) -> Run {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", p.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    closed_loop(a, move |i| {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        async move {
            let call = async {
                grpc.ready().await.map_err(|e| e.to_string())?;
                grpc.unary(
                    tonic::Request::new(gorush_request(platform, i)),
                    tonic::codegen::http::uri::PathAndQuery::from_static("/proto.Gorush/Send"),
                    tonic_prost::ProstCodec::<GorushRequest, GorushReply>::default(),
                )
                .await
                .map_err(|e| e.to_string())
            };
            match call.await {
                Ok(reply) if reply.get_ref().success => true,
                other => {
                    first_error(&format!("gorush Send: {other:?}"));
                    false
                }
            }
        }
    })
    .await
}

/// gorush's REST `/api/push`, one notification of one token a call; with `core.sync` it
/// answers after delivery, with the failures in `logs`.
async fn gorush_rest(p: &Proxy, platform: &'static str, a: &Args) -> Run {
    let client = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .pool_max_idle_per_host(a.concurrency)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/api/push", p.http);
    closed_loop(a, move |i| {
        let r = gorush_request(platform, i);
        let body = serde_json::json!({"notifications": [{
            "tokens": r.tokens, "platform": r.platform, "message": r.message, "title": r.title,
            "topic": r.topic, "badge": r.badge, "category": r.category, "thread_id": r.thread_id,
            "mutable_content": r.mutable_content, "priority": "high",
        }]});
        let (client, url) = (client.clone(), url.clone());
        async move {
            let answer: Result<serde_json::Value, String> =
                match client.post(&url).json(&body).send().await {
                    Ok(r) => r.json().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
            match answer {
                Ok(v) if v["success"] == "ok" && v["logs"].as_array().is_none_or(Vec::is_empty) => {
                    true
                }
                other => {
                    first_error(&format!("gorush /api/push: {other:?}"));
                    false
                }
            }
        }
    })
    .await
}

/// Waits until the mocks have `expected` more pushes than `before` (a peer that answers before
/// it delivers), or 60 s.
pub async fn settle(received: impl Fn() -> usize, before: usize, expected: usize) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while received() < before + expected && std::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// gorush's `proto.NotificationRequest`, the fields the bench sets (their numbers are gorush's
/// wire format, `rpc/proto/gorush.proto`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct GorushRequest {
    #[prost(string, repeated, tag = "1")]
    tokens: Vec<String>,
    #[prost(int32, tag = "2")]
    platform: i32,
    #[prost(string, tag = "3")]
    message: String,
    #[prost(string, tag = "4")]
    title: String,
    #[prost(string, tag = "5")]
    topic: String,
    #[prost(int32, tag = "7")]
    badge: i32,
    #[prost(string, tag = "8")]
    category: String,
    #[prost(string, tag = "12")]
    thread_id: String,
    #[prost(bool, tag = "13")]
    mutable_content: bool,
    /// 1: HIGH.
    #[prost(int32, tag = "16")]
    priority: i32,
}

/// gorush's `proto.NotificationReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GorushReply {
    #[prost(bool, tag = "1")]
    success: bool,
    #[prost(int32, tag = "2")]
    counts: i32,
}
