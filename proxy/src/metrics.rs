//! Prometheus metrics: every MPNS metric with its name, labels and help text
//! (docs/mpns-contract.md §7; with `service_delivered_total` registered, docs/deviations.md, 5),
//! and pushgate's own `pushgate_*`. Metrics observe; nothing decides by reading them.
//! Client-controlled label values are bounded: an unknown `type` is counted as `other`.

use std::time::Duration;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use pushgate::v1::Status;

use crate::outcome::{Family, Outcome};

pub struct Metrics {
    registry: Registry,
    notifications: IntCounterVec,
    by_app_version: IntCounterVec,
    success: IntCounterVec,
    success_with_ack: IntCounterVec,
    delivered: IntCounterVec,
    failure: IntCounterVec,
    failure_with_reason: IntCounterVec,
    removal: IntCounterVec,
    pub bad_request: IntCounter,
    /// `pushgate_throttle_backend_errors_total`: requests the shared rate limit could not ask
    /// Redis about.
    pub throttle_backend_errors: IntCounter,
    /// `pushgate_throttled_requests_total`: requests the enforced limit answered 429.
    pub throttled: IntCounter,
    apns_duration: Histogram,
    fcm_duration: Histogram,
    notification_duration: HistogramVec,
    pub request_duration: Histogram,
    pub in_flight: IntGauge,
    upstream_duration: HistogramVec,
    /// `pushgate_provider_request_seconds`: each attempt by target and what it came to.
    provider_request: HistogramVec,
    token_refreshes: IntCounterVec,
    grpc_requests: IntCounterVec,
    cert_expiry: IntGaugeVec,
    connections: IntCounterVec,
    retries: IntCounterVec,
    /// `pushgate_send_total`: `Send` results by target, kind and status.
    sends: IntCounterVec,
}

