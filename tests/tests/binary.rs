//! The real `pushgate` and `pushgate-bridge` processes: flags, config errors, serving, SIGTERM.

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use pushgate_tests::{binary, free_port};

fn write_config(dir: &std::path::Path, http: u16, grpc: u16) -> std::path::PathBuf {
    let config = pushgate_proxy::config::EMBEDDED_DRY_RUN
        .replace("127.0.0.1:8086", &format!("127.0.0.1:{http}"))
        .replace("127.0.0.1:50051", &format!("127.0.0.1:{grpc}"));
    let path = dir.join("pushgate.json");
    std::fs::write(&path, config).unwrap();
    path
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pushgate-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn wait_until_up(url: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

/// Kills the process if a test fails before it is stopped, so no server outlives its test.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGTERM, then wait for the exit. Async, so that this runtime's own client connections can
/// close meanwhile (the server's drain waits for them).
async fn terminate(p: &mut Process) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = p.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn output(p: &mut Process) -> String {
    let mut out = String::new();
    p.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}

#[tokio::test]
async fn serves_both_apis_logs_redacted_and_exits_0_on_sigterm() {
    let dir = temp_dir("serve");
    let (http, grpc) = (free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let mut child = Process(
        Command::new(binary("pushgate"))
            .args(["--config", config.to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{http}");
    wait_until_up(&format!("{base}/readyz")).await;

    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let body = format!(
        r#"{{"platform":"apple_rn-v2","server_id":"srv","device_id":"{token}","message":"very private words","channel_name":"Secret Room","type":"message","version":"v2","signature":"SIGNATURE-XYZ"}}"#
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/send_push"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "{\"status\":\"OK\"}\n");

    let mut client = pushgate::v1::push_proxy_client::PushProxyClient::connect(format!(
        "http://127.0.0.1:{grpc}"
    ))
    .await
    .unwrap();
    let answer = client
        .send_push(pushgate::v1::SendPushRequest {
            notification: Some(pushgate::v1::PushNotification {
                platform: "android_rn".into(),
                server_id: "srv".into(),
                device_id: "fcm:token".into(),
                ..Default::default()
            }),
            request_id: "x".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status(), pushgate::v1::Status::Ok);
    drop(client);

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let logs = output(&mut child);
    assert!(logs.contains("Stopping Server..."), "{logs}");
    assert!(
        logs.contains("a1b2c3d4e5f60718…"),
        "redacted token logged: {logs}"
    );
    for secret in [token, "very private words", "Secret Room", "SIGNATURE-XYZ"] {
        assert!(!logs.contains(secret), "{secret} leaked into logs:\n{logs}");
    }
}

#[tokio::test]
async fn standalone_bridge_process_in_front_of_a_proxy_process() {
    let dir = temp_dir("standalone");
    let (http, grpc, bridge_port) = (free_port(), free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let mut proxy = Process(
        Command::new(binary("pushgate"))
            .args(["-config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut bridge = Process(
        Command::new(binary("pushgate-bridge"))
            .args([
                "--upstream",
                &format!("http://127.0.0.1:{grpc}"),
                "--listen",
                &format!("127.0.0.1:{bridge_port}"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{bridge_port}");
    wait_until_up(&format!("{base}/readyz")).await;
    let client = reqwest::Client::new();
    for (body, expected) in [
        (
            r#"{"server_id":"s","device_id":"d","platform":"apple_rn-v2"}"#,
            "{\"status\":\"OK\"}\n",
        ),
        (
            r#"{"server_id":"s1","platform":"android_rn-v2"}"#,
            "{\"error\":\"Failed because of missing device Id serverId=s1\",\"status\":\"FAIL\"}\n",
        ),
    ] {
        let r = client
            .post(format!("{base}/api/v1/send_push"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), expected);
    }
    drop(client);
    assert!(terminate(&mut bridge).await.success());
    assert!(terminate(&mut proxy).await.success());
}
