//! `Send`'s notifications for any app (docs/api.md): what is checked before any token is tried,
//! and the parts both providers read the same way. How each provider spells a notification is
//! in its own module (`apns/general.rs`, `fcm/general.rs`).

use std::{
    any::Any,
    sync::{Arc, OnceLock},
    time::Duration,
};

use pushgate::v1::{Notification, SendRequest};
use serde_json::{Map, Value};

/// The most tokens one `Send` takes.
pub const MAX_TOKENS: usize = 1000;

/// The data key `notification.ack_id` is sent as: the key Mattermost's apps read it from.
const ACK_ID_KEY: &str = "ack_id";

/// The kind as the `kind` label of `pushgate_send_total` and the `type` label of receipts.
pub fn kind_label(kind: pushgate::v1::Kind) -> &'static str {
    match kind {
        pushgate::v1::Kind::Alert => "alert",
        pushgate::v1::Kind::Background => "background",
        pushgate::v1::Kind::Voip => "voip",
    }
}

/// A notification ready to build requests from: the escape hatches parsed once for all tokens.
#[derive(Default)]
pub struct General {
    pub n: Notification,
    /// `apns_payload_json`, merged into each APNs payload last.
    pub apns_extra: Map<String, Value>,
    /// `fcm_message_json`, merged into each FCM message last.
    pub fcm_extra: Map<String, Value>,
    /// `ttl`, checked.
    pub ttl: Option<Duration>,
    /// What the provider's request holds for every token alike (the APNs payload and headers,
    /// the FCM message but its token): built by the first token's send, reused by the rest.
    shared: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl General {
    /// `build()`'s value, built once for all the tokens of the call. One `Send` goes to one
    /// target, so every token asks for the same type; another type is built afresh.
    pub fn shared<T: Any + Send + Sync>(&self, build: impl Fn() -> T) -> Arc<T> {
        let any: Arc<dyn Any + Send + Sync> = self.shared.get_or_init(|| Arc::new(build())).clone();
        any.downcast::<T>().unwrap_or_else(|_| Arc::new(build()))
    }
}

/// The notification of `request` (taken out of it), or why it cannot be sent at all (an
/// `INVALID_ARGUMENT` naming the field).
pub fn prepare(request: &mut SendRequest) -> Result<General, String> {
    match request.tokens.len() {
        0 => return Err("tokens: at least one device token is needed".into()),
        n if n > MAX_TOKENS => {
            return Err(format!(
                "tokens: at most {MAX_TOKENS} device tokens in one call, got {n}"
            ))
        }
        _ => {}
    }
    if let Some(i) = request.tokens.iter().position(String::is_empty) {
        return Err(format!("tokens[{i}]: empty device token"));
    }
    if request.target.is_empty() {
        return Err("target: a configured target's Type is needed".into());
    }
    let mut n = request
        .notification
        .take()
        .ok_or("notification: required")?;
    if !n.ack_id.is_empty() {
        match n.data.get(ACK_ID_KEY) {
            Some(id) if *id != n.ack_id => {
                return Err(
                    "notification.data: its \"ack_id\" differs from notification.ack_id; set one"
                        .into(),
                )
            }
            _ => {
                n.data.insert(ACK_ID_KEY.into(), n.ack_id.clone());
            }
        }
    }
    let ttl = match &n.ttl {
        None => None,
        Some(d) if d.seconds < 0 || d.nanos < 0 => {
            return Err("notification.ttl: must not be negative".into())
        }
        Some(d) => Some(Duration::new(d.seconds as u64, d.nanos as u32)),
    };
    if n.collapse_id.len() > 64 {
        return Err("notification.collapse_id: at most 64 bytes (APNs' limit)".into());
    }
    Ok(General {
        apns_extra: object(&n.apns_payload_json, "notification.apns_payload_json")?,
        fcm_extra: object(&n.fcm_message_json, "notification.fcm_message_json")?,
        ttl,
        n,
        shared: OnceLock::new(),
    })
}

/// An escape hatch: empty, or a JSON object.
fn object(json: &str, field: &str) -> Result<Map<String, Value>, String> {
    if json.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{field}: must be a JSON object")),
        Err(e) => Err(format!("{field}: not JSON: {e}")),
    }
}

/// Merges `extra` into `base`: objects key by key, anything else replaced.
pub fn merge(base: &mut Map<String, Value>, extra: &Map<String, Value>) {
    for (key, value) in extra {
        match (base.get_mut(key), value) {
            (Some(Value::Object(inner)), Value::Object(more)) => merge(inner, more),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(tokens: usize, n: Notification) -> SendRequest {
        SendRequest {
            target: "apple_rn".into(),
            tokens: (0..tokens).map(|i| format!("{i:064x}")).collect(),
            notification: Some(n),
            request_id: String::new(),
        }
    }

    #[test]
    fn bad_requests_name_the_field() {
        let err = |mut r: SendRequest| prepare(&mut r).err().expect("refused");
        assert!(err(request(0, Notification::default())).starts_with("tokens:"));
        assert!(err(request(1001, Notification::default())).contains("at most 1000"));
        let hatch = Notification {
            apns_payload_json: "[1]".into(),
            ..Default::default()
        };
        assert_eq!(
            err(request(1, hatch)),
            "notification.apns_payload_json: must be a JSON object"
        );
        let hatch = Notification {
            fcm_message_json: "{oops".into(),
            ..Default::default()
        };
        assert!(err(request(1, hatch)).starts_with("notification.fcm_message_json: not JSON"));
        assert!(prepare(&mut request(1000, Notification::default())).is_ok());
    }

    #[test]
    fn the_shared_part_is_built_once() {
        let general = General::default();
        let built = std::sync::atomic::AtomicUsize::new(0);
        let build = || {
            built.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            String::from("payload")
        };
        assert_eq!(*general.shared(build), "payload");
        assert_eq!(*general.shared(build), "payload");
        assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Another type cannot come from the cache: it is built, and the cache stays.
        assert_eq!(*general.shared(|| 7u8), 7);
        assert_eq!(*general.shared(build), "payload");
    }

    #[test]
    fn objects_merge_key_by_key() {
        let mut base: Map<String, Value> =
            serde_json::from_str(r#"{"aps":{"alert":"a","badge":1},"k":"v"}"#).unwrap();
        let extra = serde_json::from_str(r#"{"aps":{"badge":2,"sound":"s"},"k":[1]}"#).unwrap();
        merge(&mut base, &extra);
        assert_eq!(
            Value::Object(base).to_string(),
            r#"{"aps":{"alert":"a","badge":2,"sound":"s"},"k":[1]}"#
        );
    }
}
