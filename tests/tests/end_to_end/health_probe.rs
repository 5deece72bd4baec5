//! `grpc_health_probe` (github.com/grpc-ecosystem/grpc-health-probe, the `exec` probe of
//! Kubernetes before gRPC probes, and of many service meshes) against pushgate in plaintext,
//! TLS and mutual TLS, for the process (`""`), the API (`pushgate.v1.PushProxy`) and a platform
//! `Type`: its exit code is what the kubelet acts on.
//!
//! The probe is built from the Go module proxy into `target/tools`; without Go the test fails
//! under CI and is ignored elsewhere.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use pushgate_proxy::config::AppleSettings;
use pushgate_tests::{dry_run_config, pki::Pki, start, temp_dir};

const PROBE: &str = "github.com/grpc-ecosystem/grpc-health-probe@v0.4.62";

/// The probe binary, built once per target directory.
fn probe() -> PathBuf {
    let tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools");
    let binary = tools.join("grpc-health-probe");
    if binary.exists() {
        return binary;
    }
    let built = Command::new("go")
        .args(["install", PROBE])
        .env("GOBIN", &tools)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        built,
        "{PROBE} did not build with Go (the Go module proxy must serve it)"
    );
    binary
}

fn run(probe: &PathBuf, args: &[&str]) -> Output {
    Command::new(probe)
        .args(args)
        .args(["-connect-timeout", "5s", "-rpc-timeout", "5s"])
        .output()
        .expect("the probe runs")
}

/// Exit 0 and "status: SERVING" for `service`.
fn serving(probe: &PathBuf, common: &[&str], service: &str) {
    let mut args = common.to_vec();
    args.extend(["-service", service]);
    let out = run(probe, &args);
    // The probe reports on stderr.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.contains("status: SERVING"),
        "probe {args:?}: {} {said}",
        out.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_go,
    ignore = "needs Go, to build grpc_health_probe (`go version` failed here)"
)]
async fn grpc_health_probe_plaintext_tls_and_mtls() {
    let probe = probe();
    let pki = Pki::write(&temp_dir("probe"));

    // Plaintext, with a platform whose credentials do not load: NOT_SERVING is exit code 4,
    // an unknown service NOT_FOUND (exit 3); the process and the API stay SERVING.
    let mut config = dry_run_config();
    config.targets.apple.push(AppleSettings {
        kind: "apple_broken".into(),
        topic: "com.example".into(),
        auth_key_file: "/nonexistent/AuthKey.p8".into(),
        auth_key_id: "K".into(),
        team_id: "T".into(),
        ..Default::default()
    });
    let running = start(&config).await;
    let addr = running.grpc_addr.to_string();
    let plain = ["-addr", addr.as_str()];
    for service in ["", "pushgate.v1.PushProxy", "apple_rn"] {
        serving(&probe, &plain, service);
    }
    let code = |service: &str| {
        let mut args = plain.to_vec();
        args.extend(["-service", service]);
        run(&probe, &args).status.code()
    };
    assert_eq!(code("apple_broken"), Some(4), "NOT_SERVING");
    assert_eq!(code("no-such-service"), Some(3), "NOT_FOUND");
    running.shutdown().await;

    // TLS: the probe verifies the server against the CA.
    let mut config = dry_run_config();
    pki.serve(&mut config, false);
    let running = start(&config).await;
    let addr = format!("localhost:{}", running.grpc_addr.port());
    let tls = [
        "-addr",
        addr.as_str(),
        "-tls",
        "-tls-ca-cert",
        pki.ca.as_str(),
    ];
    for service in ["", "pushgate.v1.PushProxy", "android_rn"] {
        serving(&probe, &tls, service);
    }
    running.shutdown().await;

    // Mutual TLS (with the API token set: health stays open to a probe without it).
    let mut config = dry_run_config();
    pki.serve(&mut config, true);
    config.listeners.grpc_auth_token = "probe-does-not-know-it".into();
    let running = start(&config).await;
    let addr = format!("localhost:{}", running.grpc_addr.port());
    let mtls = [
        "-addr",
        addr.as_str(),
        "-tls",
        "-tls-ca-cert",
        pki.ca.as_str(),
        "-tls-client-cert",
        pki.client_cert.as_str(),
        "-tls-client-key",
        pki.client_key.as_str(),
    ];
    for service in ["", "pushgate.v1.PushProxy", "apple_rn"] {
        serving(&probe, &mtls, service);
    }
    let without_certificate = run(&probe, &tls);
    assert!(
        !without_certificate.status.success(),
        "mutual TLS refuses a probe without a client certificate"
    );
    running.shutdown().await;
}
