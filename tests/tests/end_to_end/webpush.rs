//! Web Push / UnifiedPush (docs/providers.md) against a mock relay over HTTPS that checks every
//! push's VAPID signature and decrypts it with the subscription's private key, through the MPNS
//! HTTP API, `SendPush` and `Send`: MPNS's payload and answers, and the address rules, end to
//! end with loopback addresses only (an address the rules would let through is never used).

use std::process::Command;

use pushgate::v1::{Alert, Kind, Notification, SendRequest, Status};
use pushgate_tests::{
    config_with, grpc_client, http_url,
    mock_webpush::{vapid_keys, MockRelay, Reply},
    process::send_push,
    push_from_json, samples, send, start, temp_dir,
};
use serde_json::{json, Value};

const SUBSCRIBER: &str = "mailto:push-admin@example.com";

struct Setup {
    relay: MockRelay,
    vapid_public: String,
    vapid_private: String,
    ca_file: String,
}

async fn setup() -> Setup {
    // Whatever a test or the rules get wrong, no push leaves loopback.
    pushgate_proxy::confine_web_push_to_loopback();
    let (vapid_public, vapid_private) = vapid_keys();
    let relay = MockRelay::start(&vapid_public).await;
    let dir = temp_dir("webpush");
    let ca = dir.join("relay-ca.pem");
    std::fs::write(&ca, &relay.ca_pem).unwrap();
    Setup {
        relay,
        vapid_public,
        vapid_private,
        ca_file: ca.to_string_lossy().into(),
    }
}

impl Setup {
    /// The relay's entry, with a 16-byte cap on error bodies and the relay's CA.
    fn entry(&self) -> Value {
        let mut entry = self
            .relay
            .entry((&self.vapid_public, &self.vapid_private), SUBSCRIBER);
        entry["MaxErrorBodyBytes"] = 16.into();
        entry["WebPushCAFile"] = self.ca_file.clone().into();
        entry
    }

    fn config(&self) -> pushgate_proxy::config::Config {
        config_with(json!({ "WebPushSettings": [self.entry()], "EnableMetrics": true }))
    }

    fn push_json(&self, device_id: &str, message: &str) -> String {
        json!({
            "platform": "unified_push", "server_id": "srv", "device_id": device_id,
            "type": "message", "message": message, "channel_id": "ch", "channel_name": "town",
            "sender_id": "u1", "sender_name": "alice", "team_id": "t1", "post_id": "p1",
            "badge": 2, "ack_id": "a1", "version": "v2", "signature": "sig", "is_crt_enabled": true,
        })
        .to_string()
    }
}

/// What MPNS's pull request 166 sends for `Setup::push_json`: the FCM data, text as given.
fn expected_payload(message: &str) -> Value {
    json!({
        "ack_id": "a1", "badge": "2", "category": "", "channel_id": "ch", "channel_name": "town",
        "from_webhook": "", "is_crt_enabled": "true", "message": message,
        "override_icon_url": "", "override_username": "", "post_id": "p1", "sender_id": "u1",
        "sender_name": "alice", "server_id": "srv", "signature": "sig", "sub_type": "",
        "team_id": "t1", "type": "message", "version": "v2",
    })
}

