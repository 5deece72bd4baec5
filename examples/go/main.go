// A Go client of pushgate: the calls a Go service makes, each checked.
//
//	./generate.sh   # once: the stubs from proto/ into gen/
//	PUSHGATE_ADDR=127.0.0.1:50051 PUSHGATE_CA=ca.pem PUSHGATE_CERT=client.pem \
//	PUSHGATE_KEY=client.key PUSHGATE_TOKEN=secret go run .
//
// TLS with a client certificate and the GrpcAuthToken bearer token are used when their
// variables are set. The REMOVE check expects the APNs answer "Unregistered" for device tokens
// starting with "dead" (the test suite's mock APNs answers so).
package main

//go:generate sh generate.sh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	pushgatev1 "github.com/pushgate/pushgate/examples/go/gen/pushgate/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

var checks int

func check(ok bool, format string, args ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
		os.Exit(1)
	}
	checks++
}

// bearer sends GrpcAuthToken with every call, only over TLS.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return true }

func transport() grpc.DialOption {
	ca := os.Getenv("PUSHGATE_CA")
	if ca == "" {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	pem, err := os.ReadFile(ca)
	check(err == nil, "read %s: %v", ca, err)
	roots := x509.NewCertPool()
	check(roots.AppendCertsFromPEM(pem), "%s holds a certificate", ca)
	config := &tls.Config{RootCAs: roots}
	if cert := os.Getenv("PUSHGATE_CERT"); cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, os.Getenv("PUSHGATE_KEY"))
		check(err == nil, "client certificate: %v", err)
		config.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(config))
}

func push(id, platform, device string) *pushgatev1.SendPushRequest {
	return &pushgatev1.SendPushRequest{
		RequestId: id,
		Notification: &pushgatev1.PushNotification{
			Platform: platform, ServerId: "go-server", DeviceId: device,
			Message: "hello from Go", Type: "message", Version: "v2",
		},
	}
}

func main() {
	addr := os.Getenv("PUSHGATE_ADDR")
	token := os.Getenv("PUSHGATE_TOKEN")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if token != "" {
		// Without the token, PushProxy refuses.
		anonymous, err := grpc.NewClient(addr, transport())
		check(err == nil, "dial: %v", err)
		_, err = pushgatev1.NewPushProxyClient(anonymous).SendPush(ctx, push("anon", "apple_rn", "a1b2c3d4"))
		check(status.Code(err) == codes.Unauthenticated, "no token: UNAUTHENTICATED, got %v", err)
		anonymous.Close()
	}
	options := []grpc.DialOption{transport()}
	if token != "" {
		options = append(options, grpc.WithPerRPCCredentials(bearer(token)))
	}
	conn, err := grpc.NewClient(addr, options...)
	check(err == nil, "dial: %v", err)
	defer conn.Close()
	client := pushgatev1.NewPushProxyClient(conn)

	answer, err := client.SendPush(ctx, push("go-1", "apple_rn", "a1b2c3d4"))
	check(err == nil, "SendPush: %v", err)
	check(answer.GetStatus() == pushgatev1.Status_STATUS_OK, "SendPush is OK: %v", answer)
	check(answer.GetRequestId() == "go-1", "request_id echoed: %v", answer)

	answer, err = client.SendPush(ctx, push("go-2", "apple_rn", "dead0000"))
	check(err == nil, "SendPush: %v", err)
	check(answer.GetStatus() == pushgatev1.Status_STATUS_REMOVE, "an unregistered token is REMOVE: %v", answer)
	check(answer.GetReason() == "Unregistered", "with APNs' reason: %v", answer)

	bad := push("go-3", "apple_rn", "a1b2c3d4")
	bad.Notification.ServerId = ""
	_, err = client.SendPush(ctx, bad)
	check(status.Code(err) == codes.InvalidArgument, "no server id: INVALID_ARGUMENT, got %v", err)
	check(status.Convert(err).Message() == "Failed because of missing server Id", "MPNS's text: %q", status.Convert(err).Message())

	// StreamPush: 1,000 requests, each answered once, matched by request_id.
	stream, err := client.StreamPush(ctx)
	check(err == nil, "StreamPush: %v", err)
	const n = 1000
	go func() {
		for i := 0; i < n; i++ {
			if err := stream.Send(push(strconv.Itoa(i), "apple_rn", fmt.Sprintf("%08x", i+1))); err != nil {
				return
			}
		}
		stream.CloseSend()
	}()
	seen := make(map[string]bool)
	for {
		answer, err := stream.Recv()
		if err == io.EOF {
			break
		}
		check(err == nil, "StreamPush answer: %v", err)
		check(!seen[answer.GetRequestId()], "request %s answered once", answer.GetRequestId())
		check(answer.GetStatus() == pushgatev1.Status_STATUS_OK, "stream push OK: %v", answer)
		seen[answer.GetRequestId()] = true
	}
	check(len(seen) == n, "%d of %d stream pushes answered", len(seen), n)

	// Send: one notification to many tokens, a result each in order; WatchRemovals sees the
	// token the provider said to forget.
	watchCtx, stopWatching := context.WithCancel(ctx)
	removals, err := client.WatchRemovals(watchCtx, &pushgatev1.WatchRemovalsRequest{Targets: []string{"apple_rn"}})
	check(err == nil, "WatchRemovals: %v", err)
	// The answer's headers come once pushgate has registered the watch: no removal is missed.
	_, err = removals.Header()
	check(err == nil, "WatchRemovals headers: %v", err)
	sent, err := client.Send(ctx, &pushgatev1.SendRequest{
		Target:    "apple_rn",
		Tokens:    []string{"a1b2c3d4", "dead0001"},
		RequestId: "go-send",
		Notification: &pushgatev1.Notification{
			Alert: &pushgatev1.Alert{Title: "Go", Body: "hello from Send"},
			Data:  map[string]string{"order": "1234"},
		},
	})
	check(err == nil, "Send: %v", err)
	check(sent.GetRequestId() == "go-send", "Send echoes request_id: %v", sent)
	results := sent.GetResults()
	check(len(results) == 2 && results[0].GetToken() == "a1b2c3d4" && results[1].GetToken() == "dead0001", "results in order: %v", sent)
	check(results[0].GetStatus() == pushgatev1.Status_STATUS_OK, "Send OK: %v", sent)
	check(results[1].GetStatus() == pushgatev1.Status_STATUS_REMOVE, "Send REMOVE: %v", sent)
	removal, err := removals.Recv()
	check(err == nil && removal.GetTarget() == "apple_rn" && removal.GetToken() == "dead0001", "removal watched: %v %v", removal, err)
	stopWatching()

	// Health: Check of the process, the API and a platform Type; Watch of a Type.
	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "pushgate.v1.PushProxy", "apple_rn"} {
		reply, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		check(err == nil, "health Check %q: %v", service, err)
		check(reply.GetStatus() == healthpb.HealthCheckResponse_SERVING, "%q is SERVING: %v", service, reply)
	}
	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{Service: "apple_rn"})
	check(err == nil, "health Watch: %v", err)
	first, err := watch.Recv()
	check(err == nil && first.GetStatus() == healthpb.HealthCheckResponse_SERVING, "Watch says SERVING first: %v %v", first, err)

	fmt.Printf("go client: %d checks passed\n", checks)
}
