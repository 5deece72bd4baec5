//! Puts the service on the network: the gRPC server (PushProxy, health, reflection) and the
//! embedded MPNS HTTP bridge, with a shared shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use listen::{HttpSettings, Incoming, Slots};
use pushgate::v1::push_proxy_server::PushProxyServer;
use pushgate_bridge::{bind_address, Settings, Shutdown};
use tokio::net::TcpListener;

use crate::{
    config::Config,
    grpc_auth,
    health::{Health, TargetUp},
    metrics::Metrics,
    service::{Live, PushService},
    targets::Targets,
    tls,
    traces::{in_context, Exporter, Headers, Tracer},
};

/// A started pushgate: where it listens, and how to stop it.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// `DrainGraceSec`: serving on while probes already say NOT_SERVING.
    grace: Duration,
    service: PushService,
    /// Stops both servers; the drain waits for them to finish what they took.
    shutdown: Shutdown,
    /// Sends the last spans at the end, when tracing is on.
    exporter: Option<Exporter>,
}

impl Running {
    /// The Prometheus text `/metrics` serves (whether or not `EnableMetrics` exposes it).
    pub fn metrics_text(&self) -> String {
        self.service.metrics().render()
    }

    /// Adds a collector of the binary's own (the log writer's drops) to `/metrics`.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        self.service.metrics().register(collector);
    }

    /// Applies a re-read config: targets, credentials, timeouts and RemoveOnMismatch for new
    /// sends; in-flight sends finish on the old ones. Listen addresses, TLS, the auth token,
    /// throttling and EnableMetrics need a restart.
    pub async fn reload(&self, config: &Config) {
        let service = &self.service;
        let live = live(
            config,
            service.metrics(),
            service.health(),
            service.tracer(),
        )
        .await;
        let (ok, failed) = (live.targets.iter().count(), live.targets.failed.len());
        self.service.replace(live);
        tracing::info!(targets = ok, failed, "Config reloaded");
    }

    /// Shuts down in the order balancers need: readiness 503 and health NOT_SERVING at once;
    /// both listeners keep serving through the drain grace (the balancer deregisters this
    /// instance meanwhile); then they stop accepting (gRPC says GOAWAY) and every request
    /// already taken, also one still sending its body, is answered — each within the send
    /// budget, which bounds the drain.
    pub async fn shutdown(self) {
        self.service.health().start_draining().await;
        if !self.grace.is_zero() {
            tracing::info!(grace = ?self.grace, "Draining: still serving while balancers notice");
            tokio::time::sleep(self.grace).await;
        }
        self.stop_serving().await;
    }

    /// Shutdown without the grace (SIGINT, a person at a terminal).
    pub async fn shutdown_now(self) {
        self.service.health().start_draining().await;
        self.stop_serving().await;
    }

    /// Both servers stop accepting and finish what they took: gRPC sends GOAWAY and closes each
    /// connection once its calls are answered (health `Watch` streams end here), HTTP answers
    /// the requests under way, also one still sending its body, and closes idle keep-alives.
    /// The limit is the live send budget (it may have changed by a reload) and a margin.
    async fn stop_serving(self) {
        let limit = self.service.live().send_timeout + Duration::from_secs(1);
        self.shutdown.stop();
        self.service.health().close_watches().await;
        if !self.shutdown.drained(limit).await {
            tracing::warn!("Drain time ran out; closing the remaining connections");
        }
        if let Some(exporter) = self.exporter {
            let _ = tokio::task::spawn_blocking(move || exporter.shutdown()).await;
        }
    }
}

