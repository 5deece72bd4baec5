//! Web Push for UnifiedPush, as MPNS's pull request 166 defines it (docs/providers.md): config
//! section `WebPushSettings`, the device id a base64url JSON subscription (`endpoint`, `p256dh`,
//! `auth`), the payload the data MPNS gives FCM (without the emoji expansion, as MPNS), the
//! message encrypted for the subscription (RFC 8291, aes128gcm) and signed for the relay with
//! VAPID (RFC 8292), and MPNS's answers. The endpoint is the device's to choose, so every push
//! passes the address rules of `address.rs`, and redirects are never followed.

pub(crate) mod address;
mod subscription;

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use gojson::{to_go_json, GoObject};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use pushgate::v1::Priority;
use reqwest::header;

use crate::{
    delivery::{self, Answer, Format, Lost, Provider, Registration, Setup, Target, Verdict},
    fcm::message::data,
    general::General,
    outcome::{Family, Outcome},
    push::Push,
    retry::retry_after,
    upstream::{self, ClientSettings},
};
use address::Rules;
use subscription::Bundle;

pub const PROVIDER: Registration = Registration {
    section: "WebPushSettings",
    target,
};

/// MPNS's `platform` label for Web Push.
const FAMILY: Family = Family::new("unified_push");
const DEFAULT_TTL_SECONDS: i64 = 30;
const DEFAULT_MAX_ERROR_BODY_BYTES: usize = 8 * 1024;
/// The most plaintext MPNS's client takes: its 4,096-byte record, less the header, the tag and
/// the padding delimiter.
const MAX_PAYLOAD_BYTES: usize = 3993;
/// How long a VAPID signature is good for (webpush-go's 12 hours).
const VAPID_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Reasons, as MPNS's failure metric labels them.
const INVALID_DEVICE_ID: &str = "INVALID_DEVICE_ID";
const REQUEST_ERROR: &str = "RequestError";

/// One `WebPushSettings` entry.
struct Settings {
    /// `RequestTimeout`: one request's budget in seconds; 0 is `SendTimeoutSec`.
    request_timeout: i64,
    /// `VAPIDPublicKey` and `VAPIDPrivateKey`: the P-256 pair, base64url (standard base64
    /// also taken, as MPNS).
    vapid_public: String,
    vapid_private: String,
    /// `Subscriber`: the `mailto:` or `https:` contact the relay's operator can reach.
    subscriber: String,
    /// `AllowedHosts`: `host` or `host:port` exempt from the address rules (still https).
    allowed_hosts: Vec<String>,
    /// `MaxErrorBodyBytes` (8,192): how much of a relay's error body a FAIL repeats.
    max_error_body: i64,
    /// `TTLSeconds` (30): how long the relay keeps an undelivered push.
    ttl_seconds: i64,
    /// `AdditionalBlockedCIDRs`: ranges refused beside the built-in ones.
    blocked: Vec<String>,
    /// `WebPushCAFile` (pushgate): a PEM of CAs to trust beside the system roots.
    ca_file: String,
    /// `DryRun` (pushgate): build each request and log it, send nothing, answer OK.
    dry_run: bool,
}

impl Settings {
    fn parse(o: &GoObject) -> Result<Settings, String> {
        Ok(Settings {
            request_timeout: o.int64("RequestTimeout", "int")?,
            vapid_public: o.string("VAPIDPublicKey")?,
            vapid_private: o.string("VAPIDPrivateKey")?,
            subscriber: o.string("Subscriber")?,
            allowed_hosts: o.strings("AllowedHosts")?,
            max_error_body: o.int64("MaxErrorBodyBytes", "int")?,
            ttl_seconds: o.int64("TTLSeconds", "int")?,
            blocked: o.strings("AdditionalBlockedCIDRs")?,
            ca_file: o.string("WebPushCAFile")?,
            dry_run: o.boolean("DryRun")?,
        })
    }

