//! The Apple target against a mock APNs (HTTP/2 over TLS), driven through the gRPC API:
//! the exact requests of docs/mpns-contract.md §10, every outcome of §5.1, retries, token reuse, cert auth
//! and connection sharing.

use std::time::{Duration, Instant};

use pushgate::v1::{PushNotification, SendPushResponse, Status};
use pushgate_tests::{
    apple::{apple_config, apple_key, cert_auth_config, client_ca, verify_bearer},
    examples::apple_examples,
    grpc_client,
    mock_apns::{MockApns, Reply},
    send, start, stream_pushes_all_ok, temp_dir,
};

/// The server's exact bytes, decoded as the HTTP bridge decodes them.
fn from_json(json: &str) -> PushNotification {
    pushgate_tests::push_from_json(json)
}

#[tokio::test]
async fn contract_examples_reach_apns_byte_for_byte() {
    let mock = MockApns::start().await;
    let key = apple_key();
    let running = start(&apple_config(&mock, &key)).await;
    let mut client = grpc_client(&running).await;
    let examples = apple_examples();
    for example in &examples {
        let answer = send(&mut client, from_json(&example.request)).await;
        assert_eq!(answer.status(), Status::Ok, "{}: {answer:?}", example.name);
    }
    let seen = mock.requests();
    assert_eq!(seen.len(), examples.len());
    for (example, got) in examples.iter().zip(&seen) {
        let name = example.name;
        let device = from_json(&example.request).device_id;
        assert_eq!(got.method, "POST", "{name}");
        assert_eq!(got.path, format!("/3/device/{device}"), "{name}");
        assert_eq!(got.body, example.apns_body, "{name}");
        assert_eq!(got.header("apns-topic"), Some(example.topic), "{name}");
        assert_eq!(
            got.header("apns-push-type"),
            Some(example.push_type),
            "{name}"
        );
        assert_eq!(
            got.header("apns-priority"),
            Some(example.priority),
            "{name}"
        );
        assert_eq!(
            got.header("content-type"),
            Some("application/json; charset=utf-8"),
            "{name}"
        );
        assert_eq!(got.header("apns-expiration"), None, "{name}");
        assert_eq!(got.header("apns-collapse-id"), None, "{name}");
        verify_bearer(got.header("authorization").expect("token auth"), &key);
    }
    // One provider token, shared by every request.
    let tokens: std::collections::HashSet<_> = seen
        .iter()
        .map(|r| r.header("authorization").unwrap().to_string())
        .collect();
    assert_eq!(tokens.len(), 1, "the JWT is reused across requests");
    running.shutdown().await;
}

#[tokio::test]
async fn oversized_payload_is_shortened_to_fit_4096_bytes() {
    let mock = MockApns::start().await;
    let key = apple_key();
    let running = start(&apple_config(&mock, &key)).await;
    let mut client = grpc_client(&running).await;
    let mut n = from_json(
        r#"{"platform":"apple_rn-v2","server_id":"s","device_id":"d","type":"message","version":"v2","channel_name":"c"}"#,
    );
    n.message = "<".repeat(2046); // 12 KB once escaped as \u003c
    assert_eq!(send(&mut client, n).await.status(), Status::Ok);
    let body = &mock.requests()[0].body;
    assert!(body.len() <= 4096, "{} bytes", body.len());
    assert!(
        body.len() > 3900,
        "shortened no more than needed: {} bytes",
        body.len()
    );
    let v: serde_json::Value = serde_json::from_str(body).expect("still valid JSON");
    assert!(v["aps"]["alert"]["body"]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| c == '<'));
    running.shutdown().await;
}

