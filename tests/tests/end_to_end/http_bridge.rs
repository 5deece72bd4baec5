//! The MPNS HTTP API, byte for byte (docs/mpns-contract.md §10.1), on the embedded bridge and on a standalone
//! `pushgate-bridge` in front of a separately started proxy.

use std::{sync::Arc, time::Duration};

use pushgate_bridge::{router, GrpcBackend, Settings, ThrottleSettings};
use pushgate_tests::{dry_run_config, http_url, start};

/// The sample config's targets, as docs/mpns-contract.md §10.1 assumes: `android` is configured but has no
/// credentials, so it is not initialised; `apple_rn` works (dry-run here).
fn sample_like_config() -> pushgate_proxy::config::Config {
    let mut config = dry_run_config();
    config.targets.android[0].dry_run = false;
    config
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, String) {
    let r = client.post(url).body(body).send().await.expect("answer");
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; charset=utf-8",
        "MPNS's sniffed content type"
    );
    (status, r.text().await.unwrap())
}

const V: &[(&str, &str)] = &[
    (r#"{"message":"test","badge":1,"device_id":"test"}"#,
     "{\"error\":\"Failed because of missing server Id\",\"status\":\"FAIL\"}\n"),
    (r#"{"message":"test","badge":1,"device_id":"test","server_id":"test"}"#,
     "{\"error\":\"Did not send message because of missing platform property type= serverId=test\",\"status\":\"FAIL\"}\n"),
    (r#"{"message":"test","badge":1,"device_id":"test","server_id":"test","platform":"junk"}"#,
     "{\"error\":\"Did not send message because of missing platform property type=junk serverId=test\",\"status\":\"FAIL\"}\n"),
    (r#"{"server_id":"s1","platform":"android_rn-v2"}"#,
     "{\"error\":\"Failed because of missing device Id serverId=s1\",\"status\":\"FAIL\"}\n"),
    (r#"{"platform":"android","server_id":"test","device_id":"test","message":"test","badge":1}"#,
     "{\"error\":\"Did not send message because of missing platform property type=android serverId=test\",\"status\":\"FAIL\"}\n"),
    ("",
     "{\"error\":\"Failed to read message body: EOF\",\"status\":\"FAIL\"}\n"),
    (r#"{"server_id":"s","device_id":"d","badge":"3"}"#,
     "{\"error\":\"Failed to read message body: json: cannot unmarshal string into Go struct field PushNotification.badge of type int\",\"status\":\"FAIL\"}\n"),
    ("<xml/>",
     "{\"error\":\"Failed to read message body: invalid character '\\u003c' looking for beginning of value\",\"status\":\"FAIL\"}\n"),
    (r#"{"server_id":"s","device_id":"d","platform":"apple_rn-vX"}"#,
     "{\"status\":\"OK\"}\n"),
];

