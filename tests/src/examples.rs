//! The replayable examples of docs/mpns-contract.md §10 that reach a provider: the Mattermost server's
//! exact request bytes and what MPNS sends upstream for them.

pub const SIG: &str =
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhY2tfaWQiOiJhY2sxIiwiZGV2aWNlX2lkIjoidG9rIn0.SIG";

/// (name, request, expected APNs body, expected topic, expected push type) from docs/mpns-contract.md §10,
/// with the `apple_rn` topic com.mattermost.react.native and `apple` com.mattermost.Mattermost.
pub fn apple_examples() -> Vec<(&'static str, String, String, &'static str, &'static str)> {
    let s = |x: &str| x.replace("SIG", SIG);
    vec![
        ("10.2 full message",
         s(r#"{"ack_id":"ackid0000000000000000000a","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90","post_id":"postid000000000000000000a","category":"CAN_REPLY","message":"alice: Hello :smile: \u003cb\u003e","badge":3,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","channel_name":"Town Square","type":"message","sender_id":"userid000000000000000000a","sender_name":"alice","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
         s(r#"{"ack_id":"ackid0000000000000000000a","aps":{"alert":{"body":"alice: Hello 😄  \u003cb\u003e","title":"Town Square"},"badge":3,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","channel_name":"Town Square","is_crt_enabled":false,"post_id":"postid000000000000000000a","sender_id":"userid000000000000000000a","sender_name":"alice","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"}"#),
         "com.mattermost.react.native", "alert"),
        ("10.4 id-loaded",
         s(r#"{"ack_id":"ackid0000000000000000000c","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"postid000000000000000000c","category":"CAN_REPLY","message":"You've received a new message.","badge":1,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","type":"message","sender_id":"userid000000000000000000c","version":"v2","is_crt_enabled":false,"is_id_loaded":true,"signature":"SIG"}"#),
         s(r#"{"ack_id":"ackid0000000000000000000c","aps":{"alert":{"body":"You've received a new message."},"badge":1,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","id_loaded":true,"is_crt_enabled":false,"post_id":"postid000000000000000000c","sender_id":"userid000000000000000000c","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"}"#),
         "com.mattermost.react.native", "alert"),
        ("10.5 clear, v2 app",
         s(r#"{"ack_id":"ackid0000000000000000000d","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","cont_ava":1,"channel_id":"chanid000000000000000000a","type":"clear","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":"SIG"}"#),
         s(r#"{"ack_id":"ackid0000000000000000000d","aps":{"badge":1,"content-available":1,"thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","is_crt_enabled":true,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"clear"}"#),
         "com.mattermost.react.native", "alert"),
        ("10.5 clear, no suffix, no signature",
         r#"{"ack_id":"ackid0000000000000000000d","platform":"apple_rn","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","cont_ava":1,"channel_id":"chanid000000000000000000a","type":"clear","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":""}"#.into(),
         r#"{"ack_id":"ackid0000000000000000000d","aps":{"badge":0,"content-available":1,"thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","is_crt_enabled":true,"server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"clear"}"#.into(),
         "com.mattermost.react.native", "alert"),
        ("10.6 update_badge",
         s(r#"{"ack_id":"ackid0000000000000000000e","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","sound":"none","badge":7,"cont_ava":1,"type":"update_badge","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
         s(r#"{"ack_id":"ackid0000000000000000000e","aps":{"badge":7},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"update_badge"}"#),
         "com.mattermost.react.native", "alert"),
        ("10.7 test push",
         r#"{"ack_id":"","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","badge":-1,"type":"test","version":"2","is_crt_enabled":false,"is_id_loaded":false,"signature":""}"#.into(),
         r#"{"aps":{"content-available":1},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"test"}"#.into(),
         "com.mattermost.react.native", "alert"),
        ("10.8 session expired",
         s(r#"{"ack_id":"ackid0000000000000000000g","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","message":"Session Expired: Please log in to continue receiving notifications.","type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
         s(r#"{"ack_id":"ackid0000000000000000000g","aps":{"alert":"Session Expired: Please log in to continue receiving notifications.","badge":0,"mutable-content":1,"sound":"default"},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"session","version":"v2"}"#),
         "com.mattermost.react.native", "alert"),
        ("10.8 mobile wipe",
         s(r#"{"ack_id":"ackid0000000000000000000h","platform":"apple_rn-v2","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","sound":"none","cont_ava":1,"type":"session","version":"v2","is_crt_enabled":false,"is_id_loaded":false,"signature":"SIG"}"#),
         s(r#"{"ack_id":"ackid0000000000000000000h","aps":{"alert":"","badge":0,"mutable-content":1,"sound":"default"},"is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"session","version":"v2"}"#),
         "com.mattermost.react.native", "alert"),
        ("10.9 VoIP",
         r#"{"ack_id":"ack1","platform":"apple_rn-v2","server_id":"server1","device_id":"abcd1234","post_id":"post1","channel_id":"channel1","root_id":"thread1","channel_name":"Channel Name","type":"message","sub_type":"calls","transport":"voip","sender_id":"sender1","sender_name":"Sender Name","version":"v2","is_crt_enabled":false,"is_id_loaded":true,"signature":"signed"}"#.into(),
         r#"{"ack_id":"ack1","aps":{"content-available":1},"channel_id":"channel1","channel_name":"Channel Name","id_loaded":true,"post_id":"post1","sender_id":"sender1","sender_name":"Sender Name","server_id":"server1","signature":"signed","sub_type":"calls","thread_id":"thread1","type":"message"}"#.into(),
         "com.mattermost.react.native.voip", "voip"),
        ("10.10 legacy",
         r#"{"ack_id":"ackid0000000000000000000i","platform":"apple","server_id":"srvid00000000000000000000a","device_id":"a1b2c3d4","post_id":"","category":"CAN_REPLY","message":"hi :tada:","channel_id":"chanid000000000000000000a","channel_name":"Town Square","type":"message","is_crt_enabled":false,"is_id_loaded":false,"signature":""}"#.into(),
         r#"{"ack_id":"ackid0000000000000000000i","aps":{"alert":"hi 🎉 ","badge":0,"category":"CAN_REPLY","content-available":1,"mutable-content":1,"sound":"default","thread-id":"chanid000000000000000000a"},"channel_id":"chanid000000000000000000a","channel_name":"Town Square","is_crt_enabled":false,"server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"message","version":""}"#.into(),
         "com.mattermost.Mattermost", "alert"),
    ]
}

/// The contract writes `"SIG"` for a real signature.
pub fn with_sig(json: &str) -> String {
    json.replace("\"SIG\"", &format!("\"{SIG}\""))
}

/// (name, request, expected FCM body) from docs/mpns-contract.md §10, signatures filled in.
pub fn android_examples() -> Vec<(&'static str, String, String)> {
    [
    (
            "10.3 CRT reply",
            r#"{"ack_id":"ackid0000000000000000000b","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken:APA91bExample","post_id":"postid000000000000000000b","category":"CAN_REPLY","message":"bob: thanks","badge":5,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","root_id":"rootid000000000000000000a","channel_name":"Reply in Town Square","type":"message","sender_id":"userid000000000000000000b","sender_name":"bob","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":"SIG"}"#,
            r#"{"message":{"data":{"ack_id":"ackid0000000000000000000b","badge":"5","category":"CAN_REPLY","channel_id":"chanid000000000000000000a","channel_name":"Reply in Town Square","from_webhook":"","is_crt_enabled":"true","message":"bob: thanks","override_icon_url":"","override_username":"","post_id":"postid000000000000000000b","root_id":"rootid000000000000000000a","sender_id":"userid000000000000000000b","sender_name":"bob","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken:APA91bExample"}}"#,
        ),
    (
            "10.4 id-loaded",
            r#"{"ack_id":"ackid0000000000000000000k","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"postid000000000000000000c","category":"CAN_REPLY","message":"You've received a new message.","badge":1,"team_id":"teamid000000000000000000a","channel_id":"chanid000000000000000000a","type":"message","sender_id":"userid000000000000000000c","version":"v2","is_crt_enabled":false,"is_id_loaded":true,"signature":"SIG"}"#,
            r#"{"message":{"data":{"ack_id":"ackid0000000000000000000k","badge":"1","category":"CAN_REPLY","channel_id":"chanid000000000000000000a","id_loaded":"true","is_crt_enabled":"false","message":"You've received a new message.","post_id":"postid000000000000000000c","sender_id":"userid000000000000000000c","sender_name":"Someone","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","team_id":"teamid000000000000000000a","type":"message","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
        ),
    (
            "10.5 clear",
            r#"{"ack_id":"ackid0000000000000000000l","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"","cont_ava":1,"channel_id":"chanid000000000000000000a","root_id":"rootid000000000000000000a","type":"clear","version":"v2","is_crt_enabled":true,"is_id_loaded":false,"signature":"SIG"}"#,
            r#"{"message":{"data":{"ack_id":"ackid0000000000000000000l","badge":"0","category":"","channel_id":"chanid000000000000000000a","is_crt_enabled":"true","root_id":"rootid000000000000000000a","server_id":"srvid00000000000000000000a","signature":"SIG","sub_type":"","type":"clear","version":"v2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
        ),
    (
            "10.7 test push",
            r#"{"ack_id":"","platform":"android_rn-v2","server_id":"srvid00000000000000000000a","device_id":"fcmtoken","post_id":"","badge":-1,"type":"test","version":"2","is_crt_enabled":false,"is_id_loaded":false,"signature":""}"#,
            r#"{"message":{"data":{"ack_id":"","category":"","channel_id":"","is_crt_enabled":"false","server_id":"srvid00000000000000000000a","signature":"NO_SIGNATURE","sub_type":"","type":"test","version":"2"},"android":{"priority":"high"},"token":"fcmtoken"}}"#,
        ),
    ]
    .into_iter()
    .map(|(name, req, body)| (name, with_sig(req), with_sig(body)))
    .collect()
}
