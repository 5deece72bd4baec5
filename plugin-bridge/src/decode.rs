//! Request bodies of the MPNS API, decoded with Go's rules (docs/mpns-contract.md §2.1, §2.2, §9).

use gojson::decode_object;
use pushgate::v1::{PushAck, PushNotification};

pub fn push_notification(body: &[u8]) -> Result<PushNotification, String> {
    let o = decode_object(body, "model.PushNotification")?;
    Ok(PushNotification {
        ack_id: o.string("ack_id")?,
        platform: o.string("platform")?,
        server_id: o.string("server_id")?,
        device_id: o.string("device_id")?,
        post_id: o.string("post_id")?,
        category: o.string("category")?,
        sound: o.string("sound")?,
        message: o.string("message")?,
        badge: o.int32("badge")?,
        cont_ava: o.int32("cont_ava")?,
        team_id: o.string("team_id")?,
        channel_id: o.string("channel_id")?,
        root_id: o.string("root_id")?,
        channel_name: o.string("channel_name")?,
        r#type: o.string("type")?,
        sub_type: o.string("sub_type")?,
        transport: o.string("transport")?,
        sender_id: o.string("sender_id")?,
        sender_name: o.string("sender_name")?,
        override_username: o.string("override_username")?,
        override_icon_url: o.string("override_icon_url")?,
        from_webhook: o.string("from_webhook")?,
        version: o.string("version")?,
        is_crt_enabled: o.boolean("is_crt_enabled")?,
        is_id_loaded: o.boolean("is_id_loaded")?,
        signature: o.string("signature")?,
    })
}

pub fn push_ack(body: &[u8]) -> Result<PushAck, String> {
    let o = decode_object(body, "model.PushNotificationAck")?;
    Ok(PushAck {
        id: o.string("id")?,
        received_at: o.int64("received_at", "int64")?,
        platform: o.string("platform")?,
        r#type: o.string("type")?,
        post_id: o.string("post_id")?,
        is_id_loaded: o.boolean("is_id_loaded")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
