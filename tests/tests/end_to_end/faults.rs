//! Faults and abuse on the delivery side, each a reproduction that once broke pushgate: bad
//! device tokens, a hanging OAuth2 endpoint, answers whose bodies come late, retries and their
//! causes, a target removed by a reload while its pushes are in flight.

use std::time::Duration;

use pushgate::v1::Status;
use pushgate_tests::{
    android::android_config,
    apple::{apple_config, apple_key},
    grpc_client, health_of,
    mock_apns::{self, MockApns},
    mock_fcm::{self, MockFcm},
    push, push_from_json, send, start,
};
use tonic_health::pb::health_check_response::ServingStatus;

/// A 100 KB token failed while building the request and turned `apple_rn` NOT_SERVING for
/// every caller; `../../3/device/X` and `a#b` went into the APNs URL as they were.
#[tokio::test]
async fn bad_device_tokens_fail_alone_and_never_mark_a_target_down() {
    let apns = MockApns::start().await;
    let fcm = MockFcm::start().await;
    let key = apple_key();
    let config = pushgate_tests::android::apple_and_android_config(&apns, &key, &fcm);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;

    let huge = "a".repeat(100_000);
    // deviations.md 12: an APNs token that cannot be right is REMOVE `BadDeviceToken`, as
    // MPNS's caller sees it once Apple refused it; an FCM one is FAIL, as for INVALID_ARGUMENT.
    for (platform, token, status, reason) in [
        ("apple_rn", huge.as_str(), Status::Remove, "BadDeviceToken"),
        (
            "apple_rn",
            "../../3/device/X",
            Status::Remove,
            "BadDeviceToken",
        ),
        ("apple_rn", "a#b", Status::Remove, "BadDeviceToken"),
        ("apple_rn", "abcd?x=1", Status::Remove, "BadDeviceToken"),
        (
            "android_rn",
            huge.as_str(),
            Status::Fail,
            "InvalidDeviceToken",
        ),
        ("android_rn", "a b", Status::Fail, "InvalidDeviceToken"),
        ("android_rn", "tok/../x", Status::Fail, "InvalidDeviceToken"),
    ] {
        let answer = send(&mut client, push(platform, token)).await;
        assert_eq!(answer.status(), status, "{platform} {:.20}", token);
        assert_eq!(answer.reason, reason, "{platform}");
        assert!(
            answer.error.starts_with("invalid device Id: "),
            "{platform}: {}",
            answer.error
        );
        assert!(!answer.error.contains(token), "the token is not echoed");
    }
    // Over the MPNS HTTP API the APNs case is MPNS's REMOVE, byte for byte.
    let http = pushgate_tests::process::send_push(
        &format!("http://{}", running.http_addr),
        r#"{"platform":"apple_rn","server_id":"s","device_id":"not-hex","type":"message","message":"m"}"#,
    )
    .await;
    assert_eq!(http, "{\"status\":\"REMOVE\"}\n");
    assert!(apns.requests().is_empty(), "nothing reached APNs");
    assert!(fcm.requests().is_empty(), "nothing reached FCM");
    for target in ["apple_rn", "android_rn"] {
        assert_eq!(
            health_of(&running, target).await,
            Some(ServingStatus::Serving),
            "{target} stays SERVING"
        );
    }
    // Real tokens still go through.
    let ok = send(&mut client, push("apple_rn", &"0f".repeat(32))).await;
    assert_eq!(ok.status(), Status::Ok);
    let ok = send(&mut client, push("android_rn", "fcm:APA91b-x_y.z")).await;
    assert_eq!(ok.status(), Status::Ok);
    running.shutdown().await;
}

/// The token fetch had a fixed 10 s timeout, longer than the send budget: every push ended in
/// "context deadline exceeded" while `android_rn` stayed SERVING.
#[tokio::test]
async fn a_hanging_token_endpoint_fails_the_push_with_its_reason_and_the_target_health() {
    let fcm = MockFcm::start().await;
    fcm.set_token_endpoint_hanging(true);
    let mut config = android_config(&fcm);
    config.delivery.send_timeout = Duration::from_secs(3);
    config.delivery.retry_timeout = Duration::from_millis(500);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push("android_rn", "fcmtoken")).await;
    assert_eq!(answer.status(), Status::Fail);
    assert!(
        answer.error.contains("OAuth2 token endpoint"),
        "the answer names the token endpoint: {}",
        answer.error
    );
    assert_eq!(
        health_of(&running, "android_rn").await,
        Some(ServingStatus::NotServing)
    );
    fcm.set_token_endpoint_hanging(false);
    assert_eq!(
        send(&mut client, push("android_rn", "fcmtoken"))
            .await
            .status(),
        Status::Ok
    );
    assert_eq!(
        health_of(&running, "android_rn").await,
        Some(ServingStatus::Serving)
    );
    running.shutdown().await;
}

