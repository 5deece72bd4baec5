//! Request bodies of the MPNS API, decoded with Go's rules (docs/mpns-contract.md §2.1, §2.2, §9).

use gojson::decode_object;
use pushgate::v1::{PushAck, PushNotification};

pub fn push_notification(body: &[u8]) -> Result<PushNotification, String> {
    let o = decode_object(body, "model.PushNotification")?;
    let mut r = o.reader();
    let n = PushNotification {
        ack_id: r.string("ack_id"),
        platform: r.string("platform"),
        server_id: r.string("server_id"),
        device_id: r.string("device_id"),
        post_id: r.string("post_id"),
        category: r.string("category"),
        sound: r.string("sound"),
        message: r.string("message"),
        badge: r.int32("badge"),
        cont_ava: r.int32("cont_ava"),
        team_id: r.string("team_id"),
        channel_id: r.string("channel_id"),
        root_id: r.string("root_id"),
        channel_name: r.string("channel_name"),
        r#type: r.string("type"),
        sub_type: r.string("sub_type"),
        transport: r.string("transport"),
        sender_id: r.string("sender_id"),
        sender_name: r.string("sender_name"),
        override_username: r.string("override_username"),
        override_icon_url: r.string("override_icon_url"),
        from_webhook: r.string("from_webhook"),
        version: r.string("version"),
        is_crt_enabled: r.boolean("is_crt_enabled"),
        is_id_loaded: r.boolean("is_id_loaded"),
        signature: r.string("signature"),
    };
    r.finish()?;
    Ok(n)
}

pub fn push_ack(body: &[u8]) -> Result<PushAck, String> {
    let o = decode_object(body, "model.PushNotificationAck")?;
    let mut r = o.reader();
    let ack = PushAck {
        id: r.string("id"),
        received_at: r.int64("received_at", "int64"),
        platform: r.string("platform"),
        r#type: r.string("type"),
        post_id: r.string("post_id"),
        is_id_loaded: r.boolean("is_id_loaded"),
    };
    r.finish()?;
    Ok(ack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_rules_for_surrogates_and_error_order() {
        // A lone surrogate escape is U+FFFD, as Go decodes it; a valid pair stays one character.
        let n = push_notification(
            br#"{"message":"a\ud800b\udc00c\ud83d\ude00","server_id":"s\\ud800"}"#,
        )
        .unwrap();
        assert_eq!(n.message, "a\u{fffd}b\u{fffd}c😀");
        assert_eq!(
            n.server_id, "s\\ud800",
            "an escaped backslash is not an escape"
        );
        // Two type errors: Go reports the one that comes first in the document.
        let err = push_notification(br#"{"is_id_loaded":"yes","badge":"3"}"#).unwrap_err();
        assert!(
            err.contains("PushNotification.is_id_loaded of type bool"),
            "{err}"
        );
        let err = push_notification(br#"{"badge":"3","is_id_loaded":"yes"}"#).unwrap_err();
        assert!(err.contains("PushNotification.badge of type int"), "{err}");
    }

    #[test]
    fn server_bytes_decode() {
        let n = push_notification(
            br#"{"ack_id":"a","platform":"apple_rn-v2","server_id":"s","device_id":"d","badge":3,"is_crt_enabled":true,"signature":"SIG","unknown":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(n.platform, "apple_rn-v2");
        assert_eq!(n.badge, 3);
        assert!(n.is_crt_enabled);
        let err = push_ack(br#"{"id":1}"#).unwrap_err();
        assert_eq!(
            err,
            "json: cannot unmarshal number into Go struct field PushNotificationAck.id of type string"
        );
    }
}
