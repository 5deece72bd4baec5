//! The Android target against a mock FCM v1 + OAuth2 token endpoint, driven through the gRPC
//! API: the exact messages of docs/mpns-contract.md §10, every outcome of §5.1, retries, token caching.

use std::time::{Duration, Instant};

use pushgate::v1::{PushNotification, SendPushResponse, Status};
use pushgate_tests::{
    android::android_config,
    examples::{android_examples, with_sig},
    grpc_client,
    mock_fcm::{MockFcm, Reply, PROJECT},
    send, start, stream_pushes_all_ok,
};
use tonic_health::pb::health_check_response::ServingStatus;

fn from_json(json: &str) -> PushNotification {
    pushgate_tests::push_from_json(&with_sig(json))
}

fn simple() -> PushNotification {
    from_json(
        r#"{"platform":"android_rn-v2","server_id":"s","device_id":"fcmtoken","type":"message","message":"m"}"#,
    )
}

#[tokio::test]
async fn contract_examples_reach_fcm_exactly() {
    let mock = MockFcm::start().await;
    let running = start(&android_config(&mock)).await;
    let mut client = grpc_client(&running).await;
    let examples = android_examples();
    for example in &examples {
        let answer = send(&mut client, from_json(&example.request)).await;
        assert_eq!(answer.status(), Status::Ok, "{}: {answer:?}", example.name);
    }
    let seen = mock.requests();
    assert_eq!(seen.len(), examples.len());
    for (example, got) in examples.iter().zip(&seen) {
        let (name, body) = (example.name, &example.fcm_body);
        assert_eq!(
            got.path,
            format!("/v1/projects/{PROJECT}/messages:send"),
            "{name}"
        );
        assert_eq!(got.body, *body, "{name}");
        assert_eq!(
            got.header("content-type"),
            Some("application/json"),
            "{name}"
        );
        assert_eq!(got.header("x-goog-api-format-version"), Some("2"), "{name}");
        assert_eq!(
            got.header("x-firebase-client"),
            Some("fire-admin-go/4.18.0"),
            "{name}"
        );
        assert_eq!(
            got.header("x-goog-api-client"),
            Some("gl-go/1.26.3 fire-admin/4.18.0"),
            "{name}"
        );
        assert!(
            got.header("authorization")
                .unwrap()
                .starts_with("Bearer ya29.mock-token-"),
            "{name}"
        );
    }
    assert_eq!(mock.token_fetches(), 1, "one access token for all of them");
    running.shutdown().await;
}

/// Sends one push to a mock that answers with `script`.
async fn outcome_for(
    script: impl Fn(usize) -> Reply + Send + Sync + 'static,
    remove_on_mismatch: bool,
) -> (SendPushResponse, usize, Duration) {
    let mock = MockFcm::start().await;
    mock.reply_with(move |_, n| script(n));
    let mut config = android_config(&mock);
    config.delivery.remove_on_mismatch = remove_on_mismatch;
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let started = Instant::now();
    let answer = send(&mut client, simple()).await;
    let took = started.elapsed();
    running.shutdown().await;
    (answer, mock.requests().len(), took)
}