/// A success's body was dropped unread: each such stream was reset (HTTP/2) or its connection
/// thrown away (HTTP/1.1), and pushes in flight on a closed connection were sent again.
#[tokio::test]
async fn answers_are_read_to_the_end_so_connections_live_on() {
    let fcm = MockFcm::start().await;
    fcm.reply_with(|_, _| mock_fcm::Reply::ok().body_after(Duration::from_millis(30)));
    let running = start(&android_config(&fcm)).await;
    let mut client = grpc_client(&running).await;
    for i in 0..20 {
        let answer = send(&mut client, push("android_rn", &format!("tok{i}"))).await;
        assert_eq!(answer.status(), Status::Ok);
    }
    let tokens: std::collections::HashSet<String> = fcm
        .requests()
        .iter()
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            body["message"]["token"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(fcm.requests().len(), 20, "no push sent twice");
    assert_eq!(tokens.len(), 20, "every push delivered");
    assert_eq!(
        fcm.connections(),
        2,
        "one connection for the token fetch, one shared by 20 pushes"
    );
    running.shutdown().await;
}

/// Retries are counted by cause, so an operator can tell a provider's "not now" from answers
/// that never came (after which the push may have arrived: delivery is at-least-once).
#[tokio::test]
async fn retries_are_counted_by_cause() {
    let apns = MockApns::start().await;
    apns.reply_with(|_, n| match n {
        0 => mock_apns::Reply::reason(503, "ServiceUnavailable"),
        1 => mock_apns::Reply::ok().after(Duration::from_millis(1500)),
        _ => mock_apns::Reply::ok(),
    });
    let key = apple_key();
    let mut config = apple_config(&apns, &key);
    config.delivery.retry_timeout = Duration::from_millis(500);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push("apple_rn", "a1b2c3d4")).await;
    assert_eq!(answer.status(), Status::Ok);
    assert_eq!(apns.requests().len(), 3);
    let metrics = running.metrics_text();
    for (cause, count) in [("answer", 1), ("timeout", 1), ("connection", 0)] {
        let line = format!(
            r#"pushgate_upstream_retries_total{{cause="{cause}",target="apple_rn"}} {count}"#
        );
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    running.shutdown().await;
}

/// A stream APNs refuses unread (`REFUSED_STREAM`, as a server past its stream limit does) is
/// sent again at once and does not use up one of the three attempts: the push did not arrive.
#[tokio::test]
async fn a_refused_stream_is_sent_again_without_using_an_attempt() {
    let apns = MockApns::start().await;
    apns.refuse_streams(1);
    apns.reply_with(|_, n| match n {
        0 | 1 => mock_apns::Reply::reason(503, "ServiceUnavailable"),
        _ => mock_apns::Reply::ok(),
    });
    let key = apple_key();
    let running = start(&apple_config(&apns, &key)).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push("apple_rn", "a1b2c3d4")).await;
    assert_eq!(answer.status(), Status::Ok, "{answer:?}");
    assert_eq!(apns.streams_to_refuse(), 0, "the first stream was refused");
    assert_eq!(apns.requests().len(), 3, "after it, two 503s, then OK");
    let metrics = running.metrics_text();
    for (cause, count) in [("refused", 1), ("answer", 2), ("connection", 0)] {
        let line = format!(
            r#"pushgate_upstream_retries_total{{cause="{cause}",target="apple_rn"}} {count}"#
        );
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    running.shutdown().await;
}

/// A target removed by a reload came back as SERVING when its in-flight pushes finished.
#[tokio::test]
async fn a_target_removed_by_reload_stays_gone_when_its_sends_finish() {
    let apns = MockApns::start().await;
    apns.reply_with(|_, _| mock_apns::Reply::ok().after(Duration::from_millis(800)));
    let key = apple_key();
    let config = apple_config(&apns, &key);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let in_flight = tokio::spawn(async move {
        send(
            &mut client,
            push_from_json(r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4"}"#),
        )
        .await
    });
    // Wait until the push is at the mock, then drop `apple_rn` from the config.
    while apns.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut reloaded = config.clone();
    reloaded.targets.apple.retain(|e| e.kind != "apple_rn");
    running.reload(&reloaded).await;
    assert_eq!(health_of(&running, "apple_rn").await, None, "gone at once");
    assert_eq!(
        in_flight.await.unwrap().status(),
        Status::Ok,
        "finished on the old target"
    );
    assert_eq!(
        health_of(&running, "apple_rn").await,
        None,
        "still gone after its last send"
    );
    assert_eq!(
        health_of(&running, "apple").await,
        Some(ServingStatus::Serving)
    );
    running.shutdown().await;
}
