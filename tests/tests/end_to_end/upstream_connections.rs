//! How pushgate uses its connections to a provider under load: more HTTP/2 connections when the
//! open ones' streams are full (bounded), the attempt clock started only once a request has a
//! stream, and a cold burst to FCM sharing one connection instead of opening one each.

use std::{collections::HashMap, time::Duration};

use pushgate::v1::Status;
use pushgate_proxy::config::UpstreamLimits;
use pushgate_tests::{
    android::android_config,
    apple::{apple_config, apple_key},
    grpc_client,
    mock_apns::{self, MockApns},
    mock_fcm::MockFcm,
    push, send, start, temp_dir,
};

/// Sends `n` pushes at once (tokens `0a0`, `0a1`, …) and returns how many answered OK.
async fn burst(running: &pushgate_proxy::server::Running, platform: &str, n: usize) -> usize {
    let client = grpc_client(running).await;
    let sends = (0..n).map(|i| {
        let mut client = client.clone();
        let platform = platform.to_string();
        tokio::spawn(async move { send(&mut client, push(&platform, &format!("0a{i}"))).await })
    });
    let mut ok = 0;
    for answer in futures::future::join_all(sends).await {
        if answer.unwrap().status() == Status::Ok {
            ok += 1;
        }
    }
    ok
}

/// How many requests reached the mock for each device token.
fn per_token(tokens: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for token in tokens {
        *counts.entry(token).or_default() += 1;
    }
    counts
}

fn apns_tokens(apns: &MockApns) -> HashMap<String, usize> {
    let requests = apns.requests();
    per_token(
        requests
            .iter()
            .map(|r| r.path.trim_start_matches("/3/device/").to_string()),
    )
}

