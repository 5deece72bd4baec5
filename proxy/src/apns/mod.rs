//! The Apple target: APNs over HTTP/2 (contract §3, §5). Our own client on reqwest + rustls,
//! because `a2` cannot be pointed at another endpoint or CA and lacks `thread-id`.

mod auth;
mod legacy_pem;
pub mod payload;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{header, StatusCode};

use crate::{
    config::{AppleSettings, Config},
    metrics::{AttemptMetrics, Metrics},
    push::{redact_token, Push},
    retry::{retry_after, Retry},
    targets::{Family, Outcome},
};

const PRODUCTION: &str = "https://api.push.apple.com";
const SANDBOX: &str = "https://api.sandbox.push.apple.com";

pub struct Client {
    attempts: AttemptMetrics,
    http: reqwest::Client,
    endpoint: String,
    topic: String,
    token: Option<auth::TokenSigner>,
    retry: Retry,
    remove_on_mismatch: bool,
}

/// What one attempt came to.
enum Step {
    Done(Outcome),
    /// Worth another attempt: a transport error or a 5xx.
    Retry(Outcome, Option<Duration>),
    ExpiredToken(Outcome),
}

impl Client {
    pub fn new(
        entry: &AppleSettings,
        config: &Config,
        metrics: Arc<Metrics>,
    ) -> Result<Client, String> {
        let token_auth = !entry.auth_key_file.is_empty()
            && !entry.auth_key_id.is_empty()
            && !entry.team_id.is_empty();
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .http2_prior_knowledge()
            .connect_timeout(Duration::from_secs(20))
            .tcp_keepalive(Duration::from_secs(15))
            .http2_keep_alive_interval(Duration::from_secs(15))
            .http2_keep_alive_while_idle(true)
            .pool_idle_timeout(None)
            .connector_layer(metrics.connection_counter(&entry.kind));
        if !entry.ca_file.is_empty() {
            let pem = read(&entry.ca_file, "ApplePushCAFile")?;
            let ca = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| format!("ApplePushCAFile {}: {e}", entry.ca_file))?;
            builder = builder.add_root_certificate(ca);
        }
        let token = if token_auth {
            tracing::info!(r#type = %entry.kind, "Initializing apple notification server with AuthKey");
            let p8 = read(&entry.auth_key_file, "AppleAuthKeyFile")?;
            Some(auth::TokenSigner::new(
                &p8,
                &entry.auth_key_id,
                &entry.team_id,
                metrics.token_refresh_counter(&entry.kind),
            )?)
        } else if !entry.cert_private.is_empty() {
            tracing::info!(r#type = %entry.kind, "Initializing apple notification server with PEM certificate");
            let (identity, expires) = client_identity(&entry.cert_private, &entry.cert_password)?;
            if let Some(expires) = expires {
                metrics.certificate_expires(&entry.kind, expires);
            }
            builder = builder.identity(identity);
            None
        } else {
            return Err(format!(
                "apple push notifications not configured: missing ApplePushCertPrivate for type={}",
                entry.kind
            ));
        };
        let http = builder
            .build()
            .map_err(|e| format!("cannot build the APNs client: {e}"))?;
        let endpoint = if !entry.endpoint.is_empty() {
            entry.endpoint.trim_end_matches('/').to_string()
        } else if entry.use_development {
            SANDBOX.to_string()
        } else {
            PRODUCTION.to_string()
        };
        Ok(Client {
            attempts: metrics.attempts(Family::Apple, &entry.kind),
            http,
            endpoint,
            topic: entry.topic.clone(),
            token,
            retry: Retry::from_config(config),
            remove_on_mismatch: config.remove_on_mismatch,
        })
    }

    pub async fn send(&self, push: &Push, deadline: Instant) -> Outcome {
        let request = payload::build(push, &self.topic);
        let url = format!("{}{}", self.endpoint, request.path);
        let did = redact_token(&push.n.device_id);
        let mut bearer = match self.token.as_ref().map(|t| t.bearer()).transpose() {
            Ok(b) => b,
            Err(e) => return Outcome::fail(e, "RequestError").upstream(false),
        };
        let mut renewed = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let step = self
                .attempt(&url, &request, bearer.as_deref(), deadline)
                .await;
            let (outcome, retry_after) = match step {
                Step::Done(outcome) => return outcome,
                Step::ExpiredToken(outcome) => match (&self.token, &bearer, renewed) {
                    // Re-sign once and try again at once (not counted as a failed attempt).
                    (Some(signer), Some(old), false) => {
                        renewed = true;
                        attempts -= 1;
                        match signer.renew(old) {
                            Ok(new) => bearer = Some(new),
                            Err(e) => return Outcome::fail(e, "ExpiredProviderToken"),
                        }
                        continue;
                    }
                    _ => return outcome,
                },
                Step::Retry(outcome, retry_after) => (outcome, retry_after),
            };
            tracing::error!(did = %did, retry = attempts, error = %outcome.reason, "Failed to send apple push");
            match self.retry.next_wait(attempts, retry_after, deadline) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => {
                    tracing::error!(did = %did, "Max retries reached");
                    return outcome;
                }
            }
        }
    }

    async fn attempt(
        &self,
        url: &str,
        request: &payload::ApnsRequest,
        bearer: Option<&str>,
        deadline: Instant,
    ) -> Step {
        let mut req = self
            .http
            .post(url)
            .timeout(self.retry.attempt_timeout(deadline))
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header("apns-priority", request.priority)
            .header("apns-push-type", request.push_type)
            .body(request.body.clone());
        if let Some(topic) = &request.topic {
            req = req.header("apns-topic", topic);
        }
        if let Some(bearer) = bearer {
            req = req.header(header::AUTHORIZATION, bearer);
        }
        let started = Instant::now();
        let sent = req.send().await;
        self.attempts.observe(started.elapsed());
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, elapsed = ?started.elapsed(), "APNs transport error");
                let outcome = Outcome::fail("unknown transport error", "RequestError");
                return Step::Retry(outcome.upstream(false), None);
            }
        };
        let status = response.status();
        if status == StatusCode::OK {
            return Step::Done(Outcome::ok().upstream(true));
        }
        let wait = retry_after(response.headers());
        let apns_id = response
            .headers()
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(_) => {
                let outcome = Outcome::fail("unknown transport error", "RequestError");
                return Step::Retry(outcome.upstream(false), None);
            }
        };
        let reason = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["reason"].as_str().map(String::from))
            .unwrap_or_default();
        let outcome = self.classify(&reason);
        if outcome.status == pushgate::v1::Status::Remove {
            tracing::info!(ApnsID = %apns_id, reason = %reason, code = status.as_u16(), "Failed to send apple push sending remove code res");
        } else {
            tracing::error!(ApnsID = %apns_id, reason = %reason, code = status.as_u16(), "Failed to send apple push with res");
        }
        if reason == "ExpiredProviderToken" {
            Step::ExpiredToken(outcome)
        } else if status.is_server_error() {
            Step::Retry(outcome, wait)
        } else {
            Step::Done(outcome)
        }
    }

    /// Contract §5.1 for a non-200 answer, with design deviation 3.
    fn classify(&self, reason: &str) -> Outcome {
        let outcome = match reason {
            "BadDeviceToken" | "Unregistered" | "MissingDeviceToken" => Outcome::remove(reason),
            "DeviceTokenNotForTopic" if self.remove_on_mismatch => Outcome::remove(reason),
            "DeviceTokenNotForTopic" => Outcome::fail(
                format!(
                    "APNs says the device token is not for topic {:?}: check ApplePushTopic and ApplePushUseDevelopment (token kept; RemoveOnMismatch restores MPNS's REMOVE)",
                    self.topic
                ),
                reason,
            ),
            _ => Outcome::fail("unknown send response error", reason),
        };
        // Answers that mean our credentials are refused make the target NOT_SERVING.
        let auth_rejected = matches!(
            reason,
            "InvalidProviderToken"
                | "ExpiredProviderToken"
                | "MissingProviderToken"
                | "BadCertificate"
                | "BadCertificateEnvironment"
                | "Forbidden"
        );
        outcome.upstream(!auth_rejected)
    }
}

