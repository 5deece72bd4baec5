//! Huawei Push Kit (HMS), for Android phones without Google services: its config section
//! (`HuaweiPushSettings`), an OAuth2 client-credentials token, one `messages:send` per push with
//! the data MPNS gives FCM, and what HMS's answer codes mean. MPNS has no HMS provider: this is
//! pushgate's addition (docs/deviations.md, 17). Huawei's Java and Go samples are the only
//! "SDKs"; a request and a token are all a server needs, so no crate is used.

use std::{collections::BTreeMap, time::Duration};

use gojson::{to_go_json, GoObject};
use http::header;
use pushgate::v1::{Kind, Priority};
use serde::Serialize;

use crate::{
    delivery::{
        self, Answer, Format, Provider, Registration, Setup, Target, Verdict, INVALID_TOKEN,
    },
    emoji,
    fcm::message::data,
    general::General,
    oauth::{Grant, TokenSource},
    outcome::{Family, Outcome},
    push::Push,
    retry::retry_after,
    upstream::{self, ClientSettings},
};

pub const PROVIDER: Registration = Registration {
    section: "HuaweiPushSettings",
    target,
};

const FAMILY: Family = Family::new("huawei");
const TOKEN_ENDPOINT: &str = "https://oauth-login.cloud.huawei.com/oauth2/v3/token";
const PUSH_ENDPOINT: &str = "https://push-api.cloud.huawei.com";
/// Requests in flight on one connection before another opens.
const STREAMS: usize = 100;
/// The longest push token taken; Huawei's are about 130 characters.
const MAX_TOKEN_BYTES: usize = 4096;
/// The reason of transport errors and answers without an HMS code.
const UNKNOWN: &str = "unknown transport error";

/// HMS's answer codes (Push Kit server API, "Result Codes").
mod code {
    pub const SUCCESS: &str = "80000000";
    /// Some tokens invalid: with one token per request, that token.
    pub const SOME_TOKENS_INVALID: &str = "80100000";
    pub const ALL_TOKENS_INVALID: &str = "80300007";
    pub const OAUTH_FAILED: &str = "80200001";
    pub const OAUTH_EXPIRED: &str = "80200003";
    /// The app may not send to these tokens: our credentials are for another app.
    pub const NO_PERMISSION: &str = "80300002";
    pub const INTERNAL_ERROR: &str = "81000001";
}

/// One `HuaweiPushSettings` entry.
struct Settings {
    /// `HmsAppId`: the app's id, in the send URL.
    app_id: String,
    /// `HmsClientId` and `HmsClientSecret`: the OAuth2 client (for Push Kit, the app id and the
    /// app secret).
    client_id: String,
    client_secret: String,
    /// `HmsTokenEndpoint` (default Huawei's): where tokens come from.
    token_endpoint: String,
    /// `HmsPushEndpoint` (default Huawei's): the base URL of `messages:send`.
    push_endpoint: String,
    /// `HmsCAFile`: a PEM of CAs to trust beside the system roots (tests, private gateways).
    ca_file: String,
    /// `DryRun`: build each message and log it, send nothing, answer OK.
    dry_run: bool,
}

impl Settings {
    fn parse(o: &GoObject) -> Result<Settings, String> {
        let or = |key: &str, default: &str| -> Result<String, String> {
            let value = o.string(key)?;
            Ok(if value.is_empty() {
                default.to_string()
            } else {
                value
            })
        };
        Ok(Settings {
            app_id: o.string("HmsAppId")?,
            client_id: o.string("HmsClientId")?,
            client_secret: o.string("HmsClientSecret")?,
            token_endpoint: or("HmsTokenEndpoint", TOKEN_ENDPOINT)?,
            push_endpoint: or("HmsPushEndpoint", PUSH_ENDPOINT)?,
            ca_file: o.string("HmsCAFile")?,
            dry_run: o.boolean("DryRun")?,
        })
    }
}

