//! A `Send` notification as APNs takes it (docs/api.md), following Apple's "Generating a remote
//! notification" and "Sending notification requests to APNs": an alert is push type `alert` at
//! priority 10; a background push is type `background`, priority 5 and `content-available`
//! alone (Apple refuses or throttles anything else); a VoIP push goes to `<topic>.voip` as type
//! `voip`. The app's data are custom keys beside `aps`; the caller's `apns_payload_json` is
//! merged in last. Nothing is cut to fit: a payload over Apple's limit is refused.

use std::time::{SystemTime, UNIX_EPOCH};

use pushgate::v1::{Kind, Priority};
use serde_json::{Map, Value};

use super::payload::{ApnsRequest, MAX_PAYLOAD_BYTES, MAX_VOIP_PAYLOAD_BYTES};
use crate::{
    general::{merge, General},
    outcome::Outcome,
};

/// The request for `token`: the call's shared request (built once) with the token's path.
pub fn build(general: &General, token: &str, topic: &str) -> Result<ApnsRequest, Outcome> {
    let shared = general.shared(|| shared(general, topic));
    let mut request = shared.as_ref().clone()?;
    request.path = format!("/3/device/{token}");
    Ok(request)
}

/// Everything of the request but its path: the same for every token of a call.
fn shared(general: &General, topic: &str) -> Result<ApnsRequest, Outcome> {
    let n = &general.n;
    let kind = n.kind();
    let mut aps = Map::new();
    if kind == Kind::Background {
        aps.insert("content-available".into(), 1.into());
    } else {
        if let Some(alert) = &n.alert {
            let mut shown = Map::new();
            for (key, text) in [
                ("title", &alert.title),
                ("subtitle", &alert.subtitle),
                ("body", &alert.body),
            ] {
                if !text.is_empty() {
                    shown.insert(key.into(), text.as_str().into());
                }
            }
            if !shown.is_empty() {
                aps.insert("alert".into(), Value::Object(shown));
            }
        }
        if let Some(badge) = n.badge {
            aps.insert("badge".into(), badge.into());
        }
        if let Some(sound) = &n.sound {
            aps.insert("sound".into(), sound.as_str().into());
        }
        if !n.category.is_empty() {
            aps.insert("category".into(), n.category.as_str().into());
        }
        if !n.thread_id.is_empty() {
            aps.insert("thread-id".into(), n.thread_id.as_str().into());
        }
        if n.mutable_content {
            aps.insert("mutable-content".into(), 1.into());
        }
    }
    let mut payload: Map<String, Value> = n
        .data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().into()))
        .collect();
    payload.insert("aps".into(), Value::Object(aps));
    merge(&mut payload, &general.apns_extra);
    let body = Value::Object(payload).to_string();

    let (push_type, topic, limit) = match kind {
        Kind::Voip => ("voip", format!("{topic}.voip"), MAX_VOIP_PAYLOAD_BYTES),
        Kind::Background => ("background", topic.to_string(), MAX_PAYLOAD_BYTES),
        Kind::Alert => ("alert", topic.to_string(), MAX_PAYLOAD_BYTES),
    };
    if body.len() > limit {
        return Err(Outcome::fail(
            format!(
                "the APNs payload is {} bytes, over Apple's limit of {limit} for a {push_type} push",
                body.len()
            ),
            "PayloadTooLarge",
        ));
    }
    let priority = match (kind, n.priority()) {
        // Apple takes background pushes only at 5.
        (Kind::Background, _) | (_, Priority::Normal) => "5",
        (_, Priority::High | Priority::Default) => "10",
    };
    let expiration = general.ttl.map(|ttl| {
        if ttl.is_zero() {
            // Apple: 0 means deliver now or never, store nothing.
            0
        } else {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            (now + ttl).as_secs()
        }
    });
    Ok(ApnsRequest {
        path: String::new(),
        topic: (!topic.is_empty()).then_some(topic),
        push_type,
        priority,
        expiration,
        collapse_id: (!n.collapse_id.is_empty()).then(|| n.collapse_id.clone()),
        body,
    })
}
