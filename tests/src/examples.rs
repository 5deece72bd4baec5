//! The replayable examples of docs/mpns-contract.md §10 and §11 that reach a provider: the Mattermost server's
//! exact request bytes and what MPNS sends upstream for them.

pub const SIG: &str =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2tfaWQiOiJhY2sxIiwiZGV2aWNlX2lkIjoidG9rIn0.SIG";

/// A docs/mpns-contract.md §10 push to an Apple target and what APNs must receive, with the
/// `apple_rn` topic com.mattermost.react.native and `apple` com.mattermost.Mattermost.
pub struct AppleExample {
    pub name: &'static str,
    /// The Mattermost server's request body.
    pub request: String,
    /// The exact APNs payload.
    pub apns_body: String,
    pub topic: &'static str,
    pub push_type: &'static str,
    pub priority: &'static str,
    /// The docs/deviations.md entry under which pushgate's request differs from MPNS's.
    pub deviation: Option<&'static str>,
}

pub fn apple_examples() -> Vec<AppleExample> {
    let s = |x: &str| x.replace("SIG", SIG);
    vec![
        AppleExample {
            name: "10.2 full message",
            request: s(r#"{"ack_id":"ackid0000000000000000000a","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90","post_id":"postid000000000000000000a","category":"CAN_REPLY","message":"alice: Hello :smile: \u003cb\u003e","badge":3,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","channel_name":"Town Square","type":"message","sender_id":"userid000000000000000000a","sender_name":"alice","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
            apns_body: s(r#"{"ack_id":"ackid0000000000000000000a","aps":{"alert":{"body":"alice: Hello 😄  \u003cb\u003e","title":"Town Square"},"badge":3,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","channel_name":"Town Square","is_crt_enabled":false,"post_id":"postid000000000000000000a","sender_id":"userid000000000000000000a","sender_name":"alice","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"}"#),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.4 id-loaded",
            request: s(r#"{"ack_id":"ackid0000000000000000000c","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"postid000000000000000000c","category":"CAN_REPLY","message":"You've received a new message.","badge":1,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","type":"message","sender_id":"userid000000000000000000c","version":"v2","is_crt_enabled":false,"is_id_loaded":true,"signature":"SIG"}"#),
            apns_body: s(r#"{"ack_id":"ackid0000000000000000000c","aps":{"alert":{"body":"You've received a new message."},"badge":1,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","id_loaded":true,"is_crt_enabled":false,"post_id":"postid000000000000000000c","sender_id":"userid000000000000000000c","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"}"#),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.5 clear, v2 app",
            request: s(r#"{"ack_id":"ackid0000000000000000000d","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","cont_ava":1,"channel_id":"chanid000000000000000000a","type":"clear","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":"SIG"}"#),
            apns_body: s(r#"{"ack_id":"ackid0000000000000000000d","aps":{"badge":1,"content-available":1,"thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","is_crt_enabled":true,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"clear"}"#),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.5 clear, no suffix, no signature",
            request: r#"{"ack_id":"ackid0000000000000000000d","platform":"apple_rn","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","cont_ava":1,"channel_id":"chanid000000000000000000a","type":"clear","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":""}"#.into(),
            apns_body: r#"{"ack_id":"ackid0000000000000000000d","aps":{"badge":0,"content-available":1,"thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","is_crt_enabled":true,"server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"clear"}"#.into(),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.6 update_badge",
            request: s(r#"{"ack_id":"ackid0000000000000000000e","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","sound":"none","badge":7,"cont_ava":1,"type":"update_badge","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
            apns_body: s(r#"{"ack_id":"ackid0000000000000000000e","aps":{"badge":7},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"update_badge"}"#),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.7 test push",
            request: r#"{"ack_id":"","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","badge":-1,"type":"test","version":"2","is_crt_enabled":false,"is_id_loaded":false,"signature":""}"#.into(),
            apns_body: r#"{"aps":{"content-available":1},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"test"}"#.into(),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.8 session expired",
            request: s(r#"{"ack_id":"ackid0000000000000000000g","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","message":"Session Expired: Please log in to continue receiving notifications.","type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
            apns_body: s(r#"{"ack_id":"ackid0000000000000000000g","aps":{"alert":"Session Expired: Please log in to continue receiving notifications.","badge":0,"mutable-content":1,"sound":"default"},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"session","version":"v2"}"#),
            topic: "com.mattermost.react.native",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "11.1 session wipe",
            request: s(r#"{"ack_id":"ackid0000000000000000000h","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","sound":"none","cont_ava":1,"type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
            apns_body: s(r#"{"ack_id":"ackid0000000000000000000h","aps":{"badge":0,"content-available":1},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"session","version":"v2"}"#),
            topic: "com.mattermost.react.native",
            push_type: "background",
            priority: "5",
            deviation: Some("15: the session wipe is a silent background push"),
        },
        AppleExample {
            name: "10.9 VoIP",
            request: r#"{"ack_id":"ack1","platform":"apple_rn-v2","server_id":"server1","device_id":"abcd1234","post_id":"post1","channel_id":"channel1","root_id":"thread1","channel_name":"Channel Name","type":"message","sub_type":"calls","transport":"voip","sender_id":"sender1","sender_name":"Sender Name","version":"v2","is_crt_enabled":false,"is_id_loaded":true,"signature":"signed"}"#.into(),
            apns_body: r#"{"ack_id":"ack1","aps":{"content-available":1},"channel_id":"channel1","channel_name":"Channel Name","id_loaded":true,"post_id":"post1","sender_id":"sender1","sender_name":"Sender Name","server_id":"server1","signature":"signed","sub_type":"calls","thread_id":"thread1","type":"message"}"#.into(),
            topic: "com.mattermost.react.native.voip",
            push_type: "voip",
            priority: "10",
            deviation: None,
        },
        AppleExample {
            name: "10.10 legacy",
            request: r#"{"ack_id":"ackid0000000000000000000i","platform":"apple","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","category":"CAN_REPLY","message":"hi :tada:","channel_id":"chanid000000000000000000a","channel_name":"Town Square","type":"message","is_crt_enabled":false,"is_id_loaded":false,"signature":""}"#.into(),
            apns_body: r#"{"ack_id":"ackid0000000000000000000i","aps":{"alert":"hi 🎉 ","badge":0,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","channel_name":"Town Square","is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"message","version":""}"#.into(),
            topic: "com.mattermost.Mattermost",
            push_type: "alert",
            priority: "10",
            deviation: None,
        },
    ]
}

/// The contract writes `"SIG"` for a real signature.
pub fn with_sig(json: &str) -> String {
    json.replace("\"SIG\"", &format!("\"{SIG}\""))
}

/// A docs/mpns-contract.md §10 push to an Android target and the exact FCM body it becomes.
pub struct AndroidExample {
    pub name: &'static str,
    /// The Mattermost server's request body.
    pub request: String,
    /// The exact FCM v1 request body.
    pub fcm_body: String,
    /// The docs/deviations.md entry under which pushgate's request differs from MPNS's.
    pub deviation: Option<&'static str>,
}

/// The Android examples, signatures filled in.
pub fn android_examples() -> Vec<AndroidExample> {
    vec![
        AndroidExample {
            name: "10.3 CRT reply",
            request: with_sig(
                r#"{"ack_id":"ackid0000000000000000000b","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken:APA91bExample","post_id":"postid000000000000000000b","category":"CAN_REPLY","message":"bob: thanks","badge":5,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","root_id":"rootid000000000000000000a","channel_name":"Reply in Town Square","type":"message","sender_id":"userid000000000000000000b","sender_name":"bob","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":"SIG"}"#,
            ),
            fcm_body: with_sig(
                r#"{"message":{"data":{"ack_id":"ackid0000000000000000000b","badge":"5","category":"CAN_REPLY","channel_id":"chanid000000000000000000a","channel_name":"Reply in Town Square","from_webhook":"","is_crt_enabled":"true","message":"bob: thanks","override_icon_url":"","override_username":"","post_id":"postid000000000000000000b","root_id":"rootid000000000000000000a","sender_id":"userid000000000000000000b","sender_name":"bob","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken:APA91bExample"}}"#,
            ),
            deviation: None,
        },
        AndroidExample {
            name: "10.4 id-loaded",
            request: with_sig(
                r#"{"ack_id":"ackid0000000000000000000k","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"postid000000000000000000c","category":"CAN_REPLY","message":"You've received a new message.","badge":1,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","type":"message","sender_id":"userid000000000000000000c","version":"v2","is_crt_enabled":false,"is_id_loaded":true,"signature":"SIG"}"#,
            ),
            fcm_body: with_sig(
                r#"{"message":{"data":{"ack_id":"ackid0000000000000000000k","badge":"1","category":"CAN_REPLY","channel_id":"chanid000000000000000000a","id_loaded":"true","is_crt_enabled":"false","message":"You've received a new message.","post_id":"postid000000000000000000c","sender_id":"userid000000000000000000c","sender_name":"Someone","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
            ),
            deviation: None,
        },
        AndroidExample {
            name: "10.5 clear",
            request: with_sig(
                r#"{"ack_id":"ackid0000000000000000000l","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"","cont_ava":1,"channel_id":"chanid000000000000000000a","root_id":"rootid000000000000000000a","type":"clear","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":"SIG"}"#,
            ),
            fcm_body: with_sig(
                r#"{"message":{"data":{"ack_id":"ackid0000000000000000000l","badge":"0","category":"","channel_id":"chanid000000000000000000a","is_crt_enabled":"true","root_id":"rootid000000000000000000a","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"clear","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
            ),
            deviation: None,
        },
        AndroidExample {
            name: "10.7 test push",
            request: with_sig(
                r#"{"ack_id":"","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"","badge":-1,"type":"test","version":"2","is_crt_enabled":false,"is_id_loaded":false,"signature":""}"#,
            ),
            fcm_body: with_sig(
                r#"{"message":{"data":{"ack_id":"","category":"","channel_id":"","is_crt_enabled":"false","server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"test","version":"2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
            ),
            deviation: None,
        },
        AndroidExample {
            name: "11.1 session wipe",
            request: with_sig(
                r#"{"ack_id":"ackid0000000000000000000m","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"","sound":"none","cont_ava":1,"type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#,
            ),
            fcm_body: with_sig(
                r#"{"message":{"data":{"ack_id":"ackid0000000000000000000m","badge":"0","category":"","channel_id":"","channel_name":"","from_webhook":"","is_crt_enabled":"false","message":"","override_icon_url":"","override_username":"","post_id":"","sender_id":"","sender_name":"","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"","type":"session","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
            ),
            deviation: None,
        },
        AndroidExample {
            name: "11.2 call ringing",
            request: r#"{"ack_id":"ack2","platform":"android_rn-v2","server_id":"server1","device_id":"fcmtoken","post_id":"post1","channel_id":"channel1","root_id":"thread1","channel_name":"Channel Name","type":"message","sub_type":"calls","transport":"voip","message":"Sender Name is inviting you to a call","sender_id":"sender1","sender_name":"Sender Name","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"signed"}"#.into(),
            fcm_body: r#"{"message":{"data":{"ack_id":"ack2","badge":"0","category":"","channel_id":"channel1","channel_name":"Channel Name","from_webhook":"","is_crt_enabled":"false","message":"Sender Name is inviting you to a call","override_icon_url":"","override_username":"","post_id":"post1","root_id":"thread1","sender_id":"sender1","sender_name":"Sender Name","server_id":"server1","signature":"signed","sub_type":"calls","team_id":"","type":"message","version":"v2","voip":"true"},"android":{"ttl":"30s","priority":"high"},"token":"fcmtoken"}}"#.into(),
            deviation: Some("16: Android call ringing as MPNS pull request 162"),
        },
    ]
}
