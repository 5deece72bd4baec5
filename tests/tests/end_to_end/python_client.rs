//! A real polyglot client: Python grpcio (tests/python/client_test.py) against a live server.

use std::process::Command;

use pushgate_tests::{dry_run_config, need, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_python_grpc,
    ignore = "needs Python's grpcio: pip install -r tests/python/requirements.txt"
)]
async fn python_grpcio_client() {
    need(
        &["python3", "-c", "import grpc, grpc_health, grpc_reflection"],
        "pip install -r tests/python/requirements.txt",
    );
    let running = start(&dry_run_config()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/client_test.py");
    let addr = running.grpc_addr.to_string();
    let output =
        tokio::task::spawn_blocking(move || Command::new("python3").arg(script).arg(addr).output())
            .await
            .unwrap()
            .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
    running.shutdown().await;
}
