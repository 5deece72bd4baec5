//! The MPNS JSON config file, accepted unchanged (docs/mpns-contract.md §6.2), plus pushgate's
//! added keys (README: Configuration). Parsed once into typed sections, each owning its
//! defaults and invariants. Errors name the key and never echo a value, so a password or key
//! path cannot leak through a parse error; `Debug` never shows a secret either.

use std::{path::Path, time::Duration};

use gojson::{decode_object, GoObject};
pub use pushgate_bridge::ThrottleSettings;

/// The config pushgate runs on when no file is given or found: dry-run targets, loopback only.
pub const EMBEDDED_DRY_RUN: &str = include_str!("../../config/dry-run.json");

/// MPNS's wait before the second attempt (docs/mpns-contract.md §5.2).
pub const FIRST_RETRY_WAIT: Duration = Duration::from_secs(1);
#[derive(Debug, Clone)]
pub struct Config {
    pub listeners: Listeners,
    /// `ThrottlePerSec`, `ThrottleMemoryStoreSize`, `ThrottleVaryByHeader`, `ThrottleEnforce`:
    /// the bridge's rate limiter.
    pub throttle: ThrottleSettings,
    /// `EnableMetrics`: serve `/metrics`.
    pub enable_metrics: bool,
    pub delivery: Delivery,
    pub targets: TargetSettings,
    pub logging: Logging,
    /// `AckTrackingMaxEntries`, `AckTrackingMaxAgeSec`: push-to-ack latency. Needs a restart.
    pub receipts: ReceiptSettings,
    /// `OtlpEndpoint`: the OTLP/HTTP collector traces go to (`http://collector:4318`); empty
    /// (the default) turns tracing off. Needs a restart.
    pub otlp_endpoint: String,
}

/// `AckTrackingMaxEntries` and `AckTrackingMaxAgeSec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptSettings {
    /// Ids remembered at most; 0 turns receipts off.
    pub max_entries: usize,
    /// An id older than this is forgotten.
    pub max_age: Duration,
}

impl Default for ReceiptSettings {
    fn default() -> Self {
        ReceiptSettings {
            max_entries: 1_000_000,
            max_age: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where pushgate listens and who may call it. Needs a restart to change.
#[derive(Clone)]
pub struct Listeners {
    /// `ListenAddress`: the MPNS HTTP API, Go style (`:8066`, `host:port`).
    pub http: String,
    /// `GrpcListenAddress`: the gRPC API.
    pub grpc: String,
    pub tls: Tls,
    /// `GrpcAuthToken`: when not empty, PushProxy calls need `authorization: Bearer <token>`.
    pub grpc_auth_token: String,
    /// `MaxConnections`: open connections across both listeners; `None` (0 in the file) is half
    /// the process's descriptor limit. Past it, new clients wait in the kernel's backlog.
    pub max_connections: Option<usize>,
    pub http_limits: HttpLimits,
    pub grpc_limits: GrpcLimits,
    /// `DrainGraceSec` (default 5): after SIGTERM, how long both listeners keep serving while
    /// readiness and health already say NOT_SERVING, so balancers stop sending first.
    pub drain_grace: Duration,
}

/// What a slow or idle HTTP client may hold (MPNS: 60 s read and write timeouts).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// `HttpHeaderTimeoutSec` (10): to send a request's headers.
    pub header_read: Duration,
    /// `HttpBodyTimeoutSec` (60): to send a request's whole body.
    pub body_read: Duration,
    /// `HttpIdleTimeoutSec` (60): a connection silent this long is closed (keep-alive included).
    pub idle: Duration,
    /// `HttpWriteTimeoutSec` (60): a client that stops reading its answer this long is cut.
    pub write_stall: Duration,
}

/// How the gRPC server treats connections and streams.
#[derive(Debug, Clone, Copy)]
pub struct GrpcLimits {
    /// `GrpcKeepaliveSec` (30): HTTP/2 pings on quiet connections; a peer that does not answer
    /// within 20 s is gone and its connection closed.
    pub keepalive: Duration,
    /// `GrpcMaxConnectionAgeSec` (0 = none): connections older than this are asked to go away
    /// (GOAWAY; calls in flight finish), so clients rebalance across replicas.
    pub max_connection_age: Option<Duration>,
    /// `GrpcMaxConcurrentStreams` (1024): calls in flight per connection; more wait.
    pub max_concurrent_streams: u32,
    /// `GrpcStreamIdleTimeoutSec` (300): a StreamPush with nothing in flight that receives
    /// nothing this long is ended (OK); the caller opens a new one when it has work.
    pub stream_idle: Duration,
}

/// Inbound TLS for both listeners: off when `cert_file` is empty.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// `TlsCertFile`: the server certificate chain (PEM).
    pub cert_file: String,
    /// `TlsKeyFile`: its private key (PEM).
    pub key_file: String,
    /// `TlsClientCAFile`: when set, clients must present a certificate signed by this CA.
    pub client_ca_file: String,
}

/// How a push is sent: what a reload replaces besides the targets.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `SendTimeoutSec` (0 → 30): each push is answered within it, retries included.
    pub send_timeout: Duration,
    /// `RetryTimeoutSec` (0 → 8, at most `send_timeout`): the budget of one attempt.
    pub retry_timeout: Duration,
    /// The wait before the second attempt, doubled before the third: MPNS's 1 s. Not a config
    /// key: tests shorten it so they need not sleep real seconds.
    pub retry_backoff: Duration,
    /// `RemoveOnMismatch`: answer MPNS's REMOVE instead of FAIL for a token of another
    /// app or sender (docs/deviations.md, 3).
    pub remove_on_mismatch: bool,
    /// `SharedStateRedisURL`, else `ThrottleRedisURL`: where replicas share one APNs provider
    /// token per key and team (`apns/token.rs`); empty: each process signs its own.
    pub shared_state_redis: String,
    /// `UpstreamMaxConnections` (8) and `UpstreamStreamsPerConnection` (the provider's): the
    /// HTTP/2 connections one target opens as their streams fill (`connections.rs`).
    pub upstream: UpstreamLimits,
}

