//! The Apple provider: APNs over HTTP/2 (docs/mpns-contract.md §3, §5). Our own client on
//! the `http2` crate, because `a2` cannot be pointed at another endpoint or CA and lacks
//! `thread-id`. This module makes one attempt and says what APNs' answer means; the loop
//! around it is `delivery.rs`.

mod certificate;
mod general;
mod legacy_pem;
pub mod payload;
mod token;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};

use crate::{
    config::{AppleAuth, AppleSettings, Delivery},
    connections::Connections,
    delivery::{self, Answer, Context, Lost, Provider, Target, Verdict},
    metrics::Metrics,
    outcome::{Family, Outcome},
    retry::retry_after,
    upstream::{self, read, ClientSettings, Link},
};
use payload::{ApnsFormat, ApnsRequest};

const PRODUCTION: &str = "https://api.push.apple.com";
const SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// Requests in flight on one connection before another opens: what APNs allows.
const STREAMS: usize = 1000;

/// The target for one `ApplePushSettings` entry.
pub fn target(
    entry: &AppleSettings,
    delivery: &Delivery,
    metrics: &Metrics,
    context: impl FnOnce(Family) -> Context,
) -> Result<Target, String> {
    let format = ApnsFormat {
        topic: entry.topic.clone(),
    };
    if entry.dry_run {
        tracing::info!(r#type = %entry.kind, "Initializing apple notification server in dry-run mode");
        return Ok(delivery::dry_run(&entry.kind, Family::APPLE, format));
    }
    let client = Client::new(entry, format, delivery, metrics)?;
    Ok(delivery::live(&entry.kind, client, context(Family::APPLE)))
}

struct Client {
    /// HTTP/2 connections to APNs, more as streams fill.
    connections: Connections,
    /// The endpoint's scheme and host, parsed once: parsing a whole URL per push cost ~5% of
    /// a push's instructions. Each attempt only adds the path.
    origin: http::uri::Parts,
    /// The endpoint's own path, without a trailing slash (usually empty).
    base_path: String,
    /// The headers every push carries, cloned per push.
    common: HeaderMap,
    format: ApnsFormat,
    /// Provider-token auth; `None` with certificate auth, where TLS carries the credential.
    token: Option<token::TokenSigner>,
    /// `RemoveOnMismatch`: answer MPNS's REMOVE to `DeviceTokenNotForTopic`.
    remove_on_mismatch: bool,
}

impl Client {
    fn new(
        entry: &AppleSettings,
        format: ApnsFormat,
        delivery: &Delivery,
        metrics: &Metrics,
    ) -> Result<Client, String> {
        // MPNS: lowercase variables and NO_PROXY mean nothing to APNs.
        let proxy = match upstream::apns_proxy() {
            Some(url) => Some(
                http2::Proxy::parse(&url)
                    .map_err(|e| format!("HTTPS_PROXY/HTTP_PROXY is not a proxy URL: {e}"))?,
            ),
            None => None,
        };
        let (token, identity) = match entry.auth() {
            AppleAuth::Token {
                key_file,
                key_id,
                team_id,
            } => {
                tracing::info!(r#type = %entry.kind, "Initializing apple notification server with AuthKey");
                let p8 = read(key_file, "AppleAuthKeyFile")?;
                let signer = token::TokenSigner::new(
                    &p8,
                    key_id,
                    team_id,
                    &delivery.shared_state_redis,
                    metrics.token_refresh_counter(&entry.kind),
                )?;
                (Some(signer), None)
            }
            AppleAuth::Certificate { file, password } => {
                tracing::info!(r#type = %entry.kind, "Initializing apple notification server with PEM certificate");
                let (identity, expires) = certificate::client_identity(file, password)?;
                if let Some(expires) = expires {
                    metrics.certificate_expires(&entry.kind, expires);
                }
                (None, Some(identity))
            }
            // MPNS's words: without a whole token set it reads the certificate, and finds none.
            AppleAuth::Incomplete | AppleAuth::None => {
                return Err(format!(
                "apple push notifications not configured: missing ApplePushCertPrivate for type={}",
                entry.kind
            ))
            }
        };
        let endpoint = if !entry.endpoint.is_empty() {
            entry.endpoint.trim_end_matches('/').to_string()
        } else if entry.use_development {
            SANDBOX.to_string()
        } else {
            PRODUCTION.to_string()
        };
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("ApplePushEndpoint {endpoint:?} is not a URL: {e}"))?;
        let base_path = uri.path().trim_end_matches('/').to_string();
        let settings = upstream::http2_settings(
            uri.clone(),
            &ClientSettings {
                extra_root: upstream::extra_root("ApplePushCAFile", &entry.ca_file)?,
                connect_timeout: Duration::from_secs(20),
                opened: metrics.connection_counter(&entry.kind),
            },
            identity.as_deref().map(|pem| ("ApplePushCertPrivate", pem)),
            proxy,
        )?;
        let open = move || {
            http2::Connection::new(settings.clone())
                .map(Link::Http2)
                .map_err(|e| format!("ApplePushEndpoint {endpoint:?}: {e}"))
        };
        let mut origin = uri.into_parts();
        origin.path_and_query = None;
        let mut common = HeaderMap::new();
        common.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        Ok(Client {
            connections: Connections::new(delivery.upstream, STREAMS, open)?,
            base_path,
            origin,
            common,
            format,
            token,
            remove_on_mismatch: delivery.remove_on_mismatch,
        })
    }

    /// The HTTP request of one attempt: the endpoint with the device's path, the common
    /// headers, the push's own, the body.
    fn request(
        &self,
        request: &ApnsRequest,
        credential: Option<&str>,
    ) -> Result<http::Request<Bytes>, http::Error> {
        let path = if self.base_path.is_empty() {
            request.path.clone()
        } else {
            format!("{}{}", self.base_path, request.path)
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = self.origin.scheme.clone();
        uri.authority = self.origin.authority.clone();
        uri.path_and_query = Some(path.try_into()?);
        let mut headers = self.common.clone();
        headers.insert("apns-priority", HeaderValue::from_static(request.priority));
        headers.insert(
            "apns-push-type",
            HeaderValue::from_static(request.push_type),
        );
        if let Some(topic) = &request.topic {
            headers.insert("apns-topic", HeaderValue::try_from(topic.as_str())?);
        }
        if let Some(expiration) = request.expiration {
            headers.insert("apns-expiration", HeaderValue::from(expiration));
        }
        if let Some(collapse_id) = &request.collapse_id {
            headers.insert(
                "apns-collapse-id",
                HeaderValue::try_from(collapse_id.as_str())?,
            );
        }
        if let Some(bearer) = credential {
            headers.insert(header::AUTHORIZATION, HeaderValue::try_from(bearer)?);
        }
        let mut req = http::Request::post(http::Uri::from_parts(uri)?)
            .body(Bytes::from(request.body.clone()))?;
        *req.headers_mut() = headers;
        Ok(req)
    }

    /// What a non-200 answer's `reason` means (docs/mpns-contract.md §5.1, with
    /// docs/deviations.md, 3).
    fn classify(&self, status: StatusCode, reason: &str, retry_after: Option<Duration>) -> Answer {
        let outcome = match reason {
            "BadDeviceToken" | "Unregistered" | "MissingDeviceToken" => Outcome::remove(reason),
            "DeviceTokenNotForTopic" if self.remove_on_mismatch => Outcome::remove(reason),
            "DeviceTokenNotForTopic" => Outcome::fail(
                format!(
                    "APNs says the device token is not for topic {:?}: check ApplePushTopic and ApplePushUseDevelopment (token kept; RemoveOnMismatch restores MPNS's REMOVE)",
                    self.format.topic
                ),
                reason,
            ),
            _ => Outcome::fail("unknown send response error", reason),
        };
        let verdict = match reason {
            "ExpiredProviderToken" => Verdict::Reauth,
            // Our credentials are refused: the target is NOT_SERVING.
            "InvalidProviderToken"
            | "MissingProviderToken"
            | "BadCertificate"
            | "BadCertificateEnvironment"
            | "Forbidden" => Verdict::Refused,
            _ if status.is_server_error() => Verdict::Retry(retry_after),
            _ => Verdict::Final,
        };
        Answer::new(outcome, verdict).with_status(status.as_u16())
    }
}

fn transport_error(lost: Lost) -> Answer {
    Answer::new(
        Outcome::fail("unknown transport error", "RequestError"),
        Verdict::Transport(lost),
    )
}

impl Provider for Client {
    type Format = ApnsFormat;

    const FAMILY: Family = Family::APPLE;

    const DEADLINE: (&'static str, &'static str) = ("unknown transport error", "RequestError");

    fn format(&self) -> &ApnsFormat {
        &self.format
    }

    async fn credential(
        &self,
        refused: Option<&str>,
        _timeout: Duration,
    ) -> Result<Option<String>, Answer> {
        let Some(signer) = &self.token else {
            return Ok(None);
        };
        let signed = match refused {
            None => signer.bearer().await,
            // Re-signs unless another request already did (Apple throttles new tokens).
            Some(refused) => signer.renew(refused).await,
        };
        let reason = match refused {
            None => "RequestError",
            Some(_) => "ExpiredProviderToken",
        };
        signed
            .map(Some)
            .map_err(|e| Answer::new(Outcome::fail(e, reason), Verdict::Refused))
    }

    async fn attempt(
        &self,
        request: &ApnsRequest,
        credential: Option<&str>,
        timeout: Duration,
    ) -> Answer {
        let req = match self.request(request, credential) {
            Ok(req) => req,
            Err(e) => {
                // A header value the request itself made unsendable: no attempt can carry it.
                return Answer::new(
                    Outcome::fail(
                        format!("cannot build the APNs request: {e}"),
                        "RequestError",
                    ),
                    Verdict::Final,
                );
            }
        };
        // The attempt's clock starts once the request has a stream to go out on.
        let stream = self.connections.stream().await;
        let reply = match stream.link().send(req, timeout).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::debug!(error = %e.text, "APNs transport error");
                return transport_error(e.lost);
            }
        };
        let status = reply.status;
        let apns_id = reply
            .headers
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if status == StatusCode::OK {
            return Answer::new(Outcome::delivered(apns_id), Verdict::Delivered).with_status(200);
        }
        // apns2 decodes every non-200 body as JSON; one that is not (an HTML page from a
        // balancer in front of APNs) is an error without an APNs answer, and retried.
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&reply.body) else {
            tracing::debug!(code = status.as_u16(), "APNs answer is not JSON");
            return transport_error(Lost::Connection).with_status(status.as_u16());
        };
        let reason = json["reason"].as_str().unwrap_or_default().to_string();
        let answer = self.classify(status, &reason, retry_after(&reply.headers));
        if answer.outcome.status == pushgate::v1::Status::Remove {
            tracing::info!(ApnsID = %apns_id, reason = %reason, code = status.as_u16(), "Failed to send apple push sending remove code res");
        } else {
            tracing::error!(ApnsID = %apns_id, reason = %reason, code = status.as_u16(), "Failed to send apple push with res");
        }
        answer
    }

    fn log_error(outcome: &Outcome) -> &str {
        &outcome.reason
    }
}
