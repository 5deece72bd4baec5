//! The FCM v1 message MPNS builds for a push (docs/mpns-contract.md §4.2): data-only, high priority, every
//! data value a string, data keys sorted as Go marshals a map.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{
    delivery::{Format, INVALID_TOKEN},
    emoji,
    general::General,
    outcome::Outcome,
    push::Push,
};
use gojson::to_go_json;

#[derive(Serialize)]
struct Envelope<'a> {
    message: Message<'a>,
}

// Field order is Go's struct order: data, android, token.
#[derive(Serialize)]
struct Message<'a> {
    data: BTreeMap<&'static str, String>,
    android: Android,
    token: &'a str,
}

// Field order is the Firebase Go SDK's: its `MarshalJSON` puts `ttl` before the struct's own.
#[derive(Serialize)]
struct Android {
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<&'static str>,
    priority: &'static str,
}

/// How long FCM keeps a call ring for an unreachable phone: a ring that arrives after the caller
/// hung up is worse than none (MPNS pull request 162).
const RING_TTL: &str = "30s";

/// The longest registration token taken. FCM's are about 160 characters today.
const MAX_TOKEN_BYTES: usize = 4096;

/// An FCM registration token is letters, digits and `-_:.`; anything else would be refused by
/// FCM, and a huge one would only cost memory on the way there.
fn check_token(token: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.');
    if token.len() > MAX_TOKEN_BYTES || !token.bytes().all(allowed) {
        return Err(format!(
            "invalid device Id: an FCM registration token is 1 to {MAX_TOKEN_BYTES} letters, digits, '-', '_', ':' or '.'"
        ));
    }
    Ok(())
}

/// An Android target's request format: the body needs nothing but the push.
pub struct FcmFormat;

impl Format for FcmFormat {
    /// The JSON body, ready for every attempt.
    type Request = String;

    fn build(&self, push: &Push) -> Result<String, Outcome> {
        check_token(&push.n.device_id).map_err(|why| Outcome::fail(why, INVALID_TOKEN))?;
        Ok(build(push))
    }

    fn build_general(&self, general: &General, token: &str) -> Result<String, Outcome> {
        check_token(token).map_err(|why| Outcome::fail(why, INVALID_TOKEN))?;
        super::general::build(general, token)
    }

    fn describe(body: &String) -> (String, usize) {
        (body.clone(), body.len())
    }
}

/// The data MPNS sends to Android for `push` (docs/mpns-contract.md §4.2), every value a
/// string; a message's text goes through `message`: FCM expands its emoji shortcodes, Web Push
/// does not (MPNS's choices). Other providers that take Android's data (HMS, Web Push) start from it.
pub fn data(push: &Push, message: impl Fn(&str) -> String) -> BTreeMap<&'static str, String> {
    let n = &push.n;
    let mut data = BTreeMap::new();
    for (key, value) in [
        ("ack_id", &n.ack_id),
        ("type", &n.r#type),
        ("sub_type", &n.sub_type),
        ("version", &n.version),
        ("channel_id", &n.channel_id),
        ("server_id", &n.server_id),
        ("category", &n.category),
    ] {
        data.insert(key, value.clone());
    }
    data.insert("is_crt_enabled", n.is_crt_enabled.to_string());
    if n.badge != -1 {
        data.insert("badge", n.badge.to_string());
    }
    if !n.root_id.is_empty() {
        data.insert("root_id", n.root_id.clone());
    }
    let signature = if n.signature.is_empty() {
        "NO_SIGNATURE"
    } else {
        &n.signature
    };
    data.insert("signature", signature.to_string());

    if n.is_id_loaded {
        data.insert("post_id", n.post_id.clone());
        data.insert("message", n.message.clone());
        data.insert("id_loaded", "true".into());
        data.insert("sender_id", n.sender_id.clone());
        // MPNS's literal placeholder: the device fetches the real name.
        data.insert("sender_name", "Someone".into());
        data.insert("team_id", n.team_id.clone());
    } else if n.r#type == "message" || n.r#type == "session" {
        for (key, value) in [
            ("team_id", &n.team_id),
            ("sender_id", &n.sender_id),
            ("sender_name", &n.sender_name),
            ("channel_name", &n.channel_name),
            ("post_id", &n.post_id),
            ("override_username", &n.override_username),
            ("override_icon_url", &n.override_icon_url),
            ("from_webhook", &n.from_webhook),
        ] {
            data.insert(key, value.clone());
        }
        data.insert("message", message(&n.message));
    }
    data
}

/// The JSON body of `POST /v1/projects/{project}/messages:send`.
pub fn build(push: &Push) -> String {
    let n = &push.n;
    let mut data = data(push, emoji::expand);
    // A call ring: the flag the app's FCM receiver reads to take its ring path (§11.2).
    let ttl = push.is_voip().then(|| {
        data.insert("voip", "true".into());
        RING_TTL
    });

    to_go_json(&Envelope {
        message: Message {
            data,
            android: Android {
                ttl,
                priority: "high",
            },
            token: &n.device_id,
        },
    })
}
