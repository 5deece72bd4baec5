//! pushgate's core: config, delivery targets, the `PushProxy` service, health, and the server
//! that puts them on the network. What other crates use is public (the config, the server, the
//! version); everything else is the core's own.
//!
//! Following one push: `service.rs` validates (`push.rs`) and routes (`targets.rs`) it;
//! `delivery.rs` runs the attempts against a provider (`apns/`, `fcm/`); `outcome.rs` is what
//! comes back. docs/anatomy-of-a-push.md walks the whole path.

mod apns;
mod bridge_backend;
pub mod config;
mod delivery;
mod drain;
mod emoji;
mod emoji_table;
mod fcm;
mod grpc_auth;
mod health;
mod metrics;
mod outcome;
mod push;
mod retry;
pub mod server;
mod service;
mod targets;
mod tls;
mod upstream;

/// `:shortcode:` expansion as MPNS does it (the push message of message and session pushes).
pub use emoji::expand as expand_emoji;
/// The outbound proxy APNs goes through, and how to show it in a log line.
pub use upstream::{apns_proxy, without_credentials};

/// Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use crate::{apns::payload::ApnsFormat, delivery::Format, fcm::message::FcmFormat, push};

    /// A `send_push` body through everything pushgate does before the network: Go-JSON
    /// decoding, MPNS's validation, and both providers' request building.
    pub fn push_body(body: &[u8]) {
        let Ok(n) = pushgate_bridge::decode::push_notification(body) else {
            return;
        };
        let Ok(push) = push::prepare(n) else {
            return;
        };
        let apns = ApnsFormat {
            topic: "com.example".into(),
        };
        if let Ok(request) = apns.build(&push) {
            let _ = ApnsFormat::describe(&request);
        }
        if let Ok(request) = FcmFormat.build(&push) {
            let _ = FcmFormat::describe(&request);
        }
    }
}

/// `GET /version` and `-version`: the crate version and the git hash it was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_HASH: &str = match option_env!("PUSHGATE_GIT_HASH") {
    Some(h) => h,
    None => "unknown",
};