    /// MPNS's start-up checks, in its order and words: the signer and the address rules.
    fn check(&self) -> Result<(Vapid, Rules), String> {
        let vapid = Vapid::new(&self.vapid_public, &self.vapid_private, &self.subscriber)?;
        if self.subscriber.is_empty() {
            return Err("Subscriber is required and must be a mailto: or https: contact URI in WebPushSettings".into());
        }
        if !self.subscriber.starts_with("mailto:") && !self.subscriber.starts_with("https://") {
            return Err(format!(
                "Subscriber must be a mailto: or https: URI, got {:?}",
                self.subscriber
            ));
        }
        if let Some(h) = self
            .allowed_hosts
            .iter()
            .find(|h| h.contains("://") || h.contains('/') || h.contains('*'))
        {
            return Err(format!(
                "AllowedHosts entry {h:?} must be a bare host or host:port, not a URL or glob"
            ));
        }
        let rules = Rules::new(&self.blocked)?;
        if self.ttl_seconds < 0 {
            return Err(format!(
                "TTLSeconds must not be negative, got {}",
                self.ttl_seconds
            ));
        }
        Ok((vapid, rules))
    }

    fn format(&self, rules: Rules) -> WebPushFormat {
        WebPushFormat {
            ttl_seconds: match self.ttl_seconds {
                0 => DEFAULT_TTL_SECONDS,
                n => n,
            },
            allowed_hosts: self.allowed_hosts.clone(),
            rules,
        }
    }
}

fn target(entry: &GoObject, setup: &Setup<'_>) -> Result<Target, String> {
    let settings = Settings::parse(entry)?;
    let failed = |e: String| {
        format!(
            "failed to initialize WebPush notification service for type={:?}: {e}",
            setup.kind
        )
    };
    if settings.dry_run {
        tracing::info!(r#type = %setup.kind, "Initializing WebPush notification server in dry-run mode");
        let rules = Rules::new(&settings.blocked).map_err(failed)?;
        return Ok(delivery::dry_run(
            setup.kind,
            FAMILY,
            settings.format(rules),
        ));
    }
    tracing::info!(r#type = %setup.kind, "Initializing WebPush notification server");
    let (vapid, rules) = settings.check().map_err(failed)?;
    let format = settings.format(rules);
    let client_settings = ClientSettings {
        extra_root: upstream::extra_root("WebPushCAFile", &settings.ca_file)?,
        connect_timeout: Duration::from_secs(10),
        opened: setup.metrics.connection_counter(setup.kind),
    };
    let client = |guarded: bool| {
        let builder = upstream::client_builder(&client_settings)?
            // A relay's redirect is refused: it could point anywhere, the rules included.
            .redirect(reqwest::redirect::Policy::none())
            // Through a proxy the proxy would resolve the name, past the rules.
            .no_proxy();
        builder
            .dns_resolver(std::sync::Arc::new(address::Resolver {
                rules: guarded.then(|| format.rules.clone()),
            }))
            .build()
            .map_err(|e| format!("cannot build the WebPush client: {e}"))
    };
    let request_timeout = match settings.request_timeout {
        n if n <= 0 => setup.delivery.send_timeout,
        n => Duration::from_secs(n as u64),
    };
    let max_error_body = match settings.max_error_body {
        n if n <= 0 => DEFAULT_MAX_ERROR_BODY_BYTES,
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let client = Client {
        guarded: client(true)?,
        open: client(false)?,
        vapid,
        request_timeout,
        max_error_body,
        format,
    };
    Ok(delivery::live(setup.kind, client, (setup.context)(FAMILY)))
}

/// The VAPID signer (RFC 8292): the application server's key and contact.
struct Vapid {
    key: EncodingKey,
    /// The public key as the `k=` parameter: base64url without padding.
    public: String,
    subscriber: String,
    /// Signed `Authorization` values by audience, with their expiry (Unix seconds): signing
    /// costs more than the rest of a push, and a relay takes the same token until it expires.
    signed: std::sync::Mutex<HashMap<String, (String, u64)>>,
}

/// How many relays' tokens are kept; past that the cache starts again (a gateway talks to a
/// few relays; a flood of self-hosted ones costs a signature each, as without the cache).
const VAPID_CACHE_ENTRIES: usize = 1024;

impl Vapid {
    fn new(public: &str, private: &str, subscriber: &str) -> Result<Vapid, String> {
        if public.is_empty() || private.is_empty() {
            return Err("VAPIDPublicKey and VAPIDPrivateKey are both required and must be set in WebPushSettings".into());
        }
        let private = subscription::decode_key(private)
            .map_err(|e| format!("VAPIDPrivateKey is not valid base64: {e}"))?;
        let secret = p256::SecretKey::from_slice(&private)
            .map_err(|_| "VAPIDPrivateKey is not a valid P-256 private key".to_string())?;
        let public = subscription::decode_key(public)
            .map_err(|e| format!("VAPIDPublicKey is not valid base64: {e}"))?;
        let public_key = p256::PublicKey::from_sec1_bytes(&public)
            .map_err(|_| "VAPIDPublicKey is not a valid P-256 public key".to_string())?;
        if secret.public_key() != public_key {
            return Err("VAPIDPublicKey does not correspond to VAPIDPrivateKey".into());
        }
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| format!("VAPIDPrivateKey: {e}"))?;
        Ok(Vapid {
            key: EncodingKey::from_ec_der(der.as_bytes()),
            public: URL_SAFE_NO_PAD.encode(&public),
            subscriber: subscriber.to_string(),
            signed: Default::default(),
        })
    }

    /// The `Authorization` value for a relay at `audience` (`https://host[:port]`): the one
    /// signed before while it has more than half its life left, else a new one.
    fn authorization(&self, audience: &str) -> Result<String, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let fresh_until = now + VAPID_LIFETIME.as_secs() / 2;
        let mut signed = self.signed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((value, _)) = signed.get(audience).filter(|(_, exp)| *exp > fresh_until) {
            return Ok(value.clone());
        }
        let value = self.sign(audience, now)?;
        if signed.len() >= VAPID_CACHE_ENTRIES {
            signed.clear();
        }
        signed.insert(
            audience.to_string(),
            (value.clone(), now + VAPID_LIFETIME.as_secs()),
        );
        Ok(value)
    }

    fn sign(&self, audience: &str, now: u64) -> Result<String, String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            exp: u64,
            sub: &'a str,
        }
        let claims = Claims {
            aud: audience,
            exp: now + VAPID_LIFETIME.as_secs(),
            sub: &self.subscriber,
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| format!("cannot sign the VAPID token: {e}"))?;
        Ok(format!("vapid t={jwt}, k={}", self.public))
    }
}

