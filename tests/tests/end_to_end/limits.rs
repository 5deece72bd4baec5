//! The real `pushgate` process against what a hostile or broken network does to its listeners:
//! running out of descriptors, more clients than the cap, clients that dribble or stall, idle
//! connections and streams, and a SIGTERM while requests are still arriving.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use pushgate_tests::{
    binary, free_port,
    process::{pushgate, send_push, start_process, terminate, wait_until_up, Process},
    temp_dir,
};

/// The embedded dry-run config on free ports, with `extra` keys merged in.
fn config_with(extra: serde_json::Value) -> (std::path::PathBuf, u16, u16) {
    let (http, grpc) = (free_port(), free_port());
    let mut config: serde_json::Value =
        serde_json::from_str(pushgate_proxy::config::EMBEDDED_DRY_RUN).unwrap();
    config["ListenAddress"] = format!("127.0.0.1:{http}").into();
    config["GrpcListenAddress"] = format!("127.0.0.1:{grpc}").into();
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    let path = temp_dir("limits").join("pushgate.json");
    std::fs::write(&path, config.to_string()).unwrap();
    (path, http, grpc)
}

/// pushgate under `prlimit --nofile=N:N`: a process that owns at most N descriptors.
fn pushgate_with_descriptors(config: &std::path::Path, n: u32) -> Command {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={n}:{n}"))
        .arg("--")
        .arg(binary("pushgate"))
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null());
    cmd
}

/// CPU seconds the process has used so far (user + system), from /proc.
fn cpu_seconds(p: &Process) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.0.id())).unwrap();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Sends `GET /healthz` on `tcp` and says whether an answer starts within `wait`.
fn answered(tcp: &mut TcpStream, wait: Duration) -> bool {
    tcp.set_read_timeout(Some(wait)).unwrap();
    if tcp
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(tcp.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP/1.1 200"))
}

/// Whether the server closes `tcp` within `wait` (EOF or reset), reading whatever comes.
fn closed_within(tcp: &mut TcpStream, wait: Duration) -> bool {
    let until = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < until {
        tcp.set_read_timeout(Some(until - Instant::now() + Duration::from_millis(1)))
            .unwrap();
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true,
        }
    }
    false
}

