//! What the bridge calls to do the work: the `PushProxy` service, in-process or over gRPC.

use std::{future::Future, time::Duration};

use pushgate::v1::{
    push_proxy_client::PushProxyClient, DeliveryStatsRequest, DeliveryStatsResponse, PushAck,
    PushNotification, SendAckRequest, SendAckResponse, SendPushRequest, SendPushResponse,
    SendRequest, SendResponse,
};
use tonic::transport::{Channel, Endpoint};

use crate::tls_mismatch::Upstream;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};

/// A `PushProxy` as the bridge sees it. Validation failures come back as `INVALID_ARGUMENT`
/// carrying MPNS's text, exactly as over the network.
pub trait Backend: Send + Sync + 'static {
    fn send_push(
        &self,
        n: PushNotification,
    ) -> impl Future<Output = Result<SendPushResponse, tonic::Status>> + Send;

    fn send_ack(
        &self,
        ack: PushAck,
    ) -> impl Future<Output = Result<SendAckResponse, tonic::Status>> + Send;

    /// For `/readyz`.
    fn readiness(&self) -> impl Future<Output = Readiness> + Send;

    /// `Send`, for `POST /api/v2/send`; a backend without it answers UNIMPLEMENTED.
    fn send(
        &self,
        _request: SendRequest,
    ) -> impl Future<Output = Result<SendResponse, tonic::Status>> + Send {
        std::future::ready(Err(tonic::Status::unimplemented(
            "the general Send API is not served here",
        )))
    }

    /// Prometheus text for `/metrics`, when metrics are on.
    fn metrics(&self) -> Option<String> {
        None
    }

    /// Counts a body the bridge could not decode (`service_bad_request_total`) and how long it
    /// took to answer (`service_request_duration_seconds`, which MPNS observes for every request).
    fn bad_request(&self, _took: std::time::Duration) {}

    /// Counts a request the shared rate limit could not ask Redis about
    /// (`pushgate_throttle_backend_errors_total`).
    fn throttle_backend_error(&self) {}

    /// Counts a request the enforced limit answered 429 (`pushgate_throttled_requests_total`).
    fn throttled(&self) {}
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    /// Each target `Type` and whether it is serving.
    pub targets: Vec<(String, bool)>,
}

/// A pushgate proxy over gRPC (the standalone `pushgate-bridge`). The channel reconnects by
/// itself; each call carries a deadline of the send budget plus a margin, so the proxy's own
/// FAIL arrives before the bridge gives up.
#[derive(Clone)]
pub struct GrpcBackend {
    channel: Channel,
    deadline: Duration,
    auth: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    /// The bridge's own MPNS metrics, when `/metrics` is on.
    metrics: Option<std::sync::Arc<crate::bridge_metrics::BridgeMetrics>>,
    /// Where the channel goes, to explain a failed call that a TLS mismatch caused.
    upstream: Option<Upstream>,
}

