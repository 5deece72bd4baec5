//! The plugin's System Console settings: read from the JSON the server hands over, checked,
//! and turned into what the rest of the plugin uses.
//!
//! The server sends the settings with every key lower-cased (`grpcaddress`, not `GrpcAddress`)
//! and numbers as floats, so keys are matched without regard to case and numbers accept both.

use std::{net::IpAddr, time::Duration};

use ipnet::IpNet;
use serde_json::Value;

/// The sources allowed when the setting is left at its default: loopback and private ranges,
/// where a Mattermost server calling its own plugin comes from.
pub const DEFAULT_ALLOWED_SOURCES: &str =
    "127.0.0.0/8, ::1/128, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7";

/// The longest send budget: the server's push client gives up after 30 s, and the answer must
/// reach it before that (the gRPC deadline is the budget plus 2 s).
pub const MAX_SEND_TIMEOUT: Duration = Duration::from_secs(27);

/// A shorter secret could be guessed; Mattermost's Regenerate button makes 32 characters.
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// pushgate's gRPC listener, `host:port`.
    pub grpc_address: String,
    /// Sent as `authorization: Bearer <token>`; never logged.
    pub auth_token: Option<String>,
    pub tls: Option<Tls>,
    /// The budget of one push, as the proxy's own `SendTimeoutSec`.
    pub send_timeout: Duration,
    /// The first path segment every push route sits under; never logged.
    pub path_secret: String,
    /// Where push requests may come from; empty = from anywhere.
    pub allowed_sources: Vec<IpNet>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Tls {
    /// PEM; `None` trusts the public web PKI roots.
    pub ca_pem: Option<String>,
    /// The name the certificate must carry, when it is not the address's host.
    pub server_name: Option<String>,
}

/// Redacts the two secrets, so settings can be printed in a log or a test failure.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("grpc_address", &self.grpc_address)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("tls", &self.tls.as_ref().map(|t| t.server_name.clone()))
            .field("send_timeout", &self.send_timeout)
            .field("path_secret", &"<redacted>")
            .field("allowed_sources", &self.allowed_sources)
            .finish()
    }
}

impl Settings {
    /// Reads and checks the settings JSON (`null` or empty = nothing set). Every problem is
    /// named, so one log line tells the admin all that needs fixing.
    pub fn from_json(json: &[u8]) -> Result<Settings, String> {
        let value: Value = if json.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(json).map_err(|e| format!("the settings are not JSON: {e}"))?
        };
        let get = |key: &str| -> Option<&Value> {
            value.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
                    .filter(|v| !v.is_null())
            })
        };
        let text = |key: &str| -> String {
            match get(key) {
                Some(Value::String(s)) => s.trim().to_string(),
                Some(other) => other.to_string(),
                None => String::new(),
            }
        };
        let mut problems = Vec::new();

        let grpc_address = text("GrpcAddress");
        if grpc_address.is_empty() {
            problems.push("GrpcAddress is empty".to_string());
        } else if let Err(e) = check_address(&grpc_address) {
            problems.push(format!("GrpcAddress {grpc_address:?}: {e}"));
        }

        let auth_token = Some(text("GrpcAuthToken")).filter(|t| !t.is_empty());
        if let Some(t) = &auth_token {
            if t.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
                problems.push("GrpcAuthToken has characters a header cannot carry".to_string());
            }
        }

        let use_tls = match get("UseTLS") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(other) => {
                problems.push(format!("UseTLS is not true or false: {other}"));
                false
            }
        };
        let ca = text("TLSCACert");
        let server_name = text("TLSServerName");
        if !ca.is_empty() && !ca.contains("-----BEGIN CERTIFICATE-----") {
            problems.push("TLSCACert is not a PEM certificate".to_string());
        }
        let tls = use_tls.then(|| Tls {
            ca_pem: Some(ca).filter(|c| !c.is_empty()),
            server_name: Some(server_name).filter(|n| !n.is_empty()),
        });

        let send_timeout = match get("SendTimeoutSec") {
            None => Duration::from_secs(25),
            Some(v) => match v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(secs) if secs >= 1.0 && secs <= MAX_SEND_TIMEOUT.as_secs_f64() => {
                    Duration::from_secs_f64(secs)
                }
                _ => {
                    problems.push(format!(
                        "SendTimeoutSec must be a number of seconds from 1 to {}: {v}",
                        MAX_SEND_TIMEOUT.as_secs()
                    ));
                    Duration::from_secs(25)
                }
            },
        };

        let path_secret = text("PathSecret");
        if path_secret.len() < MIN_SECRET_LEN {
            problems.push(format!(
                "PathSecret must have at least {MIN_SECRET_LEN} characters: press Regenerate in the plugin's settings"
            ));
        } else if !path_secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push("PathSecret may hold only letters, digits, - and _".to_string());
        }

        let sources = match get("AllowedSources") {
            None => DEFAULT_ALLOWED_SOURCES.to_string(),
            Some(_) => text("AllowedSources"),
        };
        let mut allowed_sources = Vec::new();
        for part in sources.split([',', ' ', '\n']).filter(|p| !p.is_empty()) {
            match parse_source(part) {
                Some(net) => allowed_sources.push(net),
                None => problems.push(format!(
                    "AllowedSources: {part:?} is not an address or CIDR range"
                )),
            }
        }

        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Settings {
            grpc_address,
            auth_token,
            tls,
            send_timeout,
            path_secret,
            allowed_sources,
        })
    }

    /// The gRPC endpoint URL tonic connects to.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.grpc_address)
    }

    /// Whether a push may come from `ip` (the address the server saw).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        if self.allowed_sources.is_empty() {
            return true;
        }
        let Some(ip) = ip else { return false };
        // An IPv4 client on a dual-stack listener shows up as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allowed_sources.iter().any(|net| net.contains(&ip))
    }
}