const PTT: &[&str] = &["platform", "type", "transport"];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help)).expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let histogram_vec = |name: &str, help: &str, labels: &[&str]| {
            let h =
                HistogramVec::new(HistogramOpts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let bad_request = IntCounter::new(
            "service_bad_request_total",
            "Request to push proxy was a bad request",
        )
        .expect("valid metric");
        registry
            .register(Box::new(bad_request.clone()))
            .expect("unique metric");
        let throttle_backend_errors = pushgate_bridge::throttle::backend_errors_counter(&registry);
        let throttled = pushgate_bridge::throttle::throttled_counter(&registry);
        let in_flight = IntGauge::new(
            "pushgate_requests_in_flight",
            "Pushes being validated or sent right now.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(in_flight.clone()))
            .expect("unique metric");
        let cert_expiry = IntGaugeVec::new(
            Opts::new(
                "pushgate_apns_certificate_expiry_timestamp_seconds",
                "When the APNs client certificate of a target expires (Unix time).",
            ),
            &["target"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(cert_expiry.clone()))
            .expect("unique metric");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");

        Metrics {
            notifications: counter("service_notifications_total", "Number of notifications sent", PTT),
            by_app_version: counter(
                "service_notifications_by_app_version_total",
                "Number of notifications sent, by reported app version. A version of 1 indicates a client that did not report an app version.",
                &["platform", "app_version"],
            ),
            success: counter("service_success_total", "Number of push success.", PTT),
            success_with_ack: counter("service_success_with_ack_total", "Number of push success that contains ackId.", PTT),
            delivered: counter("service_delivered_total", "Number of push delivered.", PTT),
            failure: counter("service_failure_total", "Number of push errors.", PTT),
            failure_with_reason: counter(
                "service_failure_with_reason_total",
                "Number of push errors with reasons.",
                &["platform", "type", "transport", "reason"],
            ),
            removal: counter("service_removal_total", "Number of device token errors.", &["platform", "transport", "reason"]),
            bad_request,
            throttle_backend_errors,
            throttled,
            apns_duration: histogram("service_apns_request_duration_seconds", "Request latency distribution"),
            fcm_duration: histogram("service_fcm_request_duration_seconds", "Request latency distribution"),
            notification_duration: histogram_vec(
                "service_notification_duration_seconds",
                "Notifiction request latency distribution",
                &["platform"],
            ),
            request_duration: histogram("service_request_duration_seconds", "Request latency distribution"),
            in_flight,
            upstream_duration: histogram_vec(
                "pushgate_upstream_request_duration_seconds",
                "Duration of each attempt to APNs or FCM, by target Type.",
                &["target"],
            ),
            provider_request: histogram_vec(
                "pushgate_provider_request_seconds",
                "Duration of each attempt to a provider, by target Type and outcome: ok, remove, fail (a final answer), retry (answered 'not now'), timeout, connection (no answer), auth (credentials refused).",
                &["target", "outcome"],
            ),
            token_refreshes: counter(
                "pushgate_token_refreshes_total",
                "APNs provider tokens signed and FCM OAuth2 access tokens fetched, by target Type.",
                &["target"],
            ),
            grpc_requests: counter(
                "pushgate_grpc_requests_total",
                "gRPC PushProxy calls by method and status code.",
                &["method", "code"],
            ),
            cert_expiry,
            sends: counter(
                "pushgate_send_total",
                "Results of the general Send API, one per token, by target, kind (alert, background, voip) and status (ok, fail, remove).",
                &["target", "kind", "status"],
            ),
            retries: counter(
                "pushgate_upstream_retries_total",
                "Attempts repeated, by target Type and cause: the provider answered 'not now' (answer), no answer came (timeout, connection; the push may have arrived), or the provider refused the HTTP/2 stream unread (refused; sent again at once).",
                &["target", "cause"],
            ),
            connections: counter(
                "pushgate_upstream_connections_opened_total",
                "Connections opened to APNs, FCM or the OAuth2 token endpoint, by target Type.",
                &["target"],
            ),
            registry,
        }
    }

    /// Adds a collector of another module (delivery receipts) to what `/metrics` shows.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        self.registry.register(collector).expect("unique metric");
    }

    /// One `Send` result.
    pub fn sent(&self, target: &str, kind: pushgate::v1::Kind, status: pushgate::v1::Status) {
        let kind = crate::general::kind_label(kind);
        let status = match status {
            pushgate::v1::Status::Ok => "ok",
            pushgate::v1::Status::Remove => "remove",
            _ => "fail",
        };
        self.sends.with_label_values(&[target, kind, status]).inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        pushgate_bridge::prometheus_text(&self.registry)
    }

    /// Once per push that reached a target, before it is sent.
    pub fn sending(
        &self,
        family: Family,
        kind: &str,
        r#type: &str,
        transport: &str,
        app_version: i64,
    ) {
        let app_version = match app_version {
            1 => "1",
            2 => "2",
            _ => "other",
        };
        self.by_app_version
            .with_label_values(&[kind, app_version])
            .inc();
        self.notifications
            .with_label_values(&[family.label(), type_label(r#type), transport])
            .inc();
    }

    pub fn outcome(
        &self,
        family: Family,
        r#type: &str,
        transport: &str,
        ack_id: &str,
        o: &Outcome,
    ) {
        let labels = [family.label(), type_label(r#type), transport];
        match o.status {
            Status::Ok | Status::Unspecified => {
                self.success.with_label_values(&labels).inc();
                if !ack_id.is_empty() {
                    self.success_with_ack.with_label_values(&labels).inc();
                }
            }
            Status::Fail | Status::Remove => {
                self.failure.with_label_values(&labels).inc();
                if !o.reason.is_empty() {
                    let [p, t, tr] = labels;
                    self.failure_with_reason
                        .with_label_values(&[p, t, tr, &o.reason])
                        .inc();
                }
                if o.status == Status::Remove {
                    self.removal
                        .with_label_values(&[family.label(), transport, &o.reason])
                        .inc();
                }
            }
        }
    }

    /// The histograms a target's attempts feed, looked up once when the target is built.
    pub fn attempts(&self, family: Family, kind: &str) -> AttemptMetrics {
        AttemptMetrics {
            // MPNS's per-provider histograms; a provider MPNS does not have has none.
            provider: match family {
                Family::APPLE => Some(self.apns_duration.clone()),
                Family::ANDROID => Some(self.fcm_duration.clone()),
                _ => None,
            },
            notification: self
                .notification_duration
                .with_label_values(&[family.label()]),
            target: self.upstream_duration.with_label_values(&[kind]),
            by_outcome: AttemptOutcome::ALL
                .map(|o| self.provider_request.with_label_values(&[kind, o.label()])),
        }
    }

    /// The counter a target's token signer or OAuth2 client bumps on each new token.
    pub fn token_refresh_counter(&self, kind: &str) -> IntCounter {
        self.token_refreshes.with_label_values(&[kind])
    }

    /// The retry counters of one target, by cause.
    pub fn retries(&self, kind: &str) -> RetryMetrics {
        let cause = |c: &str| self.retries.with_label_values(&[kind, c]);
        RetryMetrics {
            answer: cause("answer"),
            timeout: cause("timeout"),
            connection: cause("connection"),
            refused: cause("refused"),
        }
    }

    /// The counter of connections a target's HTTP client opens (`upstream.rs` bumps it).
    pub fn connection_counter(&self, kind: &str) -> IntCounter {
        self.connections.with_label_values(&[kind])
    }

    pub fn certificate_expires(&self, kind: &str, unix_seconds: i64) {
        self.cert_expiry
            .with_label_values(&[kind])
            .set(unix_seconds);
    }

    pub fn delivered(&self, platform: &str, r#type: &str) {
        let platform = match platform {
            "ios" | "android" => platform,
            _ => "other",
        };
        self.delivered
            .with_label_values(&[platform, type_label(r#type), ""])
            .inc();
    }

    pub fn grpc(&self, method: &str, code: tonic::Code) {
        self.grpc_requests
            .with_label_values(&[method, &format!("{code:?}")])
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The push `type` as a label: Mattermost's values as they are, anything else `other`.
pub fn type_label(t: &str) -> &str {
    match t {
        "" | "message" | "clear" | "update_badge" | "session" | "test" => t,
        _ => "other",
    }
}

/// One target's attempt-latency histograms (MPNS's two and pushgate's per-target ones).
pub struct AttemptMetrics {
    provider: Option<Histogram>,
    notification: Histogram,
    target: Histogram,
    /// `pushgate_provider_request_seconds`, in `AttemptOutcome::ALL` order.
    by_outcome: [Histogram; 7],
}

impl AttemptMetrics {
    /// One attempt to the provider and what it came to.
    pub fn observe(&self, took: Duration, outcome: AttemptOutcome) {
        let secs = took.as_secs_f64();
        if let Some(provider) = &self.provider {
            provider.observe(secs);
        }
        self.notification.observe(secs);
        self.target.observe(secs);
        self.by_outcome[outcome as usize].observe(secs);
    }
}

/// What one attempt came to: the `outcome` label of `pushgate_provider_request_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Ok,
    Remove,
    Fail,
    Retry,
    Timeout,
    Connection,
    Auth,
}

impl AttemptOutcome {
    const ALL: [AttemptOutcome; 7] = [
        AttemptOutcome::Ok,
        AttemptOutcome::Remove,
        AttemptOutcome::Fail,
        AttemptOutcome::Retry,
        AttemptOutcome::Timeout,
        AttemptOutcome::Connection,
        AttemptOutcome::Auth,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Remove => "remove",
            AttemptOutcome::Fail => "fail",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Timeout => "timeout",
            AttemptOutcome::Connection => "connection",
            AttemptOutcome::Auth => "auth",
        }
    }
}

/// One target's `pushgate_upstream_retries_total` counters, one per cause.
pub struct RetryMetrics {
    /// The provider answered "not now" (5xx, 429).
    pub answer: IntCounter,
    /// The attempt's time ran out without an answer.
    pub timeout: IntCounter,
    /// No connection, or it broke before an answer.
    pub connection: IntCounter,
    /// The provider refused the HTTP/2 stream unread (`REFUSED_STREAM`).
    pub refused: IntCounter,
}
