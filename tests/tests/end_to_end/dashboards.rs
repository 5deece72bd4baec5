//! The Grafana dashboard (`deploy/grafana/pushgate.json`) and the Prometheus alert rules
//! (`deploy/prometheus/pushgate-alerts.yml`): every metric they query is in the `/metrics` of
//! a running pushgate that has done each kind of work; the dashboard follows Grafana's schema;
//! the rules pass `promtool check rules` and their unit tests.

use std::{collections::BTreeSet, path::PathBuf, process::Command};

use promql_parser::{
    parser::{self, Expr},
    util::{walk_expr, ExprVisitor},
};
use pushgate::v1::{Notification, PushAck, SendAckRequest, SendRequest, Status};
use pushgate_proxy::config::AppleSettings;
use pushgate_tests::{
    android::apple_and_android_config,
    apple::apple_key,
    grpc_client, http_url,
    mock_apns::{MockApns, Reply},
    mock_fcm::MockFcm,
    need, push, samples, send, start, temp_dir,
};

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

/// Every PromQL expression of the dashboard's panels and of the alert rules, named by where it is.
fn queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(deploy("grafana/pushgate.json")).unwrap())
            .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            out.push((
                format!("dashboard panel {title:?}"),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    let rules = std::fs::read_to_string(deploy("prometheus/pushgate-alerts.yml")).unwrap();
    let rules = &yaml_rust2::YamlLoader::load_from_str(&rules).unwrap()[0];
    for group in rules["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            out.push((
                format!("alert {}", rule["alert"].as_str().unwrap()),
                rule["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

/// The metric names an expression selects.
fn selected(expr: &str) -> Result<BTreeSet<String>, String> {
    struct Names(BTreeSet<String>);
    impl ExprVisitor for Names {
        type Error = ();
        fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
            let selector = match expr {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            if let Some(name) = &selector.name {
                self.0.insert(name.clone());
            }
            Ok(true)
        }
    }
    // Grafana's interval variable is not PromQL; any duration stands in for it.
    let expr = parser::parse(&expr.replace("$__rate_interval", "5m"))?;
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &expr).map_err(|()| "walk".to_string())?;
    Ok(names.0)
}

/// The series names of a Prometheus text exposition (`_bucket`, `_sum`, `_count` included).
fn exported(text: &str) -> BTreeSet<String> {
    samples(text)
        .into_keys()
        .map(|sample| sample.split('{').next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_and_the_alerts_query_is_exported() {
    // A pushgate that has done each kind of work: OK, REMOVE and a retried push, an ack, a
    // Send, FCM with its OAuth token, and an APNs certificate target (its expiry gauge).
    let apns = MockApns::start().await;
    apns.reply_with(|r, _| {
        let token = r.path.rsplit('/').next().unwrap_or("");
        if token.starts_with("dead") {
            Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#)
        } else if token.starts_with("0e") {
            Reply::reason(503, "ServiceUnavailable")
        } else {
            Reply::ok()
        }
    });
    let fcm = MockFcm::start().await;
    let key = apple_key();
    let mut config = apple_and_android_config(&apns, &key, &fcm);
    config.enable_metrics = true;
    let cert = rcgen::generate_simple_self_signed(vec!["pushgate-test".into()]).unwrap();
    let pem = temp_dir("dashboards").join("apns.pem");
    std::fs::write(
        &pem,
        format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem()),
    )
    .unwrap();
    config.targets.apple.push(AppleSettings {
        kind: "apple_cert".into(),
        topic: "com.example.cert".into(),
        cert_private: pem.to_string_lossy().into(),
        endpoint: apns.endpoint(),
        ..Default::default()
    });
    config.targets.apple.push(AppleSettings {
        kind: "apple_broken".into(),
        topic: "com.example".into(),
        cert_private: "/nonexistent/apns.pem".into(),
        ..Default::default()
    });
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let mut acked = push("apple_rn", "0a01");
    acked.ack_id = "ack-1".into();
    assert_eq!(send(&mut client, acked).await.status(), Status::Ok);
    assert_eq!(
        send(&mut client, push("apple_rn", "dead01")).await.status(),
        Status::Remove
    );
    // Every attempt for 0e… is "not now": three attempts, two retries, then FAIL.
    assert_eq!(
        send(&mut client, push("apple_rn", "0e01")).await.status(),
        Status::Fail
    );
    assert_eq!(
        send(&mut client, push("android_rn", "fcm-token"))
            .await
            .status(),
        Status::Ok
    );
    client
        .send_ack(SendAckRequest {
            ack: Some(PushAck {
                id: "ack-1".into(),
                platform: "ios".into(),
                r#type: "message".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    client
        .send(SendRequest {
            target: "apple_rn".into(),
            tokens: vec!["0b01".into()],
            notification: Some(Notification::default()),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let text = reqwest::get(http_url(&running, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Health per target, as gRPC health says it.
    for (target, up) in [("apple_rn", 1), ("apple_cert", 1), ("apple_broken", 0)] {
        let line = format!("\npushgate_target_up{{target=\"{target}\"}} {up}\n");
        assert!(text.contains(&line), "no {line:?} in:\n{text}");
    }
    let exported = exported(&text);

    let mut queried = BTreeSet::new();
    let mut unknown = Vec::new();
    for (place, expr) in queries() {
        let names = selected(&expr).unwrap_or_else(|e| panic!("{place}: {e}\n{expr}"));
        assert!(!names.is_empty(), "{place} selects no metric: {expr}");
        for name in names {
            if !exported.contains(&name) {
                unknown.push(format!("{place}: {name}"));
            }
            queried.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "queried but not exported by pushgate:\n{}",
        unknown.join("\n")
    );
    // What an operator needs to see is all there.
    for needed in [
        "service_success_total",
        "service_failure_total",
        "pushgate_provider_request_seconds_bucket",
        "pushgate_upstream_retries_total",
        "pushgate_push_to_ack_seconds_bucket",
        "pushgate_acked_ratio",
        "pushgate_target_up",
        "pushgate_throttled_requests_total",
    ] {
        assert!(queried.contains(needed), "nothing shows {needed}");
    }
    running.shutdown_now().await;
}

#[test]
#[cfg_attr(missing_go, ignore = "needs Go (`go version` failed here)")]
fn the_dashboard_follows_grafanas_schema() {
    need(&["go", "version"], "Go");
    let out = Command::new("go")
        .args(["test", "./..."])
        .current_dir(deploy("grafana/check"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "go test in deploy/grafana/check:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[cfg_attr(
    missing_promtool,
    ignore = "needs promtool (Debian: apt-get install prometheus)"
)]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    need(
        &["promtool", "--version"],
        "promtool (Debian package prometheus)",
    );
    for args in [
        ["check", "rules", "pushgate-alerts.yml"],
        ["test", "rules", "pushgate-alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(deploy("prometheus"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
