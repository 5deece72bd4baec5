//! Traces (docs/observability.md): a push retried once, sent with the caller's W3C
//! `traceparent` over gRPC and over the MPNS HTTP API, arrives at a real OTLP/HTTP receiver as
//! the push's span, one span per attempt and the answer, in the caller's trace, with no message
//! text and no full token in any attribute.

use pushgate::v1::{SendPushRequest, Status};
use pushgate_tests::{
    apple::{apple_config, apple_key},
    grpc_client, http_url,
    mock_apns::{MockApns, Reply},
    otlp_receiver::{attribute, attribute_values, OtlpReceiver},
    push, start,
};

const TOKEN: &str = "5b0e7c4d2a1f3e6b8c9d0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
const MESSAGE: &str = "the quarterly numbers are in";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_push_arrives_at_the_collector_in_the_callers_trace() {
    let apns = MockApns::start().await;
    // Every push's first attempt is answered "not now", its second OK.
    apns.reply_with(|_, n| {
        if n % 2 == 0 {
            Reply::reason(503, "ServiceUnavailable")
        } else {
            Reply::ok()
        }
    });
    let receiver = OtlpReceiver::start().await;
    let key = apple_key();
    let mut config = apple_config(&apns, &key);
    config.otlp_endpoint = receiver.endpoint();
    let running = start(&config).await;

    // Over gRPC, with the caller's trace context in the metadata.
    let grpc_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let grpc_parent = "00f067aa0ba902b7";
    let mut client = grpc_client(&running).await;
    let mut request = tonic::Request::new(SendPushRequest {
        notification: Some(pushgate::v1::PushNotification {
            message: MESSAGE.into(),
            ..push("apple_rn", TOKEN)
        }),
        request_id: "r".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{grpc_trace}-{grpc_parent}-01").parse().unwrap(),
    );
    let answer = client.send_push(request).await.unwrap().into_inner();
    assert_eq!(answer.status(), Status::Ok);

    // Over the MPNS HTTP API, with a traceparent header.
    let http_trace = "0af7651916cd43dd8448eb211c80319c";
    let http_parent = "b7ad6b7169203331";
    let body = format!(
        r#"{{"platform":"apple_rn","server_id":"s","device_id":"{TOKEN}","type":"message","message":"{MESSAGE}"}}"#
    );
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(http_url(&running, "/api/v1/send_push"))
        .header("traceparent", format!("00-{http_trace}-{http_parent}-01"))
        .body(body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(answer, "{\"status\":\"OK\"}\n");

    // Each attempt's latency, by what it came to.
    let metrics = running.metrics_text();
    for (outcome, count) in [("retry", 2), ("ok", 2)] {
        let line = format!(
            "pushgate_provider_request_seconds_count{{outcome=\"{outcome}\",target=\"apple_rn\"}} {count}"
        );
        assert!(metrics.contains(&line), "no {line:?} in:\n{metrics}");
    }

    // Shutdown sends the spans still queued.
    running.shutdown_now().await;
    let spans = receiver.spans();
    for (trace, parent) in [(grpc_trace, grpc_parent), (http_trace, http_parent)] {
        let mine: Vec<_> = spans.iter().filter(|s| hex(&s.trace_id) == trace).collect();
        let names = |name: &str| mine.iter().filter(|s| s.name == name).count();
        assert_eq!(
            (
                names("pushgate.push"),
                names("pushgate.attempt"),
                names("pushgate.answer")
            ),
            (1, 2, 1),
            "trace {trace}: {:?}",
            mine.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        let push_span = mine.iter().find(|s| s.name == "pushgate.push").unwrap();
        assert_eq!(
            hex(&push_span.parent_span_id),
            parent,
            "continues the caller's span"
        );
        assert_eq!(
            attribute(push_span, "pushgate.target").as_deref(),
            Some("apple_rn")
        );
        assert_eq!(
            attribute(push_span, "pushgate.status").as_deref(),
            Some("STATUS_OK")
        );
        let mut attempts: Vec<_> = mine
            .iter()
            .filter(|s| s.name == "pushgate.attempt")
            .map(|s| {
                assert_eq!(
                    s.parent_span_id, push_span.span_id,
                    "an attempt of the push"
                );
                (
                    attribute(s, "pushgate.retry").unwrap(),
                    attribute(s, "http.response.status_code").unwrap(),
                    attribute(s, "pushgate.reason").unwrap(),
                    attribute(s, "pushgate.target").unwrap(),
                )
            })
            .collect();
        attempts.sort();
        assert_eq!(
            attempts,
            [
                (
                    "0".into(),
                    "503".into(),
                    "ServiceUnavailable".into(),
                    "apple_rn".into()
                ),
                ("1".into(), "200".into(), String::new(), "apple_rn".into()),
            ]
        );
        let answer = mine.iter().find(|s| s.name == "pushgate.answer").unwrap();
        assert_eq!(answer.parent_span_id, push_span.span_id);
        assert_eq!(
            attribute(answer, "pushgate.status").as_deref(),
            Some("STATUS_OK")
        );
    }
    for span in &spans {
        for value in attribute_values(span) {
            assert!(
                !value.contains(MESSAGE) && !value.contains(TOKEN),
                "{}: {value:?} shows the message or the whole token",
                span.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_otlp_endpoint_that_is_not_a_url_is_refused_at_start() {
    let mut config = pushgate_tests::dry_run_config();
    config.otlp_endpoint = "collector:4318".into();
    let error = pushgate_proxy::server::start(&config)
        .await
        .err()
        .expect("refused");
    assert!(error.contains("OtlpEndpoint"), "{error}");
}
