//! The Web Push cases (`--web-push`), for an MPNS built from pull request 166: one mock relay
//! that checks each push's VAPID signature and decrypts it, reached by both at its loopback
//! address, which both configs name in `AllowedHosts` (Go never proxies loopback, so MPNS
//! dials it directly and trusts its certificate through `SSL_CERT_FILE`). Compared: answers,
//! what the relay decrypted, its headers and VAPID claims. Refused addresses are loopback ones
//! only (`127.0.0.2`, `localhost`, `[::1]`): nothing here may reach any other address.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use pushgate_tests::mock_webpush::{vapid_keys, MockRelay, Reply, Taken};

use crate::{push_case, Case, Seen};

/// Deviation 18 as it shows in a push that reaches the relay.
const DEVIATION: &str =
    "18: VAPID sub as configured (webpush-go prefixes mailto: again), 5xx retried";

pub const SUBSCRIBER: &str = "mailto:push-admin@example.com";

pub struct WebPush {
    pub relay: MockRelay,
    vapid_public: String,
    vapid_private: String,
}

impl WebPush {
    pub async fn start() -> Self {
        let (vapid_public, vapid_private) = vapid_keys();
        let relay = MockRelay::start(&vapid_public).await;
        // The relay answers by the subscription's id, the last path segment.
        let port = relay.addr.port();
        relay.reply_with(move |r, _| match r.path.rsplit('/').next().unwrap_or("") {
            "ok200" => Reply::status(200, ""),
            "accepted" => Reply::status(202, ""),
            "gone" => Reply::status(410, ""),
            "notfound" => Reply::status(404, "no such subscription"),
            "limited" => Reply::status(429, "slow down"),
            "bad" => Reply::status(400, &"a long reason why ".repeat(4)),
            "toolarge" => Reply::status(413, "payload too large"),
            "broken" => Reply::status(500, "internal"),
            "unavailable" => Reply::status(503, ""),
            "redirect" => {
                let mut reply = Reply::status(301, "");
                reply.headers.push((
                    "location",
                    format!("https://127.0.0.1:{port}/push/redirected"),
                ));
                reply
            }
            _ => Reply::status(201, ""),
        });
        WebPush {
            relay,
            vapid_public,
            vapid_private,
        }
    }

    /// The `unified_push` entry; pushgate's names the relay's CA (MPNS trusts it through
    /// `SSL_CERT_FILE`).
    pub fn entry(&self, ca_file: Option<&std::path::Path>) -> serde_json::Value {
        let mut entry = self
            .relay
            .entry((&self.vapid_public, &self.vapid_private), SUBSCRIBER);
        entry["MaxErrorBodyBytes"] = 32.into();
        if let Some(ca) = ca_file {
            entry["WebPushCAFile"] = ca.to_string_lossy().into_owned().into();
        }
        entry
    }

