//! `/pushgate status`: what an admin needs to see that pushes flow — pushgate's health, this
//! plugin's counts, and the Push Notification Server value to paste.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use tonic::transport::Channel;
use tonic_health::pb::{health_check_response::ServingStatus, health_client::HealthClient};

use pushgate::v1::DeliveryStatsResponse;
use pushgate_bridge::{
    tls_mismatch::{self, Upstream},
    GrpcBackend,
};

use crate::settings::Settings;

/// The push platform `Type`s Mattermost's apps use; pushgate reports health for each it serves.
pub const PLATFORM_TYPES: [&str; 4] = ["apple", "apple_rn", "android", "android_rn"];

/// Counted since the plugin was activated; kept across settings changes.
#[derive(Default, Debug)]
pub struct Counters {
    pub ok: AtomicU64,
    pub removed: AtomicU64,
    pub failed: AtomicU64,
    /// Requests that named a wrong path secret.
    pub wrong_secret: AtomicU64,
    /// Requests from a source outside `AllowedSources`.
    pub source_refused: AtomicU64,
}

impl Counters {
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One health answer, as text: `SERVING`, `NOT_SERVING`, … or why there was none (a TLS
/// mismatch in words that name the fix).
async fn health(channel: &Channel, upstream: Option<&Upstream>, service: &str) -> Option<String> {
    let mut client = HealthClient::new(channel.clone());
    let mut request = tonic::Request::new(tonic_health::pb::HealthCheckRequest {
        service: service.to_string(),
    });
    request.set_timeout(Duration::from_secs(2));
    match client.check(request).await {
        Ok(r) => Some(match r.into_inner().status() {
            ServingStatus::Serving => "SERVING".into(),
            ServingStatus::NotServing => "NOT_SERVING".into(),
            ServingStatus::ServiceUnknown => "SERVICE_UNKNOWN".into(),
            ServingStatus::Unknown => "UNKNOWN".into(),
        }),
        // pushgate does not serve this platform: leave it out.
        Err(s) if s.code() == tonic::Code::NotFound && !service.is_empty() => None,
        Err(s) => {
            let s = match upstream {
                Some(upstream) => tls_mismatch::explain(s, upstream).await,
                None => s,
            };
            Some(format!("unreachable ({}: {})", s.code(), s.message()))
        }
    }
}

/// pushgate's last hour of delivery receipts, as lines for an admin.
fn delivery(stats: Result<DeliveryStatsResponse, tonic::Status>) -> String {
    let stats = match stats {
        Ok(stats) => stats,
        Err(s) if s.code() == tonic::Code::Unimplemented => {
            return "\nDelivery in the last hour: this pushgate is too old to tell.\n".into()
        }
        Err(s) => {
            return format!(
                "\nDelivery in the last hour: unavailable ({}: {})\n",
                s.code(),
                s.message()
            )
        }
    };
    let mut out = String::from("\nDelivery in the last hour (pushes acked by the device):\n");
    for p in &stats.platforms {
        let line = if p.sent == 0 {
            "no pushes with an ack id".to_string()
        } else {
            let median = match &p.median_push_to_ack {
                Some(d) => format!(
                    "median push-to-device {:.2} s",
                    d.seconds as f64 + f64::from(d.nanos) / 1e9
                ),
                None => "no acks yet".into(),
            };
            format!(
                "{:.1}% ({} of {}), {median}",
                100.0 * p.acked as f64 / p.sent as f64,
                p.acked,
                p.sent
            )
        };
        out.push_str(&format!("- {}: {line}\n", p.platform));
    }
    out
}

/// The status text (Markdown) for an admin.
pub async fn report(
    settings: Option<(&Settings, &Channel, &GrpcBackend)>,
    not_configured: &str,
    counters: &Counters,
    site_url: &str,
    plugin_id: &str,
) -> String {
    let Some((settings, channel, backend)) = settings else {
        return format!(
            "#### pushgate\npushgate plugin is not configured: {not_configured}\n\
             Fix the settings in System Console › Plugins › pushgate."
        );
    };
    let mut out = format!(
        "#### pushgate\npushgate at `{}` ({})\n",
        settings.grpc_address,
        if settings.tls.is_some() {
            "TLS"
        } else {
            "plaintext"
        }
    );
    let upstream = Upstream::from_url(&settings.endpoint());
    let upstream = upstream.as_ref();
    let process = health(channel, upstream, "").await.unwrap_or_default();
    out.push_str(&format!("- process: {process}\n"));
    let api = health(channel, upstream, "pushgate.v1.PushProxy")
        .await
        .unwrap_or_else(|| "SERVICE_UNKNOWN".into());
    out.push_str(&format!("- pushgate.v1.PushProxy: {api}\n"));
    if !process.starts_with("unreachable") {
        for platform in PLATFORM_TYPES {
            if let Some(status) = health(channel, upstream, platform).await {
                out.push_str(&format!("- {platform}: {status}\n"));
            }
        }
        out.push_str(&delivery(backend.delivery_stats().await));
    }
    out.push_str(&format!(
        "\nSince activation: {} sent OK, {} REMOVE (device gone), {} FAIL; \
         refused: {} wrong path secret, {} source not allowed.\n",
        Counters::get(&counters.ok),
        Counters::get(&counters.removed),
        Counters::get(&counters.failed),
        Counters::get(&counters.wrong_secret),
        Counters::get(&counters.source_refused),
    ));
    if !not_configured.is_empty() {
        out.push_str(&format!(
            "\nThe latest settings were refused, the ones above stay in force: {not_configured}\n"
        ));
    }
    let site = site_url.trim_end_matches('/');
    let site = if site.is_empty() { "<SiteURL>" } else { site };
    out.push_str(&format!(
        "\nSystem Console › Environment › Push Notification Server: \
         `{site}/plugins/{plugin_id}/{}`",
        settings.path_secret
    ));
    out
}