/// Out of descriptors, the gRPC listener retried `accept` at once, for ever: 113% CPU, and every
/// probe timed out until descriptors freed up.
#[tokio::test]
#[cfg_attr(missing_prlimit, ignore = "needs prlimit (Debian package util-linux)")]
async fn out_of_descriptors_accept_backs_off_and_recovers() {
    // A cap above what the descriptors allow, so `accept` itself runs out.
    let (config, http, grpc) = config_with(serde_json::json!({ "MaxConnections": 1000 }));
    let (process, base) = start_process(&mut pushgate_with_descriptors(&config, 64), http).await;
    let mut held = Vec::new();
    for port in [grpc, http] {
        for _ in 0..60 {
            // Connections complete in the kernel's backlog whether accepted or not.
            if let Ok(tcp) = TcpStream::connect(("127.0.0.1", port)) {
                held.push(tcp);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_seconds(&process);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_seconds(&process) - before;
    assert!(
        used < 0.5,
        "{used:.2} CPU seconds in 2 s at the descriptor limit: a busy accept loop"
    );
    drop(held);
    wait_until_up(&format!("{base}/readyz")).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc}"))
        .unwrap()
        .connect()
        .await
        .expect("gRPC accepts again");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(
        serving,
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
}

/// Without `MaxConnections`, pushgate takes at most half its descriptors for clients: past
/// that, a new client waits in the backlog until a connection closes, and is then served.
#[tokio::test]
#[cfg_attr(missing_prlimit, ignore = "needs prlimit (Debian package util-linux)")]
async fn open_connections_are_capped_at_half_the_descriptors() {
    let (config, http, _) = config_with(serde_json::json!({}));
    let (_process, _) = start_process(&mut pushgate_with_descriptors(&config, 64), http).await;
    // `start_process`'s readiness probe may still hold a slot for a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut open = Vec::new();
    for i in 0..32 {
        let mut tcp = TcpStream::connect(("127.0.0.1", http)).unwrap();
        assert!(
            answered(&mut tcp, Duration::from_secs(5)),
            "connection {i} of {}",
            open.len()
        );
        open.push(tcp);
    }
    let mut waiting = TcpStream::connect(("127.0.0.1", http)).unwrap();
    assert!(
        !answered(&mut waiting, Duration::from_millis(1500)),
        "the 33rd connection waits"
    );
    drop(open.pop());
    let mut buf = [0u8; 64];
    waiting
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = waiting.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "served once a slot is free"
    );
}

/// The HTTP bridge kept connections that dribbled headers, stalled a body or sat idle for as
/// long as the client liked.
#[tokio::test]
async fn slow_and_idle_http_clients_are_cut_off() {
    let (config, http, _) = config_with(serde_json::json!({
        "HttpHeaderTimeoutSec": 1,
        "HttpBodyTimeoutSec": 1,
        "HttpIdleTimeoutSec": 3,
    }));
    let (_process, _) = start_process(&mut pushgate(&config), http).await;

    // Headers, one byte at a time: the header deadline closes the connection.
    let mut dribble = TcpStream::connect(("127.0.0.1", http)).unwrap();
    let started = Instant::now();
    let request = b"POST /api/v1/send_push HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
    let mut cut = false;
    for byte in request {
        if dribble.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    assert!(
        cut || closed_within(&mut dribble, Duration::from_secs(3)),
        "a dribbling client is cut off"
    );

    // A body that stops halfway: one FAIL naming the deadline, and the connection closed.
    let mut stalled = TcpStream::connect(("127.0.0.1", http)).unwrap();
    stalled
        .write_all(
            b"POST /api/v1/send_push HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"server_",
        )
        .unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let _ = stalled.read_to_string(&mut answer);
    assert!(
        answer.contains("Failed to read message body: http: timeout reading the request body"),
        "{answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // An idle keep-alive connection is closed after the idle timeout.
    let mut idle = TcpStream::connect(("127.0.0.1", http)).unwrap();
    assert!(answered(&mut idle, Duration::from_secs(5)));
    assert!(
        closed_within(&mut idle, Duration::from_secs(8)),
        "an idle connection is closed"
    );
}

/// A client that pipelines requests and never reads the answers held its connection, and the
/// answers queued for it, for as long as it liked.
#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off() {
    let (config, http, _) = config_with(serde_json::json!({
        "HttpWriteTimeoutSec": 1,
        "EnableMetrics": true,
    }));
    let (_process, _) = start_process(&mut pushgate(&config), http).await;

    // A small receive window, so the answers back up into pushgate quickly.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket
        .connect(([127, 0, 0, 1], http).into())
        .await
        .unwrap()
        .into_std()
        .unwrap();
    tcp.set_nonblocking(false).unwrap();
    const ASKED: usize = 2_000;
    let mut writer = tcp.try_clone().unwrap();
    std::thread::spawn(move || {
        for _ in 0..ASKED {
            // /metrics answers are kilobytes: 2,000 of them fill any socket buffer.
            if writer
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                .is_err()
            {
                return;
            }
        }
    });
    // Not reading for longer than the write timeout…
    tokio::time::sleep(Duration::from_secs(3)).await;
    // …then reading: the connection ends before every answer came.
    let mut reader = tcp;
    reader
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut received = Vec::new();
    let ended = match reader.read_to_end(&mut received) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    let answers = String::from_utf8_lossy(&received)
        .matches("HTTP/1.1 200")
        .count();
    assert!(ended, "the connection is closed, not left open");
    assert!(
        answers < ASKED,
        "{answers} of {ASKED} answers: the stalled connection was cut off"
    );
}

/// A StreamPush that carries nothing ends after `GrpcStreamIdleTimeoutSec`, instead of holding
/// memory on both sides for ever (10,000 idle streams: 318 MB).
#[tokio::test]
async fn an_idle_stream_push_is_ended() {
    let mut config = pushgate_tests::dry_run_config();
    config.listeners.grpc_limits.stream_idle = Duration::from_secs(1);
    let running = pushgate_tests::start(&config).await;
    let mut client = pushgate_tests::grpc_client(&running).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<pushgate::v1::SendPushRequest>(1);
    let mut answers = client
        .stream_push(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let end = tokio::time::timeout(Duration::from_secs(10), answers.message()).await;
    assert!(
        matches!(end, Ok(Ok(None))),
        "the stream ends cleanly: {end:?}"
    );
    drop(tx);
    running.shutdown().await;
}

/// At SIGTERM both listeners stopped at once: `/readyz` never said 503 to a balancer, and a
/// request still sending its body was lost.
#[tokio::test]
async fn sigterm_drains_in_view_of_balancers_and_finishes_uploads() {
    let (config, http, _) = config_with(serde_json::json!({ "DrainGraceSec": 2 }));
    let (mut process, base) = start_process(pushgate(&config).stdout(Stdio::piped()), http).await;
    let body =
        br#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#;
    let mut upload = TcpStream::connect(("127.0.0.1", http)).unwrap();
    write!(
        upload,
        "POST /api/v1/send_push HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    upload.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));

    Command::new("kill")
        .args(["-TERM", &process.0.id().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "balancers see the drain");
    assert_eq!(
        send_push(&base, &body[..]).await,
        "{\"status\":\"OK\"}\n",
        "still serving during the grace"
    );

    upload.write_all(&body[10..]).unwrap();
    upload
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = [0u8; 512];
    let n = upload.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.ends_with("{\"status\":\"OK\"}\n"), "{answer}");
    assert!(terminate(&mut process).await.success());
}

/// The peak resident memory of a process, in MB.
fn peak_rss_mb(p: &Process) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.0.id())).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// An upstream error body was read whole into memory: a 20 MB HTML page from a balancer took
/// RSS from 27 to 134 MB. Answers are read up to 64 KiB.
#[tokio::test]
async fn huge_upstream_error_bodies_are_not_held_in_memory() {
    let fcm = pushgate_tests::mock_fcm::MockFcm::start().await;
    let page = format!("<html>{}</html>", "x".repeat(50 << 20));
    fcm.reply_with(move |_, _| pushgate_tests::mock_fcm::Reply::status(502, &page));
    let dir = temp_dir("big-error");
    let sa = pushgate_tests::android::service_account_file(&dir, true);
    let (config, http, _) = config_with(serde_json::json!({
        "AndroidPushSettings": [{
            "Type": "android_rn",
            "ServiceFileLocation": sa,
            "FcmEndpoint": fcm.endpoint(),
            "FcmTokenUri": fcm.token_uri(),
        }],
        "SendTimeoutSec": 2,
        "RetryTimeoutSec": 2,
    }));
    let (process, base) = start_process(&mut pushgate(&config), http).await;
    let before = peak_rss_mb(&process);
    let answer = send_push(
        &base,
        r#"{"platform":"android_rn","server_id":"s","device_id":"fcmtoken","type":"message"}"#,
    )
    .await;
    assert!(
        answer.contains("unexpected http response with status: 502"),
        "{answer}"
    );
    let grown = peak_rss_mb(&process) - before;
    assert!(
        grown < 25.0,
        "peak memory grew {grown:.1} MB for a 50 MB error body"
    );
}

/// The backlog a listening socket on `port` has, as `ss` shows it (Send-Q of a LISTEN line).
fn listen_backlog(port: u16) -> u32 {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .next()
        .unwrap_or_else(|| panic!("nothing listens on {port}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no backlog in {line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_ss, ignore = "needs ss (Debian: apt-get install iproute2)")]
async fn both_listeners_queue_as_many_clients_as_the_system_allows() {
    pushgate_tests::need(&["ss", "--version"], "ss (Debian package iproute2)");
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (config, http, grpc) = config_with(serde_json::json!({"DrainGraceSec": 0}));
    let (mut p, _) = start_process(&mut pushgate(&config), http).await;
    // Not the standard library's 128: thousands of clients arriving at once wait in the kernel.
    assert_eq!(listen_backlog(http), somaxconn, "the MPNS HTTP listener");
    assert_eq!(listen_backlog(grpc), somaxconn, "the gRPC listener");
    terminate(&mut p).await;
}
