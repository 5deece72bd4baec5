//! Puts the service on the network: the gRPC server (PushProxy, health, reflection) and the
//! embedded MPNS HTTP bridge, with a shared shutdown.

use std::{future::IntoFuture, net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::ListenerExt;
use pushgate::v1::push_proxy_server::PushProxyServer;
use pushgate_bridge::{bind_address, Settings};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    config::Config,
    grpc_auth,
    health::Health,
    metrics::Metrics,
    service::{Live, PushService},
    targets::Targets,
    tls::{self, TlsIncoming},
};

/// Concurrent gRPC calls per connection (StreamPush counts once).
pub const MAX_STREAMS_PER_CONNECTION: u32 = 1024;

/// A started pushgate: where it listens, and how to stop it.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    drain: Duration,
    service: PushService,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The Prometheus text `/metrics` serves (whether or not `EnableMetrics` exposes it).
    pub fn metrics_text(&self) -> String {
        self.service.metrics().render()
    }

    /// Applies a re-read config: targets, credentials, timeouts and RemoveOnMismatch for new
    /// sends; in-flight sends finish on the old ones. Listen addresses, TLS, the auth token,
    /// throttling and EnableMetrics need a restart.
    pub async fn reload(&self, config: &Config) {
        let live = live(config, self.service.metrics(), self.service.health()).await;
        let (ok, failed) = (live.targets.iter().count(), live.targets.failed.len());
        self.service.replace(live);
        tracing::info!(targets = ok, failed, "Config reloaded");
    }

    /// Starts draining (health NOT_SERVING), stops accepting, and lets in-flight pushes finish:
    /// each ends within the send budget, which bounds the drain. Connections that stay open
    /// once nothing is in flight (a health `Watch`, a caller's idle stream) are then closed.
    pub async fn shutdown(mut self) {
        self.service.health().start_draining().await;
        let _ = self.shutdown.send(true);
        let deadline = tokio::time::Instant::now() + self.drain;
        let in_flight = self.service.in_flight();
        let idle = async {
            loop {
                in_flight.idle().await;
                // Let the last answers reach the socket.
                tokio::time::sleep(Duration::from_millis(500)).await;
                if in_flight.count() == 0 {
                    return;
                }
            }
        };
        let servers = futures::future::join_all(self.tasks.iter_mut());
        tokio::select! {
            _ = servers => {}
            _ = idle => {}
            _ = tokio::time::sleep_until(deadline) => {
                tracing::warn!("Drain time ran out; closing the remaining connections");
            }
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Targets for `config`, with their health announced.
async fn live(config: &Config, metrics: &Arc<Metrics>, health: &Arc<Health>) -> Live {
    let targets = Targets::from_config(config, metrics, health);
    let serving = targets.iter().map(|t| (t.kind.clone(), true));
    let failed = targets.failed.iter().map(|(kind, _)| (kind.clone(), false));
    health
        .replace_targets(serving.chain(failed).collect())
        .await;
    Live {
        targets,
        send_timeout: config.delivery.send_timeout,
    }
}

/// Binds both listeners and serves until `shutdown` is called.
pub async fn start(config: &Config) -> Result<Running, String> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Arc::new(Health::new(reporter));
    let metrics = Arc::new(Metrics::new());
    let live = live(config, &metrics, &health).await;
    health.set_process_serving().await;
    let service = PushService::new(live, health, metrics);

    let grpc_listener = bind(&config.listeners.grpc).await?;
    let http_listener = bind(&config.listeners.http).await?;
    let grpc_addr = grpc_listener.local_addr().map_err(|e| e.to_string())?;
    let http_addr = http_listener.local_addr().map_err(|e| e.to_string())?;
    let (shutdown, stop) = watch::channel(false);

    // Both reflection versions: grpcurl speaks v1, many language clients still v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pushgate::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| format!("reflection: {e}"))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| format!("reflection: {e}"))?;
    let grpc = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // Callers queue beyond this many calls per connection; without a limit, thousands of
        // unread small request frames trip h2's flood protection and the connection is lost.
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PushProxyServer::with_interceptor(
            service.clone(),
            grpc_auth::interceptor(&config.listeners.grpc_auth_token),
        ));
    let grpc_task = match tls::acceptor(&config.listeners.tls, &[b"h2"])? {
        None => {
            // No Nagle: a small answer must not wait for the caller's delayed ACK.
            let incoming =
                tonic::transport::server::TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
            tokio::spawn(report(
                "gRPC",
                grpc.serve_with_incoming_shutdown(incoming, stopped(stop.clone())),
            ))
        }
        Some(acceptor) => {
            let incoming = TlsIncoming::new(grpc_listener, acceptor).map_err(|e| e.to_string())?;
            tokio::spawn(report(
                "gRPC",
                grpc.serve_with_incoming_shutdown(incoming, stopped(stop.clone())),
            ))
        }
    };

    let app = pushgate_bridge::router(Arc::new(service.clone()), bridge_settings(config));
    let http_task = match tls::acceptor(&config.listeners.tls, &[b"h2", b"http/1.1"])? {
        None => {
            let listener = http_listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            tokio::spawn(report(
                "HTTP",
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped(stop))
                    .into_future(),
            ))
        }
        Some(acceptor) => {
            let listener = TlsIncoming::new(http_listener, acceptor).map_err(|e| e.to_string())?;
            tokio::spawn(report(
                "HTTP",
                axum::serve(listener, app)
                    .with_graceful_shutdown(stopped(stop))
                    .into_future(),
            ))
        }
    };

    tracing::info!("Server is listening on {}", config.listeners.http);
    tracing::info!("gRPC server is listening on {}", config.listeners.grpc);
    Ok(Running {
        grpc_addr,
        drain: config.delivery.send_timeout + Duration::from_secs(1),
        http_addr,
        service,
        shutdown,
        tasks: vec![grpc_task, http_task],
    })
}

async fn bind(listen: &str) -> Result<TcpListener, String> {
    let addr = bind_address(listen);
    TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))
}

async fn report<E: std::fmt::Display>(
    what: &str,
    served: impl std::future::Future<Output = Result<(), E>>,
) {
    if let Err(e) = served.await {
        tracing::error!(error = %e, "{what} server error");
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn bridge_settings(config: &Config) -> Settings {
    Settings {
        throttle: config.throttle.clone(),
        metrics_enabled: config.enable_metrics,
        hash: crate::GIT_HASH.into(),
        version: crate::VERSION.into(),
    }
}
