//! `ThrottleEnforce` across replicas: with `ThrottleRedisURL`, two `pushgate` processes share
//! one quota counted in a real `redis-server`; when Redis stops, requests are allowed (the
//! default failure mode), counted in `pushgate_throttle_backend_errors_total` and logged once;
//! when it comes back, the shared quota holds again.
//!
//! Needs `redis-server` (Debian package redis-server; .ci/run installs it): fails under CI
//! without it, ignored elsewhere.

use std::{
    process::Stdio,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use pushgate_tests::{
    free_port, need,
    process::{output, pushgate, start_process, terminate, write_config},
    redis::redis_server,
    temp_dir,
};

const QUOTA: u64 = 5;

/// A config for one replica: enforced quota of 5 a second per `X-Forwarded-For`, in Redis.
fn replica_config(redis_port: u16) -> (std::path::PathBuf, u16) {
    let (http, grpc) = (free_port(), free_port());
    let dir = temp_dir("shared-limit");
    let path = write_config(&dir, http, grpc);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["ThrottleEnforce"] = true.into();
    config["ThrottlePerSec"] = QUOTA.into();
    config["ThrottleVaryByHeader"] = "X-Forwarded-For".into();
    config["ThrottleRedisURL"] = format!("redis://127.0.0.1:{redis_port}/").into();
    config["EnableMetrics"] = true.into();
    std::fs::write(&path, config.to_string()).unwrap();
    (path, http)
}

/// Ten pushes from one client, alternating between the replicas, inside one second of the
/// clock: how many were let through.
async fn burst(bases: &[String]) -> u64 {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","message":"m"}"#;
    for _ in 0..5 {
        // Start just after a second begins, so the burst fits in one window.
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let into_second = Duration::from_nanos(now.subsec_nanos() as u64);
        tokio::time::sleep(Duration::from_millis(1050) - into_second).await;
        let started = Instant::now();
        let mut allowed = 0;
        for i in 0..10 {
            let status = client
                .post(format!("{}/api/v1/send_push", bases[i % bases.len()]))
                .header("X-Forwarded-For", "10.1.2.3")
                .body(body)
                .send()
                .await
                .unwrap()
                .status();
            if status == 200 {
                allowed += 1;
            } else {
                assert_eq!(status, 429, "over the quota: 429");
            }
        }
        if started.elapsed() < Duration::from_millis(800) {
            return allowed;
        }
    }
    panic!("no burst of ten fitted in one second");
}

fn backend_errors(metrics: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with("pushgate_throttle_backend_errors_total "))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Bursts until one lets exactly the shared quota through (Redis may take a second to be
/// asked again after it comes back).
async fn shared_again(bases: &[String]) -> bool {
    for _ in 0..5 {
        if burst(bases).await == QUOTA {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_redis,
    ignore = "needs redis-server (Debian package redis-server)"
)]
async fn two_replicas_share_one_quota_and_survive_redis_restarts() {
    need(
        &["redis-server", "--version"],
        "redis-server (Debian package redis-server)",
    );
    // The replicas start before Redis does: requests are allowed meanwhile.
    let redis_port = free_port();
    let (config_a, http_a) = replica_config(redis_port);
    let (config_b, http_b) = replica_config(redis_port);
    let (mut a, base_a) = start_process(pushgate(&config_a).stdout(Stdio::piped()), http_a).await;
    let (_b, base_b) = start_process(&mut pushgate(&config_b), http_b).await;
    let bases = [base_a.clone(), base_b];
    assert_eq!(
        burst(&bases).await,
        10,
        "no Redis yet: allowed, not refused"
    );

    // Each replica alone would let 5 through: 10 in all. Shared: 5.
    let redis = redis_server(redis_port).unwrap();
    assert!(shared_again(&bases).await, "one quota for both replicas");

    // Redis gone: allowed (the default), counted, logged once.
    drop(redis);
    assert_eq!(
        burst(&bases).await,
        10,
        "a Redis outage does not stop pushes"
    );
    assert_eq!(burst(&bases).await, 10);
    let metrics = reqwest::get(format!("{base_a}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        backend_errors(&metrics) >= 10,
        "Redis errors are counted:\n{metrics}"
    );

    // Redis back on the same address: the shared quota holds again.
    let _redis = redis_server(redis_port).unwrap();
    assert!(
        shared_again(&bases).await,
        "the shared quota is back after Redis restarts"
    );

    terminate(&mut a).await;
    let log = output(&mut a);
    let lines = log
        .lines()
        .filter(|l| l.contains("The shared rate limit cannot reach Redis"))
        .count();
    assert_eq!(
        lines, 1,
        "one log line a minute, not one per request:\n{log}"
    );
}
