//! The APNs request MPNS builds for a push (docs/mpns-contract.md §3.2–§3.4), byte for byte: Go sorts the
//! top-level keys and writes `aps` members in a fixed order, which is also alphabetical, so
//! ordered maps and field order reproduce it.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{delivery::Format, emoji, general::General, outcome::Outcome, push::Push};
use gojson::to_go_json;

/// The longest device token taken, in hex digits. Apple's are 64 today and documented as of
/// variable length; 512 leaves room while refusing junk before it reaches a URL.
const MAX_TOKEN_DIGITS: usize = 512;

/// An APNs device token is hex digits; anything else would be refused by APNs, and must never
/// reach the request path (`../`, `#`, `?` would change the URL).
pub(super) fn check_token(token: &str) -> Result<(), String> {
    if token.len() > MAX_TOKEN_DIGITS || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "invalid device Id: an APNs device token is 1 to {MAX_TOKEN_DIGITS} hexadecimal digits"
        ));
    }
    Ok(())
}

/// APNs' reason for a token it cannot use; a REMOVE.
const BAD_DEVICE_TOKEN: &str = "BadDeviceToken";

/// An Apple target's request format; its one setting is the topic.
pub struct ApnsFormat {
    /// `ApplePushTopic`: the `apns-topic` header (the app's bundle id).
    pub topic: String,
}

impl Format for ApnsFormat {
    type Request = ApnsRequest;

    fn build(&self, push: &Push) -> Result<ApnsRequest, Outcome> {
        // Never sent, but answered as MPNS's caller sees it: APNs would say `BadDeviceToken`,
        // a REMOVE (docs/deviations.md, 12). The text stays for gRPC callers.
        check_token(&push.n.device_id).map_err(|why| Outcome {
            error: why,
            ..Outcome::remove(BAD_DEVICE_TOKEN)
        })?;
        build(push, &self.topic).map_err(|why| Outcome::fail(why, "PayloadTooLarge"))
    }

    fn build_general(&self, general: &General, token: &str) -> Result<ApnsRequest, Outcome> {
        check_token(token).map_err(|why| Outcome {
            error: why,
            ..Outcome::remove(BAD_DEVICE_TOKEN)
        })?;
        super::general::build(general, token, &self.topic)
    }

    fn describe(request: &ApnsRequest) -> (String, usize) {
        (format!("{request:?}"), request.body.len())
    }
}

/// APNs' payload limits, standard and VoIP; larger payloads are shortened (docs/deviations.md, 2).
pub const MAX_PAYLOAD_BYTES: usize = 4096;
pub const MAX_VOIP_PAYLOAD_BYTES: usize = 5120;

/// What goes, in this order, when shortening the alert text is not enough: the custom keys
/// only for display, from the least needed. The alert's title goes after them; ids and the
/// signature never do (the app needs them to fetch and verify the post).
const DROPPED_TO_FIT: [&str; 4] = [
    "override_icon_url",
    "override_username",
    "sender_name",
    "channel_name",
];

#[derive(Debug, Clone, PartialEq)]
pub struct ApnsRequest {
    /// `/3/device/<token>`
    pub path: String,
    /// `None` when the configured topic is empty (MPNS omits the header).
    pub topic: Option<String>,
    pub push_type: &'static str,
    pub priority: &'static str,
    /// `apns-expiration` (Unix seconds): only `Send` sets it, from the notification's TTL.
    pub expiration: Option<u64>,
    /// `apns-collapse-id`: only `Send` sets it.
    pub collapse_id: Option<String>,
    pub body: String,
}

#[derive(Serialize, Default)]
struct Aps {
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<Alert>,
    #[serde(skip_serializing_if = "Option::is_none")]
    badge: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(rename = "content-available", skip_serializing_if = "Option::is_none")]
    content_available: Option<u8>,
    #[serde(rename = "mutable-content", skip_serializing_if = "Option::is_none")]
    mutable_content: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sound: Option<&'static str>,
    #[serde(rename = "thread-id", skip_serializing_if = "Option::is_none")]
    thread_id: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Alert {
    Text(String),
    Dict {
        #[serde(skip_serializing_if = "String::is_empty")]
        body: String,
        #[serde(skip_serializing_if = "String::is_empty")]
        title: String,
    },
}

