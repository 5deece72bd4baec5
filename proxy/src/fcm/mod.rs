//! The Android target: FCM HTTP v1.

pub mod message;

use std::time::Instant;

use crate::{
    config::{AndroidSettings, Config},
    push::Push,
    targets::Outcome,
};

pub struct Client {}

impl Client {
    pub fn new(_entry: &AndroidSettings, _config: &Config) -> Result<Client, String> {
        Err("android push notifications not configured: missing ServiceFileLocation".into())
    }

    pub async fn send(&self, _push: &Push, _deadline: Instant) -> Outcome {
        Outcome::fail("unknown transport error", "unknown transport error")
    }
}
