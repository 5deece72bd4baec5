//! Mattermost's newest pushes as the server means them (docs/mpns-contract.md §11): the session
//! wipe of Mobile Ephemeral Mode as a silent background push (deviation 15), and Android call
//! ringing as MPNS pull request 162 sends it (deviation 16), on every entry path a Mattermost
//! push takes — the MPNS HTTP API, `SendPush` and `StreamPush` (the plugin answers with the
//! same router as the HTTP API, and is run against this build in tests/tests/end_to_end/plugin.rs).

use futures::StreamExt;
use pushgate::v1::{SendPushRequest, Status};
use pushgate_tests::{
    android::android_config,
    apple::{apple_config, apple_key},
    examples::SIG,
    grpc_client, http_url,
    mock_apns::MockApns,
    mock_fcm::MockFcm,
    process::send_push,
    push_from_json, send, start,
};
use serde_json::Value;

/// The push `sendMobileWipeSignal` sends (server `channels/app/session.go`).
fn wipe(platform: &str, device: &str) -> String {
    format!(
        r#"{{"ack_id":"wipe-ack-1","platform":"{platform}","server_id":"srv1","device_id":"{device}","post_id":"","sound":"none","cont_ava":1,"type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"{SIG}"}}"#
    )
}

/// The older session-expired notice: a real alert, MPNS's bytes.
fn session_expired(device: &str) -> String {
    format!(
        r#"{{"ack_id":"exp-ack-1","platform":"apple_rn-v2","server_id":"srv1","device_id":"{device}","post_id":"","message":"Session Expired: Please log in to continue receiving notifications.","type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"{SIG}"}}"#
    )
}

/// A call from the Calls plugin to an Android phone.
fn ring(transport: &str) -> String {
    format!(
        r#"{{"ack_id":"ring-1","platform":"android_rn-v2","server_id":"srv1","device_id":"fcm:ring","post_id":"p1","channel_id":"c1","channel_name":"Town","type":"message","sub_type":"calls","transport":"{transport}","message":"alice is inviting you to a call","sender_id":"u1","sender_name":"alice","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"{SIG}"}}"#
    )
}

/// Sends `body` through each entry path: the MPNS HTTP API, `SendPush`, `StreamPush`; each
/// answer must be OK.
async fn through_every_path(running: &pushgate_proxy::server::Running, body: &str) {
    let base = http_url(running, "");
    assert_eq!(
        send_push(&base, body.to_string()).await,
        "{\"status\":\"OK\"}\n"
    );
    let mut client = grpc_client(running).await;
    assert_eq!(
        send(&mut client, push_from_json(body)).await.status(),
        Status::Ok
    );
    let request = SendPushRequest {
        notification: Some(push_from_json(body)),
        request_id: "s1".into(),
    };
    let answers: Vec<_> = client
        .stream_push(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner()
        .collect()
        .await;
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].as_ref().unwrap().status(), Status::Ok);
}

#[tokio::test]
async fn the_ios_session_wipe_is_a_silent_background_push_on_every_path() {
    let apns = MockApns::start().await;
    let key = apple_key();
    let running = start(&apple_config(&apns, &key)).await;
    through_every_path(&running, &wipe("apple_rn-v2", "a1b2c3d4")).await;

    let seen = apns.requests();
    assert_eq!(seen.len(), 3, "one request per entry path");
    for request in &seen {
        assert_eq!(request.header("apns-push-type"), Some("background"));
        assert_eq!(request.header("apns-priority"), Some("5"));
        assert_eq!(
            request.header("apns-topic"),
            Some("com.mattermost.react.native")
        );
        let payload: Value = serde_json::from_str(&request.body).unwrap();
        let aps = payload["aps"].as_object().unwrap();
        assert_eq!(aps.get("content-available"), Some(&Value::from(1)));
        for absent in ["alert", "sound", "mutable-content", "category"] {
            assert!(!aps.contains_key(absent), "aps has {absent}: {aps:?}");
        }
        // What the app reads to wipe and to report the wipe back to the server.
        assert_eq!(payload["type"], "session");
        assert_eq!(payload["ack_id"], "wipe-ack-1");
        assert_eq!(payload["server_id"], "srv1");
        assert_eq!(payload["signature"], SIG);
        assert_eq!(payload["version"], "v2");
    }
    running.shutdown().await;
}

#[tokio::test]
async fn the_session_expired_notice_stays_as_mpns_sends_it() {
    let apns = MockApns::start().await;
    let key = apple_key();
    let running = start(&apple_config(&apns, &key)).await;
    through_every_path(&running, &session_expired("a1b2c3d4")).await;
    for request in apns.requests() {
        assert_eq!(request.header("apns-push-type"), Some("alert"));
        assert_eq!(request.header("apns-priority"), Some("10"));
        let payload: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            payload["aps"].to_string(),
            r#"{"alert":"Session Expired: Please log in to continue receiving notifications.","badge":0,"mutable-content":1,"sound":"default"}"#
        );
    }
    running.shutdown().await;
}

#[tokio::test]
async fn android_wipes_stay_data_only_and_rings_carry_the_voip_flag_and_30_s() {
    let fcm = MockFcm::start().await;
    let running = start(&android_config(&fcm)).await;

    through_every_path(&running, &wipe("android_rn-v2", "fcm:wipe")).await;
    for request in fcm.requests() {
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let message = &body["message"];
        assert!(
            message.get("notification").is_none(),
            "data-only: {message}"
        );
        assert_eq!(message["android"].to_string(), r#"{"priority":"high"}"#);
        assert_eq!(message["data"]["type"], "session");
        assert_eq!(message["data"]["signature"], SIG);
        assert_eq!(message["data"]["ack_id"], "wipe-ack-1");
        assert!(message["data"].get("voip").is_none());
    }

    let before = fcm.requests().len();
    through_every_path(&running, &ring("voip")).await;
    for request in &fcm.requests()[before..] {
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let message = &body["message"];
        assert_eq!(message["data"]["voip"], "true");
        assert_eq!(message["data"]["sub_type"], "calls");
        // In the Firebase Go SDK's order, ttl first, as MPNS sends it.
        assert!(
            request
                .body
                .contains(r#""android":{"ttl":"30s","priority":"high"}"#),
            "{}",
            request.body
        );
    }

    let before = fcm.requests().len();
    through_every_path(&running, &ring("")).await;
    for request in &fcm.requests()[before..] {
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert!(body["message"]["data"].get("voip").is_none());
        assert_eq!(
            body["message"]["android"].to_string(),
            r#"{"priority":"high"}"#
        );
    }

    // MPNS's metrics label the rings transport "voip" (pull request 162).
    let metrics = running.metrics_text();
    let line = |transport: &str| {
        format!(
            r#"service_notifications_total{{platform="android",transport="{transport}",type="message"}} 3"#
        )
    };
    assert!(metrics.contains(&line("voip")), "{metrics}");
    assert!(metrics.contains(&line("")), "{metrics}");
    running.shutdown().await;
}
