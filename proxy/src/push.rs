//! What every entry point (unary gRPC, StreamPush, the HTTP bridge) does to a push before it
//! reaches a target: MPNS's validation in MPNS's order and words (docs/mpns-contract.md §1.1, §1.2), the
//! `-vN` app-version suffix, and truncation.

use pushgate::v1::{PushAck, PushNotification};

/// MPNS keeps messages up to 2047 bytes and cuts longer ones to 2046 (docs/mpns-contract.md §1.1 step 4).
const MAX_MESSAGE_BYTES: usize = 2047;
const CUT_MESSAGE_BYTES: usize = 2046;
const MAX_CHANNEL_NAME_BYTES: usize = 64;

/// A push that passed validation, with its platform split from the app version.
#[derive(Debug, Clone)]
pub struct Push {
    pub n: PushNotification,
    /// The platform without its `-vN` suffix: the config `Type` that routes it.
    pub platform: String,
    /// 1 when the platform carried no (parsable) suffix.
    pub app_version: i64,
}

impl Push {
    /// The session wipe of Mobile Ephemeral Mode (docs/mpns-contract.md §11.1): a `session`
    /// push with `cont_ava` 1 and no message, meant to wake the app silently.
    pub fn is_session_wipe(&self) -> bool {
        self.n.r#type == "session" && self.n.cont_ava == 1 && self.n.message.is_empty()
    }

    /// A call ring (`transport: voip`): APNs' VoIP topic, FCM's ring path (§10.9, §11.2).
    pub fn is_voip(&self) -> bool {
        self.n.transport == "voip"
    }
}

/// A request MPNS answers with a validation FAIL; the text is MPNS's, word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub String);

/// Validates and normalises a push. Routing (does the platform have a target?) is the caller's.
pub fn prepare(mut n: PushNotification) -> Result<Push, Rejection> {
    if n.server_id.is_empty() {
        return Err(Rejection("Failed because of missing server Id".into()));
    }
    if n.device_id.is_empty() {
        return Err(Rejection(format!(
            "Failed because of missing device Id serverId={}",
            n.server_id
        )));
    }
    if n.message.len() > MAX_MESSAGE_BYTES {
        truncate_utf8(&mut n.message, CUT_MESSAGE_BYTES);
    }
    truncate_utf8(&mut n.channel_name, MAX_CHANNEL_NAME_BYTES);
    let (platform, app_version) = split_app_version(&n.platform);
    Ok(Push {
        platform: platform.to_string(),
        app_version,
        n,
    })
}

/// The FAIL for a platform with no working target (unknown, empty, or failed to initialise).
pub fn unknown_platform(platform: &str, server_id: &str) -> Rejection {
    Rejection(format!(
        "Did not send message because of missing platform property type={platform} serverId={server_id}"
    ))
}

pub fn check_ack(ack: &PushAck) -> Result<(), Rejection> {
    let missing = if ack.id.is_empty() {
        "Id"
    } else if ack.platform.is_empty() {
        "platform"
    } else if ack.r#type.is_empty() {
        "type"
    } else {
        return Ok(());
    };
    Err(Rejection(format!(
        "Failed because of missing ack {missing}"
    )))
}

/// Cuts at the last character boundary within `max` bytes (docs/deviations.md, 1: MPNS cuts bytes
/// and can leave half a character).
fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// `apple_rn-v2` → (`apple_rn`, 2). The first `-v` splits, as in MPNS; an unparsable rest gives
/// version 1 (and an error log) but the platform is still stripped.
pub fn split_app_version(platform: &str) -> (&str, i64) {
    let Some(at) = platform.find("-v") else {
        return (platform, 1);
    };
    let (name, rest) = (&platform[..at], &platform[at + 2..]);
    match rest.parse::<i64>() {
        Ok(version) => (name, version),
        Err(_) => {
            tracing::error!("Could not determine the app version in {platform} appVersion={rest}");
            (name, 1)
        }
    }
}

/// Device tokens in logs: the first 16 bytes and `…` (docs/mpns-contract.md §8).
pub fn redact_token(token: &str) -> String {
    if token.len() <= 16 {
        return token.to_string();
    }
    let mut end = 16;
    while !token.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &token[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(server: &str, device: &str, platform: &str) -> PushNotification {
        PushNotification {
            server_id: server.into(),
            device_id: device.into(),
            platform: platform.into(),
            ..Default::default()
        }
    }

    #[test]
    fn validation_order_and_texts() {
        assert_eq!(
            prepare(push("", "", "")).unwrap_err().0,
            "Failed because of missing server Id"
        );
        assert_eq!(
            prepare(push("s1", "", "android_rn-v2")).unwrap_err().0,
            "Failed because of missing device Id serverId=s1"
        );
        assert_eq!(
            unknown_platform("junk", "test").0,
            "Did not send message because of missing platform property type=junk serverId=test"
        );
    }

    #[test]
    fn app_version_suffix() {
        assert_eq!(split_app_version("apple_rn-v2"), ("apple_rn", 2));
        assert_eq!(split_app_version("android_rn"), ("android_rn", 1));
        assert_eq!(split_app_version("foo-vx"), ("foo", 1));
        assert_eq!(split_app_version("my-vendor"), ("my", 1));
        assert_eq!(split_app_version("a-v2-v3"), ("a", 1));
    }

    #[test]
    fn truncation_keeps_utf8_and_mpns_limits() {
        let mut n = push("s", "d", "apple");
        n.message = "a".repeat(2047);
        assert_eq!(prepare(n.clone()).unwrap().n.message.len(), 2047);
        n.message = "a".repeat(2048);
        assert_eq!(prepare(n.clone()).unwrap().n.message.len(), 2046);
        // 2045 ASCII bytes then a 4-byte emoji: byte 2046 falls inside it.
        n.message = format!("{}😄😄", "a".repeat(2045));
        assert_eq!(prepare(n.clone()).unwrap().n.message, "a".repeat(2045));
        n.channel_name = "é".repeat(40); // 80 bytes
        let cut = prepare(n).unwrap().n.channel_name;
        assert_eq!(cut, "é".repeat(32));
    }

    #[test]
    fn ack_checks() {
        let mut a = PushAck::default();
        assert_eq!(
            check_ack(&a).unwrap_err().0,
            "Failed because of missing ack Id"
        );
        a.id = "x".into();
        assert_eq!(
            check_ack(&a).unwrap_err().0,
            "Failed because of missing ack platform"
        );
        a.platform = "ios".into();
        assert_eq!(
            check_ack(&a).unwrap_err().0,
            "Failed because of missing ack type"
        );
        a.r#type = "message".into();
        assert!(check_ack(&a).is_ok());
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_token(""), "");
        assert_eq!(redact_token("1234"), "1234");
        assert_eq!(redact_token("0123456789abcdefg"), "0123456789abcdef…");
    }
}
