// A Java client of pushgate: the calls a Java service makes, each checked.
//
//   mvn -q package
//   PUSHGATE_ADDR=127.0.0.1:50051 PUSHGATE_CA=ca.pem PUSHGATE_CERT=client.pem \
//   PUSHGATE_KEY=client.key PUSHGATE_TOKEN=secret java -jar target/pushgate-java-example.jar
//
// TLS with a client certificate and the GrpcAuthToken bearer token are used when their
// variables are set. The REMOVE check expects the APNs answer "Unregistered" for device tokens
// starting with "dead" (the test suite's mock APNs answers so).
package io.pushgate.example;

import io.grpc.CallCredentials;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.MethodDescriptor;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status.Code;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.io.File;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import pushgate.v1.Push.Alert;
import pushgate.v1.Push.Notification;
import pushgate.v1.Push.PushNotification;
import pushgate.v1.Push.Removal;
import pushgate.v1.Push.SendRequest;
import pushgate.v1.Push.SendResponse;
import pushgate.v1.Push.WatchRemovalsRequest;
import pushgate.v1.Push.SendPushRequest;
import pushgate.v1.Push.SendPushResponse;
import pushgate.v1.Push.Status;
import pushgate.v1.PushProxyGrpc;

public final class Client {
  private static int checks = 0;

  private static void check(boolean ok, String what) {
    if (!ok) {
      System.err.println("FAIL: " + what);
      System.exit(1);
    }
    checks++;
  }

