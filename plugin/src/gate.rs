//! Who may push through the plugin. Plugin routes are public — anyone who can reach the
//! Mattermost site can POST to them — so the push routes sit under a secret first path segment,
//! and only callers from allowed source addresses get past. A refusal looks exactly like an
//! unknown route (404), so a prober learns nothing.

use std::net::IpAddr;

use subtle::ConstantTimeEq;

use crate::settings::Settings;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Through, with the path and query the bridge routes on (the secret taken off).
    Pass(String),
    WrongSecret,
    SourceNotAllowed,
}

/// `target` is the request's path and query as the plugin sees it: `/<secret>/api/v1/send_push`.
pub fn check(settings: &Settings, target: &str, source: Option<IpAddr>) -> Verdict {
    if !settings.allows(source) {
        return Verdict::SourceNotAllowed;
    }
    let rest = target.strip_prefix('/').unwrap_or(target);
    let (segment, after) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // Compared in constant time: how long a guess matched must not show in the answer's timing.
    if !bool::from(segment.as_bytes().ct_eq(settings.path_secret.as_bytes())) {
        return Verdict::WrongSecret;
    }
    let after = if after.starts_with('/') {
        after.to_string()
    } else {
        format!("/{after}")
    };
    Verdict::Pass(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_json(br#"{"grpcaddress":"127.0.0.1:1","pathsecret":"s3cr3t-s3cr3t-s3cr3t"}"#)
            .unwrap()
    }

    #[test]
    fn the_secret_opens_the_push_routes_and_nothing_else_does() {
        let s = settings();
        let local = Some("127.0.0.1".parse().unwrap());
        assert_eq!(
            check(&s, "/s3cr3t-s3cr3t-s3cr3t/api/v1/send_push", local),
            Verdict::Pass("/api/v1/send_push".into())
        );
        assert_eq!(
            check(&s, "/s3cr3t-s3cr3t-s3cr3t/api/v1/ack?x=1", local),
            Verdict::Pass("/api/v1/ack?x=1".into())
        );
        assert_eq!(
            check(&s, "/s3cr3t-s3cr3t-s3cr3t", local),
            Verdict::Pass("/".into())
        );
        for wrong in [
            "/api/v1/send_push",
            "/s3cr3t-s3cr3t-s3cr3/api/v1/send_push",
            "/s3cr3t-s3cr3t-s3cr3tx/api/v1/send_push",
            "/",
            "",
        ] {
            assert_eq!(check(&s, wrong, local), Verdict::WrongSecret, "{wrong}");
        }
        assert_eq!(
            check(
                &s,
                "/s3cr3t-s3cr3t-s3cr3t/api/v1/send_push",
                Some("203.0.113.9".parse().unwrap())
            ),
            Verdict::SourceNotAllowed
        );
    }
}
