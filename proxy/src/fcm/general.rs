//! A `Send` notification as FCM HTTP v1 takes it (docs/api.md), following Firebase's "About FCM
//! messages" and "Setting the priority of a message": an alert is a `notification` message at
//! priority high; background and VoIP pushes are data-only, background at normal priority and
//! VoIP at high, unless the caller asks otherwise. The caller's `fcm_message_json` is merged
//! into `message` last. Nothing is cut to fit: a message over FCM's 4,096-byte limit is refused.

use pushgate::v1::{Kind, Priority};
use serde_json::{Map, Value};

use crate::{
    general::{merge, General},
    outcome::Outcome,
};

/// FCM's limit for a message's payload (data and notification).
const MAX_PAYLOAD_BYTES: usize = 4096;

/// The body for `token`: the call's shared message (built once) with the token put in. The
/// token was checked to be letters, digits and `-_:.`, so it needs no escaping.
pub fn build(general: &General, token: &str) -> Result<String, Outcome> {
    let rest = general.shared(|| message_but_token(general));
    let rest = rest.as_ref().as_ref().map_err(Clone::clone)?;
    Ok(format!(r#"{{"message":{{"token":"{token}",{rest}}}}}"#))
}

/// The message's members but the token, as JSON without the enclosing braces: the same for
/// every token of a call.
fn message_but_token(general: &General) -> Result<String, Outcome> {
    let n = &general.n;
    let kind = n.kind();
    let mut message = Map::new();
    if !n.data.is_empty() {
        let data: Map<String, Value> = n
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().into()))
            .collect();
        message.insert("data".into(), Value::Object(data));
    }
    let mut android = Map::new();
    if kind == Kind::Alert {
        if let Some(alert) = &n.alert {
            let mut shown = Map::new();
            for (key, text) in [("title", &alert.title), ("body", &alert.body)] {
                if !text.is_empty() {
                    shown.insert(key.into(), text.as_str().into());
                }
            }
            if !shown.is_empty() {
                message.insert("notification".into(), Value::Object(shown));
            }
        }
        let mut shown = Map::new();
        if let Some(sound) = &n.sound {
            shown.insert("sound".into(), sound.as_str().into());
        }
        if !n.thread_id.is_empty() {
            shown.insert("tag".into(), n.thread_id.as_str().into());
        }
        if !n.category.is_empty() {
            shown.insert("click_action".into(), n.category.as_str().into());
        }
        if let Some(badge) = n.badge {
            shown.insert("notification_count".into(), badge.into());
        }
        if !shown.is_empty() {
            android.insert("notification".into(), Value::Object(shown));
        }
    }
    let priority = match (n.priority(), kind) {
        (Priority::High, _) | (Priority::Default, Kind::Alert | Kind::Voip) => "high",
        (Priority::Normal, _) | (Priority::Default, Kind::Background) => "normal",
    };
    android.insert("priority".into(), priority.into());
    if let Some(ttl) = general.ttl {
        android.insert("ttl".into(), duration(ttl).into());
    }
    if !n.collapse_id.is_empty() {
        android.insert("collapse_key".into(), n.collapse_id.as_str().into());
    }
    message.insert("android".into(), Value::Object(android));
    merge(&mut message, &general.fcm_extra);
    let payload = [message.get("data"), message.get("notification")]
        .iter()
        .flatten()
        .map(|v| v.to_string().len())
        .sum::<usize>();
    if payload > MAX_PAYLOAD_BYTES {
        return Err(Outcome::fail(
            format!("the FCM payload is {payload} bytes, over FCM's limit of {MAX_PAYLOAD_BYTES}"),
            "PayloadTooLarge",
        ));
    }
    // The token is each request's own, never the caller's JSON.
    message.remove("token");
    let members = Value::Object(message).to_string();
    Ok(members[1..members.len() - 1].to_string())
}

/// A protobuf JSON duration: seconds, with the fraction only when there is one (`30s`, `1.5s`).
fn duration(d: std::time::Duration) -> String {
    match d.subsec_nanos() {
        0 => format!("{}s", d.as_secs()),
        nanos => {
            let fraction = format!("{nanos:09}");
            format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::duration;
    use std::time::Duration;

    #[test]
    fn durations_read_as_protobuf_json_writes_them() {
        assert_eq!(duration(Duration::from_secs(30)), "30s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
    }
}
