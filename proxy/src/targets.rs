//! The target table: one target per config entry `Type`, built by its provider's module. A new
//! provider is a module with a `Registration`, and a line in `PROVIDERS`.

use std::{collections::HashMap, sync::Arc};

use crate::{
    apns,
    config::{AppleAuth, Config},
    delivery::{Context, Registration, Setup, Target},
    fcm,
    health::Health,
    hms,
    metrics::Metrics,
    retry::RetryPolicy,
    traces::Tracer,
    webpush,
};

/// The providers beyond Apple's and Google's, whose config sections MPNS does not have.
const PROVIDERS: &[Registration] = &[hms::PROVIDER, webpush::PROVIDER];

/// The initialised targets by `Type`, and the entries that failed to initialise.
#[derive(Default)]
pub struct Targets {
    by_type: HashMap<String, Arc<Target>>,
    /// Config `Type`s whose credentials failed to load, with the reason.
    pub failed: Vec<(String, String)>,
    /// Of those, the ones that named credentials (a file that would not load), as opposed to
    /// entries with none at all (MPNS's sample config has such entries).
    credentials_failed: Vec<String>,
}

impl Targets {
    /// Initialises every configured entry; one failing entry is logged and skipped (MPNS).
    pub fn from_config(
        config: &Config,
        metrics: &Arc<Metrics>,
        health: &Arc<Health>,
        tracer: &Tracer,
    ) -> Targets {
        let context = |kind: &str| {
            let kind = kind.to_string();
            move |family| Context {
                policy: RetryPolicy::from_config(config),
                health: health.clone(),
                attempts: metrics.attempts(family, &kind),
                retries: metrics.retries(&kind),
                tracer: tracer.clone(),
            }
        };
        let mut targets = Targets::default();
        for entry in &config.targets.apple {
            let target = apns::target(entry, &config.delivery, metrics, context(&entry.kind));
            let named = entry.auth() != AppleAuth::None;
            targets.add(&entry.kind, target, named);
        }
        for entry in &config.targets.android {
            let target = fcm::target(entry, &config.delivery, metrics, context(&entry.kind));
            targets.add(&entry.kind, target, !entry.service_file_location.is_empty());
        }
        for provider in PROVIDERS {
            let entries = match config.targets.other.entries(provider.section) {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::error!(section = provider.section, error = %error, "Failed to initialize client");
                    continue;
                }
            };
            for entry in entries {
                let kind = entry.string("Type").unwrap_or_default();
                let context = context(&kind);
                let setup = Setup {
                    kind: &kind,
                    delivery: &config.delivery,
                    metrics,
                    context: &context,
                };
                // Every key of these sections is the provider's own: a failing entry named it.
                targets.add(&kind, (provider.target)(&entry, &setup), true);
            }
        }
        targets
    }

    fn add(&mut self, kind: &str, result: Result<Target, String>, names_credentials: bool) {
        // Later entries with the same Type win, as in MPNS.
        self.failed.retain(|(k, _)| k != kind);
        self.credentials_failed.retain(|k| k != kind);
        self.by_type.remove(kind);
        match result {
            Ok(target) => {
                self.by_type.insert(kind.to_string(), Arc::new(target));
            }
            Err(error) => {
                tracing::error!(r#type = kind, error = %error, "Failed to initialize client");
                self.failed.push((kind.to_string(), error));
                if names_credentials {
                    self.credentials_failed.push(kind.to_string());
                }
            }
        }
    }

    /// Why the target of `kind` failed to initialise, if its entry named credentials that
    /// would not load. An entry with no credentials at all is MPNS's "missing platform
    /// property", not this.
    pub fn failure(&self, kind: &str) -> Option<&str> {
        if !self.credentials_failed.iter().any(|k| k == kind) {
            return None;
        }
        self.failed
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, e)| e.as_str())
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<Target>> {
        self.by_type.get(kind)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.by_type.values()
    }
}
