"""A polyglot client: Python grpcio against a running pushgate.

Usage: python3 client_test.py HOST:PORT

The PushProxy message classes are built at run time from the server's reflection service, so
this also proves that `grpcurl list`-style tooling works. Exits non-zero on the first mismatch.
"""

import sys
import threading

import grpc
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def main(addr):
    channel = grpc.insecure_channel(addr)
    grpc.channel_ready_future(channel).result(timeout=10)

    # Reflection: the services a `grpcurl list` shows.
    reflection = ProtoReflectionDescriptorDatabase(channel)
    services = set(reflection.get_services())
    for name in ("pushgate.v1.PushProxy", "grpc.health.v1.Health"):
        check(name in services, f"reflection lists {name}: {services}")

    pool = descriptor_pool.DescriptorPool(reflection)
    def cls(name):
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    SendPushRequest = cls("pushgate.v1.SendPushRequest")
    SendPushResponse = cls("pushgate.v1.SendPushResponse")
    SendAckRequest = cls("pushgate.v1.SendAckRequest")
    SendAckResponse = cls("pushgate.v1.SendAckResponse")
    status = pool.FindEnumTypeByName("pushgate.v1.Status").values_by_name

    send_push = channel.unary_unary(
        "/pushgate.v1.PushProxy/SendPush",
        request_serializer=SendPushRequest.SerializeToString,
        response_deserializer=SendPushResponse.FromString,
    )
    send_ack = channel.unary_unary(
        "/pushgate.v1.PushProxy/SendAck",
        request_serializer=SendAckRequest.SerializeToString,
        response_deserializer=SendAckResponse.FromString,
    )

    # SendPush OK on the dry-run target.
    req = SendPushRequest(request_id="py-1")
    req.notification.platform = "apple_rn-v2"
    req.notification.server_id = "srv"
    req.notification.device_id = "a1b2c3d4"
    req.notification.message = "hello from python"
    req.notification.type = "message"
    resp = send_push(req, timeout=10)
    check(resp.status == status["STATUS_OK"].number, f"dry-run SendPush is OK: {resp}")
    check(resp.request_id == "py-1", f"request_id echoed: {resp}")

    # INVALID_ARGUMENT carries MPNS's exact texts.
    cases = [
        ({"device_id": "d"}, "Failed because of missing server Id"),
        ({"server_id": "s1", "platform": "android_rn-v2"}, "Failed because of missing device Id serverId=s1"),
        ({"server_id": "test", "device_id": "test", "platform": "junk"},
         "Did not send message because of missing platform property type=junk serverId=test"),
    ]
    for fields, text in cases:
        req = SendPushRequest()
        for k, v in fields.items():
            setattr(req.notification, k, v)
        try:
            send_push(req, timeout=10)
            check(False, f"{fields} should be rejected")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{fields}: code {e.code()}")
            check(e.details() == text, f"{fields}: details {e.details()!r} != {text!r}")

    # SendAck.
    ack = SendAckRequest()
    ack.ack.id = "ack1"
    ack.ack.platform = "ios"
    ack.ack.type = "message"
    check(send_ack(ack, timeout=10).status == status["STATUS_OK"].number, "ack OK")
    ack.ack.type = ""
    try:
        send_ack(ack, timeout=10)
        check(False, "ack without type should be rejected")
    except grpc.RpcError as e:
        check(e.details() == "Failed because of missing ack type", f"ack text {e.details()!r}")

    # Health: Check for the process, the service and each target; Watch streams the state.
    health = health_pb2_grpc.HealthStub(channel)
    serving = health_pb2.HealthCheckResponse.SERVING
    for service in ("", "pushgate.v1.PushProxy", "apple_rn", "android_rn"):
        r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        check(r.status == serving, f"health {service!r}: {r.status}")
    try:
        health.Check(health_pb2.HealthCheckRequest(service="no_such_target"), timeout=10)
        check(False, "unknown health service should be NOT_FOUND")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND, f"unknown service: {e.code()}")
    watch = health.Watch(health_pb2.HealthCheckRequest(service="apple_rn"), timeout=10)
    first = next(watch)
    check(first.status == serving, f"Watch first answer: {first.status}")
    watch.cancel()

    # StreamPush from Python: 200 requests, each answered once with its id.
    stream_push = channel.stream_stream(
        "/pushgate.v1.PushProxy/StreamPush",
        request_serializer=SendPushRequest.SerializeToString,
        response_deserializer=SendPushResponse.FromString,
    )
    def requests():
        for i in range(200):
            r = SendPushRequest(request_id=f"s-{i}")
            r.notification.platform = "android_rn" if i % 2 else "apple_rn"
            r.notification.server_id = "srv"
            r.notification.device_id = "" if i == 7 else f"{i:08x}"
            yield r
    answers = {a.request_id: a for a in stream_push(requests(), timeout=30)}
    check(len(answers) == 200, f"200 stream answers, got {len(answers)}")
    check(answers["s-7"].status == status["STATUS_FAIL"].number, "stream rejection is a FAIL answer")
    check(answers["s-7"].error == "Failed because of missing device Id serverId=srv", answers["s-7"].error)
    check(all(a.status == status["STATUS_OK"].number for k, a in answers.items() if k != "s-7"), "others OK")

    print(f"python client: {checks} checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
