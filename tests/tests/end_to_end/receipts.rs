//! Push-to-device figures from acks (docs/observability.md): pushes through every entry path
//! (MPNS HTTP API, SendPush, StreamPush, Send) to the mock APNs and FCM, acks for some of them
//! later (HTTP and SendAck), then `/metrics` and `DeliveryStats` say exactly what was sent and
//! acked.

use std::{collections::HashMap, time::Duration};

use pushgate::v1::{
    push_proxy_client::PushProxyClient, DeliveryStatsRequest, Notification, PushAck,
    SendAckRequest, SendPushRequest, SendRequest, Status,
};
use pushgate_tests::{
    android::apple_and_android_config,
    apple::apple_key,
    grpc_client, http_url,
    mock_apns::{MockApns, Reply},
    mock_fcm::MockFcm,
    process::{post, send_push},
    push, samples, send, start,
};
use tonic::transport::Channel;

/// How long the "device" takes to ack in these tests.
const DEVICE_DELAY: Duration = Duration::from_millis(300);

fn with_ack(platform: &str, device: &str, ack_id: &str) -> pushgate::v1::PushNotification {
    pushgate::v1::PushNotification {
        ack_id: ack_id.into(),
        ..push(platform, device)
    }
}

async fn http_ack(base: &str, id: &str, platform: &str) {
    let body = format!(r#"{{"id":"{id}","platform":"{platform}","type":"message"}}"#);
    let answer = post(base, "/api/v1/ack", body).await;
    assert_eq!(answer, "{\"status\":\"OK\"}\n");
}

async fn grpc_ack(client: &mut PushProxyClient<Channel>, id: &str, platform: &str) {
    let answer = client
        .send_ack(SendAckRequest {
            ack: Some(PushAck {
                id: id.into(),
                platform: platform.into(),
                r#type: "message".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("an ack answer")
        .into_inner();
    assert_eq!(answer.status(), Status::Ok);
}

fn sample(all: &HashMap<String, f64>, name: &str) -> f64 {
    *all.get(name)
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_from_every_entry_path_give_exact_latency_counts_and_ratio() {
    let apns = MockApns::start().await;
    apns.reply_with(|r, _| {
        if r.path.rsplit('/').next().unwrap_or("").starts_with("dead") {
            Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#)
        } else {
            Reply::ok()
        }
    });
    let fcm = MockFcm::start().await;
    let key = apple_key();
    let mut config = apple_and_android_config(&apns, &key, &fcm);
    config.enable_metrics = true;
    let running = start(&config).await;
    let base = http_url(&running, "");
    let mut client = grpc_client(&running).await;

    // Apple through the MPNS HTTP API: four with ack ids, one without, one the provider refuses.
    for (i, id) in ["h1", "h2", "h3", "h4"].iter().enumerate() {
        let body = format!(
            r#"{{"ack_id":"{id}","platform":"apple_rn","server_id":"s","device_id":"0a0{i}","type":"message","message":"m"}}"#
        );
        assert_eq!(send_push(&base, body).await, "{\"status\":\"OK\"}\n");
    }
    let no_ack = r#"{"platform":"apple_rn","server_id":"s","device_id":"0a00","type":"message","message":"m"}"#;
    assert_eq!(send_push(&base, no_ack).await, "{\"status\":\"OK\"}\n");
    let gone = r#"{"ack_id":"r1","platform":"apple_rn","server_id":"s","device_id":"dead01","type":"message","message":"m"}"#;
    assert_eq!(send_push(&base, gone).await, "{\"status\":\"REMOVE\"}\n");
    // Android through SendPush.
    for id in ["g1", "g2"] {
        let answer = send(
            &mut client,
            with_ack("android_rn", &format!("tok-{id}"), id),
        )
        .await;
        assert_eq!(answer.status(), Status::Ok);
    }
    // Apple through StreamPush.
    let requests = ["s1", "s2"].map(|id| SendPushRequest {
        notification: Some(with_ack("apple_rn", &format!("0b0{}", &id[1..]), id)),
        request_id: id.into(),
    });
    let mut answers = client
        .stream_push(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    while let Some(answer) = answers.message().await.unwrap() {
        assert_eq!(answer.status(), Status::Ok);
    }
    // Apple through Send: three tokens share one ack id, a fourth is gone.
    let answer = client
        .send(SendRequest {
            target: "apple_rn".into(),
            tokens: vec!["0c01".into(), "0c02".into(), "0c03".into(), "dead02".into()],
            notification: Some(Notification {
                ack_id: "x1".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<Status> = answer.results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses,
        [Status::Ok, Status::Ok, Status::Ok, Status::Remove]
    );
    // Send put the ack id in the push's data, where the app reads it.
    let sent_to_apple = apns.requests();
    let send_body = sent_to_apple
        .iter()
        .find(|r| r.path.ends_with("/0c01"))
        .expect("the Send push");
    let payload: serde_json::Value = serde_json::from_str(&send_body.body).unwrap();
    assert_eq!(payload["ack_id"], "x1", "{payload}");

    // The devices answer later: some acked, one twice, and ids pushgate never sent OK.
    tokio::time::sleep(DEVICE_DELAY).await;
    http_ack(&base, "h1", "ios").await;
    http_ack(&base, "h2", "ios").await;
    grpc_ack(&mut client, "s1", "ios").await;
    grpc_ack(&mut client, "g1", "android").await;
    http_ack(&base, "x1", "ios").await;
    grpc_ack(&mut client, "x1", "ios").await;
    http_ack(&base, "h1", "ios").await; // again
    http_ack(&base, "r1", "ios").await; // its push was a REMOVE
    grpc_ack(&mut client, "nobody-sent-this", "android").await;

    let text = reqwest::get(http_url(&running, "/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let all = samples(&text);
    let count = |platform: &str, r#type: &str| {
        sample(
            &all,
            &format!(
                "pushgate_push_to_ack_seconds_count{{platform=\"{platform}\",type=\"{type}\"}}"
            ),
        )
    };
    assert_eq!(count("apple", "message"), 3.0, "h1, h2, s1");
    assert_eq!(
        count("apple", "alert"),
        2.0,
        "x1 twice: two of its three pushes"
    );
    assert_eq!(count("android", "message"), 1.0, "g1");
    // Each took at least the device's delay: none in the buckets below it, all by an hour.
    let bucket = |platform: &str, le: &str| {
        sample(
            &all,
            &format!(
                "pushgate_push_to_ack_seconds_bucket{{platform=\"{platform}\",type=\"message\",le=\"{le}\"}}"
            ),
        )
    };
    assert_eq!(bucket("apple", "0.25"), 0.0);
    assert_eq!(bucket("apple", "3600"), 3.0);
    let sum = sample(
        &all,
        "pushgate_push_to_ack_seconds_sum{platform=\"apple\",type=\"message\"}",
    );
    assert!(sum >= 3.0 * DEVICE_DELAY.as_secs_f64(), "{sum}");
    let acks = |result: &str| sample(&all, &format!("pushgate_acks_total{{result=\"{result}\"}}"));
    assert_eq!(acks("matched"), 6.0);
    assert_eq!(acks("duplicate"), 1.0);
    assert_eq!(acks("unknown"), 2.0);
    // Apple: 4 (HTTP) + 2 (stream) + 3 (Send) sent with an ack id, 5 acked; Android 2 and 1.
    let ratio = |platform: &str| {
        sample(
            &all,
            &format!("pushgate_acked_ratio{{platform=\"{platform}\"}}"),
        )
    };
    assert!(
        (ratio("apple") - 5.0 / 9.0).abs() < 1e-9,
        "{}",
        ratio("apple")
    );
    assert_eq!(ratio("android"), 0.5);
    assert_eq!(sample(&all, "pushgate_ack_tracker_entries"), 9.0);
    // MPNS's own counter of acks, as before.
    assert_eq!(
        sample(
            &all,
            "service_delivered_total{platform=\"ios\",transport=\"\",type=\"message\"}"
        ),
        7.0
    );

    // The same figures over gRPC, as the plugin's /pushgate status shows them.
    let stats = client
        .delivery_stats(DeliveryStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.window.as_ref().map(|w| w.seconds), Some(3600));
    let apple = &stats.platforms[0];
    assert_eq!(
        (apple.platform.as_str(), apple.sent, apple.acked),
        ("apple", 9, 5)
    );
    let median = apple.median_push_to_ack.as_ref().expect("a median");
    let median = median.seconds as f64 + f64::from(median.nanos) / 1e9;
    assert!(
        median >= 0.25,
        "{median}: the acks came after {DEVICE_DELAY:?}"
    );
    let android = &stats.platforms[1];
    assert_eq!(
        (android.platform.as_str(), android.sent, android.acked),
        ("android", 2, 1)
    );
    running.shutdown_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_ack_is_expired_and_past_the_cap_the_oldest_is_forgotten() {
    let apns = MockApns::start().await;
    let key = apple_key();
    let fcm = MockFcm::start().await;
    let mut config = apple_and_android_config(&apns, &key, &fcm);
    config.receipts.max_entries = 2;
    config.receipts.max_age = Duration::from_secs(1);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let ok = |answer: pushgate::v1::SendPushResponse| assert_eq!(answer.status(), Status::Ok);

    ok(send(&mut client, with_ack("apple_rn", "0a01", "late")).await);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    grpc_ack(&mut client, "late", "ios").await;

    for id in ["a1", "a2", "a3"] {
        ok(send(&mut client, with_ack("apple_rn", "0a02", id)).await);
    }
    grpc_ack(&mut client, "a1", "ios").await; // evicted by the cap
    grpc_ack(&mut client, "a3", "ios").await;

    let all = samples(&running.metrics_text());
    let acks = |result: &str| sample(&all, &format!("pushgate_acks_total{{result=\"{result}\"}}"));
    assert_eq!(acks("expired"), 1.0);
    assert_eq!(acks("unknown"), 1.0);
    assert_eq!(acks("matched"), 1.0);
    let evicted = |cause: &str| {
        sample(
            &all,
            &format!("pushgate_ack_tracker_evicted_total{{cause=\"{cause}\"}}"),
        )
    };
    // "late" went by age when a1 came, a1 by the cap when a3 came.
    assert_eq!(evicted("age"), 1.0);
    assert_eq!(evicted("cap"), 1.0);
    assert_eq!(sample(&all, "pushgate_ack_tracker_entries"), 2.0);
    running.shutdown_now().await;
}
