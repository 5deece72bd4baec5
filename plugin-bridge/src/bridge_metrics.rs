//! The standalone bridge's own `/metrics` (`pushgate-bridge --enable-metrics`): the two MPNS
//! metrics that belong to the HTTP side — bad requests and request durations — and the shared
//! rate limit's Redis errors. Every push-level metric is pushgate's, on its own `/metrics`.

use std::time::Duration;

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, Registry, TextEncoder};

pub struct BridgeMetrics {
    registry: Registry,
    /// `service_bad_request_total`: bodies that did not decode, and MPNS's validation FAILs.
    bad_request: IntCounter,
    /// `service_request_duration_seconds`: every `send_push` and `ack`.
    request_duration: Histogram,
    /// `pushgate_throttle_backend_errors_total`: requests the shared rate limit could not ask
    /// Redis about.
    pub throttle_backend_errors: IntCounter,
    /// `pushgate_throttled_requests_total`: requests the enforced limit answered 429.
    pub throttled: IntCounter,
}

impl BridgeMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let bad_request = IntCounter::new(
            "service_bad_request_total",
            "Request to push proxy was a bad request",
        )
        .expect("valid metric");
        let request_duration = Histogram::with_opts(HistogramOpts::new(
            "service_request_duration_seconds",
            "Request latency distribution",
        ))
        .expect("valid metric");
        registry
            .register(Box::new(bad_request.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(request_duration.clone()))
            .expect("unique metric");
        let throttle_backend_errors = crate::throttle::backend_errors_counter(&registry);
        let throttled = crate::throttle::throttled_counter(&registry);
        BridgeMetrics {
            registry,
            bad_request,
            request_duration,
            throttle_backend_errors,
            throttled,
        }
    }

    pub fn request(&self, took: Duration, bad: bool) {
        self.request_duration.observe(took.as_secs_f64());
        if bad {
            self.bad_request.inc();
        }
    }

    pub fn render(&self) -> String {
        prometheus_text(&self.registry)
    }
}

/// A registry in the Prometheus text exposition: what `/metrics` answers, for both binaries.
pub fn prometheus_text(registry: &Registry) -> String {
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding cannot fail");
    String::from_utf8(out).unwrap_or_default()
}

impl Default for BridgeMetrics {
    fn default() -> Self {
        Self::new()
    }
}
