//! Answers that once differed from MPNS's, each now as MPNS (with firebase-admin-go and apns2)
//! gives it: FCM error texts, APNs answers that are not JSON, the removal reason with
//! `RemoveOnMismatch`, and what a push that runs out of its send budget says.

use std::time::Duration;

use pushgate::v1::Status;
use pushgate_tests::{
    android::android_config,
    apple::{apple_config, apple_key},
    grpc_client,
    mock_apns::{self, MockApns},
    mock_fcm::{self, MockFcm},
    push_from_json, send, start,
};

/// One push to one provider answering as `reply` says, and what the caller must get.
struct Case {
    what: &'static str,
    /// The answer to the nth request.
    reply: fn(usize) -> mock_fcm::Reply,
    remove_on_mismatch: bool,
    /// `SendTimeoutSec`, and `RetryTimeoutSec`.
    budget: (Duration, Duration),
    status: Status,
    error: &'static str,
    reason: &'static str,
    requests: usize,
}

const NORMAL: (Duration, Duration) = (Duration::from_secs(30), Duration::from_secs(8));

/// Sends one push for `platform` on `config` and checks the answer and how many requests
/// `requests_seen` says reached the provider.
async fn check(
    case: &Case,
    mut config: pushgate_proxy::config::Config,
    push: &str,
    requests_seen: impl Fn() -> usize,
) {
    config.delivery.remove_on_mismatch = case.remove_on_mismatch;
    (config.delivery.send_timeout, config.delivery.retry_timeout) = case.budget;
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push_from_json(push)).await;
    assert_eq!(answer.status(), case.status, "{}: {answer:?}", case.what);
    assert_eq!(answer.error, case.error, "{}", case.what);
    assert_eq!(answer.reason, case.reason, "{}", case.what);
    assert_eq!(requests_seen(), case.requests, "{}", case.what);
    running.shutdown().await;
}

async fn android(case: &Case) {
    let fcm = MockFcm::start().await;
    let reply = case.reply;
    fcm.reply_with(move |_, n| reply(n));
    let push =
        r#"{"platform":"android_rn","server_id":"s","device_id":"fcmtoken","type":"message"}"#;
    check(case, android_config(&fcm), push, || fcm.requests().len()).await;
}

async fn apple(case: &Case) {
    let apns = MockApns::start().await;
    let reply = case.reply;
    apns.reply_with(move |_, n| reply(n));
    let key = apple_key();
    let push = r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#;
    check(case, apple_config(&apns, &key), push, || {
        apns.requests().len()
    })
    .await;
}

#[tokio::test]
async fn fcm_answers_are_mpns_answers() {
    let cases = [
        Case {
            what: "an error with a message and no FCM code: the message",
            reply: |_| {
                mock_fcm::Reply::status(
                    404,
                    r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#,
                )
            },
            remove_on_mismatch: false,
            budget: NORMAL,
            status: Status::Fail,
            error: "Requested entity was not found.",
            reason: "unknown transport error",
            requests: 1,
        },
        Case {
            what: "an error without a message: status and body",
            reply: |_| mock_fcm::Reply::status(404, "nope"),
            remove_on_mismatch: false,
            budget: NORMAL,
            status: Status::Fail,
            error: "unexpected http response with status: 404\nnope",
            reason: "unknown transport error",
            requests: 1,
        },
        Case {
            what: "RemoveOnMismatch: a sender mismatch is removed as UNREGISTERED",
            reply: |_| {
                mock_fcm::Reply::fcm_error(
                    403,
                    "PERMISSION_DENIED",
                    "SENDER_ID_MISMATCH",
                    "SenderId mismatch",
                )
            },
            remove_on_mismatch: true,
            budget: NORMAL,
            status: Status::Remove,
            error: "",
            reason: "UNREGISTERED",
            requests: 1,
        },
        Case {
            what: "a 401 with THIRD_PARTY_AUTH_ERROR is about the app, not our token: not retried",
            reply: |_| {
                mock_fcm::Reply::fcm_error(
                    401,
                    "UNAUTHENTICATED",
                    "THIRD_PARTY_AUTH_ERROR",
                    "Auth error from APNS or Web Push Service",
                )
            },
            remove_on_mismatch: false,
            budget: NORMAL,
            status: Status::Fail,
            error: "Auth error from APNS or Web Push Service",
            reason: "THIRD_PARTY_AUTH_ERROR",
            requests: 1,
        },
        Case {
            what: "the send budget runs out",
            reply: |_| mock_fcm::Reply::ok().after(Duration::from_secs(5)),
            remove_on_mismatch: false,
            budget: (Duration::from_secs(1), Duration::from_secs(1)),
            status: Status::Fail,
            error: "context deadline exceeded",
            reason: "unknown transport error",
            requests: 1,
        },
    ];
    for case in &cases {
        android(case).await;
    }
}

#[tokio::test]
async fn apns_answers_are_mpns_answers() {
    let cases = [
        Case {
            what: "an HTML 502 from a balancer is no APNs answer: retried",
            reply: |_| mock_apns::Reply::status(502, "<html>bad gateway</html>"),
            remove_on_mismatch: false,
            budget: (Duration::from_secs(10), Duration::from_secs(2)),
            status: Status::Fail,
            error: "unknown transport error",
            reason: "RequestError",
            requests: 3,
        },
        Case {
            what: "an HTML 502 once, then APNs",
            reply: |n| match n {
                0 => mock_apns::Reply::status(502, "<html>bad gateway</html>"),
                _ => mock_apns::Reply::ok(),
            },
            remove_on_mismatch: false,
            budget: NORMAL,
            status: Status::Ok,
            error: "",
            reason: "",
            requests: 2,
        },
        Case {
            what: "200 with an empty body",
            reply: |_| mock_apns::Reply::status(200, ""),
            remove_on_mismatch: false,
            budget: NORMAL,
            status: Status::Ok,
            error: "",
            reason: "",
            requests: 1,
        },
        Case {
            what: "the send budget runs out",
            reply: |_| mock_apns::Reply::ok().after(Duration::from_secs(5)),
            remove_on_mismatch: false,
            budget: (Duration::from_secs(1), Duration::from_secs(1)),
            status: Status::Fail,
            error: "unknown transport error",
            reason: "RequestError",
            requests: 1,
        },
    ];
    for case in &cases {
        apple(case).await;
    }
}