/// How many connections and streams one target may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamLimits {
    /// `UpstreamMaxConnections`: connections opened at most.
    pub connections: usize,
    /// `UpstreamStreamsPerConnection`: requests in flight on one connection before another
    /// opens, at most what the server allows. `None`: the provider's own figure (APNs 1,000,
    /// FCM 100), since splitting a connection's load early costs CPU for nothing.
    pub streams: Option<usize>,
    /// `UpstreamIdleSec` (300): how long a connection beyond the first may carry nothing before
    /// it is closed, so that the connections a peak opened go when the load falls. The first
    /// stays open: providers ask for long-lived connections.
    pub idle: Duration,
}

/// `ApplePushSettings` and `AndroidPushSettings`: one target per entry; the sections of the
/// other providers are read by their own modules (`targets.rs` lists them).
#[derive(Debug, Clone, Default)]
pub struct TargetSettings {
    pub apple: Vec<AppleSettings>,
    pub android: Vec<AndroidSettings>,
    pub other: ProviderSections,
}

/// The whole config object, kept for the provider modules that read their own section.
#[derive(Clone, Default)]
pub struct ProviderSections(std::sync::Arc<GoObject>);

impl ProviderSections {
    /// The entries of `section`; an error names the key.
    pub fn entries(&self, section: &'static str) -> Result<Vec<GoObject>, String> {
        self.0.objects(section, section)
    }
}

// It holds every key of the file, secrets included: never shown.
impl std::fmt::Debug for ProviderSections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderSections(<redacted>)")
    }
}

/// MPNS's log keys.
#[derive(Debug, Clone)]
pub struct Logging {
    /// `EnableConsoleLog`, forced on when file logging is off (MPNS).
    pub console: bool,
    /// `EnableFileLog`.
    pub file: bool,
    /// `LogFileLocation`; empty means MPNS's `./logs/push_proxy.log`.
    pub file_location: String,
    /// `LogFormat`: `json`, else plain.
    pub format: LogFormat,
    /// `LogBufferLines` (pushgate, default 10,000): lines queued for the log writer's thread;
    /// past it lines are dropped and counted, never waited for. Needs a restart.
    pub buffer_lines: usize,
}

// Hand-written so that `{:?}` of a config never shows the auth token.
impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listeners")
            .field("http", &self.http)
            .field("grpc", &self.grpc)
            .field("tls", &self.tls)
            .field("grpc_auth_token", &"<redacted>")
            .field("max_connections", &self.max_connections)
            .field("http_limits", &self.http_limits)
            .field("grpc_limits", &self.grpc_limits)
            .field("drain_grace", &self.drain_grace)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Plain,
    Json,
}

