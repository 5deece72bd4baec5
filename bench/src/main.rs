//! pushgate-bench: how fast and how lean pushgate is.
//!
//!     cargo build --release --workspace
//!     target/release/pushgate-bench [--scenario NAME|all] [--pushes N] [--concurrency C]
//!                                   [--seconds S] [--rate PUSHES_PER_SEC] [--upstream-delay-ms MS]
//!                                   [--pushgate BINARY] [--baseline BINARY] [--instructions]
//!                                   [--peer mpns=BINARY] [--peer gorush=BINARY]
//!                                   [--logs quietest|default]
//!
//! Starts the mock APNs and mock FCM in this process, a release `pushgate` process configured
//! to send to them, and drives it from this process over 127.0.0.1. Scenarios: grpc-unary,
//! grpc-stream, grpc-send (the general API, 1,000 tokens a call) and http-bridge (each to apns
//! and fcm), direct (a bare HTTP/2 client straight
//! to the mock: the ceiling of the machine), and idle. Prints one table row per scenario.
//!
//! `--baseline OTHER` runs every scenario on both binaries back to back, against the same mocks
//! in the same run, and prints the ratios (`bench/compare REV` builds REV's binary for it).
//! `--instructions` counts the instructions pushgate executes per push under
//! `valgrind --tool=callgrind`: a figure that does not move with the machine's load.
//! `--peer` runs the same load on MPNS and gorush too (peers.rs), built outside this repository
//! (bench/README.md says how), and prints pushgate's figures over theirs.

#![forbid(unsafe_code)]

mod peers;

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Parser;
use futures::StreamExt;
use pushgate::v1::{push_proxy_client::PushProxyClient, PushNotification, SendPushRequest, Status};
use pushgate_tests::{
    android::service_account_file,
    apple::{apple_key, AppleKey, KEY_ID, TEAM_ID},
    connect_proxy::ConnectProxy,
    free_port,
    mock_apns::MockApns,
    mock_fcm::MockFcm,
    temp_dir,
};

/// How fast and how lean pushgate is: mock APNs and FCM in this process, a release pushgate
/// between them and the load.
#[derive(Parser, Clone, Debug)]
#[command(name = "pushgate-bench")]
struct Args {
    /// A scenario (grpc-unary-apns, http-bridge-fcm, direct, idle, ...) or `all`.
    #[arg(long, value_name = "NAME", default_value = "all")]
    scenario: String,
    /// Pushes per scenario.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pushes: usize,
    /// Pushes in flight at once.
    #[arg(long, value_name = "C", default_value_t = 64)]
    concurrency: usize,
    /// Run each scenario this long instead of for a number of pushes.
    #[arg(long, value_name = "S")]
    seconds: Option<u64>,
    /// Pushes per second to offer (paced), instead of as fast as the workers go.
    #[arg(long, value_name = "PUSHES_PER_SEC")]
    rate: Option<f64>,
    /// How long the mock providers take to answer, to hold many pushes in flight.
    #[arg(long = "upstream-delay-ms", value_name = "MS", default_value = "0", value_parser = millis)]
    upstream_delay: Duration,
    /// The binary under test; by default the `pushgate` beside this one.
    #[arg(long, value_name = "BINARY", default_value_os_t = beside_me("pushgate"))]
    pushgate: std::path::PathBuf,
    /// A second binary to run every scenario on as well, for ratios.
    #[arg(long, value_name = "BINARY")]
    baseline: Option<std::path::PathBuf>,
    /// Count instructions per push with callgrind instead of timing.
    #[arg(long)]
    instructions: bool,
    /// Another push proxy to run the same scenarios on: `mpns=BINARY` or `gorush=BINARY`.
    #[arg(long, value_name = "NAME=BINARY")]
    peer: Vec<String>,
    /// Every proxy at its quietest (errors only) or at its default level (MPNS and gorush:
    /// a line per push), logs to a file.
    #[arg(long, value_enum, default_value_t = Logs::Quietest)]
    logs: Logs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
enum Logs {
    Quietest,
    Default,
}

fn millis(value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("not a number of milliseconds: {value}"))
}