/// One push, encrypted for its subscription, ready for every attempt.
pub struct WebPushRequest {
    endpoint: reqwest::Url,
    /// `https://host[:port]`: the VAPID audience.
    audience: String,
    /// Whether the host is in `AllowedHosts`: sent without the address rules.
    allowed: bool,
    ttl_seconds: i64,
    urgency: Option<&'static str>,
    /// The aes128gcm body.
    body: Vec<u8>,
}

struct WebPushFormat {
    ttl_seconds: i64,
    allowed_hosts: Vec<String>,
    rules: Rules,
}

impl WebPushFormat {
    /// The request carrying `payload` to the subscription in `device_id`, or MPNS's FAIL.
    fn request(
        &self,
        device_id: &str,
        payload: &[u8],
        ttl_seconds: i64,
        urgency: Option<&'static str>,
    ) -> Result<WebPushRequest, Outcome> {
        // MPNS's order of checks, so that a push wrong in two ways gets MPNS's answer.
        let bundle = Bundle::decode(device_id).map_err(|e| {
            tracing::error!(error = %e, "Failed to decode WebPush device id");
            Outcome::fail(format!("invalid WebPush device id: {e}"), INVALID_DEVICE_ID)
        })?;
        let endpoint = reqwest::Url::parse(&bundle.endpoint).map_err(|e| {
            Outcome::fail(format!("invalid WebPush device id: {e}"), INVALID_DEVICE_ID)
        })?;
        if endpoint.scheme() != "https" {
            return Err(Outcome::fail(
                "endpoint must use https",
                "SCHEME_NOT_ALLOWED",
            ));
        }
        let authority = go_host(&bundle.endpoint);
        let allowed = self.allowed_hosts.iter().any(|h| h == authority);
        let subscription = bundle.keys().map_err(|e| Outcome::fail(e, REQUEST_ERROR))?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(Outcome::fail(
                "payload has exceeded the maximum length",
                REQUEST_ERROR,
            ));
        }
        // The URL standard reads a host into `https:///x` (`x`); Go, and so MPNS, find none.
        let Some(host) = endpoint.host().filter(|_| !authority.is_empty()) else {
            return Err(Outcome::fail(
                "Post: http: no Host in request URL",
                REQUEST_ERROR,
            ));
        };
        if address::literal(&host).is_some_and(|ip| {
            (!allowed && self.rules.forbidden(ip)) || address::outside_confinement(ip)
        }) {
            return Err(blocked(authority));
        }
        let body = subscription
            .encrypt(payload)
            .map_err(|e| Outcome::fail(e, REQUEST_ERROR))?;
        Ok(WebPushRequest {
            audience: format!("https://{authority}"),
            endpoint,
            allowed,
            ttl_seconds,
            urgency,
            body,
        })
    }
}