/// One `ApplePushSettings` entry: an APNs target.
#[derive(Clone, Default)]
pub struct AppleSettings {
    /// `Type`: the push `platform` this entry serves (`apple_rn`, `apple`, or any name); a later
    /// entry with the same `Type` replaces an earlier one, as in MPNS.
    pub kind: String,
    /// `ApplePushTopic`: the app's bundle id, sent as `apns-topic` (`<topic>.voip` for VoIP).
    pub topic: String,
    /// `ApplePushUseDevelopment`: APNs' sandbox instead of production (when no endpoint is set).
    pub use_development: bool,
    /// `AppleAuthKeyFile`: the `.p8` signing key of provider-token auth.
    pub auth_key_file: String,
    /// `AppleAuthKeyID`: the key's id, the token's `kid`.
    pub auth_key_id: String,
    /// `AppleTeamID`: the developer team, the token's `iss`.
    pub team_id: String,
    /// `ApplePushCertPrivate`: certificate auth's file: a PEM with the certificate chain and
    /// its key (plain or OpenSSL-encrypted), or a PKCS#12 (`.p12`) bundle.
    pub cert_private: String,
    /// `ApplePushCertPassword`: the password of an encrypted PEM key or of the `.p12`.
    pub cert_password: String,
    /// `ApplePushEndpoint` (pushgate): another APNs base URL (a mock, a gateway); empty is
    /// Apple's production or sandbox host.
    pub endpoint: String,
    /// `ApplePushCAFile` (pushgate): a PEM of CAs to trust beside the system roots.
    pub ca_file: String,
    /// `DryRun` (pushgate): build each request and log it, send nothing, answer OK.
    pub dry_run: bool,
}

/// How an Apple entry authenticates, decided once from its keys in MPNS's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppleAuth<'a> {
    /// A provider token signed with the `.p8` key: `AppleAuthKeyFile`, `AppleAuthKeyID` and
    /// `AppleTeamID` all set.
    Token {
        key_file: &'a str,
        key_id: &'a str,
        team_id: &'a str,
    },
    /// A TLS client certificate from `ApplePushCertPrivate`; whether the file is a PEM or a
    /// `.p12` is read from the file itself (`apns/certificate.rs`).
    Certificate { file: &'a str, password: &'a str },
    /// Some credential key is set, but neither set is whole: the entry fails to load.
    Incomplete,
    /// No credential key at all (MPNS's sample config has such entries): the entry is left
    /// out, and a push for it gets MPNS's "missing platform property".
    None,
}

impl AppleSettings {
    pub fn auth(&self) -> AppleAuth<'_> {
        if !self.auth_key_file.is_empty()
            && !self.auth_key_id.is_empty()
            && !self.team_id.is_empty()
        {
            AppleAuth::Token {
                key_file: &self.auth_key_file,
                key_id: &self.auth_key_id,
                team_id: &self.team_id,
            }
        } else if !self.cert_private.is_empty() {
            AppleAuth::Certificate {
                file: &self.cert_private,
                password: &self.cert_password,
            }
        } else if !self.auth_key_file.is_empty() {
            AppleAuth::Incomplete
        } else {
            AppleAuth::None
        }
    }
}

/// One `AndroidPushSettings` entry: an FCM HTTP v1 target.
#[derive(Clone, Default)]
pub struct AndroidSettings {
    /// `Type`: the push `platform` this entry serves (`android_rn`, `android`, or any name).
    pub kind: String,
    /// `ServiceFileLocation`: the Firebase service-account JSON (project id, client email,
    /// private key, token URI). Empty: the entry is left out, as in MPNS.
    pub service_file_location: String,
    /// `AndroidApiKey`: FCM's retired legacy key; only a log line says it is no longer used.
    pub android_api_key: String,
    /// `FcmEndpoint` (pushgate): another FCM base URL; default `https://fcm.googleapis.com`.
    pub fcm_endpoint: String,
    /// `FcmTokenUri` (pushgate): another OAuth2 token endpoint; empty is the service
    /// account's `token_uri`.
    pub fcm_token_uri: String,
    /// `FcmCAFile` (pushgate): a PEM of CAs to trust beside the system roots, for FCM and OAuth2.
    pub fcm_ca_file: String,
    /// `DryRun` (pushgate): build each message and log it, send nothing, answer OK.
    pub dry_run: bool,
}