impl Alert {
    /// The text that deviation 2 (docs/deviations.md) shortens first.
    fn body_mut(&mut self) -> &mut String {
        match self {
            Alert::Text(body) | Alert::Dict { body, .. } => body,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Field {
    Str(String),
    Bool(bool),
    Aps(Box<Aps>),
}

type Payload = BTreeMap<&'static str, Field>;

/// The request, or why no payload within APNs' limit can be made of this push.
pub fn build(push: &Push, topic: &str) -> Result<ApnsRequest, String> {
    let (mut payload, topic, push_type, limit) = if push.is_voip() {
        let topic = format!("{topic}.voip");
        (voip_payload(push), topic, "voip", MAX_VOIP_PAYLOAD_BYTES)
    } else if push.is_session_wipe() {
        // Apple: a content-available-only push is `background` at priority 5 (deviation 15).
        let topic = topic.to_string();
        (
            standard_payload(push),
            topic,
            "background",
            MAX_PAYLOAD_BYTES,
        )
    } else {
        let topic = topic.to_string();
        (standard_payload(push), topic, "alert", MAX_PAYLOAD_BYTES)
    };
    Ok(ApnsRequest {
        path: format!("/3/device/{}", push.n.device_id),
        topic: (!topic.is_empty()).then_some(topic),
        priority: if push_type == "background" { "5" } else { "10" },
        push_type,
        expiration: None,
        collapse_id: None,
        body: encode_within_limit(&mut payload, limit)?,
    })
}

fn signature(push: &Push) -> Field {
    Field::Str(if push.n.signature.is_empty() {
        "NO_SIGNATURE".into()
    } else {
        push.n.signature.clone()
    })
}

fn put_nonempty(p: &mut Payload, key: &'static str, value: &str) {
    if !value.is_empty() {
        p.insert(key, Field::Str(value.to_string()));
    }
}

fn standard_payload(push: &Push) -> Payload {
    let n = &push.n;
    let mut aps = Aps::default();
    let mut p = Payload::new();

    // Step A: the badge. The clear/v2 rule is MPNS's, kept on purpose (docs/mpns-contract.md §9.1).
    if n.badge == 0 && n.r#type == "clear" && push.app_version > 1 {
        aps.badge = Some(1);
    } else if n.badge != -1 {
        aps.badge = Some(n.badge);
    }

    // Step B: content by type.
    let category = (!n.category.is_empty()).then(|| n.category.clone());
    if n.is_id_loaded {
        aps.category = category;
        aps.sound = Some("default");
        aps.mutable_content = Some(1);
        aps.alert = Some(Alert::Dict {
            body: n.message.clone(),
            title: String::new(),
        });
        aps.content_available = Some(1);
        p.insert("version", Field::Str(n.version.clone()));
        p.insert("id_loaded", Field::Bool(true));
    } else if push.is_session_wipe() {
        // Silent: the app wakes in the background, wipes its data and says so to the server;
        // MPNS sends an empty alert with a sound instead (deviation 15).
        aps.content_available = Some(1);
        p.insert("version", Field::Str(n.version.clone()));
        put_nonempty(&mut p, "channel_name", &n.channel_name);
    } else if n.r#type == "message" || n.r#type == "session" {
        aps.category = category;
        aps.sound = Some("default");
        aps.mutable_content = Some(1);
        if n.r#type == "message" {
            aps.content_available = Some(1);
        }
        let body = emoji::expand(&n.message);
        aps.alert = Some(if !n.channel_name.is_empty() && n.version == "v2" {
            Alert::Dict {
                body,
                title: n.channel_name.clone(),
            }
        } else {
            Alert::Text(body)
        });
        p.insert("version", Field::Str(n.version.clone()));
        put_nonempty(&mut p, "channel_name", &n.channel_name);
    } else if n.r#type == "clear" || n.r#type == "test" {
        aps.content_available = Some(1);
    }

    // Step C: custom keys of every standard push.
    p.insert("type", Field::Str(n.r#type.clone()));
    p.insert("sub_type", Field::Str(n.sub_type.clone()));
    p.insert("server_id", Field::Str(n.server_id.clone()));
    p.insert("is_crt_enabled", Field::Bool(n.is_crt_enabled));
    p.insert("signature", signature(push));
    put_nonempty(&mut p, "ack_id", &n.ack_id);
    if !n.channel_id.is_empty() {
        p.insert("channel_id", Field::Str(n.channel_id.clone()));
        aps.thread_id = Some(if n.is_crt_enabled && !n.root_id.is_empty() {
            n.root_id.clone()
        } else {
            n.channel_id.clone()
        });
    }
    for (key, value) in [
        ("team_id", &n.team_id),
        ("sender_id", &n.sender_id),
        ("sender_name", &n.sender_name),
        ("post_id", &n.post_id),
        ("root_id", &n.root_id),
        ("override_username", &n.override_username),
        ("override_icon_url", &n.override_icon_url),
        ("from_webhook", &n.from_webhook),
    ] {
        put_nonempty(&mut p, key, value);
    }
    p.insert("aps", Field::Aps(Box::new(aps)));
    p
}

fn voip_payload(push: &Push) -> Payload {
    let n = &push.n;
    let mut p = Payload::new();
    let aps = Aps {
        content_available: Some(1),
        ..Default::default()
    };
    p.insert("aps", Field::Aps(Box::new(aps)));
    for (key, value) in [
        ("type", &n.r#type),
        ("sub_type", &n.sub_type),
        ("channel_id", &n.channel_id),
        ("server_id", &n.server_id),
        ("post_id", &n.post_id),
        ("thread_id", &n.root_id),
        ("sender_id", &n.sender_id),
    ] {
        p.insert(key, Field::Str(value.clone()));
    }
    p.insert("id_loaded", Field::Bool(n.is_id_loaded));
    put_nonempty(&mut p, "sender_name", &n.sender_name);
    put_nonempty(&mut p, "channel_name", &n.channel_name);
    put_nonempty(&mut p, "ack_id", &n.ack_id);
    p.insert("signature", signature(push));
    p
}

/// Encodes the payload within `limit` bytes: first the alert text is shortened from its end by
/// exactly as many characters as the excess takes once escaped (as much text as fits stays);
/// if that is not enough, `DROPPED_TO_FIT` keys go one by one, then the alert's title. A push
/// whose ids alone exceed the limit cannot be sent.
fn encode_within_limit(payload: &mut Payload, limit: usize) -> Result<String, String> {
    let mut body = to_go_json(payload);
    let excess = body.len().saturating_sub(limit);
    if excess == 0 {
        return Ok(body);
    }
    if let Some(text) = alert(payload).map(Alert::body_mut) {
        let mut freed = 0;
        let mut keep = text.len();
        for (at, c) in text.char_indices().rev() {
            if freed >= excess {
                break;
            }
            freed += encoded_len(c);
            keep = at;
        }
        text.truncate(keep);
        body = to_go_json(payload);
    }
    for key in DROPPED_TO_FIT {
        if body.len() <= limit {
            return Ok(body);
        }
        if payload.remove(key).is_some() {
            body = to_go_json(payload);
        }
    }
    if body.len() > limit {
        if let Some(Alert::Dict { title, .. }) = alert(payload) {
            title.clear();
            body = to_go_json(payload);
        }
    }
    if body.len() > limit {
        return Err(format!(
            "the APNs payload is {} bytes even shortened, over APNs' limit of {limit}",
            body.len()
        ));
    }
    Ok(body)
}

fn alert(payload: &mut Payload) -> Option<&mut Alert> {
    match payload.get_mut("aps") {
        Some(Field::Aps(aps)) => aps.alert.as_mut(),
        _ => None,
    }
}

/// The bytes a character takes in Go-escaped JSON.
fn encoded_len(c: char) -> usize {
    match c {
        '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => 6,
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(json: &str) -> Push {
        let n = pushgate_bridge::decode::push_notification(json.as_bytes()).unwrap();
        crate::push::prepare(n).unwrap()
    }

    #[test]
    fn payloads_always_fit_dropping_in_the_documented_order() {
        let long = "n".repeat(3000);
        // A long sender name: the message goes first, then the display-only keys.
        let p = push(&format!(
            r#"{{"platform":"apple_rn","server_id":"s","device_id":"ab","type":"message","version":"v2","channel_name":"Town","message":"{}","sender_name":"{long}","override_username":"{long}","channel_id":"c"}}"#,
            "m".repeat(2000)
        ));
        let body = build(&p, "t").unwrap().body;
        assert!(body.len() <= MAX_PAYLOAD_BYTES, "{}", body.len());
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v.get("override_username").is_none(), "dropped first");
        assert_eq!(
            v["sender_name"],
            long.as_str(),
            "kept: enough room once the other went"
        );
        assert_eq!(v["channel_id"], "c", "ids stay");
        assert_eq!(
            v["aps"]["alert"],
            serde_json::json!({"title": "Town"}),
            "the message went first"
        );
        // VoIP has its own, larger limit.
        let p = push(&format!(
            r#"{{"platform":"apple_rn","server_id":"s","device_id":"ab","type":"message","transport":"voip","sender_name":"{}","channel_id":"c"}}"#,
            "v".repeat(4800)
        ));
        let body = build(&p, "t").unwrap().body;
        assert!(body.len() > MAX_PAYLOAD_BYTES && body.len() <= MAX_VOIP_PAYLOAD_BYTES);
        // Ids alone over the limit: no payload, a FAIL.
        let p = push(&format!(
            r#"{{"platform":"apple_rn","server_id":"s","device_id":"ab","type":"message","channel_id":"{}"}}"#,
            "c".repeat(5000)
        ));
        assert!(build(&p, "t")
            .unwrap_err()
            .contains("over APNs' limit of 4096"));
    }

    #[test]
    fn encoded_len_matches_the_encoder() {
        for c in [
            'a', '<', '"', '\\', '\n', '\u{1}', 'é', '😄', '\u{2028}', '\u{8}',
        ] {
            let encoded = to_go_json(&c.to_string()).len() - 2;
            assert_eq!(encoded_len(c), encoded, "{c:?}");
        }
    }
}