/// `host:port`, as the address of a gRPC listener; a URL is refused with the reason, since the
/// scheme comes from `UseTLS`.
fn check_address(address: &str) -> Result<(), String> {
    if address.contains("://") {
        return Err("give host:port without a scheme (TLS is the UseTLS setting)".into());
    }
    let url = format!("http://{address}");
    let uri: http::Uri = url.parse().map_err(|e| format!("{e}"))?;
    if uri.port_u16().is_none() || uri.path() != "/" {
        return Err("expected host:port".into());
    }
    Ok(())
}

/// An address alone means just that address.
fn parse_source(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdefABCDEF";

    fn parse(json: serde_json::Value) -> Result<Settings, String> {
        Settings::from_json(json.to_string().as_bytes())
    }

    #[test]
    fn reads_the_lower_cased_keys_the_server_sends() {
        let s = parse(serde_json::json!({
            "grpcaddress": "10.0.0.5:50051", "grpcauthtoken": "t0k", "usetls": true,
            "tlsservername": "pushgate.internal", "sendtimeoutsec": 10.0,
            "pathsecret": SECRET, "allowedsources": "10.0.0.0/8, 192.0.2.7",
        }))
        .unwrap();
        assert_eq!(s.endpoint(), "https://10.0.0.5:50051");
        assert_eq!(s.auth_token.as_deref(), Some("t0k"));
        assert_eq!(s.send_timeout, Duration::from_secs(10));
        assert!(s.allows(Some("10.1.2.3".parse().unwrap())));
        assert!(s.allows(Some("192.0.2.7".parse().unwrap())));
        assert!(!s.allows(Some("192.0.2.8".parse().unwrap())));
        assert!(!s.allows(None));
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("t0k") && !printed.contains(SECRET),
            "{printed}"
        );
    }

    #[test]
    fn defaults_allow_loopback_and_private_ranges_only() {
        let s = parse(serde_json::json!({"grpcaddress": "127.0.0.1:50051", "pathsecret": SECRET}))
            .unwrap();
        assert_eq!(s.endpoint(), "http://127.0.0.1:50051");
        for ip in [
            "127.0.0.1",
            "::1",
            "10.2.3.4",
            "172.20.0.1",
            "192.168.1.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(s.allows(Some(ip.parse().unwrap())), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:db8::1", "172.32.0.1"] {
            assert!(!s.allows(Some(ip.parse().unwrap())), "{ip}");
        }
        let anywhere = parse(serde_json::json!({
            "grpcaddress": "127.0.0.1:1", "pathsecret": SECRET, "allowedsources": ""
        }))
        .unwrap();
        assert!(anywhere.allows(Some("8.8.8.8".parse().unwrap())));
    }

    #[test]
    fn every_problem_is_named() {
        let e = parse(serde_json::json!({
            "grpcaddress": "http://x:1", "sendtimeoutsec": 60, "pathsecret": "short",
            "allowedsources": "10.0.0.0/33", "usetls": "maybe", "tlscacert": "not pem",
        }))
        .unwrap_err();
        for part in [
            "GrpcAddress",
            "SendTimeoutSec",
            "PathSecret",
            "AllowedSources",
            "UseTLS",
            "TLSCACert",
        ] {
            assert!(e.contains(part), "{part} missing from {e}");
        }
        assert!(Settings::from_json(b"null")
            .unwrap_err()
            .contains("GrpcAddress is empty"));
        assert!(Settings::from_json(b"{").unwrap_err().contains("not JSON"));
    }
}