const A: &[(&str, &str)] = &[
    (r#"{"id":"abcxyz","platform":"android","type":"message"}"#, "{\"status\":\"OK\"}\n"),
    (r#"{"id":"ack1","received_at":1718000000000,"platform":"ios","type":"message","post_id":"post1","is_id_loaded":true}"#,
     "{\"status\":\"OK\"}\n"),
    (r#"{"platform":"ios","type":"message"}"#,
     "{\"error\":\"Failed because of missing ack Id\",\"status\":\"FAIL\"}\n"),
    (r#"{"id":"x","type":"message"}"#,
     "{\"error\":\"Failed because of missing ack platform\",\"status\":\"FAIL\"}\n"),
    (r#"{"id":"x","platform":"ios"}"#,
     "{\"error\":\"Failed because of missing ack type\",\"status\":\"FAIL\"}\n"),
    (r#"{"id":1}"#,
     "{\"error\":\"Failed to read ack body: json: cannot unmarshal number into Go struct field PushNotificationAck.id of type string\",\"status\":\"FAIL\"}\n"),
];

async fn replay_contract(base: &str) {
    let client = reqwest::Client::new();
    for (i, (body, expected)) in V.iter().enumerate() {
        let (status, text) = post(&client, &format!("{base}/api/v1/send_push"), *body).await;
        assert_eq!(status, 200, "V{}", i + 1);
        assert_eq!(text, *expected, "V{}", i + 1);
    }
    for (i, (body, expected)) in A.iter().enumerate() {
        let (status, text) = post(&client, &format!("{base}/api/v1/ack"), *body).await;
        assert_eq!(status, 200, "A{}", i + 1);
        assert_eq!(text, *expected, "A{}", i + 1);
    }
}

#[tokio::test]
async fn embedded_bridge_replays_contract_10_1_byte_for_byte() {
    let running = start(&sample_like_config()).await;
    replay_contract(&http_url(&running, "")).await;
    running.shutdown().await;
}

#[tokio::test]
async fn other_endpoints_answer_like_mpns() {
    let running = start(&sample_like_config()).await;
    let client = reqwest::Client::new();

    let root = client.get(http_url(&running, "/")).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["x-ratelimit-limit"], "300");
    assert_eq!(root.headers()["x-ratelimit-remaining"], "299");
    assert_eq!(root.headers()["x-ratelimit-reset"], "1");
    assert_eq!(
        root.text().await.unwrap(),
        "<html><body>Mattermost Push Proxy</body></html>"
    );

    let version = client
        .get(http_url(&running, "/version"))
        .send()
        .await
        .unwrap();
    assert_eq!(version.headers()["content-type"], "application/json");
    let text = version.text().await.unwrap();
    assert!(text.ends_with("\"}\n"), "{text:?}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["version"], pushgate_proxy::VERSION);
    assert!(v["hash"].is_string());

    // What MPNS itself answers (mpns_side_by_side): another method on a GET route is 405 with
    // no body and no `Allow`; on a POST route it is 404, as an unknown path; HEAD elsewhere 404.
    let head = client.head(http_url(&running, "/")).send().await.unwrap();
    assert_eq!(head.status(), 405, "HEAD / as in MPNS");
    assert!(head.headers().get("allow").is_none());
    let post_root = client.post(http_url(&running, "/")).send().await.unwrap();
    assert_eq!(post_root.status(), 405);
    assert!(
        post_root.headers().get("allow").is_none(),
        "gorilla sends no Allow"
    );
    assert_eq!(post_root.text().await.unwrap(), "");
    let wrong_method = client
        .get(http_url(&running, "/api/v1/send_push"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 404);
    assert!(wrong_method.headers().get("allow").is_none());
    assert_eq!(wrong_method.text().await.unwrap(), "404 page not found\n");
    let head_unknown = client
        .head(http_url(&running, "/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(head_unknown.status(), 404, "HEAD on an unknown path");

    for path in ["/nope", "/api/v1/send_push/"] {
        let missing = client.get(http_url(&running, path)).send().await.unwrap();
        assert_eq!(missing.status(), 404, "{path}");
        assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
        assert_eq!(missing.text().await.unwrap(), "404 page not found\n");
    }

    let healthz = client
        .get(http_url(&running, "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
    let readyz = client
        .get(http_url(&running, "/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);
    let ready: serde_json::Value = readyz.json().await.unwrap();
    assert_eq!(ready["targets"]["apple_rn"], "SERVING");
    assert_eq!(ready["targets"]["android"], "NOT_SERVING");
    running.shutdown().await;
}

#[tokio::test]
async fn metrics_endpoint_is_404_when_metrics_are_off() {
    let mut config = sample_like_config();
    config.enable_metrics = false;
    let running = start(&config).await;
    let r = reqwest::get(http_url(&running, "/metrics")).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "404 page not found\n");
    running.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_each_get_one_answer_and_the_server_stays_up() {
    let running = start(&sample_like_config()).await;
    let client = reqwest::Client::new();
    let url = http_url(&running, "/api/v1/send_push");
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(
        r#"{{"server_id":"s","device_id":"d","platform":"apple_rn","message":"{}"}}"#,
        "x".repeat(10 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("deep nesting", deep.into_bytes(), "Failed to read message body: "),
        ("10 MB", huge.into_bytes(), "Failed to read message body: http: request body too large"),
        ("truncated", br#"{"server_id":"#.to_vec(), "Failed to read message body: unexpected EOF"),
        ("wrong type", br#"{"server_id":"s","device_id":"d","badge":2.5}"#.to_vec(),
         "Failed to read message body: json: cannot unmarshal number 2.5 into Go struct field PushNotification.badge of type int"),
        ("array", b"[1,2]".to_vec(),
         "Failed to read message body: json: cannot unmarshal array into Go value of type model.PushNotification"),
    ];
    for (what, body, error_prefix) in cases {
        let (status, text) = post(&client, &url, body).await;
        assert_eq!(status, 200, "{what}");
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
        assert_eq!(v["status"], "FAIL", "{what}");
        assert!(
            v["error"].as_str().unwrap().starts_with(error_prefix),
            "{what}: {text}"
        );
    }
    // Invalid UTF-8 in a string is replaced, as Go does, and the push still goes.
    let (_, text) = post(
        &client,
        &url,
        b"{\"server_id\":\"s\",\"device_id\":\"d\",\"platform\":\"apple_rn\",\"message\":\"a\xff\"}".to_vec(),
    )
    .await;
    assert_eq!(text, "{\"status\":\"OK\"}\n");
    // Go's decoder: keys case-insensitive, unknown keys ignored, nulls default, trailing bytes ignored.
    let (_, text) = post(
        &client,
        &url,
        r#"{"SERVER_ID":"s","Device_Id":"d","platform":"apple_rn","badge":null,"extra":[1]} trailing"#,
    )
    .await;
    assert_eq!(text, "{\"status\":\"OK\"}\n");
    let r = client
        .get(http_url(&running, "/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "still up");
    running.shutdown().await;
}

#[tokio::test]
async fn enforced_throttle_refuses_with_429() {
    let mut config = sample_like_config();
    config.throttle.enforce = true;
    config.throttle.per_sec = std::num::NonZeroU64::new(3).unwrap();
    let running = start(&config).await;
    let client = reqwest::Client::new();
    let mut refused = None;
    for _ in 0..20 {
        let r = client.get(http_url(&running, "/")).send().await.unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("over 3 requests per second are refused");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.text().await.unwrap(), "limit exceeded\n");
    // Counted for dashboards and alerts: the one refusal so far.
    assert!(
        running
            .metrics_text()
            .contains("\npushgate_throttled_requests_total 1\n"),
        "{}",
        running.metrics_text()
    );
    running.shutdown().await;
}

#[tokio::test]
async fn standalone_bridge_in_front_of_the_grpc_server() {
    let proxy = start(&sample_like_config()).await;
    let backend = GrpcBackend::new(
        &format!("http://{}", proxy.grpc_addr),
        Duration::from_secs(30),
        None,
    )
    .unwrap();
    let settings = Settings {
        throttle: ThrottleSettings::default(),
        metrics_enabled: false,
        hash: "test".into(),
        version: "0".into(),
        body_read: Duration::from_secs(60),
        api_token: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(Arc::new(backend), settings);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}");
    replay_contract(&base).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    // The proxy goes away: every request still gets one definitive FAIL, and readiness says so.
    proxy.shutdown().await;
    let client = reqwest::Client::new();
    let (status, text) = post(
        &client,
        &format!("{base}/api/v1/send_push"),
        r#"{"server_id":"s","device_id":"d","platform":"apple_rn"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        text.starts_with("{\"error\":\"pushgate upstream error"),
        "{text}"
    );
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    server.abort();
}

/// docs/mpns-contract.md §10.2–§10.10 as a Mattermost server sends them: through the HTTP bridge, into the
/// mock APNs and FCM, compared byte for byte upstream; and provider answers mapped back.
#[tokio::test]
async fn provider_examples_through_the_bridge() {
    use pushgate_tests::{
        apple::apple_key,
        examples::{android_examples, apple_examples},
        mock_apns::{self, MockApns},
        mock_fcm::{self, MockFcm},
    };
    let apns = MockApns::start().await;
    let fcm = MockFcm::start().await;
    let key = apple_key();
    let config = pushgate_tests::android::apple_and_android_config(&apns, &key, &fcm);
    let running = start(&config).await;
    let client = reqwest::Client::new();
    let url = http_url(&running, "/api/v1/send_push");

    let apple = apple_examples();
    for example in &apple {
        let (_, text) = post(&client, &url, example.request.clone()).await;
        assert_eq!(text, "{\"status\":\"OK\"}\n", "{}", example.name);
    }
    let sent: Vec<String> = apns.requests().into_iter().map(|r| r.body).collect();
    let expected: Vec<String> = apple.iter().map(|e| e.apns_body.clone()).collect();
    assert_eq!(sent, expected);

    let android = android_examples();
    for example in &android {
        let (_, text) = post(&client, &url, example.request.clone()).await;
        assert_eq!(text, "{\"status\":\"OK\"}\n", "{}", example.name);
    }
    let sent: Vec<String> = fcm.requests().into_iter().map(|r| r.body).collect();
    let expected: Vec<String> = android.iter().map(|e| e.fcm_body.clone()).collect();
    assert_eq!(sent, expected);

    // Provider answers, as the Mattermost server sees them (docs/mpns-contract.md §10.2, §10.3).
    let ios = &apple[0].request;
    for (reply, answer) in [
        (
            mock_apns::Reply::reason(400, "BadDeviceToken"),
            "{\"status\":\"REMOVE\"}\n",
        ),
        (
            mock_apns::Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#),
            "{\"status\":\"REMOVE\"}\n",
        ),
        (
            mock_apns::Reply::reason(400, "TopicDisallowed"),
            "{\"error\":\"unknown send response error\",\"status\":\"FAIL\"}\n",
        ),
    ] {
        apns.reply_with(move |_, _| reply.clone());
        assert_eq!(post(&client, &url, ios.clone()).await.1, answer);
    }
    let droid = &android[0].request;
    for (reply, answer) in [
        (mock_fcm::Reply::fcm_error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."), "{\"status\":\"REMOVE\"}\n"),
        (mock_fcm::Reply::fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
         "{\"error\":\"The registration token is not a valid FCM registration token\",\"status\":\"FAIL\"}\n"),
    ] {
        fcm.reply_with(move |_, _| reply.clone());
        assert_eq!(post(&client, &url, droid.clone()).await.1, answer);
    }
    running.shutdown().await;
}

/// Writes `request` on a fresh connection and reads until the server closes it (or 5 s pass).
async fn raw_exchange(running: &pushgate_proxy::server::Running, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(running.http_addr)
        .await
        .unwrap();
    let _ = tcp.write_all(request).await;
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut seen),
    )
    .await;
    String::from_utf8_lossy(&seen).into_owned()
}

/// After the 1 MiB FAIL the connection was closed without saying so: a request pipelined
/// behind the big body was lost without a word. And a broken chunk was "body too large".
#[tokio::test]
async fn an_unreadable_body_says_connection_close_and_names_its_error() {
    let running = start(&sample_like_config()).await;
    let big = "x".repeat(2 << 20);
    let request = format!(
        "POST /api/v1/send_push HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{big}\
         GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        big.len()
    );
    let seen = raw_exchange(&running, request.as_bytes()).await;
    let head = seen.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{seen:.300}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(seen.contains("request body too large"), "{seen:.300}");

    let chunked =
        "POST /api/v1/send_push HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                   zz\r\n{}\r\n0\r\n\r\n";
    let seen = raw_exchange(&running, chunked.as_bytes()).await;
    assert!(
        seen.contains("Failed to read message body: http: "),
        "{seen}"
    );
    assert!(
        !seen.contains("too large"),
        "a bad chunk is not a large body: {seen}"
    );
    running.shutdown().await;
}
