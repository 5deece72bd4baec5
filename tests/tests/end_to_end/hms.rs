//! The Huawei Push Kit target (docs/providers.md) against a mock HMS with its OAuth2 token
//! endpoint, through the real gRPC server and HTTP API: the message carries exactly the data
//! FCM gets, and every answer code means what docs/deviations.md, 17 says.

use pushgate::v1::{Alert, Kind, Notification, SendRequest, Status};
use pushgate_tests::{
    config_with,
    examples::{android_examples, with_sig},
    grpc_client, http_url,
    mock_fcm::MockFcm,
    mock_hms::{hms_reply, MockHms, Reply, APP_ID},
    process::send_push,
    push, push_from_json, send, start,
};
use serde_json::{json, Value};

fn hms_config(mock: &MockHms) -> pushgate_proxy::config::Config {
    config_with(json!({ "HuaweiPushSettings": [mock.entry("huawei")] }))
}

/// The HMS message's data, decoded from the string HMS carries it in.
fn data_of(body: &str) -> Value {
    let message: Value = serde_json::from_str(body).unwrap();
    serde_json::from_str(
        message["message"]["data"]
            .as_str()
            .expect("data is a string"),
    )
    .unwrap()
}

#[tokio::test]
async fn every_contract_example_reaches_hms_with_the_data_fcm_gets() {
    let (hms, fcm) = (MockHms::start().await, MockFcm::start().await);
    let mut config = hms_config(&hms);
    config.targets.android = pushgate_tests::android::android_config(&fcm)
        .targets
        .android;
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let examples = android_examples();
    for example in &examples {
        let fcm_push = push_from_json(&with_sig(&example.request));
        let mut hms_push = fcm_push.clone();
        hms_push.platform = "huawei".into();
        for push in [fcm_push, hms_push] {
            let answer = send(&mut client, push).await;
            assert_eq!(answer.status(), Status::Ok, "{}: {answer:?}", example.name);
        }
    }
    let (to_hms, to_fcm) = (hms.requests(), fcm.requests());
    assert_eq!(to_hms.len(), examples.len());
    for ((example, h), f) in examples.iter().zip(&to_hms).zip(&to_fcm) {
        let name = example.name;
        assert_eq!(h.path, format!("/v1/{APP_ID}/messages:send"), "{name}");
        assert_eq!(data_of(&h.body), f.data(), "{name}: the data FCM gets");
        let message: Value = serde_json::from_str(&h.body).unwrap();
        let fcm_message: Value = serde_json::from_str(&f.body).unwrap();
        assert_eq!(message["validate_only"], false, "{name}");
        assert_eq!(message["message"]["android"]["urgency"], "HIGH", "{name}");
        assert_eq!(
            message["message"]["token"],
            json!([fcm_message["message"]["token"]]),
            "{name}"
        );
        assert_eq!(
            h.header("authorization"),
            Some("Bearer CF1mock-hms-token-0"),
            "{name}"
        );
    }
    assert_eq!(hms.token_fetches(), 1, "one access token for all of them");
    running.shutdown().await;
}

