//! pushgate's core: config, delivery targets, the `PushProxy` service, health, and the server
//! that puts them on the network.

pub mod apns;
pub mod auth;
pub mod config;
pub mod emoji;
pub mod fcm;
pub mod health;
pub mod metrics;
pub mod push;
pub mod retry;
pub mod server;
pub mod service;
pub mod targets;
pub mod tls;

/// `GET /version` and `-version`: the crate version and the git hash it was built from.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_HASH: &str = match option_env!("PUSHGATE_GIT_HASH") {
    Some(h) => h,
    None => "unknown",
};