    pub fn cases(&self) -> Vec<Case> {
        let relay = &self.relay;
        let device = |host: &str, id: &str| relay.device_id(&relay.endpoint(host, id));
        let push = |name: &str, device_id: &str, fields: &str| {
            push_case(
                format!("Web Push {name}"),
                format!(
                    r#"{{"platform":"unified_push","server_id":"s","device_id":"{device_id}","ack_id":"a","version":"v2","channel_id":"c",{fields}}}"#
                ),
            )
        };
        let ok = device("127.0.0.1", "sub-1");
        let message = r#""type":"message","message":"hi :tada: <b>&amp;</b> é 😀","channel_name":"Town","sender_id":"u","sender_name":"n","team_id":"t","post_id":"p","badge":2,"signature":"sig""#;
        let mut cases = vec![
            push("message", &ok, message),
            push(
                "id loaded",
                &ok,
                r#""type":"message","is_id_loaded":true,"message":"m","post_id":"p","sender_id":"u","team_id":"t""#,
            ),
            push(
                "clear",
                &ok,
                r#""type":"clear","badge":0,"root_id":"r","is_crt_enabled":true"#,
            ),
            push(
                "update_badge no badge",
                &ok,
                r#""type":"update_badge","badge":-1"#,
            ),
            push(
                "session",
                &ok,
                r#""type":"session","message":"Session Expired""#,
            ),
            push(
                "override",
                &ok,
                r#""type":"message","message":"m","override_username":"bot","override_icon_url":"http://x/i.png","from_webhook":"true""#,
            ),
            push(
                "voip",
                &ok,
                r#""type":"message","transport":"voip","sub_type":"calls","message":"m""#,
            ),
            push("unknown type", &ok, r#""type":"weird","message":"m""#),
            push(
                "message 2048 bytes",
                &ok,
                &format!(r#""type":"message","message":"{}""#, "m".repeat(2048)),
            ),
        ];
        for case in &mut cases {
            as_deviation_18(case);
        }
        for id in [
            "ok200",
            "accepted",
            "gone",
            "notfound",
            "limited",
            "bad",
            "toolarge",
            "broken",
            "unavailable",
            "redirect",
        ] {
            let mut case = push(
                &format!("relay answer {id}"),
                &device("127.0.0.1", id),
                r#""type":"message","message":"m""#,
            );
            as_deviation_18(&mut case);
            cases.push(case);
        }
        let bundle = |json: &str| URL_SAFE_NO_PAD.encode(json);
        let keys = {
            let id: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&ok).unwrap()).unwrap();
            (
                id["p256dh"].as_str().unwrap().to_string(),
                id["auth"].as_str().unwrap().to_string(),
            )
        };
        let with_endpoint = |endpoint: &str| {
            bundle(&format!(
                r#"{{"endpoint":"{endpoint}","p256dh":"{}","auth":"{}"}}"#,
                keys.0, keys.1
            ))
        };
        let port = relay.addr.port();
        for (name, device_id) in [
            ("device id not base64", "not base64!".to_string()),
            ("device id padded base64", format!("{ok}==")),
            ("device id not JSON", bundle("endpoint")),
            (
                "device id without auth",
                bundle(&format!(
                    r#"{{"endpoint":"https://127.0.0.1:{port}/push/x","p256dh":"{}"}}"#,
                    keys.0
                )),
            ),
            (
                "device id with a bad key",
                bundle(&format!(
                    r#"{{"endpoint":"https://127.0.0.1:{port}/push/x","p256dh":"AAAA","auth":"{}"}}"#,
                    keys.1
                )),
            ),
            ("endpoint unparseable", with_endpoint("https://[::1")),
            (
                "endpoint http",
                with_endpoint(&format!("http://127.0.0.1:{port}/push/x")),
            ),
            ("endpoint without a host", with_endpoint("https:///push/x")),
            // Loopback addresses and names not in AllowedHosts: refused before any connection.
            ("endpoint 127.0.0.2", device("127.0.0.2", "x")),
            ("endpoint localhost", device("localhost", "x")),
            ("endpoint [::1]", device("[::1]", "x")),
            (
                "endpoint 127.0.0.1 on another port",
                with_endpoint("https://127.0.0.1:1/push/x"),
            ),
        ] {
            let mut case = push(name, &device_id, r#""type":"message","message":"m""#);
            if name == "endpoint unparseable" {
                // Go's error quotes the URL, a credential.
                case.deviation = Some("18: an endpoint that does not parse is not quoted");
            }
            cases.push(case);
        }
        cases
    }
}

fn as_deviation_18(case: &mut Case) {
    case.deviation = Some(DEVIATION);
    case.only_as_deviation = Some(only_deviation_18);
}

/// The same answer and the same pushes at the relay, once MPNS's doubled `mailto:` is undone
/// and pushgate's retries of a 5xx are counted once.
fn only_deviation_18(theirs: &Seen, mine: &Seen) -> bool {
    let undoubled: Vec<String> = theirs
        .upstream
        .iter()
        .map(|u| u.replace(r#"sub="mailto:mailto:"#, r#"sub="mailto:"#))
        .collect();
    let mut once = mine.upstream.clone();
    once.dedup();
    (theirs.status, &theirs.headers, &theirs.answer) == (mine.status, &mine.headers, &mine.answer)
        && undoubled == once
}

/// What the relay took, as compared: headers, VAPID claims (not `exp`, which is a clock) and
/// the decrypted payload as it was written.
pub fn describe(t: &Taken) -> String {
    let h = |n: &str| {
        t.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let vapid = match &t.vapid {
        Ok(claims) => format!("aud={} sub={}", claims["aud"], claims["sub"]),
        Err(e) => format!("refused ({e})"),
    };
    let plaintext = match &t.plaintext {
        Ok(text) => text.clone(),
        Err(e) => format!("undecryptable ({e})"),
    };
    format!(
        "{} ctype={} encoding={} ttl={} urgency={} topic={} vapid {vapid} payload={plaintext}",
        t.path,
        h("content-type"),
        h("content-encoding"),
        h("ttl"),
        h("urgency"),
        h("topic"),
    )
}