#[tokio::test]
async fn answers_on_the_mpns_api_and_send_with_the_provider_id() {
    let mock = MockHms::start().await;
    let running = start(&hms_config(&mock)).await;
    let answer = send_push(
        &http_url(&running, ""),
        r#"{"platform":"huawei","server_id":"s","device_id":"IQAAAACy0abc","type":"message","message":"hi"}"#,
    )
    .await;
    assert_eq!(answer.trim_end(), r#"{"status":"OK"}"#);
    let mut client = grpc_client(&running).await;
    let sent = client
        .send(SendRequest {
            target: "huawei".into(),
            tokens: vec!["IQAAAACy0abc".into()],
            notification: Some(Notification {
                alert: Some(Alert {
                    title: "Title".into(),
                    body: "Body".into(),
                    ..Default::default()
                }),
                kind: Kind::Alert as i32,
                data: [("k".to_string(), "v".to_string())].into(),
                ..Default::default()
            }),
            request_id: "r".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let result = &sent.results[0];
    assert_eq!(result.status(), Status::Ok, "{result:?}");
    assert_eq!(result.provider_id, "161234567890123456789");
    let seen = mock.requests();
    let message: Value = serde_json::from_str(&seen[1].body).unwrap();
    let android = &message["message"]["android"];
    assert_eq!(android["notification"]["title"], "Title");
    assert_eq!(android["notification"]["body"], "Body");
    assert_eq!(android["notification"]["click_action"]["type"], 3);
    assert_eq!(data_of(&seen[1].body), json!({"k": "v"}));
    running.shutdown().await;
}

/// One push to a mock scripted with `script`: the answer and the messages HMS received.
async fn outcome_for(
    script: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> (pushgate::v1::SendPushResponse, usize, MockHms) {
    let mock = MockHms::start().await;
    mock.reply_with(move |_, n| script(n));
    let running = start(&hms_config(&mock)).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push("huawei", "IQAAAACy0abc")).await;
    running.shutdown().await;
    let received = mock.requests().len();
    (answer, received, mock)
}

#[tokio::test]
async fn an_invalid_token_is_removed() {
    for code in ["80300007", "80100000"] {
        let (answer, received, _) =
            outcome_for(move |_| hms_reply(200, code, "All the tokens are invalid")).await;
        assert_eq!(answer.status(), Status::Remove, "{code}: {answer:?}");
        assert_eq!(answer.reason, code);
        assert_eq!(received, 1, "{code}: a final answer is not retried");
    }
}

#[tokio::test]
async fn an_expired_access_token_is_replaced_once() {
    // The first message finds the token expired at Huawei: one new token, the push goes.
    let mock = MockHms::start().await;
    let running = start(&hms_config(&mock)).await;
    let mut client = grpc_client(&running).await;
    assert_eq!(
        send(&mut client, push("huawei", "tok1")).await.status(),
        Status::Ok
    );
    mock.expire_tokens();
    let answer = send(&mut client, push("huawei", "tok2")).await;
    assert_eq!(answer.status(), Status::Ok, "{answer:?}");
    assert_eq!(mock.token_fetches(), 2, "one refresh");
    // Refused even with a fresh token: FAIL, and only one refresh was tried.
    mock.reply_with(|_, _| hms_reply(401, "80200001", "Oauth authentication error"));
    let answer = send(&mut client, push("huawei", "tok3")).await;
    assert_eq!(answer.status(), Status::Fail, "{answer:?}");
    assert_eq!(answer.reason, "80200001");
    assert_eq!(mock.token_fetches(), 3, "one more refresh, not a loop");
    running.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_retried_with_backoff() {
    for limited in [
        hms_reply(429, "80300010", "Flow control").header("retry-after", "0"),
        hms_reply(503, "81000001", "System inner error"),
    ] {
        let (answer, received, _) =
            outcome_for(move |n| if n == 0 { limited.clone() } else { Reply::ok() }).await;
        assert_eq!(answer.status(), Status::Ok, "{answer:?}");
        assert_eq!(received, 2, "retried once");
    }
    // Still limited after every attempt: FAIL with HMS's code, after MPNS's three attempts.
    let (answer, received, _) =
        outcome_for(|_| hms_reply(503, "81000001", "System inner error")).await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.reason, "81000001");
    assert!(answer.error.contains("System inner error"), "{answer:?}");
    assert_eq!(received, 3);
}

#[tokio::test]
async fn wrong_credentials_fail_and_the_target_reports_not_serving() {
    let mock = MockHms::start().await;
    let mut entry = mock.entry("huawei");
    entry["HmsClientSecret"] = json!("wrong");
    let running = start(&config_with(json!({ "HuaweiPushSettings": [entry] }))).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push("huawei", "tok")).await;
    assert_eq!(answer.status(), Status::Fail, "{answer:?}");
    assert!(answer.error.contains("400"), "{answer:?}");
    assert!(
        !answer.error.contains("wrong"),
        "the secret never shows: {answer:?}"
    );
    assert!(mock.requests().is_empty());
    let health = pushgate_tests::health_of(&running, "huawei").await;
    assert_eq!(
        health,
        Some(tonic_health::pb::health_check_response::ServingStatus::NotServing)
    );
    running.shutdown().await;
}