// Hand-written Debug so that `{:?}` of a config can never print a password or API key.
impl std::fmt::Debug for AppleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleSettings")
            .field("type", &self.kind)
            .field("topic", &self.topic)
            .field("use_development", &self.use_development)
            .field("auth_key_file", &self.auth_key_file)
            .field("cert_private", &self.cert_private)
            .field("cert_password", &"<redacted>")
            .field("endpoint", &self.endpoint)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AndroidSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AndroidSettings")
            .field("type", &self.kind)
            .field("service_file_location", &self.service_file_location)
            .field("android_api_key", &"<redacted>")
            .field("fcm_endpoint", &self.fcm_endpoint)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("config file {path}: {reason}")]
    Parse { path: String, reason: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ConfigError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Config::parse(&bytes).map_err(|reason| ConfigError::Parse {
            path: shown,
            reason,
        })
    }

    pub fn embedded_dry_run() -> Config {
        Config::parse(EMBEDDED_DRY_RUN.as_bytes()).expect("the embedded config is valid")
    }

    /// Parses config bytes with Go's rules and MPNS's defaults.
    pub fn parse(bytes: &[u8]) -> Result<Config, String> {
        let o = std::sync::Arc::new(decode_object(bytes, "main.ConfigPushProxy")?);
        let int = |key: &str| o.int64(key, "int");

        // MPNS: 0 means 30 s; a negative value is kept (every send then fails at once).
        let send_secs = match int("SendTimeoutSec")? {
            0 => 30,
            n => n,
        };
        let retry_secs = match int("RetryTimeoutSec")? {
            0 => 8,
            n => n,
        }
        .min(send_secs);
        let (console, file) = (o.boolean("EnableConsoleLog")?, o.boolean("EnableFileLog")?);
        let throttle = throttle(&o)?;
        let shared_state_redis = match o.string("SharedStateRedisURL")? {
            url if url.is_empty() => throttle.redis_url.clone(),
            url => url,
        };
        let log_format = match o.string("LogFormat")?.as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Plain,
        };

        let apple = o
            .objects("ApplePushSettings", "ApplePushSettings")?
            .iter()
            .map(apple_settings)
            .collect::<Result<_, _>>()?;
        let android = o
            .objects("AndroidPushSettings", "AndroidPushSettings")?
            .iter()
            .map(android_settings)
            .collect::<Result<_, _>>()?;

        Ok(Config {
            listeners: Listeners {
                http: or(o.string("ListenAddress")?, ":8086"),
                grpc: or(o.string("GrpcListenAddress")?, ":50051"),
                tls: Tls {
                    cert_file: o.string("TlsCertFile")?,
                    key_file: o.string("TlsKeyFile")?,
                    client_ca_file: o.string("TlsClientCAFile")?,
                },
                grpc_auth_token: o.string("GrpcAuthToken")?,
                max_connections: match int("MaxConnections")? {
                    n if n <= 0 => None,
                    n => Some(n as usize),
                },
                http_limits: HttpLimits {
                    header_read: secs_or(int("HttpHeaderTimeoutSec")?, 10),
                    body_read: secs_or(int("HttpBodyTimeoutSec")?, 60),
                    idle: secs_or(int("HttpIdleTimeoutSec")?, 60),
                    write_stall: secs_or(int("HttpWriteTimeoutSec")?, 60),
                },
                grpc_limits: GrpcLimits {
                    keepalive: secs_or(int("GrpcKeepaliveSec")?, 30),
                    max_connection_age: match int("GrpcMaxConnectionAgeSec")? {
                        n if n <= 0 => None,
                        n => Some(secs(n)),
                    },
                    max_concurrent_streams: match int("GrpcMaxConcurrentStreams")? {
                        n if n <= 0 => 1024,
                        n => n.min(u32::MAX as i64) as u32,
                    },
                    stream_idle: secs_or(int("GrpcStreamIdleTimeoutSec")?, 300),
                },
                drain_grace: if o.has("DrainGraceSec") {
                    secs(int("DrainGraceSec")?)
                } else {
                    Duration::from_secs(5)
                },
            },
            throttle,
            enable_metrics: o.boolean("EnableMetrics")?,
            delivery: Delivery {
                send_timeout: secs(send_secs),
                retry_timeout: secs(retry_secs),
                retry_backoff: FIRST_RETRY_WAIT,
                remove_on_mismatch: o.boolean("RemoveOnMismatch")?,
                shared_state_redis,
                upstream: UpstreamLimits {
                    connections: count_or(int("UpstreamMaxConnections")?, 8),
                    streams: match int("UpstreamStreamsPerConnection")? {
                        n if n <= 0 => None,
                        n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                    },
                    idle: secs_or(int("UpstreamIdleSec")?, 300),
                },
            },
            targets: TargetSettings {
                apple,
                android,
                other: ProviderSections(o.clone()),
            },
            logging: Logging {
                console: console || !file,
                file,
                file_location: o.string("LogFileLocation")?,
                format: log_format,
                buffer_lines: count_or(int("LogBufferLines")?, 10_000),
            },
            receipts: ReceiptSettings {
                max_entries: if o.has("AckTrackingMaxEntries") {
                    usize::try_from(int("AckTrackingMaxEntries")?.max(0)).unwrap_or(usize::MAX)
                } else {
                    ReceiptSettings::default().max_entries
                },
                max_age: match int("AckTrackingMaxAgeSec")? {
                    n if n <= 0 => ReceiptSettings::default().max_age,
                    n => secs(n),
                },
            },
            otlp_endpoint: o.string("OtlpEndpoint")?,
        })
    }
}