/// Go's `URL.Host` of an `https:` URL, as written: what follows `//` up to the path, query or
/// fragment, without user info; empty when there is none. `AllowedHosts` entries and the VAPID
/// audience are compared with it, as MPNS does.
fn go_host(endpoint: &str) -> &str {
    let rest = endpoint.split_once(':').map_or("", |(_, rest)| rest);
    let Some(rest) = rest.strip_prefix("//") else {
        return "";
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// MPNS's answer to a push whose destination the rules refuse; the host (never the path,
/// which is the subscription's secret) is logged.
fn blocked(host: &str) -> Outcome {
    tracing::warn!(host = %host, "blocked WebPush send: destination resolves to a private address");
    Outcome::fail("destination not permitted", "DESTINATION_BLOCKED")
}

impl Format for WebPushFormat {
    type Request = WebPushRequest;

    /// The data MPNS gives FCM, as a JSON object with Go's key order, text as sent.
    fn build(&self, push: &Push) -> Result<WebPushRequest, Outcome> {
        let payload = to_go_json(&data(push, str::to_string));
        self.request(
            &push.n.device_id,
            payload.as_bytes(),
            self.ttl_seconds,
            None,
        )
    }

    /// A `Send` notification: a JSON object with the data's keys, and `title` and `body` of an
    /// alert; `ttl` and a high priority as RFC 8030's `TTL` and `Urgency`.
    fn build_general(&self, general: &General, token: &str) -> Result<WebPushRequest, Outcome> {
        let n = &general.n;
        let mut payload: BTreeMap<&str, &str> = n
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(alert) = &n.alert {
            payload.insert("title", &alert.title);
            payload.insert("body", &alert.body);
        }
        let ttl = general.ttl.map_or(self.ttl_seconds, |t| t.as_secs() as i64);
        let urgency = (n.priority() == Priority::High).then_some("high");
        self.request(token, to_go_json(&payload).as_bytes(), ttl, urgency)
    }

    fn describe(request: &WebPushRequest) -> (String, usize) {
        let text = format!(
            "POST https://{}/… TTL {} ({} bytes encrypted)",
            request.endpoint.host_str().unwrap_or_default(),
            request.ttl_seconds,
            request.body.len()
        );
        (text, request.body.len())
    }
}

struct Client {
    /// For any endpoint: connects only where the address rules allow.
    guarded: reqwest::Client,
    /// For `AllowedHosts`.
    open: reqwest::Client,
    vapid: Vapid,
    request_timeout: Duration,
    max_error_body: usize,
    format: WebPushFormat,
}

impl Provider for Client {
    type Format = WebPushFormat;

    const FAMILY: Family = FAMILY;

    const DEADLINE: (&'static str, &'static str) = ("context deadline exceeded", REQUEST_ERROR);

    fn format(&self) -> &WebPushFormat {
        &self.format
    }

    /// The VAPID signature depends on the relay, so it is made per attempt in `attempt`.
    async fn credential(
        &self,
        _refused: Option<&str>,
        _timeout: Duration,
    ) -> Result<Option<String>, Answer> {
        Ok(None)
    }

    async fn attempt(
        &self,
        request: &WebPushRequest,
        _credential: Option<&str>,
        timeout: Duration,
    ) -> Answer {
        let authorization = match self.vapid.authorization(&request.audience) {
            Ok(value) => value,
            Err(e) => return Answer::new(Outcome::fail(e, REQUEST_ERROR), Verdict::Refused),
        };
        let client = if request.allowed {
            &self.open
        } else {
            &self.guarded
        };
        let mut req = client
            .post(request.endpoint.clone())
            .timeout(timeout.min(self.request_timeout))
            .header(header::CONTENT_ENCODING, "aes128gcm")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header("TTL", request.ttl_seconds)
            .header(header::AUTHORIZATION, authorization)
            .body(request.body.clone());
        if let Some(urgency) = request.urgency {
            req = req.header("Urgency", urgency);
        }
        let reply = match upstream::exchange(req).await {
            Ok(reply) => reply,
            Err(e) if address::is_blocked(&e) => {
                let host = request.endpoint.host_str().unwrap_or_default();
                return Answer::new(blocked(host), Verdict::Final);
            }
            Err(e) => {
                let lost = upstream::lost(&e);
                // The URL is the subscription's secret: never in the answer or a log line.
                let text = format!("Post: {}", upstream::describe(e));
                tracing::error!(error = %text, "Failed to send web push");
                return Answer::new(Outcome::fail(text, REQUEST_ERROR), Verdict::Transport(lost));
            }
        };
        let status = reply.status.as_u16();
        let (outcome, verdict) = match status {
            200..=202 => {
                let location = reply
                    .headers
                    .get(header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| l.rsplit('/').next())
                    .unwrap_or_default();
                (Outcome::delivered(location), Verdict::Delivered)
            }
            // Go's client refuses to follow and answers with its error.
            300..=399 if reply.headers.contains_key(header::LOCATION) => (
                Outcome::fail("Post: redirects are not followed", REQUEST_ERROR),
                Verdict::Final,
            ),
            404 | 410 => {
                tracing::info!(code = status, "WebPush endpoint gone, sending remove code");
                (Outcome::remove(status.to_string()), Verdict::Final)
            }
            429 => {
                tracing::info!("WebPush endpoint rate limited");
                (
                    Outcome::fail("webpush relay rate limited the request", "RATE_LIMITED"),
                    Verdict::Final,
                )
            }
            400..=499 => {
                tracing::error!(code = status, "WebPush request failed");
                let body = &reply.body[..reply.body.len().min(self.max_error_body)];
                (
                    Outcome::fail(String::from_utf8_lossy(body), status.to_string()),
                    Verdict::Final,
                )
            }
            _ => {
                tracing::error!(code = status, "WebPush request failed");
                let outcome = Outcome::fail(
                    format!("webpush relay returned status {status}"),
                    status.to_string(),
                );
                let verdict = if status >= 500 {
                    Verdict::Retry(retry_after(&reply.headers))
                } else {
                    Verdict::Transport(Lost::Connection)
                };
                (outcome, verdict)
            }
        };
        Answer::new(outcome, verdict).with_status(status)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_relay_gets_the_same_vapid_token_until_it_ages() {
        use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let secret = p256::SecretKey::from_slice(&[7; 32]).unwrap();
        let public = secret.public_key().to_encoded_point(false);
        let vapid = super::Vapid::new(
            &URL_SAFE_NO_PAD.encode(public.as_bytes()),
            &URL_SAFE_NO_PAD.encode(secret.to_bytes()),
            "mailto:a@example.com",
        )
        .unwrap();
        let relay = "https://relay.example";
        let signed = vapid.authorization(relay).unwrap();
        assert!(signed.starts_with("vapid t="), "{signed}");
        let expiry = vapid.signed.lock().unwrap()[relay].1;
        // The kept value is what the relay gets while it has more than half its life left…
        let keep = |value: &str, exp: u64| {
            vapid
                .signed
                .lock()
                .unwrap()
                .insert(relay.to_string(), (value.to_string(), exp));
        };
        keep("kept", expiry);
        assert_eq!(vapid.authorization(relay).unwrap(), "kept");
        assert_ne!(
            vapid.authorization("https://other.example").unwrap(),
            "kept"
        );
        // …and is signed again, for a new 12 hours, when it has less.
        keep("kept", expiry - super::VAPID_LIFETIME.as_secs() / 2 - 1);
        assert!(vapid.authorization(relay).unwrap().starts_with("vapid t="));
        assert!(vapid.signed.lock().unwrap()[relay].1 >= expiry);
    }

    #[test]
    fn the_host_is_the_one_go_reads() {
        for (endpoint, host) in [
            (
                "https://relay.example:8443/push/x?y#z",
                "relay.example:8443",
            ),
            ("https://Relay.Example:443/x", "Relay.Example:443"),
            ("https://user:pw@relay.example/x", "relay.example"),
            ("https://relay.example?x", "relay.example"),
            ("https:///push/x", ""),
            ("https:relay.example/x", ""),
            ("https://[::1]:9/x", "[::1]:9"),
        ] {
            assert_eq!(super::go_host(endpoint), host, "{endpoint}");
        }
    }
}
