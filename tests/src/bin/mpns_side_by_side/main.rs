//! MPNS and pushgate side by side: the same pushes posted to both, their answers and the
//! requests they make to one mock APNs and one mock FCM compared byte for byte.
//!
//!     cargo build --workspace
//!     MPNS_BIN=/path/to/mattermost-push-proxy target/debug/mpns_side_by_side [--web-push]
//!
//! MPNS is not part of this repository: build it yourself from its own source, outside this
//! tree. It cannot be pointed at another APNs, so it reaches the mock as it would reach Apple:
//! through `HTTPS_PROXY`, a CONNECT proxy here that sends `api.push.apple.com:443` to the mock,
//! and with the mock's certificate trusted through `SSL_CERT_FILE`. pushgate reaches the same
//! mock directly (`ApplePushEndpoint`). Prints one line per difference and a summary; exits 1
//! when a difference is not one of the deliberate deviations (docs/deviations.md).
//! `--web-push` adds the Web Push cases (webpush.rs), for an MPNS built from pull request 166.

#![forbid(unsafe_code)]

mod webpush;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use pushgate_tests::{
    android::service_account_file,
    apple::{apple_key, KEY_ID, TEAM_ID},
    connect_proxy::ConnectProxy,
    examples::{android_examples, apple_examples},
    free_port,
    mock_apns::{self, MockApns, Recorded},
    mock_fcm::{self, MockFcm},
    temp_dir,
};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_up(base: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if reqwest::get(format!("{base}/")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not come up");
}

/// What one system did with one input: its HTTP answer, and the APNs requests it made.
#[derive(PartialEq)]
struct Seen {
    status: u16,
    /// The headers MPNS's clients and operators see (not Date, Content-Length, Server).
    headers: Vec<String>,
    answer: String,
    upstream: Vec<String>,
}

const COMPARED_HEADERS: &[&str] = &[
    "content-type",
    "allow",
    "location",
    "x-content-type-options",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
];

fn describe(r: &Recorded) -> String {
    let h = |n: &str| r.header(n).unwrap_or("-").to_string();
    format!(
        "{} {} topic={} type={} priority={} ctype={} expiration={} collapse={} body={}",
        r.method,
        r.path,
        h("apns-topic"),
        h("apns-push-type"),
        h("apns-priority"),
        h("content-type"),
        h("apns-expiration"),
        h("apns-collapse-id"),
        r.body
    )
}

fn describe_fcm(r: &mock_fcm::Recorded) -> String {
    let h = |n: &str| r.header(n).unwrap_or("-").to_string();
    format!(
        "POST {} ctype={} format={} firebase-client={} api-client={} body={}",
        r.path,
        h("content-type"),
        h("x-goog-api-format-version"),
        h("x-firebase-client"),
        // `gl-go/<the Go that built it>`: it differs between MPNS builds, so it is not compared.
        go_version_hidden(&h("x-goog-api-client")),
        r.body
    )
}

fn go_version_hidden(header: &str) -> String {
    header
        .split(' ')
        .map(|part| match part.strip_prefix("gl-go/") {
            Some(_) => "gl-go/<go>",
            None => part,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Mocks {
    apns: MockApns,
    fcm: MockFcm,
    web_push: Option<webpush::WebPush>,
}

async fn call(mocks: &Mocks, base: &str, case: &Case) -> Seen {
    let (mock, fcm) = (&mocks.apns, &mocks.fcm);
    let before = mock.requests().len();
    let fcm_before = fcm.requests().len();
    let relay = mocks.web_push.as_ref().map(|w| &w.relay);
    let relay_before = relay.map_or(0, |r| r.taken().len());
    let response = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .request(case.method.clone(), format!("{base}{}", case.path))
        .body(case.body.clone())
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let headers = COMPARED_HEADERS
        .iter()
        .filter_map(|h| {
            let value = response.headers().get(*h)?.to_str().ok()?;
            Some(format!("{h}: {value}"))
        })
        .collect();
    let answer = response.text().await.unwrap();
    Seen {
        status,
        headers,
        answer,
        upstream: mock.requests()[before..]
            .iter()
            .map(describe)
            .chain(fcm.requests()[fcm_before..].iter().map(describe_fcm))
            .chain(
                relay
                    .map(|r| r.taken()[relay_before..].to_vec())
                    .unwrap_or_default()
                    .iter()
                    .map(webpush::describe),
            )
            .collect(),
    }
}

/// A case, and the deviation that explains a difference in it, if one may.
struct Case {
    name: String,
    method: reqwest::Method,
    path: &'static str,
    body: String,
    deviation: Option<&'static str>,
    /// Whether the two differ only as the deviation says; without it, any difference may.
    only_as_deviation: Option<fn(&Seen, &Seen) -> bool>,
}

fn push_case(name: impl Into<String>, body: String) -> Case {
    Case {
        name: name.into(),
        method: reqwest::Method::POST,
        path: "/api/v1/send_push",
        body,
        deviation: None,
        only_as_deviation: None,
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for example in apple_examples() {
        let mut case = push_case(format!("contract {}", example.name), example.request);
        case.deviation = example.deviation;
        cases.push(case);
    }
    for example in android_examples() {
        let mut case = push_case(format!("contract {} (FCM)", example.name), example.request);
        case.deviation = example.deviation;
        cases.push(case);
    }
    let android = |name: &str, fields: &str| {
        push_case(
            format!("FCM {name}"),
            format!(
                r#"{{"platform":"android_rn-v2","server_id":"s","device_id":"fcm:tok-1_a.b","ack_id":"a",{fields}}}"#
            ),
        )
    };
    cases.push(android("message", r#""type":"message","message":"hi :tada: <b>&","channel_name":"Town","sender_name":"n","badge":2"#));
    cases.push(android(
        "id loaded",
        r#""type":"message","is_id_loaded":true,"message":"m","post_id":"p""#,
    ));
    cases.push(android(
        "clear",
        r#""type":"clear","badge":0,"root_id":"r","is_crt_enabled":true"#,
    ));
    cases.push(android(
        "update_badge no badge",
        r#""type":"update_badge","badge":-1"#,
    ));
    cases.push(android(
        "session",
        r#""type":"session","message":"Session Expired""#,
    ));
    let mut ring = android(
        "voip rings on Android",
        r#""type":"message","transport":"voip","message":"m""#,
    );
    // Identical to an MPNS built from pull request 162; MPNS 6.5 sends an ordinary message.
    ring.deviation = Some("16: Android call ringing as MPNS pull request 162");
    cases.push(ring);
    cases.push(android("unknown type", r#""type":"weird","message":"m""#));
    // Provider errors (docs/mpns-contract.md §5.1): the mocks answer by device token.
    for (token, deviation) in [
        ("dead0001", None),
        ("dead0002", None),
        ("dead0003", None),
        (
            "dead0004",
            Some("3: a token for another topic is a config error, FAIL not REMOVE"),
        ),
        ("dead0005", None),
        (
            "not-a-hex-token",
            Some("12: a token that cannot be right is never sent; the answer is the same REMOVE"),
        ),
    ] {
        let mut case = push_case(
            format!("APNs error for {token}"),
            format!(
                r#"{{"platform":"apple_rn","server_id":"s","device_id":"{token}","type":"message","message":"m"}}"#
            ),
        );
        case.deviation = deviation;
        cases.push(case);
    }
    for (token, deviation) in [
        ("fcm-unregistered", None),
        ("fcm-invalid", None),
        (
            "fcm-mismatch",
            Some("3: another sender's token is a config error, FAIL not REMOVE"),
        ),
        ("fcm-third-party", None),
        ("fcm-no-code", None),
        ("fcm-plain", None),
    ] {
        let mut case = push_case(
            format!("FCM error for {token}"),
            format!(
                r#"{{"platform":"android_rn","server_id":"s","device_id":"{token}","type":"message","message":"m"}}"#
            ),
        );
        case.deviation = deviation;
        cases.push(case);
    }
    // Validation and decoding answers (no provider involved).
    for body in [
        r#"{"message":"test","badge":1,"device_id":"test"}"#,
        r#"{"message":"test","badge":1,"device_id":"test","server_id":"test"}"#,
        r#"{"message":"test","device_id":"test","server_id":"test","platform":"junk"}"#,
        r#"{"server_id":"s1","platform":"android_rn-v2"}"#,
        "",
        r#"{"server_id":"s","device_id":"d","badge":"3"}"#,
        r#"{"server_id":"s","device_id":"d","badge":2.5}"#,
        "<xml/>",
        "[1,2]",
        r#"{"is_id_loaded":"yes","badge":"3","server_id":"s"}"#,
        r#"{"badge":"3","is_id_loaded":"yes","server_id":"s"}"#,
        r#"{"server_id":"s","device_id":"abcd","platform":"apple_rn","type":"message","message":"a\ud800b\udc00c\ud83d\ude00"}"#,
        r#"{"server_id":"s","device_id":"abcd","platform":"apple_rn-vX","type":"message"}"#,
        r#"{"SERVER_ID":"s","Device_Id":"abcd","PLATFORM":"apple_rn","type":"message","message":"hi"} trailing"#,
    ] {
        cases.push(push_case(format!("validation {body:?}"), body.to_string()));
    }
    for body in [
        r#"{"id":"abc","platform":"ios","type":"message"}"#,
        r#"{"platform":"ios","type":"message"}"#,
        r#"{"id":"x","type":"message"}"#,
        r#"{"id":"x","platform":"ios"}"#,
        r#"{"id":1}"#,
    ] {
        cases.push(Case {
            name: format!("ack {body:?}"),
            method: reqwest::Method::POST,
            path: "/api/v1/ack",
            body: body.to_string(),
            deviation: None,
            only_as_deviation: None,
        });
    }
    // The router: methods and paths other than the two POSTs (not /version: its hash differs).
    for (method, path) in [
        ("GET", "/"),
        ("HEAD", "/"),
        ("POST", "/"),
        ("GET", "/api/v1/send_push"),
        ("HEAD", "/api/v1/send_push"),
        ("GET", "/nope"),
        ("HEAD", "/nope"),
        ("POST", "/nope"),
        ("POST", "/api/v1/send_push/"),
        ("GET", "//"),
        ("GET", "/a/../"),
        ("GET", "/metrics"),
    ] {
        cases.push(Case {
            name: format!("{method} {path}"),
            method: method.parse().unwrap(),
            path,
            body: String::new(),
            deviation: None,
            only_as_deviation: None,
        });
    }
    let message = |name: &str, fields: &str| {
        push_case(
            name,
            format!(
                r#"{{"platform":"apple_rn-v2","server_id":"s","device_id":"abcd","type":"message","version":"v2","channel_id":"c","channel_name":"Town","ack_id":"a",{fields}}}"#
            ),
        )
    };
    cases.push(message(
        "html escaping",
        r#""message":"<b>&amp;</b> \u2028 é 😀""#,
    ));
    cases.push(message("badge -1", r#""message":"m","badge":-1"#));
    cases.push(message("badge 0", r#""message":"m","badge":0"#));
    cases.push(message(
        "crt thread",
        r#""message":"m","is_crt_enabled":true,"root_id":"r""#,
    ));
    cases.push(message("override", r#""message":"m","override_username":"bot","override_icon_url":"http://x/i.png","from_webhook":"true""#));
    cases.push(message(
        "channel name 70 bytes",
        &format!(r#""message":"m","channel_name":"{}""#, "c".repeat(70)),
    ));
    cases.push(message(
        "message 2047 bytes",
        &format!(r#""message":"{}""#, "m".repeat(2047)),
    ));
    cases.push(message(
        "message 2048 bytes",
        &format!(r#""message":"{}""#, "m".repeat(2048)),
    ));
    let mut cut = message(
        "message cut inside a character",
        &format!(r#""message":"{}éx""#, "m".repeat(2045)),
    );
    cut.deviation = Some("1: truncation keeps UTF-8 valid");
    cases.push(cut);
    let mut big = message(
        "payload over 4 KB",
        &format!(r#""message":"{}""#, "<".repeat(2000)),
    );
    big.deviation = Some("2: APNs payloads are shortened to fit");
    cases.push(big);
    cases.push(push_case("voip", r#"{"platform":"apple_rn-v2","server_id":"s","device_id":"abcd","type":"message","transport":"voip","sub_type":"calls","channel_id":"c","sender_name":"n"}"#.into()));
    cases.push(push_case("update_badge v1", r#"{"platform":"apple_rn","server_id":"s","device_id":"abcd","type":"update_badge","badge":3}"#.into()));
    cases.push(push_case("unknown type", r#"{"platform":"apple_rn-v2","server_id":"s","device_id":"abcd","type":"weird","message":"m"}"#.into()));
    // Every kyokomi alias in a message, and the scanner's edge cases: the table must be MPNS's.
    let emoji: Vec<(String, String)> =
        serde_json::from_str(include_str!("../../../../proxy/tests/emoji_cases.json")).unwrap();
    for (input, _) in emoji {
        let text = serde_json::to_string(&input).unwrap();
        cases.push(message(
            &format!("emoji {input:?}"),
            &format!(r#""message":{text}"#),
        ));
    }
    cases
}

#[tokio::main]
async fn main() {
    let mpns_bin =
        std::env::var("MPNS_BIN").expect("MPNS_BIN=/path/to/a built mattermost-push-proxy");
    let web_push = match std::env::args().nth(1).as_deref() {
        None => None,
        Some("--web-push") => Some(webpush::WebPush::start().await),
        Some(other) => panic!("unknown argument {other}; the only one is --web-push"),
    };
    let mock = MockApns::start().await;
    let fcm = MockFcm::start_tls().await;
    let fcm_ca_pem = fcm.ca_pem.clone().unwrap();
    let proxy = ConnectProxy::start_redirecting(vec![
        ("api.push.apple.com:443".into(), mock.addr),
        ("fcm.googleapis.com:443".into(), fcm.addr),
    ])
    .await;
    let key = apple_key();
    let dir = temp_dir("side-by-side");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &mock.ca_pem).unwrap();
    let fcm_ca = dir.join("fcm-ca.pem");
    std::fs::write(&fcm_ca, &fcm_ca_pem).unwrap();
    // Go trusts both mocks through one file.
    let both_ca = dir.join("both-ca.pem");
    let relay_ca_pem = web_push.as_ref().map_or("", |w| w.relay.ca_pem.as_str());
    std::fs::write(
        &both_ca,
        format!("{}{}{relay_ca_pem}", mock.ca_pem, fcm_ca_pem),
    )
    .unwrap();
    let relay_ca = dir.join("relay-ca.pem");
    std::fs::write(&relay_ca, relay_ca_pem).unwrap();
    // The service account names the mock's token endpoint, for MPNS and pushgate alike.
    let sa = service_account_file(&dir, true);
    let mut account: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sa).unwrap()).unwrap();
    account["token_uri"] = fcm.token_uri().into();
    std::fs::write(&sa, account.to_string()).unwrap();
    let android_rn = |ours: bool| {
        let mut entry = serde_json::json!({"Type": "android_rn", "ServiceFileLocation": sa});
        if ours {
            entry["FcmEndpoint"] = fcm.endpoint().into();
            entry["FcmCAFile"] = fcm_ca.to_string_lossy().into_owned().into();
        }
        entry
    };
    let apple = |kind: &str, topic: &str, ours: bool| {
        let mut entry = serde_json::json!({
            "Type": kind, "ApplePushTopic": topic,
            "AppleAuthKeyFile": key.p8_path, "AppleAuthKeyID": KEY_ID, "AppleTeamID": TEAM_ID,
        });
        if ours {
            entry["ApplePushEndpoint"] = mock.endpoint().into();
            entry["ApplePushCAFile"] = ca.to_string_lossy().into_owned().into();
        }
        entry
    };
    let config = |port: u16, grpc: u16, ours: bool| {
        let mut config = serde_json::json!({
            "ListenAddress": format!("127.0.0.1:{port}"),
            "GrpcListenAddress": format!("127.0.0.1:{grpc}"),
            "ThrottlePerSec": 300, "ThrottleMemoryStoreSize": 50000,
            "ThrottleVaryByHeader": "X-Forwarded-For",
            "SendTimeoutSec": 10, "RetryTimeoutSec": 8, "DrainGraceSec": 0,
            "ApplePushSettings": [
                apple("apple", "com.mattermost.Mattermost", ours),
                apple("apple_rn", "com.mattermost.react.native", ours),
            ],
            "AndroidPushSettings": [{"Type": "android", "ServiceFileLocation": ""}, android_rn(ours)],
            "EnableConsoleLog": true, "LogFormat": "plain",
        });
        if let Some(w) = &web_push {
            config["WebPushSettings"] = serde_json::json!([w.entry(ours.then_some(&*relay_ca))]);
        }
        config
    };
    let (mpns_port, ours_port) = (free_port(), free_port());
    let mpns_config = dir.join("mpns.json");
    std::fs::write(
        &mpns_config,
        config(mpns_port, free_port(), false).to_string(),
    )
    .unwrap();
    let ours_config = dir.join("pushgate.json");
    std::fs::write(
        &ours_config,
        config(ours_port, free_port(), true).to_string(),
    )
    .unwrap();

    let mpns = Server {
        child: Command::new(&mpns_bin)
            .args(["-config", mpns_config.to_str().unwrap()])
            .env("HTTPS_PROXY", format!("http://{}", proxy.addr))
            .env("SSL_CERT_FILE", &both_ca)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("MPNS starts"),
        base: format!("http://127.0.0.1:{mpns_port}"),
    };
    let pushgate = std::env::current_exe().unwrap().with_file_name("pushgate");
    let ours = Server {
        child: Command::new(pushgate)
            .args(["--config", ours_config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pushgate starts"),
        base: format!("http://127.0.0.1:{ours_port}"),
    };
    wait_up(&mpns.base).await;
    wait_up(&ours.base).await;

    mock.reply_with(|r, _| match r.path.rsplit('/').next().unwrap_or("") {
        "dead0001" => mock_apns::Reply::reason(400, "BadDeviceToken"),
        "dead0002" => mock_apns::Reply::status(410, r#"{"reason":"Unregistered","timestamp":1}"#),
        "dead0003" => mock_apns::Reply::reason(400, "TopicDisallowed"),
        "dead0004" => mock_apns::Reply::reason(400, "DeviceTokenNotForTopic"),
        "dead0005" => mock_apns::Reply::reason(413, "PayloadTooLarge"),
        // What Apple answers a token that is not hex digits.
        t if !t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            mock_apns::Reply::reason(400, "BadDeviceToken")
        }
        _ => mock_apns::Reply::ok(),
    });
    fcm.reply_with(|r, _| {
        let token = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["message"]["token"]
            .as_str()
            .unwrap_or("")
            .to_string();
        match token.as_str() {
            "fcm-unregistered" => mock_fcm::Reply::fcm_error(
                404,
                "NOT_FOUND",
                "UNREGISTERED",
                "Requested entity was not found.",
            ),
            "fcm-invalid" => mock_fcm::Reply::fcm_error(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
            ),
            "fcm-mismatch" => mock_fcm::Reply::fcm_error(
                403,
                "PERMISSION_DENIED",
                "SENDER_ID_MISMATCH",
                "SenderId mismatch",
            ),
            "fcm-third-party" => mock_fcm::Reply::fcm_error(
                401,
                "UNAUTHENTICATED",
                "THIRD_PARTY_AUTH_ERROR",
                "Auth error from APNS or Web Push Service",
            ),
            "fcm-no-code" => mock_fcm::Reply::status(
                404,
                r#"{"error":{"code":404,"message":"Not here.","status":"NOT_FOUND"}}"#,
            ),
            "fcm-plain" => mock_fcm::Reply::status(404, "nope"),
            _ => mock_fcm::Reply::ok(),
        }
    });
    let mut cases = cases();
    if let Some(w) = &web_push {
        cases.extend(w.cases());
    }
    let mocks = Mocks {
        apns: mock,
        fcm,
        web_push,
    };
    let (mut same, mut explained, mut unexplained) = (0, 0, 0);
    for case in &cases {
        let theirs = call(&mocks, &mpns.base, case).await;
        let mine = call(&mocks, &ours.base, case).await;
        if theirs == mine {
            same += 1;
            continue;
        }
        let explained_by = case.deviation.filter(|_| {
            case.only_as_deviation
                .is_none_or(|only| only(&theirs, &mine))
        });
        match explained_by {
            Some(why) => {
                explained += 1;
                println!(
                    "DEVIATION {}: {} (docs/deviations.md {why})",
                    case.name,
                    short(&theirs, &mine)
                );
            }
            None => {
                unexplained += 1;
                println!(
                    "DIFFERENT {}:\n  MPNS:     {}\n  pushgate: {}",
                    case.name,
                    show(&theirs),
                    show(&mine)
                );
            }
        }
    }
    println!(
        "{} cases: {same} identical, {explained} differ as documented deviations, {unexplained} differ otherwise ({} APNs, {} FCM and {} Web Push requests each, MPNS's APNs and FCM through the proxy's {} tunnels)",
        cases.len(),
        mocks.apns.requests().len() / 2,
        mocks.fcm.requests().len() / 2,
        mocks.web_push.as_ref().map_or(0, |w| w.relay.taken().len()) / 2,
        proxy.tunnels()
    );
    drop((mpns, ours));
    std::process::exit(if unexplained == 0 { 0 } else { 1 });
}

fn show(seen: &Seen) -> String {
    format!(
        "{} {:?} {:?} upstream={:?}",
        seen.status, seen.headers, seen.answer, seen.upstream
    )
}

fn short(theirs: &Seen, mine: &Seen) -> String {
    let cut = |s: &str| s.chars().take(160).collect::<String>();
    format!(
        "MPNS {} / pushgate {}",
        cut(&show(theirs)),
        cut(&show(mine))
    )
}
