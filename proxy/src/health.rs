//! Health, as the README's "Running it in production" describes it: `""` and
//! `pushgate.v1.PushProxy` follow the process (and turn NOT_SERVING when draining), each target
//! `Type` follows its credentials and upstream. The same state feeds `grpc.health.v1`
//! (Check/Watch) and the HTTP `/readyz` body.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
};

use tonic_health::{server::HealthReporter, ServingStatus};

pub struct Health {
    reporter: HealthReporter,
    draining: AtomicBool,
    /// Wakes long-lived streams when draining starts, so they stop taking new work.
    drain_signal: tokio::sync::watch::Sender<bool>,
    targets: Mutex<BTreeMap<String, bool>>,
}

impl Health {
    pub fn new(reporter: HealthReporter) -> Self {
        Health {
            reporter,
            draining: AtomicBool::new(false),
            drain_signal: tokio::sync::watch::channel(false).0,
            targets: Mutex::new(BTreeMap::new()),
        }
    }

    pub async fn set_process_serving(&self) {
        for name in ["", pushgate::v1::SERVICE_NAME] {
            self.reporter
                .set_service_status(name, ServingStatus::Serving)
                .await;
        }
    }

    /// Records what a send showed of a target's upstream; only a change is announced to
    /// `Watch` streams. A `Type` the live config no longer has is ignored: a send that started
    /// before a reload must not bring a removed target back.
    pub async fn set_target(&self, kind: &str, serving: bool) {
        // Called after every send: compare before touching the reporter.
        let changed = {
            let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            match targets.get_mut(kind) {
                Some(current) if *current != serving => {
                    *current = serving;
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.announce(kind, serving).await;
        }
    }

    async fn announce(&self, kind: &str, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        self.reporter.set_service_status(kind, status).await;
    }

    /// After a reload: the new set of targets; ones no longer configured stop being reported.
    pub async fn replace_targets(&self, targets: Vec<(String, bool)>) {
        let gone: Vec<String> = {
            let current = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            current
                .keys()
                .filter(|k| !targets.iter().any(|(n, _)| n == *k))
                .cloned()
                .collect()
        };
        for kind in gone {
            self.targets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&kind);
            // The reporter is a cheap handle on shared state; a clone may be mutated.
            self.reporter.clone().clear_service_status(&kind).await;
        }
        for (kind, serving) in targets {
            let previous = self
                .targets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(kind.clone(), serving);
            if previous != Some(serving) {
                self.announce(&kind, serving).await;
            }
        }
    }

    /// Shutdown has begun: probes see NOT_SERVING while in-flight work finishes.
    pub async fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.drain_signal.send_replace(true);
        for name in ["", pushgate::v1::SERVICE_NAME] {
            self.reporter
                .set_service_status(name, ServingStatus::NotServing)
                .await;
        }
    }

    /// The drain's last step: every `Watch` stream ends (its service is no longer reported), so
    /// the connections that carry one can close once their other calls are answered.
    pub async fn close_watches(&self) {
        let names = ["", pushgate::v1::SERVICE_NAME].map(String::from);
        let targets = self.targets().into_iter().map(|(kind, _)| kind);
        for name in names.into_iter().chain(targets) {
            self.reporter.clone().clear_service_status(&name).await;
        }
    }

    /// Resolves once shutdown has begun.
    pub fn draining(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.drain_signal.subscribe();
        async move {
            let _ = rx.wait_for(|d| *d).await;
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Each target with `SERVING` or `NOT_SERVING`, sorted by name.
    pub fn targets(&self) -> Vec<(String, bool)> {
        let targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// `pushgate_target_up`: each target's health as a gauge (1 SERVING, 0 NOT_SERVING), read
/// from the health state when scraped, so the two cannot disagree.
pub struct TargetUp {
    health: std::sync::Arc<Health>,
    gauge: prometheus::IntGaugeVec,
}

impl TargetUp {
    pub fn new(health: std::sync::Arc<Health>) -> Self {
        let gauge = prometheus::IntGaugeVec::new(
            prometheus::Opts::new(
                "pushgate_target_up",
                "Whether a target Type is SERVING (1) or NOT_SERVING (0): its credentials loaded and its provider answering, as gRPC health reports it.",
            ),
            &["target"],
        )
        .expect("valid metric");
        TargetUp { health, gauge }
    }
}

impl prometheus::core::Collector for TargetUp {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.gauge.reset();
        for (target, serving) in self.health.targets() {
            self.gauge
                .with_label_values(&[&target])
                .set(i64::from(serving));
        }
        self.gauge.collect()
    }
}
