//! The example clients in `examples/<language>/`, each run against a live pushgate the way a
//! user's service would call it: TLS with a client certificate, the `GrpcAuthToken` bearer
//! token, SendPush answered OK and REMOVE by the mock APNs, INVALID_ARGUMENT with MPNS's text,
//! a StreamPush of 1,000, `Send` to two tokens (OK and REMOVE) with `WatchRemovals` seeing the
//! removal, and health Check and Watch. Each client checks every answer itself
//! and prints "N checks passed"; these tests start what it talks to and read its verdict.
//!
//! A client whose toolchain is missing fails under CI (`CI` set) and is ignored elsewhere.

use std::{path::PathBuf, process::Command};

use pushgate_proxy::server::Running;
use pushgate_tests::{
    apple::{apple_config, apple_key},
    mock_apns::{self, MockApns},
    need,
    pki::Pki,
    start, temp_dir,
};

const TOKEN: &str = "s3cret-token-for-the-examples";

/// pushgate over mutual TLS with an auth token, its Apple targets sending to a mock APNs that
/// answers "Unregistered" for device tokens starting with "dead"; and the files a client needs.
struct Setup {
    _apns: MockApns,
    running: Running,
    /// `PUSHGATE_*` variables for the client.
    env: Vec<(&'static str, String)>,
}

async fn setup() -> Setup {
    let apns = MockApns::start().await;
    apns.reply_with(|request, _| {
        if request.path.starts_with("/3/device/dead") {
            mock_apns::Reply::reason(410, "Unregistered")
        } else {
            mock_apns::Reply::ok()
        }
    });
    apns.stop_recording();
    let key = apple_key();
    let mut config = apple_config(&apns, &key);

    let pki = Pki::write(&temp_dir("clients"));
    pki.serve(&mut config, true);
    config.listeners.grpc_auth_token = TOKEN.into();
    let running = start(&config).await;
    let env = vec![
        // A name the server certificate carries, as clients check it.
        (
            "PUSHGATE_ADDR",
            format!("localhost:{}", running.grpc_addr.port()),
        ),
        ("PUSHGATE_CA", pki.ca.clone()),
        ("PUSHGATE_CERT", pki.client_cert.clone()),
        ("PUSHGATE_KEY", pki.client_key.clone()),
        ("PUSHGATE_TOKEN", TOKEN.to_string()),
    ];
    Setup {
        _apns: apns,
        running,
        env,
    }
}

fn example(language: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(language)
}

/// Runs the client's commands in order (the last one talks to pushgate) and checks its verdict.
async fn run_client(name: &str, commands: Vec<Command>) {
    let setup = setup().await;
    let env = setup.env.clone();
    let output = tokio::task::spawn_blocking(move || {
        let mut last = None;
        for mut command in commands {
            command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
            let output = command.output().expect("the client's command runs");
            if !output.status.success() {
                return output;
            }
            last = Some(output);
        }
        last.unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("checks passed"),
        "{name} client failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("{}", stdout.trim());
    setup.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_go, ignore = "needs Go (`go version` failed here)")]
async fn go_client() {
    need(&["go", "version"], "Go");
    let dir = example("go");
    let mut generate = Command::new("sh");
    generate.arg("generate.sh").current_dir(&dir);
    let mut run = Command::new("go");
    run.args(["run", "."]).current_dir(&dir);
    run_client("go", vec![generate, run]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_node, ignore = "needs Node.js and npm (not found here)")]
async fn node_client() {
    need(&["node", "--version"], "Node.js");
    need(&["npm", "--version"], "npm");
    let dir = example("node");
    let mut install = Command::new("npm");
    install
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir);
    let mut run = Command::new("node");
    run.arg("client.js").current_dir(&dir);
    run_client("node", vec![install, run]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(missing_maven, ignore = "needs Maven and a JDK (not found here)")]
async fn java_client() {
    need(&["mvn", "--version"], "Maven");
    need(&["java", "-version"], "a JDK");
    let dir = example("java");
    let mut build = Command::new("mvn");
    build.args(["-q", "-B", "package"]).current_dir(&dir);
    let mut run = Command::new("java");
    run.args(["-jar", "target/pushgate-java-example.jar"])
        .current_dir(&dir);
    run_client("java", vec![build, run]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_python_grpc,
    ignore = "needs Python's grpcio: pip install -r examples/python/requirements.txt"
)]
async fn python_client() {
    need(
        &["python3", "-c", "import grpc, grpc_health, grpc_tools"],
        "pip install -r examples/python/requirements.txt",
    );
    let dir = example("python");
    let mut generate = Command::new("sh");
    generate.arg("generate.sh").current_dir(&dir);
    let mut run = Command::new("python3");
    run.arg("client.py").current_dir(&dir);
    run_client("python", vec![generate, run]).await;
}