fn retries(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("pushgate_upstream_retries_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

/// A mock APNs that takes `streams` streams a connection and answers after `delay`, and
/// pushgate sending to it with its config changed by `change`.
async fn apns_behind(
    streams: u32,
    delay: Duration,
    change: impl FnOnce(&mut pushgate_proxy::config::Config),
) -> (MockApns, pushgate_proxy::server::Running) {
    let apns = MockApns::start_with_streams(streams).await;
    apns.reply_with(move |_, _| mock_apns::Reply::ok().after(delay));
    let key = apple_key();
    let mut config = apple_config(&apns, &key);
    change(&mut config);
    (apns, start(&config).await)
}

/// One connection per APNs target queued every push beyond the server's stream limit.
#[tokio::test]
async fn apns_opens_more_connections_as_streams_fill_up_to_the_bound() {
    let (apns, running) = apns_behind(4, Duration::from_millis(300), |config| {
        config.delivery.upstream = UpstreamLimits {
            connections: 3,
            streams: Some(4),
            ..config.delivery.upstream
        };
    })
    .await;

    assert_eq!(burst(&running, "apple_rn", 24).await, 24);
    assert_eq!(apns.connections(), 3, "3 connections of 4 streams, no more");
    let tokens = apns_tokens(&apns);
    assert_eq!(tokens.len(), 24, "every push delivered");
    assert!(tokens.values().all(|&n| n == 1), "none twice: {tokens:?}");
    assert_eq!(retries(&running.metrics_text()), 0);
    running.shutdown().await;
}

/// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` counts, not only the configured slots: with
/// the provider's 1,000 and an APNs that allows 4, every push queued on one connection (inside
/// h2, where nobody saw the wait). Once a connection has said its limit, a burst opens more.
#[tokio::test]
async fn the_servers_stream_limit_opens_more_connections() {
    let (apns, running) = apns_behind(4, Duration::from_millis(300), |config| {
        config.delivery.upstream = UpstreamLimits {
            connections: 3,
            streams: None,
            ..config.delivery.upstream
        };
    })
    .await;

    // The first push opens the connection that tells the limit.
    assert_eq!(burst(&running, "apple_rn", 1).await, 1);
    assert_eq!(apns.connections(), 1);
    assert_eq!(burst(&running, "apple_rn", 12).await, 12);
    assert_eq!(
        apns.connections(),
        3,
        "4 streams each: 3 connections for 12"
    );
    assert_eq!(
        apns.requests().len(),
        13,
        "every push delivered, none twice"
    );
    let tokens = apns_tokens(&apns);
    // Both bursts begin with token 0a0.
    assert!(
        tokens
            .iter()
            .all(|(t, &n)| n == if t == "0a0" { 2 } else { 1 }),
        "{tokens:?}"
    );
    assert_eq!(retries(&running.metrics_text()), 0);
    running.shutdown().await;
}

/// APNs closes connections now and then (GOAWAY): the next push opens another and goes out on
/// it, with no error and no retry.
#[tokio::test]
async fn a_connection_the_provider_closed_is_replaced() {
    let (apns, running) = apns_behind(1000, Duration::ZERO, |_| {}).await;
    assert_eq!(burst(&running, "apple_rn", 4).await, 4);
    assert_eq!(apns.connections(), 1);
    apns.close_connections();
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while apns.open_connections() > 0 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(apns.open_connections(), 0, "the mock closed it");
    assert_eq!(burst(&running, "apple_rn", 4).await, 4);
    assert_eq!(
        apns.connections(),
        2,
        "one new connection for the next pushes"
    );
    assert_eq!(apns.requests().len(), 8);
    assert_eq!(retries(&running.metrics_text()), 0);
    running.shutdown().await;
}

/// The connections a peak opened stayed open for ever; now those beyond the first close once
/// they have carried nothing for `UpstreamIdleSec`, and a new peak opens them again.
#[tokio::test]
async fn connections_a_peak_opened_close_when_the_load_falls() {
    let (apns, running) = apns_behind(4, Duration::from_millis(300), |config| {
        config.delivery.upstream = UpstreamLimits {
            connections: 3,
            streams: Some(4),
            idle: Duration::from_secs(1),
        };
    })
    .await;

    assert_eq!(burst(&running, "apple_rn", 12).await, 12);
    assert_eq!(apns.connections(), 3);
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while apns.open_connections() > 1 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        apns.open_connections(),
        1,
        "the two the peak added are closed"
    );
    // The one left carries on, and the next peak opens more again.
    assert_eq!(burst(&running, "apple_rn", 12).await, 12);
    assert_eq!(apns.connections(), 5);
    assert_eq!(retries(&running.metrics_text()), 0);
    running.shutdown().await;
}

/// The wait for a stream counted against `RetryTimeoutSec`: pushes queued behind a busy
/// connection timed out before they were sent, and were sent again.
#[tokio::test]
async fn the_attempt_clock_starts_when_the_request_has_a_stream() {
    let (apns, running) = apns_behind(1, Duration::from_millis(400), |config| {
        config.delivery.retry_timeout = Duration::from_secs(1);
        config.delivery.upstream = UpstreamLimits {
            connections: 1,
            streams: Some(1),
            ..config.delivery.upstream
        };
    })
    .await;

    // The fourth waits ~1.2 s for its stream, then takes 0.4 s on the wire.
    assert_eq!(burst(&running, "apple_rn", 4).await, 4);
    let tokens = apns_tokens(&apns);
    assert_eq!(tokens.len(), 4);
    assert!(tokens.values().all(|&n| n == 1), "none twice: {tokens:?}");
    assert_eq!(retries(&running.metrics_text()), 0, "no attempt timed out");
    running.shutdown().await;
}

/// FCM negotiated HTTP/2 by ALPN, so each push of a cold burst opened its own TLS connection
/// and all but one were closed again.
#[tokio::test]
async fn a_cold_burst_to_fcm_shares_one_connection() {
    let fcm = MockFcm::start_tls().await;
    let ca = temp_dir("fcm-ca").join("ca.pem");
    std::fs::write(&ca, fcm.ca_pem.as_ref().unwrap()).unwrap();
    let mut config = android_config(&fcm);
    for entry in &mut config.targets.android {
        entry.fcm_ca_file = ca.to_string_lossy().into();
        // Another host than the token endpoint's, as fcm.googleapis.com is to
        // oauth2.googleapis.com: the sends cannot reuse the token fetch's connection.
        entry.fcm_endpoint = entry.fcm_endpoint.replace("127.0.0.1", "localhost");
    }
    let running = start(&config).await;

    assert_eq!(burst(&running, "android_rn", 64).await, 64);
    assert_eq!(
        fcm.connections(),
        2,
        "one connection to the token endpoint, one shared by the 64 pushes"
    );
    let requests = fcm.requests();
    let tokens = per_token(requests.iter().filter_map(|r| {
        let body: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        Some(body["message"]["token"].as_str()?.to_string())
    }));
    assert_eq!(tokens.len(), 64);
    assert!(tokens.values().all(|&n| n == 1), "none twice: {tokens:?}");
    running.shutdown().await;
}
