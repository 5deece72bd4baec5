//! What `build.rs` stamped into this build, for `-version` and `GET /version` in every binary.
//! `None`: not stamped (no git checkout, no `date`).

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const GIT_HASH: &str = match option_env!("PUSHGATE_GIT_HASH") {
    Some(h) => h,
    None => "unknown",
};
/// `clean` or `dirty`.
pub const GIT_TREE_STATE: Option<&str> = option_env!("PUSHGATE_GIT_TREE_STATE");
pub const BUILD_DATE: Option<&str> = option_env!("PUSHGATE_BUILD_DATE");
pub const RUSTC_VERSION: Option<&str> = option_env!("PUSHGATE_RUSTC_VERSION");