/// Sends one push to a mock that answers `reply` to every request.
async fn outcome_for(reply: Reply, remove_on_mismatch: bool) -> (SendPushResponse, usize) {
    let mock = MockApns::start().await;
    mock.reply_with(move |_, _| reply.clone());
    let key = apple_key();
    let mut config = apple_config(&mock, &key);
    config.delivery.remove_on_mismatch = remove_on_mismatch;
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, from_json(r#"{"platform":"apple_rn-v2","server_id":"s","device_id":"a1b2c3d4","type":"message","message":"m"}"#)).await;
    running.shutdown().await;
    (answer, mock.requests().len())
}

/// One row of docs/mpns-contract.md §5.1 for Apple: what APNs answers and what the caller gets.
struct OutcomeCase {
    reply: Reply,
    remove_on_mismatch: bool,
    status: Status,
    error: &'static str,
    reason: &'static str,
}

#[tokio::test]
async fn outcomes_follow_contract_5_1() {
    let cases = [
        OutcomeCase {
            reply: Reply::ok(),
            remove_on_mismatch: false,
            status: Status::Ok,
            error: "",
            reason: "",
        },
        OutcomeCase {
            reply: Reply::reason(400, "BadDeviceToken"),
            remove_on_mismatch: false,
            status: Status::Remove,
            error: "",
            reason: "BadDeviceToken",
        },
        OutcomeCase {
            reply: Reply::status(
                410,
                r#"{"reason":"Unregistered","timestamp":1718000000000}"#,
            ),
            remove_on_mismatch: false,
            status: Status::Remove,
            error: "",
            reason: "Unregistered",
        },
        OutcomeCase {
            reply: Reply::reason(400, "MissingDeviceToken"),
            remove_on_mismatch: false,
            status: Status::Remove,
            error: "",
            reason: "MissingDeviceToken",
        },
        OutcomeCase {
            reply: Reply::reason(400, "TopicDisallowed"),
            remove_on_mismatch: false,
            status: Status::Fail,
            error: "unknown send response error",
            reason: "TopicDisallowed",
        },
        OutcomeCase {
            reply: Reply::reason(413, "PayloadTooLarge"),
            remove_on_mismatch: false,
            status: Status::Fail,
            error: "unknown send response error",
            reason: "PayloadTooLarge",
        },
        OutcomeCase {
            reply: Reply::reason(429, "TooManyRequests"),
            remove_on_mismatch: false,
            status: Status::Fail,
            error: "unknown send response error",
            reason: "TooManyRequests",
        },
        OutcomeCase {
            reply: Reply::reason(400, "DeviceTokenNotForTopic"),
            remove_on_mismatch: true,
            status: Status::Remove,
            error: "",
            reason: "DeviceTokenNotForTopic",
        },
    ];
    for case in cases {
        let reply = case.reply;
        let (answer, requests) = outcome_for(reply.clone(), case.remove_on_mismatch).await;
        assert_eq!(answer.status(), case.status, "{reply:?}");
        assert_eq!(answer.error, case.error, "{reply:?}");
        assert_eq!(answer.reason, case.reason, "{reply:?}");
        assert_eq!(requests, 1, "4xx is never retried: {reply:?}");
    }
}

#[tokio::test]
async fn device_token_not_for_topic_is_a_config_error_not_a_removal() {
    let (answer, requests) = outcome_for(Reply::reason(400, "DeviceTokenNotForTopic"), false).await;
    assert_eq!(answer.status(), Status::Fail);
    assert!(
        answer.error.contains("com.mattermost.react.native")
            && answer.error.contains("ApplePushTopic"),
        "{}",
        answer.error
    );
    assert_eq!(answer.reason, "DeviceTokenNotForTopic");
    assert_eq!(requests, 1);
}

/// The one test with MPNS's real waits (the others wait 50 ms and 100 ms).
#[tokio::test]
async fn server_errors_are_retried_three_times_then_fail() {
    let mock = MockApns::start().await;
    mock.reply_with(|_, _| Reply::reason(500, "InternalServerError"));
    let key = apple_key();
    let mut config = apple_config(&mock, &key);
    config.delivery.retry_backoff = pushgate_proxy::config::FIRST_RETRY_WAIT;
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let started = Instant::now();
    let answer = send(&mut client, from_json(r#"{"platform":"apple_rn-v2","server_id":"s","device_id":"a1b2c3d4","type":"message","message":"m"}"#)).await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.error, "unknown send response error");
    assert_eq!(answer.reason, "InternalServerError");
    assert_eq!(mock.requests().len(), 3);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "waited 1 s + 2 s between attempts"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn service_unavailable_honours_retry_after_then_succeeds() {
    let mock = MockApns::start().await;
    mock.reply_with(|_, n| {
        if n == 0 {
            Reply::reason(503, "ServiceUnavailable").header("retry-after", "2")
        } else {
            Reply::ok()
        }
    });
    let key = apple_key();
    let running = start(&apple_config(&mock, &key)).await;
    let mut client = grpc_client(&running).await;
    let started = Instant::now();
    let answer = send(
        &mut client,
        from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        ),
    )
    .await;
    assert_eq!(answer.status(), Status::Ok);
    assert_eq!(mock.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After: 2 was honoured"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn expired_provider_token_is_resigned_and_retried_once() {
    let mock = MockApns::start().await;
    mock.reply_with(|_, n| {
        if n == 0 {
            Reply::reason(403, "ExpiredProviderToken")
        } else {
            Reply::ok()
        }
    });
    let key = apple_key();
    let running = start(&apple_config(&mock, &key)).await;
    let mut client = grpc_client(&running).await;
    let answer = send(
        &mut client,
        from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        ),
    )
    .await;
    assert_eq!(answer.status(), Status::Ok);
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    verify_bearer(seen[1].header("authorization").unwrap(), &key);

    // Expired every time: one re-sign, then the FAIL.
    mock.reply_with(|_, _| Reply::reason(403, "ExpiredProviderToken"));
    let answer = send(
        &mut client,
        from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        ),
    )
    .await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.reason, "ExpiredProviderToken");
    assert_eq!(mock.requests().len(), 4);
    running.shutdown().await;
}

#[tokio::test]
async fn unreachable_apns_fails_with_transport_error_after_three_attempts() {
    let mock = MockApns::start().await;
    let key = apple_key();
    let mut config = apple_config(&mock, &key);
    // A port nothing listens on.
    let closed = pushgate_tests::free_port();
    for entry in &mut config.targets.apple {
        entry.endpoint = format!("https://127.0.0.1:{closed}");
    }
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let started = Instant::now();
    let answer = send(
        &mut client,
        from_json(r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4"}"#),
    )
    .await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.error, "unknown transport error");
    assert_eq!(answer.reason, "RequestError");
    assert!(
        started.elapsed() >= pushgate_tests::RETRY_BACKOFF * 3,
        "the first wait and twice it between attempts"
    );
    running.shutdown().await;
}

/// One push to an APNs that never answers: (answer, attempts seen, time taken).
async fn send_to_silent_apns(
    retry_timeout: Duration,
    send_timeout: Duration,
) -> (SendPushResponse, usize, Duration) {
    let mock = MockApns::start().await;
    mock.reply_with(|_, _| Reply::ok().after(Duration::from_secs(30)));
    let key = apple_key();
    let mut config = apple_config(&mock, &key);
    config.delivery.retry_timeout = retry_timeout;
    config.delivery.send_timeout = send_timeout;
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let started = Instant::now();
    let push = from_json(r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4"}"#);
    let answer = send(&mut client, push).await;
    let took = started.elapsed();
    running.shutdown().await;
    (answer, mock.requests().len(), took)
}

#[tokio::test]
async fn no_answer_within_retry_timeout_is_a_transport_error() {
    let (answer, attempts, took) =
        send_to_silent_apns(Duration::from_secs(1), Duration::from_secs(20)).await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.error, "unknown transport error");
    assert_eq!(attempts, 3, "three attempts, each cut at RetryTimeoutSec");
    // Three attempts of 1 s, and the two waits between them.
    let least = Duration::from_secs(3) + pushgate_tests::RETRY_BACKOFF * 3;
    assert!(took >= least && took < Duration::from_secs(15), "{took:?}");
}

#[tokio::test]
async fn send_budget_bounds_the_whole_send() {
    let (answer, _, took) =
        send_to_silent_apns(Duration::from_secs(2), Duration::from_secs(2)).await;
    assert_eq!(answer.status(), Status::Fail);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn rejected_credentials_turn_the_target_not_serving_until_a_success() {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mock = MockApns::start().await;
    mock.reply_with(|_, n| {
        if n == 0 {
            Reply::reason(403, "InvalidProviderToken")
        } else {
            Reply::ok()
        }
    });
    let key = apple_key();
    let running = start(&apple_config(&mock, &key)).await;
    let mut client = grpc_client(&running).await;
    let health = |target: &'static str| pushgate_tests::health_of(&running, target);
    assert_eq!(health("apple_rn").await, Some(ServingStatus::Serving));
    let push = || from_json(r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4"}"#);
    assert_eq!(send(&mut client, push()).await.status(), Status::Fail);
    assert_eq!(health("apple_rn").await, Some(ServingStatus::NotServing));
    assert_eq!(
        health("apple").await,
        Some(ServingStatus::Serving),
        "the other target is not affected"
    );
    assert_eq!(send(&mut client, push()).await.status(), Status::Ok);
    assert_eq!(health("apple_rn").await, Some(ServingStatus::Serving));
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sends_share_a_bounded_number_of_connections() {
    let mock = MockApns::start().await;
    let key = apple_key();
    let config = apple_config(&mock, &key);
    let running = start(&config).await;
    stream_pushes_all_ok(&running, "apple_rn-v2", 1000).await;
    assert_eq!(mock.requests().len(), 1000);
    assert!(
        mock.connections() <= config.delivery.upstream.connections,
        "{} connections for 1,000 sends, at most {} allowed",
        mock.connections(),
        config.delivery.upstream.connections
    );
    let metrics = running.metrics_text();
    let opened = format!(
        "pushgate_upstream_connections_opened_total{{target=\"apple_rn\"}} {}",
        mock.connections()
    );
    assert!(metrics.contains(&opened), "{opened} in\n{metrics}");
    running.shutdown().await;
}

#[tokio::test]
async fn certificate_auth_with_a_pem_presents_the_client_certificate() {
    // A CA, and a client certificate it signs: what Apple issues, made here.
    let ca = client_ca();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let mut client_params =
        rcgen::CertificateParams::new(vec!["pushgate-test".to_string()]).unwrap();
    client_params.not_after = rcgen::date_time_ymd(2031, 6, 30);
    let client_cert_not_after = 1_940_544_000; // 2031-06-30T00:00:00Z
    let client_cert = client_params.signed_by(&client_key, &ca).unwrap();

    let mock = MockApns::start_requiring_client_cert(&ca.pem()).await;
    let key = apple_key();
    let pem = temp_dir("cert").join("apns.pem");
    std::fs::write(
        &pem,
        format!("{}{}", client_cert.pem(), client_key.serialize_pem()),
    )
    .unwrap();
    let running = start(&cert_auth_config(&mock, &key, &pem, "")).await;
    let mut client = grpc_client(&running).await;
    let answer = send(
        &mut client,
        from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        ),
    )
    .await;
    assert_eq!(answer.status(), Status::Ok, "{answer:?}");
    let seen = mock.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("authorization"),
        None,
        "no token with certificate auth"
    );
    let metrics = running.metrics_text();
    let expiry = format!(
        "pushgate_apns_certificate_expiry_timestamp_seconds{{target=\"apple_rn\"}} {client_cert_not_after}"
    );
    assert!(metrics.contains(&expiry), "{expiry} in\n{metrics}");
    running.shutdown().await;

    // Without the certificate the same mock refuses the handshake.
    let mut config = apple_config(&mock, &key);
    config.delivery.retry_timeout = Duration::from_secs(1);
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let answer = send(
        &mut client,
        from_json(r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4"}"#),
    )
    .await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.error, "unknown transport error");
    running.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_skip_the_target_and_keep_the_process() {
    let mock = MockApns::start().await;
    let key = apple_key();
    let mut config = apple_config(&mock, &key);
    let junk = temp_dir("junk").join("AuthKey.p8");
    std::fs::write(&junk, "not a key").unwrap();
    config.targets.apple[1].auth_key_file = junk.to_string_lossy().into();
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let failed = send(
        &mut client,
        from_json(r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4"}"#),
    )
    .await;
    assert_eq!(failed.status(), Status::Fail);
    assert_eq!(failed.reason, "CredentialsNotLoaded");
    assert!(
        failed.error.starts_with("push notifications for type=apple_rn are not working: AppleAuthKeyFile is not a PKCS#8 EC (P-256) key"),
        "the answer names the credential problem: {}",
        failed.error
    );
    assert_eq!(
        pushgate_tests::health_of(&running, "apple_rn").await,
        Some(tonic_health::pb::health_check_response::ServingStatus::NotServing)
    );
    let ok = send(
        &mut client,
        from_json(r#"{"platform":"apple","server_id":"s","device_id":"a1b2c3d4"}"#),
    )
    .await;
    assert_eq!(ok.status(), Status::Ok, "the other Apple target works");
    running.shutdown().await;
}

/// Certificate auth from `path` against a mock that requires `ca`'s client certificates: the
/// right password delivers, a wrong one leaves the target unstarted (the process still up).
async fn assert_password_opens_certificate(ca_pem: &str, path: &std::path::Path, password: &str) {
    let mock = MockApns::start_requiring_client_cert(ca_pem).await;
    let key = apple_key();
    let push = || {
        from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        )
    };
    let running = start(&cert_auth_config(&mock, &key, path, password)).await;
    let mut client = grpc_client(&running).await;
    assert_eq!(send(&mut client, push()).await.status(), Status::Ok);
    assert_eq!(mock.requests().len(), 1);
    running.shutdown().await;

    let running = start(&cert_auth_config(&mock, &key, path, "wr0ng-pa55")).await;
    let mut client = grpc_client(&running).await;
    let failed = send(&mut client, push()).await;
    assert_eq!(failed.status(), Status::Fail);
    assert_eq!(failed.reason, "CredentialsNotLoaded");
    assert!(
        failed.error.starts_with(&format!(
            "push notifications for type=apple_rn are not working: ApplePushCertPrivate {}",
            path.display()
        )),
        "{}",
        failed.error
    );
    assert!(
        !failed.error.contains("wr0ng-pa55"),
        "the password is never shown"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn certificate_auth_with_a_p12_bundle_and_its_password() {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let ca = client_ca();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client_cert = rcgen::CertificateParams::new(vec!["pushgate-p12".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    let mut store = KeyStore::new();
    store.add_entry(
        "apns",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            "apns",
            PrivateKey::from_der(&client_key.serialize_der()).unwrap(),
            [Certificate::from_der(client_cert.der()).unwrap()],
        )),
    );
    let p12 = temp_dir("p12").join("apns.p12");
    std::fs::write(&p12, store.writer("p12-pass").write().unwrap()).unwrap();

    assert_password_opens_certificate(&ca.pem(), &p12, "p12-pass").await;
}

#[tokio::test]
async fn certificate_auth_with_a_password_encrypted_pem() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
    let plain_key = std::fs::read_to_string(format!("{fixtures}apns-client-key.pem")).unwrap();
    let encrypted_key =
        std::fs::read_to_string(format!("{fixtures}apns-client-key.aes256.pem")).unwrap();
    let ca = client_ca();
    let client_key = rcgen::KeyPair::from_pem(&plain_key).unwrap();
    let client_cert = rcgen::CertificateParams::new(vec!["pushgate-encrypted".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca)
        .unwrap();
    // As operators keep it: the certificate and the OpenSSL-encrypted key in one file.
    let pem = temp_dir("encrypted").join("apns.pem");
    std::fs::write(&pem, format!("{}{encrypted_key}", client_cert.pem())).unwrap();

    assert_password_opens_certificate(&ca.pem(), &pem, "fixture-pass").await;
}
