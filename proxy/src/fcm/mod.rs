//! The Android target: FCM HTTP v1 (contract §4, §5) without Google's SDK: a service-account
//! OAuth2 token and one POST per push.

pub mod message;
mod oauth;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{header, StatusCode};

use crate::{
    config::{AndroidSettings, Config},
    metrics::{AttemptMetrics, Metrics},
    push::{redact_token, Push},
    retry::{retry_after, Retry},
    targets::{Family, Outcome},
};
use oauth::{ServiceAccount, TokenError, TokenSource};

/// The FCM reason MPNS reports for transport and unclassified errors.
const UNKNOWN: &str = "unknown transport error";

pub struct Client {
    attempts: AttemptMetrics,
    http: reqwest::Client,
    url: String,
    tokens: TokenSource,
    retry: Retry,
    remove_on_mismatch: bool,
}

enum Step {
    Done(Outcome),
    Retry(Outcome, Option<Duration>),
    /// FCM refused the access token: fetch a new one and try once more.
    Unauthorized(Outcome, String),
}

impl Client {
    pub fn new(
        entry: &AndroidSettings,
        config: &Config,
        metrics: Arc<Metrics>,
    ) -> Result<Client, String> {
        if entry.service_file_location.is_empty() {
            return Err(
                "android push notifications not configured: missing ServiceFileLocation".into(),
            );
        }
        tracing::info!(r#type = %entry.kind, "Initializing Android notification server");
        let account = ServiceAccount::load(&entry.service_file_location, &entry.fcm_token_uri)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(15))
            .http2_keep_alive_interval(Duration::from_secs(15))
            .pool_max_idle_per_host(1024)
            .connector_layer(metrics.connection_counter(&entry.kind));
        if !entry.fcm_ca_file.is_empty() {
            let pem = std::fs::read(&entry.fcm_ca_file)
                .map_err(|e| format!("FcmCAFile {}: {e}", entry.fcm_ca_file))?;
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("FcmCAFile {}: {e}", entry.fcm_ca_file))?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the FCM client: {e}"))?;
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            entry.fcm_endpoint.trim_end_matches('/'),
            account.project_id
        );
        Ok(Client {
            attempts: metrics.attempts(Family::Android, &entry.kind),
            tokens: TokenSource::new(account, metrics.token_refresh_counter(&entry.kind)),
            http,
            url,
            retry: Retry::from_config(config),
            remove_on_mismatch: config.remove_on_mismatch,
        })
    }

    pub async fn send(&self, push: &Push, deadline: Instant) -> Outcome {
        let body = message::build(push);
        let did = redact_token(&push.n.device_id);
        let mut rejected: Option<String> = None;
        let mut refreshed = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let step = self.attempt(&body, rejected.as_deref(), deadline).await;
            let (outcome, wait) = match step {
                Step::Done(outcome) => return outcome,
                Step::Unauthorized(_, token) if !refreshed => {
                    refreshed = true;
                    attempts -= 1;
                    rejected = Some(token);
                    tracing::info!(did = %did, "FCM refused the access token; fetching a new one");
                    continue;
                }
                Step::Unauthorized(outcome, _) => return outcome,
                Step::Retry(outcome, wait) => (outcome, wait),
            };
            tracing::error!(did = %did, retry = attempts, error = %outcome.error, "Failed to send android push");
            match self.retry.next_wait(attempts, wait, deadline) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    tracing::error!(did = %did, "Max retries reached");
                    return outcome;
                }
            }
        }
    }

    async fn attempt(&self, body: &str, rejected: Option<&str>, deadline: Instant) -> Step {
        let bearer = match self.tokens.bearer(&self.http, rejected).await {
            Ok(b) => b,
            Err(TokenError::Rejected(e)) => {
                return Step::Done(Outcome::fail(e, UNKNOWN).upstream(false))
            }
            Err(TokenError::Unavailable(e)) => {
                return Step::Retry(Outcome::fail(e, UNKNOWN).upstream(false), None)
            }
        };
        let started = Instant::now();
        let sent = self
            .http
            .post(&self.url)
            .timeout(self.retry.attempt_timeout(deadline))
            .header(header::AUTHORIZATION, &bearer)
            .header(header::CONTENT_TYPE, "application/json")
            .header("X-GOOG-API-FORMAT-VERSION", "2")
            .header("X-Firebase-Client", "fire-admin-go/4.18.0")
            .body(body.to_string())
            .send()
            .await;
        self.attempts.observe(started.elapsed());
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let text = if e.is_timeout() {
                    format!("timed out while making an http call: {e}")
                } else {
                    format!("unknown error while making an http call: {e}")
                };
                return Step::Retry(Outcome::fail(text, UNKNOWN).upstream(false), None);
            }
        };
        let status = response.status();
        if status.is_success() {
            return Step::Done(Outcome::ok().upstream(true));
        }
        let wait = retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let outcome = self.classify(status, &body);
        if outcome.status == pushgate::v1::Status::Remove {
            tracing::info!(reason = %outcome.reason, "Android response failure sending remove code");
        } else {
            tracing::error!(code = status.as_u16(), errorCode = %outcome.reason, error = %outcome.error, "Failed to send FCM push");
        }
        if status == StatusCode::UNAUTHORIZED {
            Step::Unauthorized(outcome.upstream(false), bearer)
        } else if matches!(status.as_u16(), 429 | 500 | 503) {
            Step::Retry(outcome, wait)
        } else {
            Step::Done(outcome)
        }
    }

    /// Contract §5.1 (Android): the FCM `errorCode` decides, with design deviation 3.
    fn classify(&self, status: StatusCode, body: &[u8]) -> Outcome {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let error = &json["error"];
        let message = error["message"].as_str().unwrap_or("").to_string();
        let code = error["details"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| {
                d["@type"]
                    .as_str()
                    .is_some_and(|t| t.ends_with("google.firebase.fcm.v1.FcmError"))
            })
            .and_then(|d| d["errorCode"].as_str())
            .unwrap_or("");
        let outcome = match code {
            "UNREGISTERED" => Outcome::remove(code),
            "SENDER_ID_MISMATCH" if self.remove_on_mismatch => Outcome::remove(code),
            "SENDER_ID_MISMATCH" => Outcome::fail(
                format!("FCM says the token belongs to another sender (SENDER_ID_MISMATCH: {message}): check that ServiceFileLocation is the service account of the app's Firebase project (token kept; RemoveOnMismatch restores MPNS's REMOVE)"),
                code,
            ),
            "INTERNAL" | "INVALID_ARGUMENT" | "QUOTA_EXCEEDED" | "UNAVAILABLE" => {
                Outcome::fail(message, code)
            }
            "THIRD_PARTY_AUTH_ERROR" | "APNS_AUTH_ERROR" => {
                Outcome::fail(message, "THIRD_PARTY_AUTH_ERROR")
            }
            _ => {
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                Outcome::fail(
                    format!("unexpected http response with status: {}\n{text}", status.as_u16()),
                    UNKNOWN,
                )
            }
        };
        // A 403 without an FCM code is our credentials refused (e.g. the API not enabled).
        if status == StatusCode::FORBIDDEN && code.is_empty() {
            outcome.upstream(false)
        } else {
            outcome.upstream(true)
        }
    }
}