fn beside_me(name: &str) -> std::path::PathBuf {
    std::env::current_exe()
        .map(|exe| exe.with_file_name(name))
        .unwrap_or_else(|_| name.into())
}

fn args() -> Args {
    Args::parse()
}

/// A proxy process under test (pushgate, or a peer), and its resource use read from /proc.
struct Proxy {
    child: Child,
    /// The MPNS HTTP API, or gorush's REST API.
    http: u16,
    /// pushgate's or gorush's gRPC API (0: none).
    grpc: u16,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Starts `exe`, under `valgrind --tool=callgrind` writing to `callgrind` when given.
    fn start(
        exe: &std::path::Path,
        apns: &MockApns,
        fcm: &MockFcm,
        key: &AppleKey,
        callgrind: Option<&std::path::Path>,
        logs: Logs,
    ) -> Proxy {
        assert!(
            exe.exists(),
            "{} is missing: build it first (cargo build --release --workspace)",
            exe.display()
        );
        let dir = temp_dir("bench");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, &apns.ca_pem).unwrap();
        let fcm_ca = dir.join("fcm-ca.pem");
        std::fs::write(
            &fcm_ca,
            fcm.ca_pem.as_ref().expect("the mock FCM speaks TLS"),
        )
        .unwrap();
        let sa = service_account_file(&dir, true);
        let (http, grpc) = (free_port(), free_port());
        let apple = |kind: &str| {
            serde_json::json!({
                "Type": kind, "ApplePushTopic": "com.mattermost.react.native",
                "AppleAuthKeyFile": key.p8_path, "AppleAuthKeyID": KEY_ID, "AppleTeamID": TEAM_ID,
                "ApplePushEndpoint": apns.endpoint(), "ApplePushCAFile": ca,
            })
        };
        let android = |kind: &str| {
            serde_json::json!({
                "Type": kind, "ServiceFileLocation": sa,
                "FcmEndpoint": fcm.endpoint(), "FcmTokenUri": fcm.token_uri(), "FcmCAFile": fcm_ca,
            })
        };
        let config = serde_json::json!({
            "ListenAddress": format!("127.0.0.1:{http}"),
            "GrpcListenAddress": format!("127.0.0.1:{grpc}"),
            "EnableMetrics": true,
            "DrainGraceSec": 0,
            "ApplePushSettings": [apple("apple"), apple("apple_rn")],
            "AndroidPushSettings": [android("android"), android("android_rn")],
        });
        let path = dir.join("bench.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let mut cmd = match callgrind {
            Some(out) => {
                let mut cmd = Command::new("valgrind");
                cmd.arg("--tool=callgrind")
                    .arg(format!("--callgrind-out-file={}", out.display()))
                    .arg("--log-file=/dev/null")
                    .arg(exe);
                cmd
            }
            None => Command::new(exe),
        };
        // PUSHGATE_THREADS=N runs pushgate on N runtime threads (tokio's TOKIO_WORKER_THREADS).
        if let Ok(n) = std::env::var("PUSHGATE_THREADS") {
            cmd.env("TOKIO_WORKER_THREADS", n);
        }
        cmd.args(["--config", path.to_str().unwrap()]);
        match std::env::var("PUSHGATE_BENCH_LOG") {
            // PUSHGATE_BENCH_LOG=debug shows pushgate's own logs on this terminal.
            Ok(level) => {
                cmd.env("RUST_LOG", level).stdout(Stdio::inherit());
            }
            Err(_) => {
                match logs {
                    Logs::Quietest => cmd.env("RUST_LOG", "error"),
                    Logs::Default => cmd.env_remove("RUST_LOG"),
                };
                log_to_file(&mut cmd, &dir);
            }
        }
        let pg = Proxy {
            child: cmd.spawn().unwrap(),
            http,
            grpc,
        };
        pg.wait_listening(&[http, grpc]);
        pg
    }

    /// Returns once every port in `ports` takes connections (under callgrind the second binds
    /// well after the first).
    fn wait_listening(&self, ports: &[u16]) {
        let started = Instant::now();
        while ports
            .iter()
            .any(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_err())
        {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the proxy did not start listening on {ports:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU seconds (user + system) used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
        ticks / 100.0 // USER_HZ
    }

    /// Ends the process with SIGTERM (so callgrind writes its counts) and waits for it.
    fn terminate(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    /// Starts a new peak RSS (`VmHWM`) from the current RSS, so that a scenario's peak is its
    /// own and not an earlier one's (Linux's `clear_refs` 5; needs to own the process, or root).
    fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// A proxy's output (both streams) to `proxy.log` in `dir`, on the local disk, as an operator
/// keeps it.
fn log_to_file(cmd: &mut Command, dir: &std::path::Path) {
    let file = std::fs::File::create(dir.join("proxy.log")).unwrap();
    cmd.stdout(file.try_clone().unwrap()).stderr(file);
}

struct Run {
    latencies: Vec<Duration>,
    errors: usize,
    wall: Duration,
}

fn notification(platform: &str, i: usize) -> PushNotification {
    PushNotification {
        ack_id: format!("ack{i:022}"),
        platform: format!("{platform}-v2"),
        server_id: "srvid00000000000000000000a".into(),
        device_id: format!("{i:064x}"),
        post_id: "postid000000000000000000a".into(),
        category: "CAN_REPLY".into(),
        message: "alice: Hello :smile: how are you doing today?".into(),
        badge: 3,
        channel_id: "chanid000000000000000000a".into(),
        channel_name: "Town Square".into(),
        r#type: "message".into(),
        sender_id: "userid000000000000000000a".into(),
        sender_name: "alice".into(),
        version: "v2".into(),
        signature: "eyJhbGciOiJFUzI1NiJ9.eyJhY2tfaWQiOiJhIn0.SIG".into(),
        ..Default::default()
    }
}

/// `concurrency` workers taking numbers from a shared counter until `pushes` are done (or the
/// time is up), each timing its own calls; paced to `rate` when one is given.
async fn closed_loop<F, Fut>(a: &Args, call: F) -> Run
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let (pushes, concurrency, rate) = (a.pushes, a.concurrency, a.rate);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let until = a.seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, call) = (next.clone(), call.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let done = match until {
                        Some(t) => Instant::now() >= t,
                        None => i >= pushes,
                    };
                    if done {
                        break;
                    }
                    if let Some(rate) = rate {
                        // Push i is due at i/rate; latency counts from when it is sent.
                        let due = started + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let t = Instant::now();
                    if !call(i).await {
                        errors += 1;
                    }
                    latencies.push(t.elapsed());
                }
                (latencies, errors)
            })
        })
        .collect();
    gather(workers, started).await
}

