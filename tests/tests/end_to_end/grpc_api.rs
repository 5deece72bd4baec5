//! The gRPC API over a real socket: SendPush, SendAck, StreamPush and health, on dry-run targets.

use std::collections::HashSet;

use futures::StreamExt;
use pushgate::v1::{PushAck, PushNotification, SendAckRequest, SendPushRequest, Status};
use pushgate_tests::{dry_run_config, grpc_client, start};
use tonic::Code;
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};

fn notification(platform: &str, device: &str) -> PushNotification {
    PushNotification {
        platform: platform.into(),
        server_id: "srv".into(),
        device_id: device.into(),
        message: "hello".into(),
        r#type: "message".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn send_push_answers_ok_on_dry_run_and_echoes_request_id() {
    let running = start(&dry_run_config()).await;
    let mut client = grpc_client(&running).await;
    for platform in ["apple_rn-v2", "apple", "android_rn-v2", "android"] {
        let answer = client
            .send_push(SendPushRequest {
                notification: Some(notification(platform, "a1b2c3d4")),
                request_id: format!("id-{platform}"),
            })
            .await
            .expect("a delivery outcome, not a gRPC error")
            .into_inner();
        assert_eq!(answer.status(), Status::Ok, "{platform}");
        assert_eq!(answer.request_id, format!("id-{platform}"));
        assert!(answer.error.is_empty());
    }
    running.shutdown().await;
}

#[tokio::test]
async fn validation_failures_are_invalid_argument_with_mpns_texts() {
    let running = start(&dry_run_config()).await;
    let mut client = grpc_client(&running).await;
    let cases = [
        (notification("apple_rn", "d"), "srv-less"),
        (notification("android_rn-v2", ""), "device-less"),
        (notification("junk", "test"), "junk"),
        (notification("", "test"), "empty platform"),
    ];
    let expected = [
        "Failed because of missing server Id",
        "Failed because of missing device Id serverId=srv",
        "Did not send message because of missing platform property type=junk serverId=srv",
        "Did not send message because of missing platform property type= serverId=srv",
    ];
    for ((mut n, what), text) in cases.into_iter().zip(expected) {
        if what == "srv-less" {
            n.server_id.clear();
        }
        let err = client
            .send_push(SendPushRequest {
                notification: Some(n),
                request_id: String::new(),
            })
            .await
            .expect_err(what);
        assert_eq!(err.code(), Code::InvalidArgument, "{what}");
        assert_eq!(err.message(), text, "{what}");
    }
    // A request without a notification at all is a push with every field empty.
    let err = client
        .send_push(SendPushRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.message(), "Failed because of missing server Id");
    running.shutdown().await;
}

#[tokio::test]
async fn send_ack_validates_in_mpns_order() {
    let running = start(&dry_run_config()).await;
    let mut client = grpc_client(&running).await;
    let ok = client
        .send_ack(SendAckRequest {
            ack: Some(PushAck {
                id: "ack1".into(),
                platform: "ios".into(),
                r#type: "message".into(),
                received_at: 1_718_000_000_000,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.status(), Status::Ok);
    let err = client
        .send_ack(SendAckRequest {
            ack: Some(PushAck {
                id: "x".into(),
                r#type: "message".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "Failed because of missing ack platform");
    running.shutdown().await;
}

#[tokio::test]
async fn stream_push_answers_each_of_1000_in_flight_requests_once() {
    let running = start(&dry_run_config()).await;
    let mut client = grpc_client(&running).await;
    const N: usize = 1000;
    let requests = (0..N).map(|i| SendPushRequest {
        // Every 100th request is invalid: it must be answered, and must not end the stream.
        notification: Some(notification(
            if i % 2 == 0 {
                "apple_rn-v2"
            } else {
                "android_rn"
            },
            if i % 100 == 42 { "" } else { "a1b2c3d4" },
        )),
        request_id: format!("req-{i}"),
    });
    let mut answers = client
        .stream_push(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut seen = HashSet::new();
    let mut fails = 0;
    while let Some(answer) = answers.next().await {
        let answer = answer.expect("stream stays healthy");
        let i: usize = answer.request_id["req-".len()..].parse().unwrap();
        assert!(seen.insert(i), "request {i} answered twice");
        if i % 100 == 42 {
            assert_eq!(answer.status(), Status::Fail);
            assert_eq!(
                answer.error,
                "Failed because of missing device Id serverId=srv"
            );
            fails += 1;
        } else {
            assert_eq!(answer.status(), Status::Ok, "request {i}");
        }
    }
    assert_eq!(seen.len(), N, "every request answered");
    assert_eq!(fails, N / 100);
    running.shutdown().await;
}

#[tokio::test]
async fn health_reports_process_service_and_each_target_and_draining() {
    let mut config = dry_run_config();
    // A real (non-dry-run) Android entry without credentials fails to initialise.
    config.targets.android[1].dry_run = false;
    let running = start(&config).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    for (service, expected) in [
        ("", ServingStatus::Serving),
        ("pushgate.v1.PushProxy", ServingStatus::Serving),
        ("apple_rn", ServingStatus::Serving),
        ("android", ServingStatus::Serving),
        ("android_rn", ServingStatus::NotServing),
    ] {
        let got = health.check(status(service)).await.unwrap().into_inner();
        assert_eq!(got.status(), expected, "{service:?}");
    }
    let err = health.check(status("nope")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // The failed target's pushes get MPNS's answer for an uninitialised platform.
    let mut client = grpc_client(&running).await;
    let err = client
        .send_push(SendPushRequest {
            notification: Some(notification("android_rn-v2", "tok")),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "Did not send message because of missing platform property type=android_rn serverId=srv"
    );

    // Watch sees SERVING, then NOT_SERVING once shutdown begins.
    let mut watch = health.watch(status("")).await.unwrap().into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let stopping = tokio::spawn(running.shutdown());
    let next = watch.next().await.unwrap().unwrap();
    assert_eq!(next.status(), ServingStatus::NotServing);
    // An open Watch is in-flight work too: let it go so the drain can finish.
    drop(watch);
    stopping.await.unwrap();
}

#[tokio::test]
async fn grpc_auth_token_is_required_when_configured_but_not_for_health() {
    let mut config = dry_run_config();
    config.listeners.grpc_auth_token = "s3cret-token".into();
    let running = start(&config).await;
    let mut client = grpc_client(&running).await;
    let request = || SendPushRequest {
        notification: Some(notification("apple_rn", "a1b2c3d4")),
        request_id: String::new(),
    };
    let err = client.send_push(request()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(request());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer nope".parse().unwrap());
    assert_eq!(
        client.send_push(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut right = tonic::Request::new(request());
    right
        .metadata_mut()
        .insert("authorization", "Bearer s3cret-token".parse().unwrap());
    assert_eq!(
        client.send_push(right).await.unwrap().into_inner().status(),
        Status::Ok
    );

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(status.status(), ServingStatus::Serving);
    running.shutdown().await;
}

/// Sends protobuf bytes as they are, so a test can put an undecodable message on a stream.
#[derive(Clone, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// [valid, undecodable, valid] gave one answer and ended the stream OK: the third request was
/// never answered and the caller never learned it.
#[tokio::test]
async fn stream_push_ends_with_an_error_naming_an_unreadable_message() {
    use prost::Message;
    let running = start(&dry_run_config()).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", running.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let valid = |id: &str| {
        SendPushRequest {
            notification: Some(notification("android_rn", "tok")),
            request_id: id.into(),
        }
        .encode_to_vec()
    };
    // Field 31 with wire type 7: not protobuf.
    let messages = vec![valid("1"), vec![0xff, 0xff, 0xff], valid("3")];
    let mut answers = grpc
        .streaming(
            tonic::Request::new(tokio_stream::iter(messages)),
            http::uri::PathAndQuery::from_static("/pushgate.v1.PushProxy/StreamPush"),
            RawCodec,
        )
        .await
        .expect("the stream starts")
        .into_inner();
    let first = answers
        .next()
        .await
        .expect("an answer")
        .expect("not an error");
    let first = pushgate::v1::SendPushResponse::decode(first.as_slice()).unwrap();
    assert_eq!(
        (first.request_id.as_str(), first.status()),
        ("1", Status::Ok)
    );
    let end = answers
        .next()
        .await
        .expect("the stream does not end silently")
        .expect_err("it ends with an error");
    assert_eq!(end.code(), Code::InvalidArgument);
    assert!(
        end.message()
            .starts_with("StreamPush message 2 could not be read"),
        "{}",
        end.message()
    );
    assert!(answers.next().await.is_none());
    running.shutdown().await;
}