impl GrpcBackend {
    pub fn new(
        upstream: &str,
        send_budget: Duration,
        auth_token: Option<&str>,
    ) -> Result<Self, String> {
        let channel = Endpoint::from_shared(upstream.to_string())
            .map_err(|e| format!("invalid --upstream {upstream}: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .connect_lazy();
        let backend = Self::from_channel(channel, send_budget, auth_token)?;
        Ok(match Upstream::from_url(upstream) {
            Some(upstream) => backend.with_upstream(upstream),
            None => backend,
        })
    }

    /// Names where the channel goes, so a call failed by a TLS mismatch says what to change.
    pub fn with_upstream(mut self, upstream: Upstream) -> Self {
        self.upstream = Some(upstream);
        self
    }

    /// A failed call, explained when a TLS mismatch caused it.
    async fn explained<T>(&self, answer: Result<T, tonic::Status>) -> Result<T, tonic::Status> {
        match (answer, &self.upstream) {
            (Err(status), Some(upstream)) => {
                Err(crate::tls_mismatch::explain(status, upstream).await)
            }
            (answer, _) => answer,
        }
    }

    /// Over a channel the caller built (the Mattermost plugin, with its TLS settings).
    pub fn from_channel(
        channel: Channel,
        send_budget: Duration,
        auth_token: Option<&str>,
    ) -> Result<Self, String> {
        let auth = match auth_token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| "the auth token is not valid header text".to_string())?,
            ),
            None => None,
        };
        Ok(GrpcBackend {
            channel,
            deadline: send_budget + Duration::from_secs(2),
            auth,
            metrics: None,
            upstream: None,
        })
    }

    /// pushgate's last hour of delivery receipts (`/pushgate status`).
    pub async fn delivery_stats(&self) -> Result<DeliveryStatsResponse, tonic::Status> {
        let mut req = self.request(DeliveryStatsRequest {});
        req.set_timeout(Duration::from_secs(2));
        let mut client = PushProxyClient::new(self.channel.clone());
        let answer = client.delivery_stats(req).await.map(|r| r.into_inner());
        self.explained(answer).await
    }

    /// Keeps MPNS's request metrics for `/metrics`.
    pub fn with_metrics(mut self) -> Self {
        self.metrics = Some(Default::default());
        self
    }

    /// Times an answer; an `INVALID_ARGUMENT` is MPNS's validation FAIL, a bad request.
    fn observed<T>(
        &self,
        started: std::time::Instant,
        answer: Result<T, tonic::Status>,
    ) -> Result<T, tonic::Status> {
        if let Some(metrics) = &self.metrics {
            let bad = matches!(&answer, Err(s) if s.code() == tonic::Code::InvalidArgument);
            metrics.request(started.elapsed(), bad);
        }
        answer
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.set_timeout(self.deadline);
        if let Some(auth) = &self.auth {
            req.metadata_mut().insert("authorization", auth.clone());
        }
        req
    }
}

impl Backend for GrpcBackend {
    async fn send_push(&self, n: PushNotification) -> Result<SendPushResponse, tonic::Status> {
        let req = self.request(SendPushRequest {
            notification: Some(n),
            request_id: String::new(),
        });
        let mut client = PushProxyClient::new(self.channel.clone());
        let started = std::time::Instant::now();
        let answer = client.send_push(req).await.map(|r| r.into_inner());
        let answer = self.observed(started, answer);
        self.explained(answer).await
    }

    async fn send_ack(&self, ack: PushAck) -> Result<SendAckResponse, tonic::Status> {
        let req = self.request(SendAckRequest { ack: Some(ack) });
        let mut client = PushProxyClient::new(self.channel.clone());
        let started = std::time::Instant::now();
        let answer = client.send_ack(req).await.map(|r| r.into_inner());
        let answer = self.observed(started, answer);
        self.explained(answer).await
    }

    async fn send(&self, request: SendRequest) -> Result<SendResponse, tonic::Status> {
        let req = self.request(request);
        let mut client = PushProxyClient::new(self.channel.clone());
        let answer = client.send(req).await.map(|r| r.into_inner());
        self.explained(answer).await
    }

    fn metrics(&self) -> Option<String> {
        self.metrics.as_ref().map(|m| m.render())
    }

    fn bad_request(&self, took: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.request(took, true);
        }
    }

    fn throttle_backend_error(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.throttle_backend_errors.inc();
        }
    }

    fn throttled(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.throttled.inc();
        }
    }

    async fn readiness(&self) -> Readiness {
        let mut client = HealthClient::new(self.channel.clone());
        let mut req = self.request(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        });
        req.set_timeout(Duration::from_secs(2));
        let ready = matches!(
            client.check(req).await.map(|r| r.into_inner().status()),
            Ok(ServingStatus::Serving)
        );
        Readiness {
            ready,
            targets: Vec::new(),
        }
    }
}