/// Targets for `config`, with their health announced.
async fn live(
    config: &Config,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
    tracer: &Tracer,
) -> Live {
    let targets = Targets::from_config(config, metrics, health, tracer);
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
    metrics.register(Box::new(TargetUp::new(health.clone())));
    let endpoint = config.otlp_endpoint.clone();
    let (tracer, exporter) = tokio::task::spawn_blocking(move || Tracer::start(&endpoint))
        .await
        .map_err(|e| format!("tracing: {e}"))??;
    let live = live(config, &metrics, &health, &tracer).await;
    health.set_process_serving().await;
    let service = PushService::new(
        live,
        health,
        metrics,
        config.listeners.grpc_limits.stream_idle,
        config.receipts,
        tracer.clone(),
    );
    let listeners = &config.listeners;

    let grpc_listener = bind(&listeners.grpc).await?;
    let http_listener = bind(&listeners.http).await?;
    let grpc_addr = grpc_listener.local_addr().map_err(|e| e.to_string())?;
    let http_addr = http_listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = Shutdown::default();
    let slots = Slots::new(max_connections(listeners.max_connections));

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
    let limits = listeners.grpc_limits;
    let mut grpc = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(limits.keepalive))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        // Callers queue beyond this many calls per connection; without a limit, thousands of
        // unread small request frames trip h2's flood protection and the connection is lost.
        .max_concurrent_streams(Some(limits.max_concurrent_streams));
    if let Some(age) = limits.max_connection_age {
        // GOAWAY at the age; calls in flight finish (each within SendTimeoutSec). No
        // `max_connection_age_grace`: in tonic 0.14 setting it replaces the GOAWAY at the age
        // with a forced close at age + grace, and clients never rebalance in time.
        grpc = grpc.max_connection_age(age);
    }
    let grpc = grpc
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PushProxyServer::with_interceptor(
            service.clone(),
            grpc_auth::interceptor(&listeners.grpc_auth_token),
        ));
    let grpc_incoming = Incoming::new(
        grpc_listener,
        slots.clone(),
        listen::Settings {
            tls: tls::acceptor(&listeners.tls, &[b"h2"])?,
            // Quiet gRPC streams are normal; keepalive pings find dead peers.
            read_idle: None,
            write_stall: None,
        },
    )
    .map_err(|e| e.to_string())?;
    shutdown.spawn(report(
        "gRPC",
        grpc.serve_with_incoming_shutdown(grpc_incoming, shutdown.stopping()),
    ));

    let http = listeners.http_limits;
    let mut app = pushgate_bridge::router(Arc::new(service.clone()), bridge_settings(config));
    if tracer.is_on() {
        // A push over HTTP continues the caller's trace from its traceparent header.
        app = app.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let parent = tracer.parent(&Headers(req.headers()));
                in_context(parent, next.run(req))
            },
        ));
    }
    let http_incoming = Incoming::new(
        http_listener,
        slots,
        listen::Settings {
            tls: tls::acceptor(&listeners.tls, &[b"h2", b"http/1.1"])?,
            read_idle: Some(http.idle),
            write_stall: Some(http.write_stall),
        },
    )
    .map_err(|e| e.to_string())?;
    shutdown.spawn(listen::serve_http(
        http_incoming,
        app,
        HttpSettings {
            header_read: http.header_read,
        },
        shutdown.stopping(),
    ));

    tracing::info!("Server is listening on {}", listeners.http);
    tracing::info!("gRPC server is listening on {}", listeners.grpc);
    Ok(Running {
        grpc_addr,
        grace: listeners.drain_grace,
        http_addr,
        service,
        shutdown,
        exporter,
    })
}

/// A peer that does not answer a keepalive ping within this is gone.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// `MaxConnections`, or half the descriptor limit: the rest is left for upstream connections,
/// log files and the config's key files.
fn max_connections(configured: Option<usize>) -> usize {
    let limit = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    };
    let max = configured.unwrap_or((limit / 2).clamp(1, usize::MAX as u64) as usize);
    tracing::info!(
        descriptor_limit = limit,
        max_connections = max,
        "Open connections are capped"
    );
    max
}

async fn bind(listen: &str) -> Result<TcpListener, String> {
    let addr = bind_address(listen);
    listen::bind(&addr)
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

fn bridge_settings(config: &Config) -> Settings {
    let token = &config.listeners.grpc_auth_token;
    Settings {
        body_read: config.listeners.http_limits.body_read,
        api_token: (!token.is_empty()).then(|| token.clone()),
        ..Settings::new(config.throttle.clone(), config.enable_metrics)
    }
}