#[tokio::test]
async fn outcomes_follow_contract_5_1() {
    let unregistered = || {
        Reply::fcm_error(
            404,
            "NOT_FOUND",
            "UNREGISTERED",
            "Requested entity was not found.",
        )
    };
    let (a, n, _) = outcome_for(move |_| unregistered(), false).await;
    assert_eq!(
        (a.status(), a.reason.as_str(), n),
        (Status::Remove, "UNREGISTERED", 1)
    );

    let mismatch = || {
        Reply::fcm_error(
            403,
            "PERMISSION_DENIED",
            "SENDER_ID_MISMATCH",
            "SenderId mismatch",
        )
    };
    let (a, n, _) = outcome_for(move |_| mismatch(), false).await;
    assert_eq!(
        (a.status(), a.reason.as_str(), n),
        (Status::Fail, "SENDER_ID_MISMATCH", 1)
    );
    assert!(
        a.error.contains("ServiceFileLocation") && a.error.contains("SenderId mismatch"),
        "{}",
        a.error
    );
    let (a, _, _) = outcome_for(move |_| mismatch(), true).await;
    assert_eq!(
        a.status(),
        Status::Remove,
        "RemoveOnMismatch restores MPNS's answer"
    );

    let invalid = || {
        Reply::fcm_error(
            400,
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "The registration token is not a valid FCM registration token",
        )
    };
    let (a, n, _) = outcome_for(move |_| invalid(), false).await;
    assert_eq!(a.status(), Status::Fail);
    assert_eq!(
        a.error,
        "The registration token is not a valid FCM registration token"
    );
    assert_eq!(
        (a.reason.as_str(), n),
        ("INVALID_ARGUMENT", 1),
        "4xx is not retried"
    );

    let (a, n, took) = outcome_for(
        |_| Reply::fcm_error(500, "INTERNAL", "INTERNAL", "Internal error encountered."),
        false,
    )
    .await;
    assert_eq!(
        (a.status(), a.error.as_str(), a.reason.as_str()),
        (Status::Fail, "Internal error encountered.", "INTERNAL")
    );
    assert_eq!(n, 3, "three attempts");
    assert!(
        took >= pushgate_tests::RETRY_BACKOFF * 3,
        "the first wait and twice it: {took:?}"
    );

    let (a, n, took) = outcome_for(
        |n| {
            if n == 0 {
                Reply::fcm_error(
                    503,
                    "UNAVAILABLE",
                    "UNAVAILABLE",
                    "The service is currently unavailable.",
                )
                .retry_after(2)
            } else {
                Reply::ok()
            }
        },
        false,
    )
    .await;
    assert_eq!((a.status(), n), (Status::Ok, 2));
    assert!(
        took >= Duration::from_secs(2),
        "Retry-After: 2 honoured: {took:?}"
    );

    let (a, n, _) = outcome_for(
        |n| {
            if n == 0 {
                Reply::fcm_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "QUOTA_EXCEEDED",
                    "Quota exceeded.",
                )
            } else {
                Reply::ok()
            }
        },
        false,
    )
    .await;
    assert_eq!((a.status(), n), (Status::Ok, 2), "429 is retried");

    let (a, _, _) = outcome_for(|_| Reply::status(502, "<html>bad gateway</html>"), false).await;
    assert_eq!(a.status(), Status::Fail);
    assert!(
        a.error
            .starts_with("unexpected http response with status: 502\n"),
        "{}",
        a.error
    );
    assert_eq!(a.reason, "unknown transport error");
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once() {
    let mock = MockFcm::start().await;
    let running = start(&android_config(&mock)).await;
    let mut client = grpc_client(&running).await;
    assert_eq!(send(&mut client, simple()).await.status(), Status::Ok);
    assert_eq!(mock.token_fetches(), 1);
    mock.revoke_tokens(); // FCM now answers 401 to the cached token
    let answer = send(&mut client, simple()).await;
    assert_eq!(answer.status(), Status::Ok, "{answer:?}");
    assert_eq!(mock.token_fetches(), 2);
    running.shutdown().await;
}

#[tokio::test]
async fn token_endpoint_down_fails_the_push_and_the_target_health() {
    let mock = MockFcm::start().await;
    mock.set_token_endpoint_down(true);
    let running = start(&android_config(&mock)).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, simple()).await;
    assert_eq!(answer.status(), Status::Fail);
    assert!(answer.error.contains("token endpoint"), "{}", answer.error);
    assert!(mock.requests().is_empty(), "nothing sent without a token");
    assert_eq!(
        pushgate_tests::health_of(&running, "android_rn").await,
        Some(ServingStatus::NotServing)
    );

    mock.set_token_endpoint_down(false);
    assert_eq!(send(&mut client, simple()).await.status(), Status::Ok);
    assert_eq!(
        pushgate_tests::health_of(&running, "android_rn").await,
        Some(ServingStatus::Serving),
        "recovered on the next success"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_fetch_for_a_thousand_concurrent_sends() {
    let mock = MockFcm::start().await;
    let running = start(&android_config(&mock)).await;
    stream_pushes_all_ok(&running, "android_rn", 1000).await;
    assert_eq!(mock.requests().len(), 1000);
    assert_eq!(
        mock.token_fetches(),
        1,
        "the first sends waited for one fetch"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn a_bad_service_account_file_skips_the_target_only() {
    let mock = MockFcm::start().await;
    let mut config = android_config(&mock);
    let bad = pushgate_tests::temp_dir("badsa").join("sa.json");
    std::fs::write(&bad, r#"{"type":"service_account","project_id":"p","client_email":"x@y","private_key":"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"}"#).unwrap();
    config.targets.android[1].service_file_location = bad.to_string_lossy().into();
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let failed = send(&mut client, simple()).await;
    assert_eq!(failed.status(), Status::Fail);
    assert_eq!(failed.reason, "CredentialsNotLoaded");
    assert!(
        failed.error.starts_with(
            "push notifications for type=android_rn are not working: ServiceFileLocation "
        ),
        "the answer names the credential problem: {}",
        failed.error
    );
    assert_eq!(
        pushgate_tests::health_of(&running, "android_rn").await,
        Some(tonic_health::pb::health_check_response::ServingStatus::NotServing)
    );
    let mut other = simple();
    other.platform = "android".into();
    assert_eq!(send(&mut client, other).await.status(), Status::Ok);
    running.shutdown().await;
}
