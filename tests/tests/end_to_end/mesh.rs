//! pushgate behind an L4 balancer, as in a service mesh or behind a cloud TCP load balancer:
//! a gRPC client keeps one connection for as long as it lives, so without a maximum connection
//! age every call of a long-lived client lands on the replica it first reached, and new
//! replicas get nothing. `GrpcMaxConnectionAgeSec` ends each connection with a GOAWAY after
//! that age (in-flight calls get `SendTimeoutSec` to finish), the client reconnects, and the
//! balancer spreads it.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
    time::{Duration, Instant},
};

use pushgate::v1::Status;
use pushgate_proxy::server::Running;
use pushgate_tests::{dry_run_config, push_from_json, send, start};
use tokio::net::{TcpListener, TcpStream};

/// A TCP balancer on 127.0.0.1 that sends each new connection to the next backend in turn.
async fn round_robin(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let backend = backends[next.fetch_add(1, Ordering::SeqCst) % backends.len()];
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

/// SendPush calls a replica has answered OK.
fn answered(running: &Running) -> u64 {
    running
        .metrics_text()
        .lines()
        .find(|l| {
            l.starts_with("pushgate_grpc_requests_total{")
                && l.contains(r#"method="SendPush""#)
                && l.contains(r#"code="Ok""#)
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Pushes through one client channel for `seconds`; returns the calls that did not answer OK.
async fn push_for(balancer: SocketAddr, seconds: u64) -> usize {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{balancer}"))
        .unwrap()
        .connect_lazy();
    let mut client = pushgate::v1::push_proxy_client::PushProxyClient::new(channel);
    let push = || {
        push_from_json(
            r#"{"platform":"apple_rn","server_id":"s","device_id":"a1b2c3d4","message":"m"}"#,
        )
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut failed = 0;
    while Instant::now() < until {
        if send(&mut client, push()).await.status() != Status::Ok {
            failed += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    failed
}

async fn replicas(max_age: Option<Duration>) -> (Running, Running, SocketAddr) {
    let mut config = dry_run_config();
    config.listeners.grpc_limits.max_connection_age = max_age;
    let (a, b) = (start(&config).await, start(&config).await);
    let balancer = round_robin(vec![a.grpc_addr, b.grpc_addr]).await;
    (a, b, balancer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_lived_channel_is_spread_across_replicas_after_the_max_age() {
    // Without a maximum age: every call on the first replica reached.
    let (a, b, balancer) = replicas(None).await;
    assert_eq!(push_for(balancer, 3).await, 0);
    let (on_a, on_b) = (answered(&a), answered(&b));
    assert!(
        on_a > 0 && on_b == 0,
        "one connection, one replica: {on_a} / {on_b}"
    );
    a.shutdown().await;
    b.shutdown().await;

    // With a 1 s maximum age: the channel reconnects and reaches both, losing no call.
    let (a, b, balancer) = replicas(Some(Duration::from_secs(1))).await;
    assert_eq!(push_for(balancer, 5).await, 0, "every call answered OK");
    let (on_a, on_b) = (answered(&a), answered(&b));
    assert!(
        on_a > 10 && on_b > 10,
        "spread over both replicas: {on_a} / {on_b}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
