//! The Apple target: APNs over HTTP/2.

pub mod payload;

use std::time::Instant;

use crate::{
    config::{AppleSettings, Config},
    push::Push,
    targets::Outcome,
};

pub struct Client {}

impl Client {
    pub fn new(entry: &AppleSettings, _config: &Config) -> Result<Client, String> {
        Err(format!(
            "apple push notifications not configured: missing ApplePushCertPrivate for type={}",
            entry.kind
        ))
    }

    pub async fn send(&self, _push: &Push, _deadline: Instant) -> Outcome {
        Outcome::fail("unknown transport error", "RequestError")
    }
}
