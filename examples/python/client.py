"""A Python client of pushgate: the calls a Python service makes, each checked.

    pip install -r requirements.txt && ./generate.sh
    PUSHGATE_ADDR=127.0.0.1:50051 PUSHGATE_CA=ca.pem PUSHGATE_CERT=client.pem \\
    PUSHGATE_KEY=client.key PUSHGATE_TOKEN=secret python3 client.py

TLS with a client certificate and the GrpcAuthToken bearer token are used when their variables
are set. The REMOVE check expects the APNs answer "Unregistered" for device tokens starting
with "dead" (the test suite's mock APNs answers so).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from pushgate.v1 import push_pb2, push_pb2_grpc  # noqa: E402

checks = 0


def check(ok, what):
    global checks
    if not ok:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def read(name):
    path = os.environ.get(name)
    return open(path, "rb").read() if path else None


def channel(with_token):
    addr = os.environ["PUSHGATE_ADDR"]
    if not os.environ.get("PUSHGATE_CA"):
        return grpc.insecure_channel(addr)
    creds = grpc.ssl_channel_credentials(
        root_certificates=read("PUSHGATE_CA"),
        private_key=read("PUSHGATE_KEY"),
        certificate_chain=read("PUSHGATE_CERT"),
    )
    token = os.environ.get("PUSHGATE_TOKEN")
    if with_token and token:
        creds = grpc.composite_channel_credentials(creds, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(addr, creds)


def push(request_id, platform, device):
    return push_pb2.SendPushRequest(
        request_id=request_id,
        notification=push_pb2.PushNotification(
            platform=platform, server_id="python-server", device_id=device,
            message="hello from Python", type="message", version="v2",
        ),
    )


def main():
    if os.environ.get("PUSHGATE_TOKEN"):
        anonymous = push_pb2_grpc.PushProxyStub(channel(with_token=False))
        try:
            anonymous.SendPush(push("anon", "apple_rn", "a1b2c3d4"), timeout=30)
            check(False, "no token: the call is refused")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.UNAUTHENTICATED, f"no token: UNAUTHENTICATED, got {e}")

    conn = channel(with_token=True)
    client = push_pb2_grpc.PushProxyStub(conn)

    answer = client.SendPush(push("py-1", "apple_rn", "a1b2c3d4"), timeout=30)
    check(answer.status == push_pb2.STATUS_OK, f"SendPush is OK: {answer}")
    check(answer.request_id == "py-1", f"request_id echoed: {answer}")

    answer = client.SendPush(push("py-2", "apple_rn", "dead0000"), timeout=30)
    check(answer.status == push_pb2.STATUS_REMOVE, f"an unregistered token is REMOVE: {answer}")
    check(answer.reason == "Unregistered", f"with APNs' reason: {answer}")

    bad = push("py-3", "apple_rn", "a1b2c3d4")
    bad.notification.server_id = ""
    try:
        client.SendPush(bad, timeout=30)
        check(False, "no server id: the call is refused")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"no server id: INVALID_ARGUMENT, got {e}")
        check(e.details() == "Failed because of missing server Id", f"MPNS's text: {e.details()}")

    # StreamPush: 1,000 requests, each answered once, matched by request_id.
    n = 1000
    requests = (push(str(i), "apple_rn", f"{i + 1:08x}") for i in range(n))
    seen = set()
    for answer in client.StreamPush(requests, timeout=60):
        check(answer.request_id not in seen, f"request {answer.request_id} answered once")
        check(answer.status == push_pb2.STATUS_OK, f"stream push OK: {answer}")
        seen.add(answer.request_id)
    check(len(seen) == n, f"{len(seen)} of {n} stream pushes answered")

    # Send: one notification to many tokens, a result each in order; WatchRemovals sees the
    # token the provider said to forget.
    watch_removals = client.WatchRemovals(
        push_pb2.WatchRemovalsRequest(targets=["apple_rn"]), timeout=30)
    # The answer's headers come once pushgate has registered the watch: no removal is missed.
    watch_removals.initial_metadata()
    sent = client.Send(push_pb2.SendRequest(
        target="apple_rn", tokens=["a1b2c3d4", "dead0001"], request_id="py-send",
        notification=push_pb2.Notification(
            alert=push_pb2.Alert(title="Python", body="hello from Send"),
            data={"order": "1234"},
        ),
    ), timeout=30)
    check(sent.request_id == "py-send", f"Send echoes request_id: {sent}")
    check([r.token for r in sent.results] == ["a1b2c3d4", "dead0001"], f"results in order: {sent}")
    check(sent.results[0].status == push_pb2.STATUS_OK, f"Send OK: {sent}")
    check(sent.results[1].status == push_pb2.STATUS_REMOVE, f"Send REMOVE: {sent}")
    removal = next(watch_removals)
    check((removal.target, removal.token) == ("apple_rn", "dead0001"), f"removal watched: {removal}")
    watch_removals.cancel()

    # Health: Check of the process, the API and a platform Type; Watch of a Type.
    health = health_pb2_grpc.HealthStub(conn)
    serving = health_pb2.HealthCheckResponse.SERVING
    for service in ("", "pushgate.v1.PushProxy", "apple_rn"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        check(reply.status == serving, f"{service!r} is SERVING: {reply}")
    watch = health.Watch(health_pb2.HealthCheckRequest(service="apple_rn"), timeout=10)
    check(next(watch).status == serving, "Watch says SERVING first")
    watch.cancel()

    print(f"python client: {checks} checks passed")


if __name__ == "__main__":
    main()
