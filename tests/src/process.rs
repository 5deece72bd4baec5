//! The real `pushgate` process in tests: a config on free ports, start, wait until ready, post,
//! signal, read its logs.

use std::{
    io::Read,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::binary;

/// The embedded dry-run config on the given ports, without the SIGTERM drain grace (it has a
/// test of its own).
pub fn write_config(dir: &std::path::Path, http: u16, grpc: u16) -> std::path::PathBuf {
    let mut config: serde_json::Value =
        serde_json::from_str(pushgate_proxy::config::EMBEDDED_DRY_RUN).unwrap();
    config["ListenAddress"] = format!("127.0.0.1:{http}").into();
    config["GrpcListenAddress"] = format!("127.0.0.1:{grpc}").into();
    config["DrainGraceSec"] = 0.into();
    let config = config.to_string();
    let path = dir.join("pushgate.json");
    std::fs::write(&path, config).unwrap();
    path
}

pub async fn wait_until_up(url: &str) {
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

/// `pushgate --config FILE` with stdout dropped; adjust it (env, stdout), then `start_process`.
pub fn pushgate(config: &std::path::Path) -> Command {
    let mut cmd = Command::new(binary("pushgate"));
    cmd.args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::null());
    cmd
}

/// Spawns the command and waits until its HTTP port is ready: the process and its base URL.
pub async fn start_process(cmd: &mut Command, http: u16) -> (Process, String) {
    let process = Process(cmd.spawn().unwrap());
    let base = format!("http://127.0.0.1:{http}");
    wait_until_up(&format!("{base}/readyz")).await;
    (process, base)
}

/// POSTs `body` to the process's `/api/v1/send_push` (never through a proxy): the answer text.
pub async fn send_push(base: &str, body: impl Into<reqwest::Body>) -> String {
    post(base, "/api/v1/send_push", body).await
}

/// POSTs `body` to `path` of the process (never through a proxy): the answer text.
pub async fn post(base: &str, path: &str, body: impl Into<reqwest::Body>) -> String {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}{path}"))
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Kills the process if a test fails before it is stopped, so no server outlives its test.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGTERM, then wait for the exit. Async, so that this runtime's own client connections can
/// close meanwhile (the server's drain waits for them).
pub async fn terminate(p: &mut Process) -> std::process::ExitStatus {
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

pub fn output(p: &mut Process) -> String {
    let mut out = String::new();
    p.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    out
}
