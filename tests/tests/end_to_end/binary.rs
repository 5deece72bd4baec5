//! The real `pushgate` and `pushgate-bridge` processes: flags, config errors, serving, SIGTERM.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use pushgate_tests::{
    binary, free_port,
    process::{
        output, pushgate, send_push, start_process, terminate, wait_until_up, write_config, Process,
    },
    temp_dir,
};

#[tokio::test]
async fn serves_both_apis_logs_redacted_and_exits_0_on_sigterm() {
    let dir = temp_dir("serve");
    let (http, grpc) = (free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let (mut child, base) = start_process(pushgate(&config).stdout(Stdio::piped()), http).await;

    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let body = format!(
        r#"{{"platform":"apple_rn-v2","server_id":"srv","device_id":"{token}","message":"very private words","channel_name":"Secret Room","type":"message","version":"v2","signature":"SIGNATURE-XYZ"}}"#
    );
    assert_eq!(send_push(&base, body).await, "{\"status\":\"OK\"}\n");

    let mut client = pushgate::v1::push_proxy_client::PushProxyClient::connect(format!(
        "http://127.0.0.1:{grpc}"
    ))
    .await
    .unwrap();
    let answer = client
        .send_push(pushgate::v1::SendPushRequest {
            notification: Some(pushgate::v1::PushNotification {
                platform: "android_rn".into(),
                server_id: "srv".into(),
                device_id: "fcm:token".into(),
                ..Default::default()
            }),
            request_id: "x".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.status(), pushgate::v1::Status::Ok);
    drop(client);

    let status = terminate(&mut child).await;
    assert!(status.success(), "exit after SIGTERM: {status}");
    let logs = output(&mut child);
    assert!(logs.contains("Stopping Server..."), "{logs}");
    assert!(
        logs.contains("a1b2c3d4e5f60718…"),
        "redacted token logged: {logs}"
    );
    for secret in [token, "very private words", "Secret Room", "SIGNATURE-XYZ"] {
        assert!(!logs.contains(secret), "{secret} leaked into logs:\n{logs}");
    }
}

#[tokio::test]
async fn standalone_bridge_process_in_front_of_a_proxy_process() {
    let dir = temp_dir("standalone");
    let (http, grpc, bridge_port) = (free_port(), free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let mut proxy = Process(
        Command::new(binary("pushgate"))
            .args(["-config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut bridge = Process(
        Command::new(binary("pushgate-bridge"))
            .args([
                "--upstream",
                &format!("http://127.0.0.1:{grpc}"),
                "--listen",
                &format!("127.0.0.1:{bridge_port}"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{bridge_port}");
    wait_until_up(&format!("{base}/readyz")).await;
    let client = reqwest::Client::new();
    for (body, expected) in [
        (
            r#"{"server_id":"s","device_id":"d","platform":"apple_rn-v2"}"#,
            "{\"status\":\"OK\"}\n",
        ),
        (
            r#"{"server_id":"s1","platform":"android_rn-v2"}"#,
            "{\"error\":\"Failed because of missing device Id serverId=s1\",\"status\":\"FAIL\"}\n",
        ),
    ] {
        let r = client
            .post(format!("{base}/api/v1/send_push"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), expected);
    }
    drop(client);
    assert!(terminate(&mut bridge).await.success());
    assert!(terminate(&mut proxy).await.success());
}

/// A JSON config whose `apple_rn` target sends to `mock` with `key`.
fn apple_json(
    mock: &pushgate_tests::mock_apns::MockApns,
    key: &pushgate_tests::apple::AppleKey,
    http: u16,
    grpc: u16,
    topic: &str,
) -> String {
    let ca = temp_dir("apple-ca").join("ca.pem");
    std::fs::write(&ca, &mock.ca_pem).unwrap();
    serde_json::json!({
        "ListenAddress": format!("127.0.0.1:{http}"),
        "GrpcListenAddress": format!("127.0.0.1:{grpc}"),
        "SendTimeoutSec": 30,
        "DrainGraceSec": 0,
        "ApplePushSettings": [{
            "Type": "apple_rn",
            "ApplePushTopic": topic,
            "AppleAuthKeyFile": key.p8_path,
            "AppleAuthKeyID": pushgate_tests::apple::KEY_ID,
            "AppleTeamID": pushgate_tests::apple::TEAM_ID,
            "ApplePushEndpoint": mock.endpoint(),
            "ApplePushCAFile": ca,
        }],
        "AndroidPushSettings": [],
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_500_slow_sends_loses_none() {
    use futures::StreamExt;
    use pushgate::v1::{PushNotification, SendPushRequest, Status};
    let mock = pushgate_tests::mock_apns::MockApns::start().await;
    mock.reply_with(|_, _| pushgate_tests::mock_apns::Reply::ok().after(Duration::from_secs(2)));
    let key = pushgate_tests::apple::apple_key();
    let dir = temp_dir("drain");
    let (http, grpc) = (free_port(), free_port());
    let config = dir.join("pushgate.json");
    std::fs::write(&config, apple_json(&mock, &key, http, grpc, "com.example")).unwrap();
    let mut child = Process(
        Command::new(binary("pushgate"))
            .args(["--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_up(&format!("http://127.0.0.1:{http}/readyz")).await;
    let mut client = pushgate::v1::push_proxy_client::PushProxyClient::connect(format!(
        "http://127.0.0.1:{grpc}"
    ))
    .await
    .unwrap();
    let requests = (0..500).map(|i| SendPushRequest {
        notification: Some(PushNotification {
            platform: "apple_rn".into(),
            server_id: "s".into(),
            device_id: format!("{i:08x}"),
            r#type: "message".into(),
            ..Default::default()
        }),
        request_id: i.to_string(),
    });
    // Keep the request stream open until the answers are in, as a long-lived caller would.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let outgoing = tokio_stream::iter(requests).chain(
        futures::stream::once(async move {
            let _ = rx.await;
            SendPushRequest::default()
        })
        .filter(|_| futures::future::ready(false)),
    );
    let answers = tokio::spawn(async move {
        let stream = client.stream_push(outgoing).await.unwrap().into_inner();
        stream.take(500).collect::<Vec<_>>().await
    });
    let started = Instant::now();
    while mock.requests().len() < 500 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "only {} in flight",
            mock.requests().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = terminate(&mut child).await;
    let answers = answers.await.unwrap();
    drop(tx);
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert_eq!(answers.len(), 500, "every in-flight send answered");
    assert!(answers.iter().all(|a| a
        .as_ref()
        .map(|a| a.status() == Status::Ok)
        .unwrap_or(false)));
}

/// The drain limit is the send budget in force at shutdown: after a SIGHUP that raises
/// `SendTimeoutSec` from 1 to 10, a SIGTERM waits for a push that takes 3 s (it once cut it at
/// the start-up budget's 2 s, and the caller got no answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_after_a_reload_drains_within_the_new_send_budget() {
    use pushgate_tests::mock_apns::{MockApns, Reply};
    let mock = MockApns::start().await;
    mock.reply_with(|r, _| match r.header("apns-topic") {
        Some("com.example.slow") => Reply::ok().after(Duration::from_secs(3)),
        _ => Reply::ok(),
    });
    let key = pushgate_tests::apple::apple_key();
    let dir = temp_dir("drain-reload");
    let (http, grpc) = (free_port(), free_port());
    let config = dir.join("pushgate.json");
    let with_budget = |secs: u64, topic: &str| {
        let mut json: serde_json::Value =
            serde_json::from_str(&apple_json(&mock, &key, http, grpc, topic)).unwrap();
        json["SendTimeoutSec"] = secs.into();
        json.to_string()
    };
    std::fs::write(&config, with_budget(1, "com.example.fast")).unwrap();
    let (mut child, base) = start_process(&mut pushgate(&config), http).await;
    let push = r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#;
    assert_eq!(send_push(&base, push).await, "{\"status\":\"OK\"}\n");

    std::fs::write(&config, with_budget(10, "com.example.slow")).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.0.id().to_string()])
        .status()
        .unwrap();
    // Reloaded once a push takes the new topic (and 3 s: the new budget allows it).
    let started = Instant::now();
    while mock.requests().last().unwrap().header("apns-topic") != Some("com.example.slow") {
        assert_eq!(send_push(&base, push).await, "{\"status\":\"OK\"}\n");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "reload not applied"
        );
    }

    let sent = mock.requests().len();
    let answer = tokio::spawn({
        let base = base.clone();
        async move { send_push(&base, push).await }
    });
    while mock.requests().len() == sent {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = terminate(&mut child).await;
    assert_eq!(
        answer.await.unwrap(),
        "{\"status\":\"OK\"}\n",
        "the push in flight is answered"
    );
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[tokio::test]
async fn sighup_reloads_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    use pushgate_tests::mock_apns::{MockApns, Reply};
    let mock = MockApns::start().await;
    mock.reply_with(|_, _| Reply::ok());
    let key = pushgate_tests::apple::apple_key();
    let dir = temp_dir("reload");
    let (http, grpc) = (free_port(), free_port());
    let config = dir.join("pushgate.json");
    std::fs::write(
        &config,
        apple_json(&mock, &key, http, grpc, "com.example.first"),
    )
    .unwrap();
    let (mut child, base) = start_process(pushgate(&config).stdout(Stdio::piped()), http).await;
    let push = || {
        send_push(
            &base,
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        )
    };
    let hup = |p: &Process| {
        Command::new("kill")
            .args(["-HUP", &p.0.id().to_string()])
            .status()
            .unwrap();
    };
    let last_topic = || {
        mock.requests()
            .last()
            .unwrap()
            .header("apns-topic")
            .unwrap()
            .to_string()
    };

    assert_eq!(push().await, "{\"status\":\"OK\"}\n");
    assert_eq!(last_topic(), "com.example.first");

    std::fs::write(
        &config,
        apple_json(&mock, &key, http, grpc, "com.example.second"),
    )
    .unwrap();
    hup(&child);
    let started = Instant::now();
    loop {
        assert_eq!(push().await, "{\"status\":\"OK\"}\n");
        if last_topic() == "com.example.second" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "reload not applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(&config, "{ this is not json").unwrap();
    hup(&child);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(push().await, "{\"status\":\"OK\"}\n", "still serving");
    assert_eq!(last_topic(), "com.example.second", "the old config stays");

    assert!(terminate(&mut child).await.success());
    let logs = output(&mut child);
    assert!(logs.contains("Config reloaded"), "{logs}");
    assert!(logs.contains("Config reload failed"), "{logs}");
}

#[tokio::test]
async fn json_file_logs_carry_mpns_messages_and_no_secrets() {
    let dir = temp_dir("logs");
    let (http, grpc) = (free_port(), free_port());
    let log = dir.join("push_proxy.log");
    let config = pushgate_proxy::config::EMBEDDED_DRY_RUN
        .replace("127.0.0.1:8086", &format!("127.0.0.1:{http}"))
        .replace("127.0.0.1:50051", &format!("127.0.0.1:{grpc}"))
        .replace("\"EnableConsoleLog\": true", "\"EnableConsoleLog\": false")
        .replace("\"EnableFileLog\": false", "\"EnableFileLog\": true")
        .replace(
            "\"LogFileLocation\": \"\"",
            &format!("\"LogFileLocation\": {:?}", log.to_str().unwrap()),
        )
        .replace("\"LogFormat\": \"plain\"", "\"LogFormat\": \"json\"");
    let path = dir.join("pushgate.json");
    std::fs::write(&path, config).unwrap();
    let (mut child, base) = start_process(pushgate(&path).stdout(Stdio::piped()), http).await;
    let client = reqwest::Client::new();
    let token = "fcmtoken:APA91bSECRETSECRETSECRET";
    for body in [
        format!(
            r#"{{"platform":"android_rn-v2","server_id":"srv","device_id":"{token}","message":"private text","channel_name":"Private Channel","type":"message","signature":"SIGNED-JWT"}}"#
        ),
        r#"{"server_id":"s1","platform":"android_rn"}"#.to_string(),
    ] {
        client
            .post(format!("{base}/api/v1/send_push"))
            .body(body)
            .send()
            .await
            .unwrap();
    }
    drop(client);
    assert!(terminate(&mut child).await.success());
    let console = output(&mut child);
    assert!(console.is_empty(), "console logging is off: {console}");

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    // MPNS's (mlog's) field names: timestamp, level in lower case, msg, caller.
    for (raw, line) in text.lines().zip(&lines) {
        let at = |key: &str| raw.find(&format!("\"{key}\":")).unwrap_or(usize::MAX);
        let order = [at("timestamp"), at("level"), at("msg"), at("caller")];
        assert!(
            order[0] == 1 && order.windows(2).all(|w| w[0] < w[1]),
            "timestamp, level, msg, caller first: {raw}"
        );
        let level = line["level"].as_str().unwrap();
        assert_eq!(level, level.to_ascii_lowercase(), "{line}");
        assert!(line["caller"].as_str().unwrap().contains(".rs:"), "{line}");
    }
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["msg"].as_str()).collect();
    for expected in [
        "Sending android push notification",
        "Failed because of missing device Id serverId=s1",
        "Stopping Server...",
    ] {
        assert!(messages.contains(&expected), "{expected} in {messages:?}");
    }
    let dry = lines
        .iter()
        .find(|l| l["msg"] == "Dry run: push built, not sent")
        .expect("dry-run summary");
    assert_eq!(dry["did"], "fcmtoken:APA91bS…", "first 16 bytes");
    assert_eq!(dry["level"], "info");
    for secret in [token, "private text", "Private Channel", "SIGNED-JWT"] {
        assert!(!text.contains(secret), "{secret} leaked into the log file");
    }
}

/// Which proxy APNs traffic takes for a given environment (MPNS: `HTTPS_PROXY`, else
/// `HTTP_PROXY`; uppercase only). With only `HTTP_PROXY` set, pushgate once logged "Proxy
/// server detected" and connected directly.
struct ProxyCase {
    what: &'static str,
    /// Variables set to proxy A's address, and to proxy B's.
    to_a: &'static [&'static str],
    to_b: &'static [&'static str],
    /// Tunnels expected through A and B; none means a direct connection.
    through_a: bool,
    through_b: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_takes_the_proxy_mpns_takes() {
    let cases = [
        ProxyCase {
            what: "only HTTPS_PROXY",
            to_a: &["HTTPS_PROXY"],
            to_b: &[],
            through_a: true,
            through_b: false,
        },
        ProxyCase {
            what: "only HTTP_PROXY",
            to_a: &["HTTP_PROXY"],
            to_b: &[],
            through_a: true,
            through_b: false,
        },
        ProxyCase {
            what: "both: HTTPS_PROXY wins",
            to_a: &["HTTPS_PROXY"],
            to_b: &["HTTP_PROXY"],
            through_a: true,
            through_b: false,
        },
        ProxyCase {
            what: "lowercase only: direct",
            to_a: &["https_proxy", "http_proxy"],
            to_b: &[],
            through_a: false,
            through_b: false,
        },
    ];
    let mock = pushgate_tests::mock_apns::MockApns::start().await;
    let key = pushgate_tests::apple::apple_key();
    for case in cases {
        let (a, b) = (
            pushgate_tests::connect_proxy::ConnectProxy::start().await,
            pushgate_tests::connect_proxy::ConnectProxy::start().await,
        );
        let dir = temp_dir("proxy");
        let (http, grpc) = (free_port(), free_port());
        let config = dir.join("pushgate.json");
        std::fs::write(&config, apple_json(&mock, &key, http, grpc, "com.example")).unwrap();
        let mut cmd = pushgate(&config);
        for var in [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "NO_PROXY",
            "no_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            cmd.env_remove(var);
        }
        for var in case.to_a {
            cmd.env(var, format!("http://user:pa55word@{}", a.addr));
        }
        for var in case.to_b {
            cmd.env(var, format!("http://{}", b.addr));
        }
        let (mut child, base) = start_process(cmd.stdout(Stdio::piped()), http).await;
        let answer = send_push(
            &base,
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
        )
        .await;
        assert_eq!(answer, "{\"status\":\"OK\"}\n", "{}", case.what);
        assert_eq!(a.tunnels() >= 1, case.through_a, "{}: proxy A", case.what);
        if case.through_a {
            // The URL's credentials go to the proxy, as Basic auth on every CONNECT.
            let basic = "Basic dXNlcjpwYTU1d29yZA=="; // user:pa55word
            assert!(
                a.authorizations().iter().all(|v| v == basic) && !a.authorizations().is_empty(),
                "{}: {:?}",
                case.what,
                a.authorizations()
            );
        }
        assert_eq!(b.tunnels() >= 1, case.through_b, "{}: proxy B", case.what);
        assert!(terminate(&mut child).await.success());
        let logs = output(&mut child);
        assert_eq!(
            logs.contains("Proxy server detected."),
            case.through_a || case.through_b,
            "{}: {logs}",
            case.what
        );
        assert!(
            !logs.contains("pa55word"),
            "proxy credentials are not logged"
        );
    }
}

/// An `https://` proxy (TLS to the proxy, then CONNECT inside it), as Go's transport takes it
/// for MPNS: trusted through the target's `ApplePushCAFile`, credentials sent, none logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apns_goes_through_an_https_proxy() {
    let mock = pushgate_tests::mock_apns::MockApns::start().await;
    let key = pushgate_tests::apple::apple_key();
    let (proxy, proxy_ca) = pushgate_tests::connect_proxy::ConnectProxy::start_tls().await;
    let dir = temp_dir("https-proxy");
    let (http, grpc) = (free_port(), free_port());
    let mut json: serde_json::Value =
        serde_json::from_str(&apple_json(&mock, &key, http, grpc, "com.example")).unwrap();
    let both = dir.join("cas.pem");
    std::fs::write(&both, format!("{}{proxy_ca}", mock.ca_pem)).unwrap();
    json["ApplePushSettings"][0]["ApplePushCAFile"] = both.to_str().unwrap().into();
    let config = dir.join("pushgate.json");
    std::fs::write(&config, json.to_string()).unwrap();
    let mut cmd = pushgate(&config);
    for var in [
        "HTTP_PROXY",
        "https_proxy",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env(
        "HTTPS_PROXY",
        format!("https://user:pa55word@{}", proxy.addr),
    );
    let (mut child, base) = start_process(cmd.stdout(Stdio::piped()), http).await;
    let answer = send_push(
        &base,
        r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
    )
    .await;
    assert_eq!(answer, "{\"status\":\"OK\"}\n");
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.authorizations(), ["Basic dXNlcjpwYTU1d29yZA=="]);
    assert_eq!(mock.requests().len(), 1);
    assert!(terminate(&mut child).await.success());
    let logs = output(&mut child);
    assert!(logs.contains("Proxy server detected."), "{logs}");
    assert!(
        !logs.contains("pa55word"),
        "proxy credentials are not logged"
    );
}

#[tokio::test]
async fn fcm_project_falls_back_to_google_cloud_project() {
    let fcm = pushgate_tests::mock_fcm::MockFcm::start().await;
    let dir = temp_dir("gcp");
    let sa = pushgate_tests::android::service_account_file(&dir, false);
    let (http, grpc) = (free_port(), free_port());
    let config = dir.join("pushgate.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "ListenAddress": format!("127.0.0.1:{http}"),
            "GrpcListenAddress": format!("127.0.0.1:{grpc}"),
            "AndroidPushSettings": [{
                "Type": "android_rn",
                "ServiceFileLocation": sa,
                "FcmEndpoint": fcm.endpoint(),
                "FcmTokenUri": fcm.token_uri(),
            }],
        })
        .to_string(),
    )
    .unwrap();
    let (mut child, base) = start_process(
        pushgate(&config).env("GOOGLE_CLOUD_PROJECT", "project-from-env"),
        http,
    )
    .await;
    let answer = send_push(
        &base,
        r#"{"platform":"android_rn","server_id":"s","device_id":"a1b2c3d4","type":"message"}"#,
    )
    .await;
    assert_eq!(answer, "{\"status\":\"OK\"}\n");
    assert_eq!(
        fcm.requests()[0].path,
        "/v1/projects/project-from-env/messages:send"
    );
    assert!(terminate(&mut child).await.success());
}

/// At debug level the transport error printed reqwest's error with the whole
/// `/3/device/<token>` URL; it now shows the causes (here: refused) and the token cut short.
#[tokio::test]
async fn transport_errors_log_their_cause_and_never_the_whole_token() {
    let mock = pushgate_tests::mock_apns::MockApns::start().await;
    let key = pushgate_tests::apple::apple_key();
    let dir = temp_dir("refused");
    let (http, grpc) = (free_port(), free_port());
    let mut config: serde_json::Value =
        serde_json::from_str(&apple_json(&mock, &key, http, grpc, "com.example")).unwrap();
    // Nothing listens there: every attempt is refused.
    config["ApplePushSettings"][0]["ApplePushEndpoint"] =
        format!("https://127.0.0.1:{}", free_port()).into();
    config["SendTimeoutSec"] = 2.into();
    config["RetryTimeoutSec"] = 1.into();
    let path = dir.join("pushgate.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let (mut child, base) = start_process(
        pushgate(&path)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped()),
        http,
    )
    .await;
    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let answer = send_push(
        &base,
        format!(
            r#"{{"platform":"apple_rn","server_id":"s","device_id":"{token}","type":"message"}}"#
        ),
    )
    .await;
    assert!(answer.contains("FAIL"), "{answer}");
    assert!(terminate(&mut child).await.success());
    let logs = output(&mut child);
    assert!(logs.contains("APNs transport error"), "{logs}");
    assert!(
        logs.to_ascii_lowercase().contains("connection refused"),
        "the cause is logged: {logs}"
    );
    assert!(logs.contains("a1b2c3d4e5f60718…"), "{logs}");
    assert!(!logs.contains(token), "the whole token leaked:\n{logs}");
}

/// The standalone bridge as an operator runs it: the auth token from a file, MPNS's throttle
/// flags, and `/version` carrying the build's git hash as the embedded bridge's does.
#[tokio::test]
async fn standalone_bridge_takes_a_token_file_and_throttle_flags() {
    let dir = temp_dir("bridge-flags");
    let (http, grpc, bridge_port) = (free_port(), free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["GrpcAuthToken"] = "t0ken-from-file".into();
    std::fs::write(&config, json.to_string()).unwrap();
    let (_proxy, _) = start_process(&mut pushgate(&config), http).await;
    let token_file = dir.join("token");
    std::fs::write(&token_file, "t0ken-from-file\n").unwrap();
    let (_bridge, base) = bridge(
        grpc,
        bridge_port,
        &[
            "--auth-token-file",
            token_file.to_str().unwrap(),
            "--throttle-per-sec",
            "7",
            "--enable-metrics",
        ],
    )
    .await;
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/v1/send_push"))
        .body(r#"{"server_id":"s","device_id":"a1b2","platform":"apple_rn"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-ratelimit-limit"], "7");
    assert_eq!(
        answer.text().await.unwrap(),
        "{\"status\":\"OK\"}\n",
        "the token from the file is accepted"
    );
    let version: serde_json::Value = reqwest::get(format!("{base}/version"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(version["hash"], "unknown", "{version}");
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    // Its own MPNS metrics: the bad requests it answered, every request timed.
    let bad = reqwest::Client::new()
        .post(format!("{base}/api/v1/send_push"))
        .body("<xml/>")
        .send()
        .await
        .unwrap();
    assert!(bad.text().await.unwrap().contains("FAIL"));
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("service_bad_request_total 1"), "{metrics}");
    assert!(
        metrics.contains("service_request_duration_seconds_count 2"),
        "{metrics}"
    );
}

/// `--throttle-per-sec` keeps MPNS's per-client key (`X-Forwarded-For`): it once made the
/// enforced limit one bucket for every client, so one busy server locked out the others.
#[tokio::test]
async fn standalone_bridge_throttles_each_client_apart() {
    let dir = temp_dir("bridge-throttle");
    let (http, grpc, bridge_port) = (free_port(), free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let (_proxy, _) = start_process(&mut pushgate(&config), http).await;
    let (_bridge, base) = bridge(
        grpc,
        bridge_port,
        &["--throttle-per-sec", "1", "--throttle-enforce"],
    )
    .await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let push_from = |client_ip: &'static str| {
        client
            .post(format!("{base}/api/v1/send_push"))
            .header("X-Forwarded-For", client_ip)
            .body(r#"{"server_id":"s","device_id":"a1b2","platform":"apple_rn"}"#)
            .send()
    };
    // One push a second per client. In one window (the limiter's are whole seconds of the
    // clock), each client gets one push and then 429: a limit shared by both would refuse the
    // second client's first push. Started just after a second begins, so that the four fit in
    // it; a run that did not fit is tried again.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let into_second = Duration::from_nanos(u64::from(now.subsec_nanos()));
        tokio::time::sleep(Duration::from_millis(1050) - into_second).await;
        let started = Instant::now();
        seen.clear();
        for ip in ["192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.2"] {
            seen.push(push_from(ip).await.unwrap().status().as_u16());
        }
        if started.elapsed() < Duration::from_millis(900) {
            break;
        }
    }
    assert_eq!(
        seen,
        [200, 429, 200, 429],
        "each client has a quota of its own"
    );
}

/// A `pushgate-bridge` process in front of the pushgate at `grpc`, listening on `port` with
/// `flags` (and no token from the environment), once it is ready: the process and its base URL.
async fn bridge(grpc: u16, port: u16, flags: &[&str]) -> (Process, String) {
    let process = Process(
        Command::new(binary("pushgate-bridge"))
            .args(["--upstream", &format!("http://127.0.0.1:{grpc}")])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(flags)
            .env_remove("PUSHGATE_GRPC_AUTH_TOKEN")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_until_up(&format!("{base}/readyz")).await;
    (process, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_log_reader_never_holds_up_a_push() {
    let dir = temp_dir("stuck-log");
    let (http, grpc) = (free_port(), free_port());
    let config = write_config(&dir, http, grpc);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    json["EnableMetrics"] = true.into();
    json["LogBufferLines"] = 50.into();
    std::fs::write(&config, json.to_string()).unwrap();
    // Its stdout is a pipe nobody reads: once the pipe's 64 KiB are full, every write blocks.
    let (mut child, base) = start_process(pushgate(&config).stdout(Stdio::piped()), http).await;
    let pushes = async {
        for i in 0..3000 {
            let body = format!(
                r#"{{"platform":"apple_rn","server_id":"s","device_id":"{i:064x}","type":"message","message":"m"}}"#
            );
            assert_eq!(
                send_push(&base, body).await,
                "{\"status\":\"OK\"}\n",
                "push {i}"
            );
        }
    };
    // A push waiting on the log would wait forever: the deadline turns that into a failure.
    tokio::time::timeout(Duration::from_secs(120), pushes)
        .await
        .expect("every push answered while the log is stuck");
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pushgate_log_lines_dropped_total "))
        .and_then(|n| n.parse().ok())
        .expect("the dropped-lines counter");
    // Two lines a push, 6,000 in all; the pipe and the queue hold a few hundred.
    assert!(dropped > 3000, "{dropped} lines dropped");
    terminate(&mut child).await;
}