/// The workers' latencies and errors, as one run since `started`.
async fn gather(
    workers: Vec<tokio::task::JoinHandle<(Vec<Duration>, usize)>>,
    started: Instant,
) -> Run {
    let mut run = Run {
        latencies: Vec::new(),
        errors: 0,
        wall: Duration::ZERO,
    };
    for w in workers {
        let (l, e) = w.await.unwrap();
        run.latencies.extend(l);
        run.errors += e;
    }
    run.wall = started.elapsed();
    run
}

async fn grpc_unary(pg: &Proxy, platform: &'static str, a: &Args) -> Run {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", pg.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    closed_loop(a, move |i| {
        let mut client = PushProxyClient::new(channel.clone());
        async move {
            let req = SendPushRequest {
                notification: Some(notification(platform, i)),
                request_id: String::new(),
            };
            match client.send_push(req).await {
                Ok(r) if r.get_ref().status() == Status::Ok => true,
                other => {
                    first_error(&format!("{other:?}"));
                    false
                }
            }
        }
    })
    .await
}

/// Tokens per `Send` call in the grpc-send scenario: the API's maximum.
const SEND_BATCH: usize = 1000;

/// The general API: `Send` calls of `SEND_BATCH` tokens each, two in flight, until `pushes`
/// tokens are sent. Each token's latency is its call's.
async fn grpc_send(pg: &Proxy, platform: &'static str, a: &Args) -> Run {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", pg.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let batches = a.pushes.div_ceil(SEND_BATCH);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (next, channel, pushes) = (next.clone(), channel.clone(), a.pushes);
            tokio::spawn(async move {
                let mut client = PushProxyClient::new(channel);
                let (mut latencies, mut errors) = (Vec::new(), 0);
                loop {
                    let batch = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if batch >= batches {
                        break;
                    }
                    let first = batch * SEND_BATCH;
                    let tokens: Vec<String> = (first..pushes.min(first + SEND_BATCH))
                        .map(|i| format!("{i:064x}"))
                        .collect();
                    let request = pushgate::v1::SendRequest {
                        target: platform.into(),
                        tokens,
                        notification: Some(pushgate::v1::Notification {
                            alert: Some(pushgate::v1::Alert {
                                title: "Town Square".into(),
                                subtitle: String::new(),
                                body: "alice: Hello how are you doing today?".into(),
                            }),
                            badge: Some(3),
                            thread_id: "chanid000000000000000000a".into(),
                            data: [("post_id", "postid000000000000000000a")]
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v.to_string()))
                                .collect(),
                            ..Default::default()
                        }),
                        request_id: String::new(),
                    };
                    let t = Instant::now();
                    match client.send(request).await {
                        Ok(answer) => {
                            let took = t.elapsed();
                            for result in &answer.get_ref().results {
                                if result.status() != Status::Ok {
                                    first_error(&format!("{result:?}"));
                                    errors += 1;
                                }
                                latencies.push(took);
                            }
                        }
                        Err(e) => {
                            first_error(&format!("{e:?}"));
                            errors += SEND_BATCH;
                        }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    gather(workers, started).await
}

async fn grpc_stream(pg: &Proxy, platform: &'static str, a: &Args) -> Run {
    let mut client = PushProxyClient::connect(format!("http://127.0.0.1:{}", pg.grpc))
        .await
        .unwrap();
    let n = a.pushes;
    let sent_at = Arc::new(Mutex::new(vec![None::<Instant>; n]));
    let stamps = sent_at.clone();
    let requests = tokio_stream::iter(0..n).map(move |i| {
        stamps.lock().unwrap()[i] = Some(Instant::now());
        SendPushRequest {
            notification: Some(notification(platform, i)),
            request_id: i.to_string(),
        }
    });
    let started = Instant::now();
    let mut answers = client.stream_push(requests).await.unwrap().into_inner();
    let mut run = Run {
        latencies: Vec::with_capacity(n),
        errors: 0,
        wall: Duration::ZERO,
    };
    while let Some(answer) = answers.next().await {
        match answer {
            Ok(a) => {
                let i: usize = a.request_id.parse().unwrap();
                if a.status() != Status::Ok {
                    run.errors += 1;
                }
                if let Some(t) = sent_at.lock().unwrap()[i] {
                    run.latencies.push(t.elapsed());
                }
            }
            Err(_) => run.errors += 1,
        }
    }
    run.errors += n - run.latencies.len();
    run.wall = started.elapsed();
    run
}

async fn http_bridge(pg: &Proxy, platform: &'static str, a: &Args) -> Run {
    let client = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(a.concurrency)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/send_push", pg.http);
    closed_loop(a, move |i| {
        let n = notification(platform, i);
        let body = serde_json::json!({
            "ack_id": n.ack_id, "platform": n.platform, "server_id": n.server_id,
            "device_id": n.device_id, "post_id": n.post_id, "category": n.category,
            "message": n.message, "badge": n.badge, "channel_id": n.channel_id,
            "channel_name": n.channel_name, "type": n.r#type, "sender_id": n.sender_id,
            "sender_name": n.sender_name, "version": n.version, "is_crt_enabled": false,
            "is_id_loaded": false, "signature": n.signature,
        })
        .to_string();
        let (client, url) = (client.clone(), url.clone());
        async move {
            let answer = match client.post(&url).body(body).send().await {
                Ok(r) => r.text().await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("{e:?}")),
            };
            match answer {
                Ok(text) if text == "{\"status\":\"OK\"}\n" => true,
                other => {
                    first_error(&format!("{other:?}"));
                    false
                }
            }
        }
    })
    .await
}

/// The same pushes, sent by a bare HTTP/2 client straight to the mock: what the machine allows.
async fn direct(apns: &MockApns, fcm: &MockFcm, platform: &'static str, a: &Args) -> Run {
    let http2 = |ca_pem: &str| {
        reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .http2_prior_knowledge()
            .build()
            .unwrap()
    };
    let client = http2(&apns.ca_pem);
    let google = http2(fcm.ca_pem.as_ref().unwrap());
    let (apns_url, fcm_url) = (
        apns.endpoint(),
        format!("{}/v1/projects/p/messages:send", fcm.endpoint()),
    );
    let token = format!("Bearer {}", fcm.issue_token());
    let body = r#"{"ack_id":"ackid0000000000000000000a","aps":{"alert":{"body":"alice: Hello 😄  how are you doing today?","title":"Town Square"},"badge":3,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","channel_name":"Town Square","is_crt_enabled":false,"post_id":"postid000000000000000000a","sender_id":"userid000000000000000000a","sender_name":"alice","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"","type":"message","version":"v2"}"#;
    closed_loop(a, move |i| {
        let req = if platform == "apple_rn" {
            client
                .post(format!("{apns_url}/3/device/{i:064x}"))
                .header("apns-topic", "com.mattermost.react.native")
                .header("apns-push-type", "alert")
                .header("apns-priority", "10")
                .body(body)
        } else {
            google
                .post(&fcm_url)
                .header("authorization", &token)
                .body(format!(r#"{{"message":{{"data":{{"message":"hi"}},"android":{{"priority":"high"}},"token":"{i:x}"}}}}"#))
        };
        async move { matches!(req.send().await, Ok(r) if r.status().is_success()) }
    })
    .await
}

/// Prints the first failure of a run, so that an error count comes with a reason.
fn first_error(what: &str) {
    static SHOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SHOWN.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!("first error: {}", &what[..what.len().min(400)]);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx].as_secs_f64() * 1000.0
}

fn report(
    name: &str,
    mut run: Run,
    cpu: Option<f64>,
    rss_kb: Option<u64>,
    ceiling: Option<f64>,
    at_mock: Option<usize>,
) -> Measured {
    run.latencies.sort();
    let n = run.latencies.len();
    let rate = n as f64 / run.wall.as_secs_f64();
    let cpu_us = cpu
        .map(|c| format!("{:.1}", c * 1e6 / n.max(1) as f64))
        .unwrap_or("-".into());
    let cpu_10k = cpu
        .map(|c| format!("{:.2}", c * 10_000.0 / n.max(1) as f64))
        .unwrap_or("-".into());
    let rss = rss_kb
        .map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or("-".into());
    let ratio = ceiling
        .map(|c| format!("{:.0}%", 100.0 * rate / c))
        .unwrap_or("-".into());
    // Pushes the mock received beyond those answered OK: sent twice (or answered wrongly).
    let extra = at_mock
        .map(|m| (m as i64 - (n - run.errors) as i64).to_string())
        .unwrap_or("-".into());
    println!(
        "| {name:<18} | {n:>7} | {rate:>9.0} | {ratio:>5} | {:>6.2} | {:>6.2} | {:>7.2} | {cpu_10k:>7} | {cpu_us:>6} | {rss:>7} | {:>6} | {extra:>5} |",
        percentile(&run.latencies, 0.50),
        percentile(&run.latencies, 0.99),
        percentile(&run.latencies, 0.999),
        run.errors
    );
    Measured {
        rate,
        p99: percentile(&run.latencies, 0.99),
        cpu_us: cpu.map(|c| c * 1e6 / n.max(1) as f64),
        rss_kb,
    }
}

/// What a ratio line compares.
struct Measured {
    rate: f64,
    p99: f64,
    cpu_us: Option<f64>,
    rss_kb: Option<u64>,
}

impl Measured {
    /// This run over `other`: pushes/s, p99, CPU per push and peak RSS, as a table row's cells.
    fn over(&self, other: &Measured) -> String {
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "-".into(),
        };
        format!(
            "{:.2}× | {:.2}× | {} | {}",
            self.rate / other.rate,
            self.p99 / other.p99,
            ratio(self.cpu_us, other.cpu_us),
            ratio(
                self.rss_kb.map(|k| k as f64),
                other.rss_kb.map(|k| k as f64)
            ),
        )
    }
}

/// One scenario on one pushgate: the run, pushgate's CPU seconds over it, its peak RSS.
async fn measure(
    pg: &Proxy,
    mocks: (&MockApns, &MockFcm),
    kind: &str,
    platform: &'static str,
    a: &Args,
) -> (Run, f64, u64, usize) {
    let received = || mocks.0.received() + mocks.1.received();
    let at_mock = received();
    pg.reset_peak_rss();
    let cpu0 = pg.cpu_seconds();
    let run = match kind {
        "grpc-unary" => grpc_unary(pg, platform, a).await,
        "grpc-stream" => grpc_stream(pg, platform, a).await,
        "grpc-send" => grpc_send(pg, platform, a).await,
        _ => http_bridge(pg, platform, a).await,
    };
    let cpu = pg.cpu_seconds() - cpu0;
    (run, cpu, pg.status_kb("VmHWM:"), received() - at_mock)
}

/// Instructions pushgate executes for `n` pushes of one scenario, start and exit included.
async fn instructions_for(
    exe: &std::path::Path,
    mocks: (&MockApns, &MockFcm, &AppleKey),
    kind: &str,
    platform: &'static str,
    a: &Args,
    n: usize,
) -> u64 {
    let out = temp_dir("callgrind").join("callgrind.out");
    let pg = Proxy::start(exe, mocks.0, mocks.1, mocks.2, Some(&out), a.logs);
    let run_args = Args {
        pushes: n,
        seconds: None,
        rate: None,
        ..a.clone()
    };
    let (run, _, _, at_mock) = measure(&pg, (mocks.0, mocks.1), kind, platform, &run_args).await;
    assert_eq!(run.errors, 0, "{kind} under callgrind had errors");
    assert_eq!(
        at_mock, n,
        "{kind} under callgrind: each push reaches the mock once"
    );
    pg.terminate();
    eprintln!(
        "{kind}-{platform}, {n} pushes: callgrind_annotate {}",
        out.display()
    );
    let text = std::fs::read_to_string(&out).expect("callgrind wrote its counts");
    text.lines()
        .find_map(|l| l.strip_prefix("summary: ").or(l.strip_prefix("totals: ")))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("a summary line in the callgrind output")
}

/// Instructions per push: two runs of each scenario (a quarter of `--pushes`, then all) on a
/// fresh process each; the difference over the difference in pushes cancels start-up,
/// connection set-up and exit.
async fn instructions(a: &Args, mocks: (&MockApns, &MockFcm, &AppleKey)) {
    let mut binaries = Vec::new();
    if let Some(b) = &a.baseline {
        binaries.push(("baseline", b.clone()));
    }
    binaries.push(("pushgate", a.pushgate.clone()));
    let (small, large) = (a.pushes / 4, a.pushes);
    println!(
        "instructions per push: callgrind, {small} and {large} pushes, concurrency {}",
        a.concurrency
    );
    println!("| scenario | binary | instructions/push | vs baseline |");
    println!("|---|---|---|---|");
    for (provider, platform) in [("apns", "apple_rn"), ("fcm", "android_rn")] {
        for kind in ["grpc-unary", "grpc-stream", "http-bridge"] {
            let name = format!("{kind}-{provider}");
            if !(a.scenario == "all"
                || a.scenario == name
                || a.scenario == kind
                || a.scenario == provider)
            {
                continue;
            }
            let mut first = None;
            for (label, exe) in &binaries {
                let few = instructions_for(exe, mocks, kind, platform, a, small).await;
                let many = instructions_for(exe, mocks, kind, platform, a, large).await;
                let per_push = many.saturating_sub(few) as f64 / (large - small) as f64;
                let ratio = match first {
                    Some(base) => format!("{:.2}×", per_push / base),
                    None => "-".into(),
                };
                first.get_or_insert(per_push);
                println!("| {name} | {label} | {per_push:.0} | {ratio} |");
            }
        }
    }
}

/// The kernel's count of connections dropped at a full listen backlog (`TcpExt:
/// ListenOverflows` in /proc/net/netstat).
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut tcp_ext = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (tcp_ext.next()?, tcp_ext.next()?);
    let at = names
        .split_whitespace()
        .position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

#[tokio::main]
async fn main() {
    let a = args();
    let apns = MockApns::start().await;
    // Both over TLS and HTTP/2, as Apple and Google serve them.
    let fcm = MockFcm::start_tls().await;
    let key = apple_key();
    apns.stop_recording();
    fcm.stop_recording();
    if !a.upstream_delay.is_zero() {
        let delay = a.upstream_delay;
        apns.reply_with(move |_, _| pushgate_tests::mock_apns::Reply::ok().after(delay));
        fcm.reply_with(move |_, _| pushgate_tests::mock_fcm::Reply::ok().after(delay));
    }
    if a.instructions {
        instructions(&a, (&apns, &fcm, &key)).await;
        return;
    }
    let pg = Proxy::start(&a.pushgate, &apns, &fcm, &key, None, a.logs);
    let base = a
        .baseline
        .as_ref()
        .map(|b| Proxy::start(b, &apns, &fcm, &key, None, a.logs));
    let router = match a.peer.is_empty() {
        true => None,
        false => Some(
            ConnectProxy::start_redirecting(vec![
                ("api.push.apple.com:443".into(), apns.addr),
                ("fcm.googleapis.com:443".into(), fcm.addr),
            ])
            .await,
        ),
    };
    let peers: Vec<peers::Peer> = match &router {
        None => Vec::new(),
        Some(router) => {
            let reach = peers::Reach {
                apns: &apns,
                fcm: &fcm,
                key: &key,
                router,
            };
            a.peer
                .iter()
                .map(|spec| peers::Peer::start(spec, &reach, &a))
                .collect()
        }
    };
    if let Some(secs) = a.seconds {
        // A soak run: pushgate's RSS every 30 s shows whether it grows.
        let pid = pg.child.id();
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(30)).await;
                if started.elapsed() > Duration::from_secs(secs) {
                    break;
                }
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .unwrap_or("");
                eprintln!("t={:>4}s pushgate {rss}", started.elapsed().as_secs());
            }
        });
    }
    let want = |s: &str| a.scenario == "all" || a.scenario == s;
    let overflows_before = listen_overflows();
    println!(
        "pushes {} (or {:?} s), concurrency {}, {} cores",
        a.pushes,
        a.seconds,
        a.concurrency,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!("| scenario           | pushes  | pushes/s  | of direct | p50 ms | p99 ms | p99.9 ms | CPU s/10k | CPU µs/push | scenario's peak RSS MB | errors | at mock − OK |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");

    let mut ratios = Vec::new();
    if want("idle") {
        let everyone = base
            .iter()
            .map(|b| ("baseline ", b))
            .chain([("", &pg)])
            .chain(peers.iter().map(|p| (p.label(), &p.process)));
        for (label, pg) in everyone {
            let cpu0 = pg.cpu_seconds();
            tokio::time::sleep(Duration::from_secs(10)).await;
            println!(
                "| {label}idle (10 s, 4 targets) | - | - | - | - | - | - | {:.3} CPU s | - | {:.1} (RSS now) | - |",
                pg.cpu_seconds() - cpu0,
                pg.status_kb("VmRSS:") as f64 / 1024.0
            );
        }
    }
    for (provider, platform) in [("apns", "apple_rn"), ("fcm", "android_rn")] {
        let mut ceiling = None;
        let name = format!("direct-{provider}");
        if want(&name) || want("direct") || want(provider) || a.scenario == "all" {
            let run = direct(&apns, &fcm, platform, &a).await;
            ceiling = Some(report(&name, run, None, None, None, None).rate);
        }
        for kind in ["grpc-unary", "grpc-stream", "grpc-send", "http-bridge"] {
            let name = format!("{kind}-{provider}");
            if !(want(&name) || want(kind) || want(provider)) {
                continue;
            }
            let before = match &base {
                Some(base) => {
                    let (run, cpu, rss, at_mock) =
                        measure(base, (&apns, &fcm), kind, platform, &a).await;
                    let label = format!("baseline {name}");
                    Some(report(
                        &label,
                        run,
                        Some(cpu),
                        Some(rss),
                        ceiling,
                        Some(at_mock),
                    ))
                }
                None => None,
            };
            let (run, cpu, rss, at_mock) = measure(&pg, (&apns, &fcm), kind, platform, &a).await;
            let now = report(&name, run, Some(cpu), Some(rss), ceiling, Some(at_mock));
            if let Some(before) = before {
                ratios.push(format!("| {name} | baseline | {} |", now.over(&before)));
            }
            for peer in &peers {
                let Some(theirs) = peer.scenario(kind) else {
                    continue;
                };
                let label = format!("{}{theirs}-{provider}", peer.label());
                let received = || apns.received() + fcm.received();
                peer.process.reset_peak_rss();
                let (at_start, cpu0, started) =
                    (received(), peer.process.cpu_seconds(), Instant::now());
                let mut run = peer.run(kind, platform, &a).await;
                // Until every push answered OK is at the mock (gorush's gRPC answers first).
                peers::settle(received, at_start, run.latencies.len() - run.errors).await;
                run.wall = started.elapsed();
                let cpu = peer.process.cpu_seconds() - cpu0;
                let rss = peer.process.status_kb("VmHWM:");
                let at_mock = received() - at_start;
                let them = report(&label, run, Some(cpu), Some(rss), ceiling, Some(at_mock));
                ratios.push(format!("| {name} | {label} | {} |", now.over(&them)));
            }
        }
    }
    if !ratios.is_empty() {
        println!(
            "\npushgate over the others, same run, same mocks (CPU and RSS: lower is leaner):"
        );
        println!("| pushgate scenario | over | pushes/s | p99 | CPU µs/push | peak RSS |");
        println!("|---|---|---|---|---|---|");
        for line in ratios {
            println!("{line}");
        }
    }
    // Connections the kernel dropped because a listen backlog was full (any listener on the
    // machine: run nothing else beside the bench).
    if let (Some(before), Some(after)) = (overflows_before, listen_overflows()) {
        println!("kernel ListenOverflows during the run: {}", after - before);
    }
    println!(
        "TLS connections opened to the mock APNs: {} (pushgate's{}, and the direct scenario's client: 1)",
        apns.connections().saturating_sub(usize::from(
            a.scenario == "all" || a.scenario.contains("direct") || a.scenario == "apns"
        )),
        if peers.is_empty() { "" } else { " and the peers'" }
    );
}