/// The TLS client certificate of certificate auth: a PEM with the certificate chain and a key
/// (legacy-encrypted with `ApplePushCertPassword` or not), or a PKCS#12 (.p12) bundle opened
/// with `ApplePushCertPassword`.
/// Also returns when the leaf certificate expires, for the expiry metric.
fn client_identity(path: &str, password: &str) -> Result<(reqwest::Identity, Option<i64>), String> {
    let bytes = read(path, "ApplePushCertPrivate")?;
    let pem = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        if String::from_utf8_lossy(&bytes).contains("Proc-Type: 4,ENCRYPTED") {
            legacy_pem::decrypt(&bytes, password)
                .map_err(|e| format!("ApplePushCertPrivate {path}: {e}"))?
        } else {
            bytes
        }
    } else {
        pkcs12_to_pem(&bytes, password)
            .map_err(|e| format!("ApplePushCertPrivate {path}: not a PEM file, and not a PKCS#12 bundle this password opens: {e}"))?
    };
    let identity = reqwest::Identity::from_pem(&pem)
        .map_err(|e| format!("ApplePushCertPrivate {path}: not a certificate and key: {e}"))?;
    Ok((identity, leaf_expiry(&pem)))
}

/// `notAfter` of the first certificate in a PEM bundle, as Unix seconds.
fn leaf_expiry(pem_bytes: &[u8]) -> Option<i64> {
    let blocks = pem::parse_many(pem_bytes).ok()?;
    let leaf = blocks.iter().find(|b| b.tag() == "CERTIFICATE")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.contents()).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn pkcs12_to_pem(der: &[u8], password: &str) -> Result<Vec<u8>, String> {
    use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(der, password, Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| e.to_string())?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or("no private key in the bundle")?;
    if chain.certs().is_empty() {
        return Err("no certificate for the private key".into());
    }
    let mut out = String::new();
    for cert in chain.certs() {
        out.push_str(&pem::encode(&pem::Pem::new(
            "CERTIFICATE",
            cert.as_der().to_vec(),
        )));
    }
    out.push_str(&pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        chain.key().as_der().to_vec(),
    )));
    Ok(out.into_bytes())
}

fn read(path: &str, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key} {path}: {e}"))
}
