//! The Mattermost plugin (`pushgate-plugin`) on Mattermost's own plugin host code: starts
//! pushgate over TLS with an auth token, a mock APNs behind it, and runs the Go harness in
//! `plugin-harness/` once per Mattermost `server/public` version it pins. The harness activates
//! the plugin through `plugin.Environment` and drives every hook; this test then checks that a
//! push sent by the host arrived at the mock APNs with the exact bytes MPNS sends.
//!
//! Without Go this fails under CI (`CI` set) and is ignored elsewhere.

use std::{path::PathBuf, process::Command};

use pushgate_tests::{
    apple::{apple_config, apple_key},
    binary, free_port,
    mock_apns::{self, MockApns},
    need,
    pki::Pki,
    start, temp_dir,
};

const TOKEN: &str = "harness-grpc-token-0123456789";

/// The modules the harness runs with: the newest `server/public` (go.mod) and an older one whose
/// host sends `ServeHTTP`'s request as a whole `*http.Request` (compat/).
const MODULE_FILES: [&str; 2] = ["go.mod", "compat/go.v0.1.9.mod"];

/// What APNs must receive for the wire contract's example 10.2 (the harness sends its request).
const APNS_BODY_10_2: &str = r#"{"ack_id":"ackid0000000000000000000a","aps":{"alert":{"body":"alice: Hello 😄  \u003cb\u003e","title":"Town Square"},"badge":3,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","channel_name":"Town Square","is_crt_enabled":false,"post_id":"postid000000000000000000a","sender_id":"userid000000000000000000a","sender_name":"alice","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"}"#;

fn harness_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin-harness")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(missing_go, ignore = "needs Go (`go version` failed here)")]
async fn the_plugin_on_mattermosts_host_code() {
    need(&["go", "version"], "Go");
    let apns = MockApns::start().await;
    apns.reply_with(|request, _| {
        if request.path.starts_with("/3/device/dead") {
            mock_apns::Reply::reason(410, "Unregistered")
        } else if request.path.starts_with("/3/device/badd") {
            mock_apns::Reply::reason(400, "TopicDisallowed")
        } else {
            mock_apns::Reply::ok()
        }
    });
    let key = apple_key();
    let mut config = apple_config(&apns, &key);
    // `apple` with credentials that do not load: NOT_SERVING in `/pushgate status`.
    for target in config
        .targets
        .apple
        .iter_mut()
        .filter(|t| t.kind == "apple")
    {
        target.auth_key_file = "/nonexistent/AuthKey.p8".into();
    }
    let pki = Pki::write(&temp_dir("plugin"));
    pki.serve(&mut config, false);
    config.listeners.grpc_auth_token = TOKEN.into();
    let running = start(&config).await;

    // The bundle as `plugin/bundle` makes it (from the executable this build made), which the
    // harness unpacks and activates as a server does.
    let bundles = temp_dir("plugin-bundle");
    let bundle = Command::new(harness_dir().join("../plugin/bundle"))
        .arg("--binary")
        .arg(binary("pushgate-plugin"))
        .arg("--out")
        .arg(&bundles)
        .output()
        .expect("plugin/bundle runs");
    assert!(
        bundle.status.success(),
        "plugin/bundle: {}",
        String::from_utf8_lossy(&bundle.stderr)
    );
    let bundle = String::from_utf8(bundle.stdout).unwrap().trim().to_string();
    assert!(
        bundle.ends_with(&format!(
            "com.mattermost.pushgate-{}.tar.gz",
            env!("CARGO_PKG_VERSION")
        )),
        "{bundle}"
    );

    let env = [
        (
            "PUSHGATE_PLUGIN_BIN",
            binary("pushgate-plugin").display().to_string(),
        ),
        ("PUSHGATE_PLUGIN_BUNDLE", bundle),
        (
            "PUSHGATE_GRPC_ADDR",
            format!("localhost:{}", running.grpc_addr.port()),
        ),
        ("PUSHGATE_CA", pki.ca.clone()),
        ("PUSHGATE_TOKEN", TOKEN.to_string()),
        (
            "PUSHGATE_HTTP",
            format!("https://localhost:{}", running.http_addr.port()),
        ),
        ("PUSHGATE_DEAD_ADDR", format!("127.0.0.1:{}", free_port())),
    ];
    // Both module versions at once: each run is mostly its 80 s idle wait.
    let runs = MODULE_FILES.map(|module| {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let output = Command::new("go")
                .args([
                    "test",
                    "-count=1",
                    "-v",
                    &format!("-modfile={module}"),
                    "./...",
                ])
                .current_dir(harness_dir())
                .env("GOFLAGS", "-mod=readonly")
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .output()
                .expect("go test runs");
            (module, output)
        })
    });
    for run in runs {
        let (module, output) = run.await.unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "the Go harness failed with {module}:\n{stdout}\n{stderr}"
        );
        eprintln!("harness with {module}:\n{stdout}");
    }

    let arrived = apns
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "/3/device/a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
        })
        .collect::<Vec<_>>();
    assert!(!arrived.is_empty(), "the 10.2 push never reached APNs");
    for r in &arrived {
        assert_eq!(r.body, APNS_BODY_10_2);
        assert_eq!(r.header("apns-topic"), Some("com.mattermost.react.native"));
    }
    running.shutdown().await;
}
