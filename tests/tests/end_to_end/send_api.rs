//! The general push API (docs/api.md): `Send` to many tokens with the providers' own semantics,
//! and `WatchRemovals`, against the mock APNs and FCM through the real gRPC server.

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use pushgate::v1::{
    push_proxy_client::PushProxyClient, Alert, Kind, Notification, Priority, SendRequest,
    SendResponse, Status, WatchRemovalsRequest,
};
use pushgate_tests::{
    android::android_config,
    apple::{apple_config, apple_key},
    grpc_client, http_url,
    mock_apns::{MockApns, Reply},
    mock_fcm::{self, MockFcm, PROJECT},
    process::send_push,
    push, push_from_json, send, start,
};
use serde_json::Value;
use tonic::transport::Channel;

async fn send_all(
    client: &mut PushProxyClient<Channel>,
    target: &str,
    tokens: &[String],
    notification: Notification,
) -> SendResponse {
    client
        .send(SendRequest {
            target: target.into(),
            tokens: tokens.to_vec(),
            notification: Some(notification),
            request_id: "req-1".into(),
        })
        .await
        .expect("a response")
        .into_inner()
}

fn alert(title: &str, body: &str) -> Option<Alert> {
    Some(Alert {
        title: title.into(),
        subtitle: String::new(),
        body: body.into(),
    })
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tokens_in_one_call_get_a_thousand_results_in_order() {
    let apns = MockApns::start().await;
    apns.reply_with(|r, _| {
        let token = r.path.rsplit('/').next().unwrap_or("");
        if token.starts_with("dead") {
            Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#)
        } else if token.starts_with("bad") {
            Reply::reason(400, "TopicDisallowed")
        } else {
            Reply::ok()
        }
    });
    let key = apple_key();
    let running = start(&apple_config(&apns, &key)).await;
    let mut client = grpc_client(&running).await;
    // Every tenth token is gone, every 25th refused, every 100th not a token at all.
    let tokens: Vec<String> = (0..1000)
        .map(|i| match i {
            i if i % 100 == 7 => format!("not-hex-{i}"),
            i if i % 25 == 3 => format!("bad{i:061x}"),
            i if i % 10 == 1 => format!("dead{i:060x}"),
            i => format!("{i:064x}"),
        })
        .collect();
    let answer = send_all(
        &mut client,
        "apple_rn",
        &tokens,
        Notification {
            alert: alert("Deploy", "v42 is out"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(answer.request_id, "req-1");
    assert_eq!(answer.results.len(), 1000);
    let mut counts: HashMap<(Status, String), usize> = HashMap::new();
    for (token, result) in tokens.iter().zip(&answer.results) {
        assert_eq!(&result.token, token, "results in request order");
        let expected = if token.starts_with("not-hex") {
            (Status::Remove, "BadDeviceToken")
        } else if token.starts_with("bad") {
            (Status::Fail, "TopicDisallowed")
        } else if token.starts_with("dead") {
            (Status::Remove, "Unregistered")
        } else {
            (Status::Ok, "")
        };
        assert_eq!(
            (result.status(), result.reason.as_str()),
            expected,
            "{token}"
        );
        if result.status() == Status::Ok {
            assert_eq!(result.provider_id, "11111111-2222-3333-4444-555555555555");
        }
        *counts
            .entry((result.status(), result.reason.clone()))
            .or_default() += 1;
    }
    let ok = counts[&(Status::Ok, String::new())];
    let refused_unsent = counts[&(Status::Remove, "BadDeviceToken".into())];
    assert_eq!(refused_unsent, 10);
    // Each token that could be sent was sent once: the OKs and the provider's refusals.
    assert_eq!(apns.received(), 1000 - refused_unsent);
    assert_eq!(
        apns.requests()
            .iter()
            .filter(|r| !r.path.contains("/dead") && !r.path.contains("/bad"))
            .count(),
        ok
    );
    running.shutdown().await;
}

#[tokio::test]
async fn apns_gets_apples_semantics_for_each_kind() {
    let apns = MockApns::start().await;
    let key = apple_key();
    let running = start(&apple_config(&apns, &key)).await;
    let mut client = grpc_client(&running).await;
    let token = vec!["a1b2c3d4".to_string()];
    let data = HashMap::from([("order".to_string(), "1234".to_string())]);

    // An alert with everything an alert can carry.
    send_all(
        &mut client,
        "apple_rn",
        &token,
        Notification {
            alert: Some(Alert {
                title: "Order".into(),
                subtitle: "shipped".into(),
                body: "Your order is on its way".into(),
            }),
            badge: Some(3),
            sound: Some("chime.caf".into()),
            category: "ORDER".into(),
            thread_id: "orders".into(),
            data: data.clone(),
            mutable_content: true,
            collapse_id: "order-1234".into(),
            ttl: Some(pbjson_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
            apns_payload_json: r#"{"aps":{"interruption-level":"time-sensitive"},"extra":{"a":1}}"#
                .into(),
            ..Default::default()
        },
    )
    .await;
    // A background push: content-available alone, priority 5, even when high is asked.
    send_all(
        &mut client,
        "apple_rn",
        &token,
        Notification {
            kind: Kind::Background.into(),
            priority: Priority::High.into(),
            alert: alert("ignored", "ignored"),
            badge: Some(9),
            data: data.clone(),
            ..Default::default()
        },
    )
    .await;
    // A call.
    send_all(
        &mut client,
        "apple_rn",
        &token,
        Notification {
            kind: Kind::Voip.into(),
            data: data.clone(),
            ..Default::default()
        },
    )
    .await;
    // An alert at normal priority.
    send_all(
        &mut client,
        "apple_rn",
        &token,
        Notification {
            alert: alert("", "later is fine"),
            priority: Priority::Normal.into(),
            ..Default::default()
        },
    )
    .await;

    let seen = apns.requests();
    assert_eq!(seen.len(), 4);
    let (alerted, background, voip, normal) = (&seen[0], &seen[1], &seen[2], &seen[3]);
    assert_eq!(alerted.header("apns-push-type"), Some("alert"));
    assert_eq!(alerted.header("apns-priority"), Some("10"));
    assert_eq!(
        alerted.header("apns-topic"),
        Some("com.mattermost.react.native")
    );
    assert_eq!(alerted.header("apns-collapse-id"), Some("order-1234"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expires: u64 = alerted.header("apns-expiration").unwrap().parse().unwrap();
    assert!((now + 3590..=now + 3610).contains(&expires), "{expires}");
    assert_eq!(
        json(&alerted.body),
        json(
            r#"{"aps":{"alert":{"title":"Order","subtitle":"shipped","body":"Your order is on its way"},"badge":3,"sound":"chime.caf","category":"ORDER","thread-id":"orders","mutable-content":1,"interruption-level":"time-sensitive"},"order":"1234","extra":{"a":1}}"#
        )
    );

    assert_eq!(background.header("apns-push-type"), Some("background"));
    assert_eq!(background.header("apns-priority"), Some("5"));
    assert_eq!(background.header("apns-expiration"), None);
    assert_eq!(background.header("apns-collapse-id"), None);
    assert_eq!(
        json(&background.body),
        json(r#"{"aps":{"content-available":1},"order":"1234"}"#)
    );

    assert_eq!(voip.header("apns-push-type"), Some("voip"));
    assert_eq!(voip.header("apns-priority"), Some("10"));
    assert_eq!(
        voip.header("apns-topic"),
        Some("com.mattermost.react.native.voip")
    );
    assert_eq!(json(&voip.body), json(r#"{"aps":{},"order":"1234"}"#));

    assert_eq!(normal.header("apns-priority"), Some("5"));
    assert_eq!(normal.header("apns-push-type"), Some("alert"));
    running.shutdown().await;
}

#[tokio::test]
async fn fcm_gets_googles_semantics_for_each_kind() {
    let fcm = MockFcm::start().await;
    let running = start(&android_config(&fcm)).await;
    let mut client = grpc_client(&running).await;
    let token = vec!["fcm:tok-1".to_string()];
    let data = HashMap::from([("order".to_string(), "1234".to_string())]);

    let answer = send_all(
        &mut client,
        "android_rn",
        &token,
        Notification {
            alert: alert("Order", "on its way"),
            sound: Some("chime".into()),
            thread_id: "orders".into(),
            badge: Some(2),
            data: data.clone(),
            collapse_id: "order-1234".into(),
            ttl: Some(pbjson_types::Duration {
                seconds: 90,
                nanos: 500_000_000,
            }),
            fcm_message_json:
                r#"{"android":{"direct_boot_ok":true},"fcm_options":{"analytics_label":"orders"},"token":"someone-else"}"#
                    .into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(answer.results[0].status(), Status::Ok);
    assert_eq!(
        answer.results[0].provider_id,
        format!("projects/{PROJECT}/messages/0:1")
    );
    send_all(
        &mut client,
        "android_rn",
        &token,
        Notification {
            kind: Kind::Background.into(),
            alert: alert("ignored", "ignored"),
            data: data.clone(),
            ..Default::default()
        },
    )
    .await;
    send_all(
        &mut client,
        "android_rn",
        &token,
        Notification {
            kind: Kind::Background.into(),
            priority: Priority::High.into(),
            data: data.clone(),
            ..Default::default()
        },
    )
    .await;

    let seen = fcm.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        json(&seen[0].body),
        json(
            r#"{"message":{"token":"fcm:tok-1","data":{"order":"1234"},"notification":{"title":"Order","body":"on its way"},"android":{"priority":"high","ttl":"90.5s","collapse_key":"order-1234","direct_boot_ok":true,"notification":{"sound":"chime","tag":"orders","notification_count":2}},"fcm_options":{"analytics_label":"orders"}}}"#
        )
    );
    assert_eq!(
        json(&seen[1].body),
        json(
            r#"{"message":{"token":"fcm:tok-1","data":{"order":"1234"},"android":{"priority":"normal"}}}"#
        ),
        "data-only at normal priority"
    );
    assert_eq!(
        json(&seen[2].body)["message"]["android"]["priority"],
        "high"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn what_cannot_be_sent_is_refused_before_sending() {
    let apns = MockApns::start().await;
    let fcm = MockFcm::start().await;
    let key = apple_key();
    let config = pushgate_tests::android::apple_and_android_config(&apns, &key, &fcm);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;

    // Too large for the provider: FAIL PayloadTooLarge, nothing cut, nothing sent.
    let big = HashMap::from([("blob".to_string(), "x".repeat(5000))]);
    for target in ["apple_rn", "android_rn"] {
        let token = vec![if target == "apple_rn" {
            "a1b2"
        } else {
            "fcm:t"
        }
        .to_string()];
        let answer = send_all(
            &mut client,
            target,
            &token,
            Notification {
                data: big.clone(),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(answer.results[0].status(), Status::Fail, "{target}");
        assert_eq!(answer.results[0].reason, "PayloadTooLarge", "{target}");
    }
    assert_eq!(apns.received(), 0);
    assert_eq!(fcm.received(), 0);

    // Requests that cannot be sent at all: INVALID_ARGUMENT naming the field.
    let request = |target: &str, tokens: usize, n: Notification| SendRequest {
        target: target.into(),
        tokens: (0..tokens).map(|i| format!("{i:08x}")).collect(),
        notification: Some(n),
        request_id: String::new(),
    };
    for (req, field) in [
        (request("apple_rn", 0, Notification::default()), "tokens"),
        (request("apple_rn", 1001, Notification::default()), "tokens"),
        (request("nowhere", 1, Notification::default()), "target"),
        (
            request(
                "apple_rn",
                1,
                Notification {
                    apns_payload_json: "not json".into(),
                    ..Default::default()
                },
            ),
            "notification.apns_payload_json",
        ),
        (
            request(
                "android_rn",
                1,
                Notification {
                    fcm_message_json: "[]".into(),
                    ..Default::default()
                },
            ),
            "notification.fcm_message_json",
        ),
    ] {
        let status = client.send(req).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().starts_with(field), "{}", status.message());
    }
    assert_eq!(apns.received(), 0);
    running.shutdown().await;
}

/// Token hygiene: a removal from each entry path reaches a watcher, with the whole token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_removals_sees_every_entry_path() {
    let apns = MockApns::start().await;
    apns.reply_with(|r, _| {
        if r.path.contains("/dead") {
            Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#)
        } else {
            Reply::ok()
        }
    });
    let fcm = MockFcm::start().await;
    fcm.reply_with(|_, _| {
        mock_fcm::Reply::fcm_error(
            404,
            "NOT_FOUND",
            "UNREGISTERED",
            "Requested entity was not found.",
        )
    });
    let key = apple_key();
    let config = pushgate_tests::android::apple_and_android_config(&apns, &key, &fcm);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let mut all = client
        .watch_removals(WatchRemovalsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let mut android_only = client
        .watch_removals(WatchRemovalsRequest {
            targets: vec!["android_rn".into()],
        })
        .await
        .unwrap()
        .into_inner();

    // MPNS HTTP API, SendPush, StreamPush, Send.
    let http_body = r#"{"platform":"apple_rn","server_id":"s","device_id":"dead0001","type":"message","message":"m"}"#;
    assert_eq!(
        send_push(&http_url(&running, ""), http_body).await,
        "{\"status\":\"REMOVE\"}\n"
    );
    assert_eq!(
        send(&mut client, push("apple_rn", "dead0002"))
            .await
            .status(),
        Status::Remove
    );
    let streamed = pushgate::v1::SendPushRequest {
        notification: Some(push_from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"dead0003","type":"message"}"#,
        )),
        request_id: "1".into(),
    };
    let answers: Vec<_> = client
        .stream_push(tokio_stream::iter([streamed]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(answers[0].as_ref().unwrap().status(), Status::Remove);
    let answer = send_all(
        &mut client,
        "android_rn",
        &["fcm:gone-4".to_string()],
        Notification::default(),
    )
    .await;
    assert_eq!(answer.results[0].status(), Status::Remove);

    let mut seen = Vec::new();
    for _ in 0..4 {
        let removal = tokio::time::timeout(Duration::from_secs(10), all.next())
            .await
            .expect("a removal")
            .unwrap()
            .unwrap();
        assert!(removal.time.is_some());
        assert_eq!(removal.dropped, 0);
        seen.push((removal.target, removal.token, removal.reason));
    }
    assert_eq!(
        seen,
        [
            ("apple_rn".into(), "dead0001".into(), "Unregistered".into()),
            ("apple_rn".into(), "dead0002".into(), "Unregistered".into()),
            ("apple_rn".into(), "dead0003".into(), "Unregistered".into()),
            (
                "android_rn".into(),
                "fcm:gone-4".into(),
                "UNREGISTERED".into()
            ),
        ]
    );
    let only = android_only.next().await.unwrap().unwrap();
    assert_eq!(
        only.token, "fcm:gone-4",
        "the filter keeps other targets out"
    );
    running.shutdown().await;
}

/// A watcher that never reads: 10,000 removals are all answered, and when it reads at last
/// it learns how many it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_never_reads_does_not_hold_up_delivery() {
    let apns = MockApns::start().await;
    apns.stop_recording();
    apns.reply_with(|_, _| Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#));
    let key = apple_key();
    let running = start(&apple_config(&apns, &key)).await;
    let mut client = grpc_client(&running).await;
    // Its own connection with a 1 KiB stream window: once that is full, what pushgate has not
    // sent waits in pushgate's buffer for this watcher, which overflows.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .connect()
        .await
        .unwrap();
    let mut stalled = PushProxyClient::new(channel)
        .watch_removals(WatchRemovalsRequest::default())
        .await
        .unwrap()
        .into_inner();
    for batch in 0..10 {
        let tokens: Vec<String> = (0..1000).map(|i| format!("{batch:04x}{i:060x}")).collect();
        let answer = send_all(&mut client, "apple_rn", &tokens, Notification::default()).await;
        assert!(answer.results.iter().all(|r| r.status() == Status::Remove));
    }
    assert_eq!(apns.received(), 10_000);
    let mut dropped = 0;
    let mut read = 0;
    while read + dropped < 10_000 {
        let removal = stalled.next().await.unwrap().unwrap();
        dropped += removal.dropped;
        read += 1;
    }
    assert!(dropped > 0, "the watcher's buffer overflowed and said so");
    assert_eq!(read + dropped, 10_000, "every removal read or counted");
    running.shutdown().await;
}

/// The README's example on the embedded dry-run config: every token answered OK, nothing sent,
/// the results counted by target, kind and status.
#[tokio::test]
async fn send_works_on_the_dry_run_config() {
    let running = start(&pushgate_tests::dry_run_config()).await;
    let mut client = grpc_client(&running).await;
    for (target, tokens) in [
        (
            "apple_rn",
            vec!["a1b2c3d4".to_string(), "e5f60718".to_string()],
        ),
        ("android_rn", vec!["fcm:tok-1".to_string()]),
    ] {
        let answer = send_all(
            &mut client,
            target,
            &tokens,
            Notification {
                alert: alert("Hello", "from my app"),
                ..Default::default()
            },
        )
        .await;
        assert_eq!(answer.results.len(), tokens.len());
        assert!(answer.results.iter().all(|r| r.status() == Status::Ok));
    }
    let metrics = running.metrics_text();
    assert!(
        metrics.contains(r#"pushgate_send_total{kind="alert",status="ok",target="apple_rn"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"pushgate_grpc_requests_total{code="Ok",method="Send"} 2"#),
        "{metrics}"
    );
    // The README's curl line, answered as the README says.
    let answer = reqwest::Client::new()
        .post(http_url(&running, "/api/v2/send"))
        .body(r#"{"target":"android_rn","tokens":["fcm-token"],"notification":{"kind":"KIND_BACKGROUND","data":{"sync":"inbox"}}}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        answer,
        r#"{"results":[{"token":"fcm-token","status":"STATUS_OK"}]}"#
    );
    let readme = include_str!("../../../README.md");
    assert!(readme.contains(r#"# {"results":[{"token":"fcm-token","status":"STATUS_OK"}]}"#));
    assert!(readme.contains(r#"-d '{"target":"android_rn","tokens":["fcm-token"],"notification":{"kind":"KIND_BACKGROUND","data":{"sync":"inbox"}}}'"#));
    running.shutdown().await;
}

/// `POST /api/v2/send` on the MPNS listener: the same `Send` in protobuf's JSON mapping, behind
/// the gRPC auth token, for curl users and webhooks; bad JSON is a 400 naming the field.
#[tokio::test]
async fn send_over_http_json_with_the_grpc_token() {
    let apns = MockApns::start().await;
    let key = apple_key();
    let mut config = apple_config(&apns, &key);
    config.listeners.grpc_auth_token = "s3cret-token".into();
    let running = start(&config).await;
    let url = http_url(&running, "/api/v2/send");
    let http = reqwest::Client::new();
    let post = |body: &str, token: Option<&str>| {
        let mut req = http.post(&url).body(body.to_string());
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    // camelCase or the proto's own names, as protobuf's JSON mapping reads them.
    let body = r#"{"target":"apple_rn","tokens":["a1b2c3d4","dead0001","not-hex"],"requestId":"r-7",
        "notification":{"kind":"KIND_BACKGROUND","data":{"sync":"inbox"},"ttl":"600s","collapse_id":"inbox"}}"#;
    apns.reply_with(|r, _| {
        if r.path.ends_with("/dead0001") {
            Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#)
        } else {
            Reply::ok()
        }
    });

    let refused = post(body, None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        json(&refused.text().await.unwrap())["code"],
        "Unauthenticated"
    );
    let refused = post(body, Some("wrong")).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(apns.received(), 0);

    let answer = post(body, Some("s3cret-token")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(
        json(&answer.text().await.unwrap()),
        json(
            r#"{"requestId":"r-7","results":[
                {"token":"a1b2c3d4","status":"STATUS_OK","providerId":"11111111-2222-3333-4444-555555555555"},
                {"token":"dead0001","status":"STATUS_REMOVE","reason":"Unregistered"},
                {"token":"not-hex","status":"STATUS_REMOVE","reason":"BadDeviceToken","error":"invalid device Id: an APNs device token is 1 to 512 hexadecimal digits"}]}"#
        )
    );
    let sent = apns.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].header("apns-push-type"), Some("background"));
    assert_eq!(sent[0].header("apns-collapse-id"), Some("inbox"));
    assert_eq!(
        json(&sent[0].body),
        json(r#"{"aps":{"content-available":1},"sync":"inbox"}"#)
    );

    // Bad input: a 400 that names the field, never a 500.
    for (body, field) in [
        (r#"{"target":"apple_rn","tokens":"a1b2"}"#, "tokens"),
        (
            r#"{"target":"apple_rn","tokens":["a1"],"notification":{"ttl":"soon"}}"#,
            "notification.ttl",
        ),
        (
            r#"{"target":"apple_rn","tokens":["a1"],"notification":{"kind":"KIND_LOUD"}}"#,
            "notification.kind",
        ),
        (r#"{"target":"apple_rn","tokenz":["a1"]}"#, "tokenz"),
        (r#"{"target":"apple_rn","tokens":[]}"#, "tokens"),
        (
            r#"{"target":"nowhere","tokens":["a1"],"notification":{}}"#,
            "target",
        ),
        ("not json", "body"),
    ] {
        let answer = post(body, Some("s3cret-token")).await.unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error = json(&answer.text().await.unwrap());
        assert_eq!(error["code"], "InvalidArgument", "{body}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: {message}"
        );
    }
    running.shutdown().await;
}

/// The standalone bridge serves `/api/v2/send` too, through pushgate's gRPC `Send`.
#[tokio::test]
async fn the_standalone_bridge_forwards_send() {
    use pushgate_bridge::{router, GrpcBackend, Settings};
    let running = start(&pushgate_tests::dry_run_config()).await;
    let backend = GrpcBackend::new(
        &format!("http://{}", running.grpc_addr),
        Duration::from_secs(5),
        None,
    )
    .unwrap();
    let app = router(
        std::sync::Arc::new(backend),
        Settings::new(Default::default(), false),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let answer = reqwest::Client::new()
        .post(format!("http://{addr}/api/v2/send"))
        .body(r#"{"target":"android_rn","tokens":["fcm:a","fcm:b"],"notification":{"alert":{"body":"hi"}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer = json(&answer.text().await.unwrap());
    assert_eq!(answer["results"].as_array().unwrap().len(), 2);
    assert_eq!(answer["results"][1]["token"], "fcm:b");
    assert_eq!(answer["results"][1]["status"], "STATUS_OK");
    server.abort();
    running.shutdown().await;
}
