//! The Android provider: FCM HTTP v1 (docs/mpns-contract.md §4, §5) without Google's SDK: a
//! service-account OAuth2 token and one POST per push. This module makes one attempt and says
//! what FCM's answer means; the loop around it is `delivery.rs`.

mod general;
pub mod message;
mod oauth;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::{
    config::{AndroidSettings, Delivery},
    connections::Connections,
    delivery::{self, Answer, Context, Lost, Provider, Target, Verdict},
    metrics::Metrics,
    oauth::TokenSource,
    outcome::{Family, Outcome},
    retry::retry_after,
    upstream::{self, ClientSettings, Link},
};
use message::FcmFormat;
use oauth::ServiceAccount;

/// What firebase-admin-go 4.18.0 sends: `gl-go/<Go version> fire-admin/<SDK version>`, with the
/// Go version MPNS's go.mod names (1.26.3).
const GOOG_API_CLIENT: &str = "gl-go/1.26.3 fire-admin/4.18.0";

/// Requests in flight on one connection before another opens: what Google's front ends allow.
const STREAMS: usize = 100;

/// The FCM reason MPNS reports for transport and unclassified errors.
const UNKNOWN: &str = "unknown transport error";

/// The target for one `AndroidPushSettings` entry.
pub fn target(
    entry: &AndroidSettings,
    delivery: &Delivery,
    metrics: &Metrics,
    context: impl FnOnce(Family) -> Context,
) -> Result<Target, String> {
    if !entry.android_api_key.is_empty() {
        tracing::info!(
            "AndroidPushSettings.AndroidAPIKey is no longer used. Please remove this config value."
        );
    }
    if entry.dry_run {
        tracing::info!(r#type = %entry.kind, "Initializing Android notification server in dry-run mode");
        return Ok(delivery::dry_run(&entry.kind, Family::ANDROID, FcmFormat));
    }
    let client = Client::new(entry, delivery, metrics)?;
    Ok(delivery::live(
        &entry.kind,
        client,
        context(Family::ANDROID),
    ))
}

struct Client {
    /// Connections to FCM, more as streams fill.
    connections: Connections,
    /// `…/v1/projects/<project>/messages:send`, parsed once (not per push).
    url: http::Uri,
    /// The headers every push carries, cloned per push.
    common: HeaderMap,
    /// The OAuth2 access token, cached and refreshed one caller at a time.
    tokens: TokenSource<ServiceAccount>,
    /// `RemoveOnMismatch`: answer MPNS's REMOVE to `SENDER_ID_MISMATCH`.
    remove_on_mismatch: bool,
}

impl Client {
    fn new(
        entry: &AndroidSettings,
        delivery: &Delivery,
        metrics: &Metrics,
    ) -> Result<Client, String> {
        if entry.service_file_location.is_empty() {
            return Err(
                "android push notifications not configured: missing ServiceFileLocation".into(),
            );
        }
        tracing::info!(r#type = %entry.kind, "Initializing Android notification server");
        let account = ServiceAccount::load(&entry.service_file_location, &entry.fcm_token_uri)?;
        let settings = ClientSettings {
            extra_root: upstream::extra_root("FcmCAFile", &entry.fcm_ca_file)?,
            connect_timeout: Duration::from_secs(10),
            opened: metrics.connection_counter(&entry.kind),
        };
        let oauth = upstream::client_builder(&settings)?
            .build()
            .map_err(|e| format!("cannot build the OAuth2 client: {e}"))?;
        let endpoint = entry.fcm_endpoint.trim_end_matches('/');
        let url = format!(
            "{endpoint}/v1/projects/{}/messages:send",
            account.project_id
        );
        let url: http::Uri = url
            .parse()
            .map_err(|e| format!("FcmEndpoint and project_id make no URL ({url:?}): {e}"))?;
        // Google's FCM endpoint speaks HTTP/2, on pushgate's own client. A plain-HTTP endpoint
        // (a local mock or relay) gets HTTP/1.1 on reqwest, as Go's client would use.
        let open: Box<dyn Fn() -> Result<Link, String> + Send + Sync> =
            if url.scheme_str() == Some("https") {
                let proxy = match upstream::https_proxy_for(url.host().unwrap_or_default()) {
                    Some(proxy) => Some(
                        http2::Proxy::parse(&proxy)
                            .map_err(|e| format!("HTTPS_PROXY is not a proxy URL: {e}"))?,
                    ),
                    None => None,
                };
                let settings = upstream::http2_settings(url.clone(), &settings, None, proxy)?;
                Box::new(move || {
                    http2::Connection::new(settings.clone())
                        .map(Link::Http2)
                        .map_err(|e| format!("FcmEndpoint: {e}"))
                })
            } else {
                Box::new(move || {
                    upstream::client_builder(&settings)?
                        .pool_max_idle_per_host(1024)
                        .build()
                        .map(Link::Reqwest)
                        .map_err(|e| format!("cannot build the FCM client: {e}"))
                })
            };
        let mut common = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("x-goog-api-format-version", "2"),
            ("x-firebase-client", "fire-admin-go/4.18.0"),
            ("x-goog-api-client", GOOG_API_CLIENT),
        ] {
            common.insert(name, HeaderValue::from_static(value));
        }
        Ok(Client {
            tokens: TokenSource::new(account, oauth, metrics.token_refresh_counter(&entry.kind)),
            connections: Connections::new(delivery.upstream, STREAMS, open)?,
            url,
            common,
            remove_on_mismatch: delivery.remove_on_mismatch,
        })
    }

    /// What a non-2xx answer means: the FCM `errorCode` decides (docs/mpns-contract.md §5.1,
    /// with docs/deviations.md, 3).
    fn classify(&self, status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Answer {
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
            // MPNS reports every FCM removal as UNREGISTERED.
            "SENDER_ID_MISMATCH" if self.remove_on_mismatch => Outcome::remove("UNREGISTERED"),
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
            // firebase-admin-go's text: the error's message, else the status and the body.
            _ if !message.is_empty() => Outcome::fail(message, UNKNOWN),
            _ => {
                let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                Outcome::fail(
                    format!("unexpected http response with status: {}\n{text}", status.as_u16()),
                    UNKNOWN,
                )
            }
        };
        let verdict = match status.as_u16() {
            // Our access token refused. A 401 with an FCM code (THIRD_PARTY_AUTH_ERROR: the
            // project's APNs credentials) is FCM's answer about the app, not about our token.
            401 if code.is_empty() => Verdict::Reauth,
            // A 403 without an FCM code is our credentials refused (e.g. the API not enabled).
            403 if code.is_empty() => Verdict::Refused,
            429 | 500 | 503 => Verdict::Retry(retry_after),
            _ => Verdict::Final,
        };
        Answer::new(outcome, verdict).with_status(status.as_u16())
    }
}

impl Provider for Client {
    type Format = FcmFormat;

    const FAMILY: Family = Family::ANDROID;

    const DEADLINE: (&'static str, &'static str) = ("context deadline exceeded", UNKNOWN);

    const REAUTH_LOG: Option<&'static str> =
        Some("FCM refused the access token; fetching a new one");

    fn format(&self) -> &FcmFormat {
        &FcmFormat
    }

    async fn credential(
        &self,
        refused: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<String>, Answer> {
        self.tokens.credential(refused, timeout, UNKNOWN).await
    }

    async fn attempt(&self, body: &String, credential: Option<&str>, timeout: Duration) -> Answer {
        let mut req = http::Request::post(self.url.clone())
            .body(Bytes::from(body.clone()))
            .expect("a parsed URI and no headers");
        let mut headers = self.common.clone();
        if let Some(bearer) = credential {
            match HeaderValue::try_from(bearer) {
                Ok(bearer) => _ = headers.insert(header::AUTHORIZATION, bearer),
                Err(e) => {
                    let text = format!("the access token cannot be sent: {e}");
                    return Answer::new(Outcome::fail(text, UNKNOWN), Verdict::Refused);
                }
            }
        }
        *req.headers_mut() = headers;
        // The attempt's clock starts once the request has a stream to go out on.
        let stream = self.connections.stream().await;
        let reply = match stream.link().send(req, timeout).await {
            Ok(reply) => reply,
            Err(e) => {
                let text = match e.lost {
                    Lost::Timeout => format!("timed out while making an http call: {}", e.text),
                    _ => format!("unknown error while making an http call: {}", e.text),
                };
                return Answer::new(Outcome::fail(text, UNKNOWN), Verdict::Transport(e.lost));
            }
        };
        if reply.status.is_success() {
            let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
            let name = json["name"].as_str().unwrap_or_default();
            return Answer::new(Outcome::delivered(name), Verdict::Delivered)
                .with_status(reply.status.as_u16());
        }
        let answer = self.classify(reply.status, &reply.body, retry_after(&reply.headers));
        if answer.outcome.status == pushgate::v1::Status::Remove {
            tracing::info!(reason = %answer.outcome.reason, "Android response failure sending remove code");
        } else {
            tracing::error!(code = reply.status.as_u16(), errorCode = %answer.outcome.reason, error = %answer.outcome.error, "Failed to send FCM push");
        }
        answer
    }
}