fn target(entry: &GoObject, setup: &Setup<'_>) -> Result<Target, String> {
    let settings = Settings::parse(entry)?;
    if settings.dry_run {
        tracing::info!(r#type = %setup.kind, "Initializing Huawei notification server in dry-run mode");
        return Ok(delivery::dry_run(setup.kind, FAMILY, HmsFormat));
    }
    for (key, value) in [
        ("HmsAppId", &settings.app_id),
        ("HmsClientId", &settings.client_id),
        ("HmsClientSecret", &settings.client_secret),
    ] {
        if value.is_empty() {
            return Err(format!(
                "huawei push notifications not configured: missing {key} for type={}",
                setup.kind
            ));
        }
    }
    tracing::info!(r#type = %setup.kind, "Initializing Huawei notification server");
    let client_settings = ClientSettings {
        extra_root: upstream::extra_root("HmsCAFile", &settings.ca_file)?,
        connect_timeout: Duration::from_secs(10),
        opened: setup.metrics.connection_counter(setup.kind),
    };
    let client = move || {
        upstream::client_builder(&client_settings)?
            .build()
            .map_err(|e| format!("cannot build the HMS client: {e}"))
    };
    let url = format!(
        "{}/v1/{}/messages:send",
        settings.push_endpoint.trim_end_matches('/'),
        settings.app_id
    );
    let url: http::Uri = url
        .parse()
        .map_err(|e| format!("HmsPushEndpoint and HmsAppId make no URL ({url:?}): {e}"))?;
    let grant = ClientCredentials {
        token_uri: settings.token_endpoint.clone(),
        client_id: settings.client_id.clone(),
        client_secret: settings.client_secret.clone(),
    };
    let client = Client {
        tokens: TokenSource::new(
            grant,
            client()?,
            setup.metrics.token_refresh_counter(setup.kind),
        ),
        connections: crate::connections::Connections::new(
            setup.delivery.upstream,
            STREAMS,
            move || client().map(upstream::Link::Reqwest),
        )?,
        url,
    };
    Ok(delivery::live(setup.kind, client, (setup.context)(FAMILY)))
}

/// Huawei's OAuth2 grant: the app's id and secret, as they are.
struct ClientCredentials {
    token_uri: String,
    client_id: String,
    client_secret: String,
}

impl Grant for ClientCredentials {
    fn token_uri(&self) -> &str {
        &self.token_uri
    }

    fn form(&self) -> Result<Vec<(&'static str, String)>, String> {
        Ok(vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("client_secret", self.client_secret.clone()),
        ])
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    validate_only: bool,
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    /// The app's data as one JSON string: HMS delivers it to the app's `onMessageReceived`.
    data: String,
    android: Android,
    token: [&'a str; 1],
}

#[derive(Serialize)]
struct Android {
    /// `HIGH` wakes the app at once (Huawei grants it per app); `NORMAL` may wait.
    urgency: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<Notification>,
}

#[derive(Serialize)]
struct Notification {
    title: String,
    body: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    tag: String,
    /// HMS refuses a notification without one; 3 opens the app.
    click_action: ClickAction,
}

#[derive(Serialize)]
struct ClickAction {
    r#type: u8,
}

/// An HMS push token is printable ASCII; anything else HMS would refuse.
fn check_token(token: &str) -> Result<(), Outcome> {
    if token.len() > MAX_TOKEN_BYTES || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Outcome::fail(
            format!("invalid device Id: an HMS push token is 1 to {MAX_TOKEN_BYTES} printable ASCII characters"),
            INVALID_TOKEN,
        ));
    }
    Ok(())
}

struct HmsFormat;

impl Format for HmsFormat {
    type Request = String;

    /// A Mattermost push: the data FCM gets, as a data message at high urgency (30 s to live
    /// for a call ring, as on FCM).
    fn build(&self, push: &Push) -> Result<String, Outcome> {
        check_token(&push.n.device_id)?;
        let mut data = data(push, emoji::expand);
        let ttl = push.is_voip().then(|| {
            data.insert("voip", "true".into());
            "30s".to_string()
        });
        Ok(to_go_json(&Envelope {
            validate_only: false,
            message: Message {
                data: to_go_json(&data),
                android: Android {
                    urgency: "HIGH",
                    ttl,
                    notification: None,
                },
                token: [&push.n.device_id],
            },
        }))
    }

    /// A `Send` notification: an alert shows title and body (grouped by `thread_id`); the
    /// data goes as the message's data; `ttl` and priority as HMS spells them.
    fn build_general(&self, general: &General, token: &str) -> Result<String, Outcome> {
        check_token(token)?;
        let n = &general.n;
        let data: BTreeMap<&str, &str> = n
            .data
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let urgent = match n.priority() {
            Priority::High => true,
            Priority::Normal => false,
            Priority::Default => n.kind() != Kind::Background,
        };
        let notification = (n.kind() == Kind::Alert).then(|| {
            let alert = n.alert.clone().unwrap_or_default();
            Notification {
                title: alert.title,
                body: alert.body,
                tag: n.thread_id.clone(),
                click_action: ClickAction { r#type: 3 },
            }
        });
        Ok(to_go_json(&Envelope {
            validate_only: false,
            message: Message {
                data: to_go_json(&data),
                android: Android {
                    urgency: if urgent { "HIGH" } else { "NORMAL" },
                    ttl: general.ttl.map(|t| format!("{}s", t.as_secs())),
                    notification,
                },
                token: [token],
            },
        }))
    }

    fn describe(body: &String) -> (String, usize) {
        (body.clone(), body.len())
    }
}

struct Client {
    connections: crate::connections::Connections,
    /// `…/v1/<app id>/messages:send`, parsed once.
    url: http::Uri,
    tokens: TokenSource<ClientCredentials>,
}

impl Provider for Client {
    type Format = HmsFormat;

    const FAMILY: Family = FAMILY;

    const DEADLINE: (&'static str, &'static str) = ("context deadline exceeded", UNKNOWN);

    const REAUTH_LOG: Option<&'static str> =
        Some("HMS refused the access token; fetching a new one");

    fn format(&self) -> &HmsFormat {
        &HmsFormat
    }

    async fn credential(
        &self,
        refused: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<String>, Answer> {
        self.tokens.credential(refused, timeout, UNKNOWN).await
    }

    async fn attempt(&self, body: &String, credential: Option<&str>, timeout: Duration) -> Answer {
        let mut request = http::Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json; charset=UTF-8");
        if let Some(bearer) = credential {
            request = request.header(header::AUTHORIZATION, bearer);
        }
        let request = match request.body(bytes::Bytes::from(body.clone())) {
            Ok(request) => request,
            Err(e) => {
                let text = format!("the access token cannot be sent: {e}");
                return Answer::new(Outcome::fail(text, UNKNOWN), Verdict::Refused);
            }
        };
        let stream = self.connections.stream().await;
        let reply = match stream.link().send(request, timeout).await {
            Ok(reply) => reply,
            Err(e) => {
                let text = format!("error while calling HMS: {}", e.text);
                return Answer::new(Outcome::fail(text, UNKNOWN), Verdict::Transport(e.lost));
            }
        };
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let code = json["code"].as_str().unwrap_or_default();
        let message = json["msg"].as_str().unwrap_or_default();
        let status = reply.status.as_u16();
        let outcome = match code {
            code::SUCCESS => {
                let id = json["requestId"].as_str().unwrap_or_default();
                return Answer::new(Outcome::delivered(id), Verdict::Delivered).with_status(status);
            }
            code::SOME_TOKENS_INVALID | code::ALL_TOKENS_INVALID => Outcome::remove(code),
            "" => Outcome::fail(
                format!("HMS answered HTTP {status} without a result code"),
                UNKNOWN,
            ),
            _ => Outcome::fail(format!("HMS answered {code}: {message}"), code),
        };
        let verdict = match (status, code) {
            (_, code::SOME_TOKENS_INVALID | code::ALL_TOKENS_INVALID) => Verdict::Final,
            (401, _) | (_, code::OAUTH_FAILED | code::OAUTH_EXPIRED) => Verdict::Reauth,
            (403, _) | (_, code::NO_PERMISSION) => Verdict::Refused,
            (429 | 500..=599, _) | (_, code::INTERNAL_ERROR) => {
                Verdict::Retry(retry_after(&reply.headers))
            }
            _ => Verdict::Final,
        };
        if outcome.status == pushgate::v1::Status::Remove {
            tracing::info!(reason = %code, "Huawei response failure sending remove code");
        } else {
            tracing::error!(code = status, hms_code = %code, error = %outcome.error, "Failed to send HMS push");
        }
        Answer::new(outcome, verdict).with_status(status)
    }
}
