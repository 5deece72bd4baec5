//! APNs provider tokens shared across replicas (`SharedStateRedisURL`): two pushgate replicas
//! and a real `redis-server`; 1,000 pushes from both carry one provider token; when APNs calls
//! it expired, both move to one new token; with Redis stopped, no push fails and each replica
//! signs its own.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
};

use futures::StreamExt;
use pushgate::v1::Status;
use pushgate_proxy::server::Running;
use pushgate_tests::{
    apple::{apple_config, apple_key, verify_bearer},
    free_port, grpc_client,
    mock_apns::{MockApns, Reply},
    need, push,
    redis::redis_server,
    send, start,
};

/// `n` pushes through `replica`, 20 at a time; every one must be OK.
async fn pushes(replica: &Running, n: usize) {
    let client = grpc_client(replica).await;
    futures::stream::iter(0..n)
        .for_each_concurrent(20, |i| {
            let mut client = client.clone();
            async move {
                let answer = send(&mut client, push("apple_rn", &format!("{i:064x}"))).await;
                assert_eq!(answer.status(), Status::Ok, "push {i}: {answer:?}");
            }
        })
        .await;
}

/// The provider tokens of the requests the mock received from the `from`-th on.
fn tokens_seen(apns: &MockApns, from: usize) -> BTreeSet<String> {
    apns.requests()
        .iter()
        .skip(from)
        .filter_map(|r| r.header("authorization").map(String::from))
        .collect()
}

/// Tokens are signed deterministically (RFC 6979): two replicas signing in the same second
/// would make the same token by chance. A second apart, only sharing makes them equal.
async fn next_second() {
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
}

fn signed(replica: &Running) -> u64 {
    let metrics = replica.metrics_text();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("pushgate_token_refreshes_total{target=\"apple_rn\"} "))
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    missing_redis,
    ignore = "needs redis-server (Debian package redis-server)"
)]
async fn replicas_share_one_provider_token_and_a_redis_outage_fails_no_push() {
    need(&["redis-server", "--version"], "redis-server");
    let redis_port = free_port();
    let redis = redis_server(redis_port).unwrap();
    let apns = MockApns::start().await;
    // A token the test declares expired gets APNs' 403 ExpiredProviderToken.
    let expired: Arc<Mutex<Option<String>>> = Arc::default();
    let expired_in_mock = expired.clone();
    apns.reply_with(move |r, _| {
        let bearer = r.header("authorization").unwrap_or_default();
        if expired_in_mock.lock().unwrap().as_deref() == Some(bearer) {
            Reply::reason(403, "ExpiredProviderToken")
        } else {
            Reply::ok()
        }
    });
    let key = apple_key();
    let mut config = apple_config(&apns, &key);
    config.delivery.shared_state_redis = format!("redis://127.0.0.1:{redis_port}/");
    let (a, b) = (start(&config).await, start(&config).await);

    // A signs first; a second later both push at once: 1,000 pushes, one token.
    pushes(&a, 10).await;
    next_second().await;
    tokio::join!(pushes(&a, 490), pushes(&b, 500));
    let first = tokens_seen(&apns, 0);
    assert_eq!(
        first.len(),
        1,
        "one provider token for the fleet: {first:?}"
    );
    let token = first.into_iter().next().unwrap();
    verify_bearer(&token, &key);
    assert_eq!(signed(&a) + signed(&b), 1, "signed once for the fleet");

    // APNs says the token expired: A gets a new one, and B a second later takes the same.
    *expired.lock().unwrap() = Some(token.clone());
    let mark = apns.requests().len();
    pushes(&a, 50).await;
    next_second().await;
    pushes(&b, 50).await;
    let renewed: BTreeSet<String> = tokens_seen(&apns, mark)
        .into_iter()
        .filter(|t| *t != token)
        .collect();
    assert_eq!(renewed.len(), 1, "one new token for the fleet: {renewed:?}");
    assert_eq!(signed(&a) + signed(&b), 2);

    // Redis gone: the token in hand goes on working; once APNs refuses it, each replica signs
    // its own. No push fails.
    drop(redis);
    let current = renewed.into_iter().next().unwrap();
    tokio::join!(pushes(&a, 100), pushes(&b, 100));
    *expired.lock().unwrap() = Some(current.clone());
    let mark = apns.requests().len();
    pushes(&a, 50).await;
    next_second().await;
    pushes(&b, 50).await;
    let own: BTreeSet<String> = tokens_seen(&apns, mark)
        .into_iter()
        .filter(|t| *t != current)
        .collect();
    assert_eq!(own.len(), 2, "each replica signed its own: {own:?}");
    for token in &own {
        verify_bearer(token, &key);
    }
    a.shutdown_now().await;
    b.shutdown_now().await;
}