#[tokio::test]
async fn pushes_arrive_decrypted_and_signed_on_every_entry_path() {
    let s = setup().await;
    let running = start(&s.config()).await;
    let device = s.relay.device_id(&s.relay.endpoint("127.0.0.1", "sub-1"));
    // The MPNS HTTP API; emoji shortcodes stay as written (MPNS expands them only for FCM).
    let answer = send_push(&http_url(&running, ""), s.push_json(&device, "hi :smile:")).await;
    assert_eq!(answer.trim_end(), r#"{"status":"OK"}"#);
    // SendPush.
    let mut client = grpc_client(&running).await;
    let answer = send(&mut client, push_from_json(&s.push_json(&device, "second"))).await;
    assert_eq!(answer.status(), Status::Ok, "{answer:?}");
    // Send, with the relay's message id as the provider id.
    let sent = client
        .send(SendRequest {
            target: "unified_push".into(),
            tokens: vec![device.clone()],
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
    assert_eq!(sent.results[0].status(), Status::Ok, "{:?}", sent.results);
    assert_eq!(sent.results[0].provider_id, "msg-sub-1");

    let taken = s.relay.taken();
    assert_eq!(taken.len(), 3);
    let payloads: Vec<Value> = taken
        .iter()
        .map(|t| serde_json::from_str(t.plaintext.as_ref().expect("decrypted")).unwrap())
        .collect();
    assert_eq!(payloads[0], expected_payload("hi :smile:"));
    assert_eq!(payloads[1], expected_payload("second"));
    assert_eq!(
        payloads[2],
        json!({"k": "v", "title": "Title", "body": "Body"})
    );
    for t in &taken {
        let claims = t.vapid.as_ref().expect("a valid VAPID signature");
        assert_eq!(claims["sub"], SUBSCRIBER);
        assert_eq!(t.headers["ttl"], "30");
        assert_eq!(t.headers["content-encoding"], "aes128gcm");
        assert_eq!(t.headers["content-type"], "application/octet-stream");
    }
    running.shutdown().await;
}

#[tokio::test]
#[cfg_attr(
    missing_python_http_ece,
    ignore = "needs Python's http_ece: pip install -r tests/python/requirements.txt"
)]
async fn a_second_implementation_decrypts_what_pushgate_sent() {
    pushgate_tests::need(
        &["python3", "-c", "import http_ece, cryptography"],
        "pip install -r tests/python/requirements.txt",
    );
    let s = setup().await;
    let running = start(&s.config()).await;
    let device = s.relay.device_id(&s.relay.endpoint("127.0.0.1", "sub-py"));
    let answer = send_push(&http_url(&running, ""), s.push_json(&device, "from rust")).await;
    assert_eq!(answer.trim_end(), r#"{"status":"OK"}"#);
    running.shutdown().await;
    let taken = s.relay.taken().remove(0);
    let body = temp_dir("webpush-py").join("body.bin");
    std::fs::write(&body, &taken.encrypted).unwrap();
    let (private, auth) = s.relay.device_secrets();
    let authorization = taken.headers["authorization"].to_str().unwrap().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/webpush_decrypt.py");
    let output = Command::new("python3")
        .args([
            script,
            body.to_str().unwrap(),
            &private,
            &auth,
            &authorization,
        ])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plaintext: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plaintext, expected_payload("from rust"));
}

#[tokio::test]
async fn the_relays_answers_mean_what_they_mean_to_mpns() {
    let s = setup().await;
    let running = start(&s.config()).await;
    let mut client = grpc_client(&running).await;
    for (reply, status, error, reason) in [
        (Reply::status(201, ""), Status::Ok, "", ""),
        (Reply::status(202, ""), Status::Ok, "", ""),
        (Reply::status(404, ""), Status::Remove, "", "404"),
        (Reply::status(410, ""), Status::Remove, "", "410"),
        (
            Reply::status(429, ""),
            Status::Fail,
            "webpush relay rate limited the request",
            "RATE_LIMITED",
        ),
        (
            Reply::status(400, "a body much longer than sixteen bytes"),
            Status::Fail,
            "a body much long",
            "400",
        ),
        (
            Reply::status(500, "oops"),
            Status::Fail,
            "webpush relay returned status 500",
            "500",
        ),
    ] {
        let code = reply.status;
        s.relay.reply_with(move |_, _| reply.clone());
        let device = s.relay.device_id(&s.relay.endpoint("127.0.0.1", "sub"));
        let answer = send(&mut client, push_from_json(&s.push_json(&device, "m"))).await;
        assert_eq!(answer.status(), status, "{code}: {answer:?}");
        assert_eq!(answer.error, error, "{code}");
        assert_eq!(answer.reason, reason, "{code}");
    }
    // A device id that is not a subscription never leaves pushgate.
    let before = s.relay.taken().len();
    let answer = send(
        &mut client,
        push_from_json(&s.push_json("not-base64!", "m")),
    )
    .await;
    assert_eq!(answer.status(), Status::Fail);
    assert_eq!(answer.reason, "INVALID_DEVICE_ID");
    assert!(
        answer.error.starts_with("invalid WebPush device id: "),
        "{answer:?}"
    );
    assert_eq!(s.relay.taken().len(), before);
    running.shutdown().await;
}

#[tokio::test]
async fn loopback_names_and_addresses_not_allowed_are_refused_and_counted() {
    let s = setup().await;
    let running = start(&s.config()).await;
    let mut client = grpc_client(&running).await;
    let port = s.relay.addr.port();
    for (endpoint, error, reason) in [
        (
            format!("https://127.0.0.2:{port}/push/a"),
            "destination not permitted",
            "DESTINATION_BLOCKED",
        ),
        (
            format!("https://localhost:{port}/push/b"),
            "destination not permitted",
            "DESTINATION_BLOCKED",
        ),
        (
            format!("https://[::1]:{port}/push/c"),
            "destination not permitted",
            "DESTINATION_BLOCKED",
        ),
        (
            // The allowed host, on another port: not the allowed host:port.
            format!("https://127.0.0.1:{}/push/d", port.wrapping_add(1).max(1)),
            "destination not permitted",
            "DESTINATION_BLOCKED",
        ),
        (
            format!("http://127.0.0.1:{port}/push/e"),
            "endpoint must use https",
            "SCHEME_NOT_ALLOWED",
        ),
        (
            // No host for Go (MPNS); the URL standard would read `push` as one and look it up.
            "https:///push/f".to_string(),
            "Post: http: no Host in request URL",
            "RequestError",
        ),
    ] {
        let device = s.relay.device_id(&endpoint);
        let answer = send(&mut client, push_from_json(&s.push_json(&device, "m"))).await;
        assert_eq!(answer.status(), Status::Fail, "{endpoint}: {answer:?}");
        assert_eq!(answer.error, error, "{endpoint}");
        assert_eq!(answer.reason, reason, "{endpoint}");
    }
    assert!(s.relay.taken().is_empty(), "nothing reached the relay");
    assert_eq!(s.relay.connections(), 0, "nor connected to it");

    // A redirect from the allowed relay is not followed.
    s.relay.reply_with(|_, _| {
        Reply::status(307, "").header("location", "https://127.0.0.1:1/push/elsewhere")
    });
    let device = s
        .relay
        .device_id(&s.relay.endpoint("127.0.0.1", "redirected"));
    let answer = send(&mut client, push_from_json(&s.push_json(&device, "m"))).await;
    assert_eq!(answer.status(), Status::Fail, "{answer:?}");
    assert_eq!(answer.error, "Post: redirects are not followed");
    assert_eq!(s.relay.taken().len(), 1, "only the first request");

    let metrics = running.metrics_text();
    let blocked = samples(&metrics)
        .iter()
        .filter(|(k, _)| {
            k.starts_with("service_failure_with_reason_total")
                && k.contains("DESTINATION_BLOCKED")
                && k.contains("unified_push")
        })
        .map(|(_, v)| v)
        .sum::<f64>();
    assert_eq!(blocked, 4.0, "{metrics}");
    running.shutdown().await;
}

#[tokio::test]
async fn a_bad_entry_fails_alone_with_mpns_words() {
    let s = setup().await;
    for (change, why) in [
        (
            json!({"VAPIDPrivateKey": ""}),
            "VAPIDPublicKey and VAPIDPrivateKey are both required",
        ),
        (
            json!({"VAPIDPublicKey": vapid_keys().0}),
            "VAPIDPublicKey does not correspond to VAPIDPrivateKey",
        ),
        (
            json!({"Subscriber": "admin@example.com"}),
            "Subscriber must be a mailto: or https: URI",
        ),
        (
            json!({"AllowedHosts": ["https://relay"]}),
            "must be a bare host or host:port",
        ),
        (
            json!({"AdditionalBlockedCIDRs": ["10.0.0.0/33"]}),
            "is not a valid CIDR",
        ),
        (json!({"TTLSeconds": -1}), "TTLSeconds must not be negative"),
    ] {
        let mut entry = s.entry();
        for (k, v) in change.as_object().unwrap() {
            entry[k] = v.clone();
        }
        let config = config_with(json!({ "WebPushSettings": [entry] }));
        let running = start(&config).await;
        let mut client = grpc_client(&running).await;
        let device = s.relay.device_id(&s.relay.endpoint("127.0.0.1", "sub"));
        let answer = send(&mut client, push_from_json(&s.push_json(&device, "m"))).await;
        assert_eq!(answer.status(), Status::Fail, "{change}");
        assert!(answer.error.contains(why), "{change}: {}", answer.error);
        assert!(
            answer.error.contains(
                "failed to initialize WebPush notification service for type=\"unified_push\""
            ),
            "{}",
            answer.error
        );
        assert!(
            !answer.error.contains(&s.vapid_private),
            "the key never shows"
        );
        running.shutdown().await;
    }
}