/// MPNS reads a missing `ThrottlePerSec` as 1 request per second; harmless while the limiter
/// only writes headers, a self-inflicted outage once `ThrottleEnforce` makes it real.
fn throttle(o: &GoObject) -> Result<ThrottleSettings, String> {
    let (per_sec, enforce) = (
        o.int64("ThrottlePerSec", "int")?,
        o.boolean("ThrottleEnforce")?,
    );
    if enforce && per_sec <= 0 {
        return Err("ThrottleEnforce is true but ThrottlePerSec is not set (MPNS would read it as 1 request per second): set ThrottlePerSec".into());
    }
    ThrottleSettings::from_mpns(
        per_sec,
        o.int64("ThrottleMemoryStoreSize", "int")?,
        &o.string("ThrottleVaryByHeader")?,
        enforce,
    )
    .with_redis(
        &o.string("ThrottleRedisURL")?,
        &o.string("ThrottleRedisOnError")?,
    )
}

fn apple_settings(o: &GoObject) -> Result<AppleSettings, String> {
    Ok(AppleSettings {
        kind: o.string("Type")?,
        topic: o.string("ApplePushTopic")?,
        use_development: o.boolean("ApplePushUseDevelopment")?,
        auth_key_file: o.string("AppleAuthKeyFile")?,
        auth_key_id: o.string("AppleAuthKeyID")?,
        team_id: o.string("AppleTeamID")?,
        cert_private: o.string("ApplePushCertPrivate")?,
        cert_password: o.string("ApplePushCertPassword")?,
        endpoint: o.string("ApplePushEndpoint")?,
        ca_file: o.string("ApplePushCAFile")?,
        dry_run: o.boolean("DryRun")?,
    })
}

fn android_settings(o: &GoObject) -> Result<AndroidSettings, String> {
    Ok(AndroidSettings {
        kind: o.string("Type")?,
        service_file_location: o.string("ServiceFileLocation")?,
        android_api_key: o.string("AndroidApiKey")?,
        fcm_endpoint: or(o.string("FcmEndpoint")?, "https://fcm.googleapis.com"),
        fcm_token_uri: o.string("FcmTokenUri")?,
        fcm_ca_file: o.string("FcmCAFile")?,
        dry_run: o.boolean("DryRun")?,
    })
}

