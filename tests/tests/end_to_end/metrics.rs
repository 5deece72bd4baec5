//! `/metrics` after a known sequence of pushes: MPNS's metric names, labels and help texts, and
//! pushgate's own, scraped over HTTP and parsed.

use pushgate_tests::{
    apple::apple_key,
    http_url,
    mock_apns::{self, MockApns},
    mock_fcm::{self, MockFcm},
    samples, start,
};

#[tokio::test]
async fn metrics_count_a_known_sequence() {
    let apns = MockApns::start().await;
    apns.reply_with(|r, _| {
        if r.path.ends_with("/dead") {
            mock_apns::Reply::reason(400, "BadDeviceToken")
        } else {
            mock_apns::Reply::ok()
        }
    });
    let fcm = MockFcm::start().await;
    fcm.reply_with(|_, _| {
        mock_fcm::Reply::fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "bad token")
    });
    let key = apple_key();
    let mut config = pushgate_tests::android::apple_and_android_config(&apns, &key, &fcm);
    config.enable_metrics = true;
    let running = start(&config).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: &str| {
        client
            .post(http_url(&running, path))
            .body(body.to_string())
            .send()
    };
    for (path, body) in [
        ("/api/v1/send_push", r#"{"device_id":"d"}"#), // bad request
        ("/api/v1/send_push", "<xml/>"),               // bad request (decode)
        (
            "/api/v1/send_push",
            r#"{"platform":"apple_rn-v2","server_id":"s","device_id":"a1b2","type":"message","ack_id":"a1"}"#,
        ),
        (
            "/api/v1/send_push",
            r#"{"platform":"apple_rn","server_id":"s","device_id":"dead","type":"message"}"#,
        ),
        (
            "/api/v1/send_push",
            r#"{"platform":"apple_rn-v7","server_id":"s","device_id":"a1b2","type":"made-up-type","transport":"voip"}"#,
        ),
        (
            "/api/v1/send_push",
            r#"{"platform":"android_rn-v2","server_id":"s","device_id":"t","type":"clear"}"#,
        ),
        (
            "/api/v1/ack",
            r#"{"id":"a1","platform":"ios","type":"message"}"#,
        ),
    ] {
        assert_eq!(post(path, body).await.unwrap().status(), 200);
    }
    let text = client
        .get(http_url(&running, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let m = samples(&text);
    let get = |k: &str| {
        m.get(k)
            .copied()
            .unwrap_or_else(|| panic!("no sample {k} in:\n{text}"))
    };

    assert_eq!(get("service_bad_request_total"), 2.0);
    assert_eq!(
        get("service_request_duration_seconds_count"),
        7.0,
        "every request is timed, the undecodable one too"
    );
    assert_eq!(
        get(r#"service_notifications_total{platform="apple",transport="",type="message"}"#),
        2.0
    );
    assert_eq!(
        get(r#"service_notifications_total{platform="apple",transport="voip",type="other"}"#),
        1.0
    );
    assert_eq!(
        get(r#"service_notifications_total{platform="android",transport="",type="clear"}"#),
        1.0
    );
    assert_eq!(
        get(r#"service_notifications_by_app_version_total{app_version="2",platform="apple_rn"}"#),
        1.0
    );
    assert_eq!(
        get(r#"service_notifications_by_app_version_total{app_version="1",platform="apple_rn"}"#),
        1.0
    );
    assert_eq!(
        get(
            r#"service_notifications_by_app_version_total{app_version="other",platform="apple_rn"}"#
        ),
        1.0
    );
    assert_eq!(
        get(r#"service_success_total{platform="apple",transport="",type="message"}"#),
        1.0
    );
    assert_eq!(
        get(r#"service_success_with_ack_total{platform="apple",transport="",type="message"}"#),
        1.0
    );
    assert_eq!(
        get(r#"service_failure_total{platform="apple",transport="",type="message"}"#),
        1.0
    );
    assert_eq!(
        get(r#"service_removal_total{platform="apple",reason="BadDeviceToken",transport=""}"#),
        1.0
    );
    assert_eq!(
        get(
            r#"service_failure_with_reason_total{platform="android",reason="INVALID_ARGUMENT",transport="",type="clear"}"#
        ),
        1.0
    );
    assert_eq!(
        get(r#"service_delivered_total{platform="ios",transport="",type="message"}"#),
        1.0
    );
    assert_eq!(get("service_apns_request_duration_seconds_count"), 3.0);
    assert_eq!(get("service_fcm_request_duration_seconds_count"), 1.0);
    assert_eq!(
        get(r#"service_notification_duration_seconds_count{platform="apple"}"#),
        3.0
    );
    assert_eq!(
        get(r#"pushgate_upstream_request_duration_seconds_count{target="apple_rn"}"#),
        3.0
    );
    assert_eq!(
        get(r#"pushgate_token_refreshes_total{target="apple_rn"}"#),
        1.0,
        "signed once, for the first push"
    );
    assert_eq!(
        get(r#"pushgate_token_refreshes_total{target="android_rn"}"#),
        1.0
    );
    assert_eq!(get("pushgate_requests_in_flight"), 0.0);
    assert!(m.contains_key("process_resident_memory_bytes"));

    for help in [
        "# HELP service_notifications_total Number of notifications sent",
        "# HELP service_removal_total Number of device token errors.",
        "# HELP service_notification_duration_seconds Notifiction request latency distribution",
        "# HELP service_bad_request_total Request to push proxy was a bad request",
        "# TYPE service_apns_request_duration_seconds histogram",
    ] {
        assert!(text.contains(help), "{help}");
    }
    assert!(
        !text.contains("made-up-type"),
        "client-controlled type values are bounded"
    );
    running.shutdown().await;
}
