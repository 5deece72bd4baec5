//! Delivery targets, one per config entry `Type`, and the outcome of a send.

use std::{collections::HashMap, sync::Arc, time::Instant};

use pushgate::v1::Status;

use crate::{
    apns,
    config::{AndroidSettings, AppleSettings, Config},
    fcm,
    metrics::Metrics,
    push::{redact_token, Push},
};

/// The definitive answer to one push: OK, REMOVE, or FAIL with MPNS's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    pub error: String,
    /// The provider's reason (`BadDeviceToken`, `UNREGISTERED`, …) when it gave one.
    pub reason: String,
    /// What this send showed of the upstream: reachable and accepting our credentials
    /// (`Some(true)`), not (`Some(false)`), or nothing (dry-run, validation). Feeds health.
    pub upstream_ok: Option<bool>,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome {
            status: Status::Ok,
            error: String::new(),
            reason: String::new(),
            upstream_ok: None,
        }
    }
    pub fn remove(reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Remove,
            error: String::new(),
            reason: reason.into(),
            upstream_ok: None,
        }
    }
    pub fn fail(error: impl Into<String>, reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Fail,
            error: error.into(),
            reason: reason.into(),
            upstream_ok: None,
        }
    }
    pub fn upstream(mut self, ok: bool) -> Self {
        self.upstream_ok = Some(ok);
        self
    }
}

/// Which provider a target talks to; also the `platform` label of MPNS's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Apple,
    Android,
}

impl Family {
    pub fn label(self) -> &'static str {
        match self {
            Family::Apple => "apple",
            Family::Android => "android",
        }
    }
}

enum Sender {
    /// Builds the exact upstream request and answers OK without sending.
    DryRun,
    Apns(Box<apns::Client>),
    Fcm(Box<fcm::Client>),
}

pub struct Target {
    /// The config entry's `Type`, e.g. `apple_rn`.
    pub kind: String,
    pub family: Family,
    topic: String,
    sender: Sender,
}

impl Target {
    /// Sends one push; retries happen inside, within `deadline`.
    pub async fn send(&self, push: &Push, deadline: Instant) -> Outcome {
        match &self.sender {
            Sender::DryRun => self.dry_run(push),
            Sender::Apns(client) => client.send(push, deadline).await,
            Sender::Fcm(client) => client.send(push, deadline).await,
        }
    }

    fn dry_run(&self, push: &Push) -> Outcome {
        let (summary, bytes) = match self.family {
            Family::Apple => {
                let req = apns::payload::build(push, &self.topic);
                let bytes = req.body.len();
                (format!("{req:?}"), bytes)
            }
            Family::Android => {
                let body = fcm::message::build(push);
                let bytes = body.len();
                (body, bytes)
            }
        };
        tracing::info!(
            target_type = %self.kind,
            r#type = %push.n.r#type,
            did = %redact_token(&push.n.device_id),
            payload_bytes = bytes,
            "Dry run: push built, not sent"
        );
        tracing::debug!(request = %summary, "Dry run request");
        Outcome::ok()
    }
}

/// The initialised targets by `Type`, and the entries that failed to initialise.
#[derive(Default)]
pub struct Targets {
    by_type: HashMap<String, Arc<Target>>,
    /// Config `Type`s whose credentials failed to load, with the reason.
    pub failed: Vec<(String, String)>,
}

impl Targets {
    /// Initialises every configured entry; one failing entry is logged and skipped (MPNS).
    pub fn from_config(config: &Config, metrics: &Arc<Metrics>) -> Targets {
        let mut targets = Targets::default();
        for entry in &config.apple {
            targets.add(&entry.kind, apple_target(entry, config, metrics));
        }
        for entry in &config.android {
            targets.add(&entry.kind, android_target(entry, config, metrics));
        }
        targets
    }

    fn add(&mut self, kind: &str, result: Result<Target, String>) {
        // Later entries with the same Type win, as in MPNS.
        self.failed.retain(|(k, _)| k != kind);
        self.by_type.remove(kind);
        match result {
            Ok(target) => {
                self.by_type.insert(kind.to_string(), Arc::new(target));
            }
            Err(error) => {
                tracing::error!(r#type = kind, error = %error, "Failed to initialize client");
                self.failed.push((kind.to_string(), error));
            }
        }
    }

    pub fn get(&self, kind: &str) -> Option<&Arc<Target>> {
        self.by_type.get(kind)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Target>> {
        self.by_type.values()
    }
}

fn apple_target(
    entry: &AppleSettings,
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<Target, String> {
    let sender = if entry.dry_run {
        tracing::info!(r#type = %entry.kind, "Initializing apple notification server in dry-run mode");
        Sender::DryRun
    } else {
        Sender::Apns(Box::new(apns::Client::new(entry, config, metrics.clone())?))
    };
    Ok(Target {
        kind: entry.kind.clone(),
        family: Family::Apple,
        topic: entry.topic.clone(),
        sender,
    })
}

fn android_target(
    entry: &AndroidSettings,
    config: &Config,
    metrics: &Arc<Metrics>,
) -> Result<Target, String> {
    if !entry.android_api_key.is_empty() {
        tracing::info!(
            "AndroidPushSettings.AndroidAPIKey is no longer used. Please remove this config value."
        );
    }
    let sender = if entry.dry_run {
        tracing::info!(r#type = %entry.kind, "Initializing Android notification server in dry-run mode");
        Sender::DryRun
    } else {
        Sender::Fcm(Box::new(fcm::Client::new(entry, config, metrics.clone())?))
    };
    Ok(Target {
        kind: entry.kind.clone(),
        family: Family::Android,
        topic: String::new(),
        sender,
    })
}