fn or(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

/// A duration key of pushgate's: absent, zero or negative is the default.
fn secs_or(n: i64, default: u64) -> Duration {
    Duration::from_secs(if n <= 0 { default } else { n as u64 })
}

fn count_or(n: i64, default: usize) -> usize {
    if n <= 0 {
        default
    } else {
        usize::try_from(n).unwrap_or(usize::MAX)
    }
}

/// Negative budgets are kept as zero: the send then times out at once, as in MPNS.
fn secs(n: i64) -> Duration {
    Duration::from_secs(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../config/mattermost-push-proxy.sample.json");

    #[test]
    fn apple_auth_is_decided_once_in_mpns_order() {
        let entry = |file: &str, id: &str, team: &str, cert: &str| AppleSettings {
            auth_key_file: file.into(),
            auth_key_id: id.into(),
            team_id: team.into(),
            cert_private: cert.into(),
            ..Default::default()
        };
        assert!(matches!(
            entry("k.p8", "KID", "TEAM", "c.pem").auth(),
            AppleAuth::Token {
                key_file: "k.p8",
                key_id: "KID",
                team_id: "TEAM"
            }
        ));
        // A token set that is not whole falls to the certificate, as in MPNS.
        assert!(matches!(
            entry("k.p8", "", "TEAM", "c.p12").auth(),
            AppleAuth::Certificate { file: "c.p12", .. }
        ));
        assert_eq!(entry("k.p8", "KID", "", "").auth(), AppleAuth::Incomplete);
        assert_eq!(entry("", "", "", "").auth(), AppleAuth::None);
    }

    #[test]
    fn mpns_sample_is_accepted_unchanged() {
        let c = Config::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(c.listeners.http, ":8066");
        assert_eq!(c.throttle.per_sec.get(), 300);
        assert_eq!(c.delivery.send_timeout, Duration::from_secs(30));
        assert_eq!(c.delivery.retry_timeout, Duration::from_secs(8));
        let kinds: Vec<_> = c.targets.apple.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["apple", "apple_rn"]);
        assert_eq!(c.targets.apple[1].topic, "com.mattermost.react.native");
        assert_eq!(c.targets.android[1].kind, "android_rn");
        assert_eq!(c.logging.format, LogFormat::Plain);
        assert_eq!(c.listeners.grpc, ":50051");
    }

    #[test]
    fn defaults_follow_mpns() {
        let c = Config::parse(br#"{"sendtimeoutsec":0,"RetryTimeoutSec":60,"LogFormat":"xml"}"#)
            .unwrap();
        assert_eq!(c.delivery.send_timeout, Duration::from_secs(30));
        assert_eq!(
            c.delivery.retry_timeout,
            Duration::from_secs(30),
            "clamped to the send budget"
        );
        assert!(
            c.logging.console,
            "console forced on when file logging is off"
        );
        assert_eq!(c.throttle.per_sec.get(), 1);
        assert_eq!(c.listeners.http, ":8086");
    }

    #[test]
    fn pushgate_keys_have_their_defaults() {
        let c = Config::parse(b"{}").unwrap();
        assert_eq!(c.receipts, ReceiptSettings::default());
        assert_eq!(c.logging.buffer_lines, 10_000);
        assert!(c.otlp_endpoint.is_empty() && c.delivery.shared_state_redis.is_empty());
        let c = Config::parse(
            br#"{"AckTrackingMaxEntries":0,"AckTrackingMaxAgeSec":60,"LogBufferLines":5,"ThrottleRedisURL":"redis://r:6379/0"}"#,
        )
        .unwrap();
        assert_eq!(c.receipts.max_entries, 0, "0 turns receipts off");
        assert_eq!(c.receipts.max_age, Duration::from_secs(60));
        assert_eq!(c.logging.buffer_lines, 5);
        assert_eq!(
            c.delivery.shared_state_redis, "redis://r:6379/0",
            "the rate limit's Redis shares tokens too"
        );
        let c = Config::parse(
            br#"{"ThrottleRedisURL":"redis://r:6379/0","SharedStateRedisURL":"redis://s:6379/1"}"#,
        )
        .unwrap();
        assert_eq!(c.delivery.shared_state_redis, "redis://s:6379/1");
    }

    #[test]
    fn errors_name_the_key_and_never_the_value() {
        let err = Config::parse(
            br#"{"ApplePushSettings":[{"Type":"apple","ApplePushCertPassword":12345678}]}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("ApplePushSettings.ApplePushCertPassword"),
            "{err}"
        );
        assert!(!err.contains("12345678"), "{err}");
        let err = Config::parse(br#"{"SendTimeoutSec":"thirty"}"#).unwrap_err();
        assert!(err.contains("SendTimeoutSec of type int"), "{err}");
        assert!(!err.contains("thirty"));
    }

    #[test]
    fn an_enforced_throttle_needs_its_quota() {
        let err = Config::parse(br#"{"ThrottleEnforce":true}"#).unwrap_err();
        assert!(err.contains("set ThrottlePerSec"), "{err}");
        let c = Config::parse(br#"{"ThrottleEnforce":true,"ThrottlePerSec":50}"#).unwrap();
        assert_eq!(c.throttle.per_sec.get(), 50);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Config::parse(
            br#"{"ApplePushSettings":[{"Type":"a","ApplePushCertPassword":"hunter2"}],
                 "AndroidPushSettings":[{"Type":"b","AndroidApiKey":"AIzaSecret"}],
                 "GrpcAuthToken":"t0psecret"}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("AIzaSecret")
                && !shown.contains("t0psecret"),
            "{shown}"
        );
    }

    #[test]
    fn embedded_dry_run_config_is_valid() {
        let c = Config::embedded_dry_run();
        assert!(c.targets.apple.iter().all(|a| a.dry_run));
        assert!(c.targets.android.iter().all(|a| a.dry_run));
        assert!(!c.targets.apple.is_empty() && !c.targets.android.is_empty());
    }
}