  /** GrpcAuthToken as a bearer token on every call. */
  private static CallCredentials bearer(String token) {
    return new CallCredentials() {
      @Override
      public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
        Metadata headers = new Metadata();
        headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        applier.apply(headers);
      }
    };
  }

  /** Counts `latch` down when a call's answer headers arrive. */
  private static ClientInterceptor onHeaders(CountDownLatch latch) {
    return new ClientInterceptor() {
      @Override
      public <Q, A> ClientCall<Q, A> interceptCall(
          MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
        return new ForwardingClientCall.SimpleForwardingClientCall<Q, A>(next.newCall(method, options)) {
          @Override
          public void start(Listener<A> listener, Metadata headers) {
            super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<A>(listener) {
              @Override
              public void onHeaders(Metadata answerHeaders) {
                latch.countDown();
                super.onHeaders(answerHeaders);
              }
            }, headers);
          }
        };
      }
    };
  }

  private static ChannelCredentials transport() throws Exception {
    String ca = System.getenv("PUSHGATE_CA");
    if (ca == null || ca.isEmpty()) {
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder().trustManager(new File(ca));
    String cert = System.getenv("PUSHGATE_CERT");
    if (cert != null && !cert.isEmpty()) {
      tls.keyManager(new File(cert), new File(System.getenv("PUSHGATE_KEY")));
    }
    return tls.build();
  }

  private static SendPushRequest push(String id, String platform, String device) {
    return SendPushRequest.newBuilder()
        .setRequestId(id)
        .setNotification(PushNotification.newBuilder()
            .setPlatform(platform).setServerId("java-server").setDeviceId(device)
            .setMessage("hello from Java").setType("message").setVersion("v2"))
        .build();
  }

  public static void main(String[] args) throws Exception {
    String addr = System.getenv("PUSHGATE_ADDR");
    String token = System.getenv("PUSHGATE_TOKEN");
    ManagedChannel channel = Grpc.newChannelBuilder(addr, transport()).build();
    PushProxyGrpc.PushProxyBlockingStub anonymous =
        PushProxyGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    PushProxyGrpc.PushProxyBlockingStub client = anonymous;
    PushProxyGrpc.PushProxyStub async = PushProxyGrpc.newStub(channel);
    HealthGrpc.HealthBlockingStub health = HealthGrpc.newBlockingStub(channel);

    if (token != null && !token.isEmpty()) {
      try {
        anonymous.sendPush(push("anon", "apple_rn", "a1b2c3d4"));
        check(false, "no token: the call is refused");
      } catch (StatusRuntimeException e) {
        check(e.getStatus().getCode() == Code.UNAUTHENTICATED, "no token: UNAUTHENTICATED, got " + e.getStatus());
      }
      client = client.withCallCredentials(bearer(token));
      async = async.withCallCredentials(bearer(token));
      health = health.withCallCredentials(bearer(token));
    }

    SendPushResponse answer = client.sendPush(push("java-1", "apple_rn", "a1b2c3d4"));
    check(answer.getStatus() == Status.STATUS_OK, "SendPush is OK: " + answer);
    check(answer.getRequestId().equals("java-1"), "request_id echoed: " + answer);

    answer = client.sendPush(push("java-2", "apple_rn", "dead0000"));
    check(answer.getStatus() == Status.STATUS_REMOVE, "an unregistered token is REMOVE: " + answer);
    check(answer.getReason().equals("Unregistered"), "with APNs' reason: " + answer);

    SendPushRequest bad = push("java-3", "apple_rn", "a1b2c3d4");
    bad = bad.toBuilder().setNotification(bad.getNotification().toBuilder().setServerId("")).build();
    try {
      client.sendPush(bad);
      check(false, "no server id: the call is refused");
    } catch (StatusRuntimeException e) {
      check(e.getStatus().getCode() == Code.INVALID_ARGUMENT, "no server id: INVALID_ARGUMENT, got " + e.getStatus());
      check("Failed because of missing server Id".equals(e.getStatus().getDescription()),
          "MPNS's text: " + e.getStatus().getDescription());
    }

    // StreamPush: 1,000 requests, each answered once, matched by request_id.
    final int n = 1000;
    Set<String> seen = new HashSet<>();
    CountDownLatch done = new CountDownLatch(1);
    Throwable[] failure = new Throwable[1];
    StreamObserver<SendPushRequest> requests = async.streamPush(new StreamObserver<SendPushResponse>() {
      @Override
      public void onNext(SendPushResponse a) {
        synchronized (seen) {
          check(seen.add(a.getRequestId()), "request " + a.getRequestId() + " answered once");
        }
        check(a.getStatus() == Status.STATUS_OK, "stream push OK: " + a);
      }

      @Override
      public void onError(Throwable t) {
        failure[0] = t;
        done.countDown();
      }

      @Override
      public void onCompleted() {
        done.countDown();
      }
    });
    for (int i = 0; i < n; i++) {
      requests.onNext(push(Integer.toString(i), "apple_rn", String.format("%08x", i + 1)));
    }
    requests.onCompleted();
    check(done.await(60, TimeUnit.SECONDS), "StreamPush ends");
    check(failure[0] == null, "StreamPush: " + failure[0]);
    check(seen.size() == n, seen.size() + " of " + n + " stream pushes answered");

    // Send: one notification to many tokens, a result each in order; WatchRemovals sees the
    // token the provider said to forget.
    // The answer's headers come once pushgate has registered the watch: no removal is missed.
    CountDownLatch watching = new CountDownLatch(1);
    CompletableFuture<Removal> removed = new CompletableFuture<>();
    async.withInterceptors(onHeaders(watching)).withDeadlineAfter(30, TimeUnit.SECONDS).watchRemovals(
        WatchRemovalsRequest.newBuilder().addTargets("apple_rn").build(),
        new StreamObserver<Removal>() {
          @Override public void onNext(Removal r) { removed.complete(r); }
          @Override public void onError(Throwable t) { removed.completeExceptionally(t); }
          @Override public void onCompleted() {}
        });
    check(watching.await(30, TimeUnit.SECONDS), "WatchRemovals answers with its headers");
    SendResponse sent = client.withDeadlineAfter(30, TimeUnit.SECONDS).send(SendRequest.newBuilder()
        .setTarget("apple_rn")
        .addTokens("a1b2c3d4")
        .addTokens("dead0001")
        .setRequestId("java-send")
        .setNotification(Notification.newBuilder()
            .setAlert(Alert.newBuilder().setTitle("Java").setBody("hello from Send"))
            .putData("order", "1234"))
        .build());
    check(sent.getRequestId().equals("java-send"), "Send echoes request_id: " + sent);
    check(sent.getResultsCount() == 2
        && sent.getResults(0).getToken().equals("a1b2c3d4")
        && sent.getResults(1).getToken().equals("dead0001"), "results in order: " + sent);
    check(sent.getResults(0).getStatus() == Status.STATUS_OK, "Send OK: " + sent);
    check(sent.getResults(1).getStatus() == Status.STATUS_REMOVE, "Send REMOVE: " + sent);
    Removal removal = removed.get(30, TimeUnit.SECONDS);
    check(removal.getTarget().equals("apple_rn") && removal.getToken().equals("dead0001"),
        "removal watched: " + removal);

    // Health: Check of the process, the API and a platform Type; Watch of a Type.
    for (String service : new String[] {"", "pushgate.v1.PushProxy", "apple_rn"}) {
      HealthCheckResponse reply = health.withDeadlineAfter(10, TimeUnit.SECONDS)
          .check(HealthCheckRequest.newBuilder().setService(service).build());
      check(reply.getStatus() == HealthCheckResponse.ServingStatus.SERVING, "'" + service + "' is SERVING: " + reply);
    }
    Iterator<HealthCheckResponse> watch = health.withDeadlineAfter(10, TimeUnit.SECONDS)
        .watch(HealthCheckRequest.newBuilder().setService("apple_rn").build());
    check(watch.next().getStatus() == HealthCheckResponse.ServingStatus.SERVING, "Watch says SERVING first");

    channel.shutdownNow();
    System.out.println("java client: " + checks + " checks passed");
    System.exit(0);
  }
}
