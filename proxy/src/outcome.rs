//! What a send comes to, and which provider family a target belongs to: the result types every
//! layer shares (providers, the delivery loop, metrics, the service), kept in a leaf module so
//! that none of them imports another's internals.

use pushgate::v1::Status;

/// The definitive answer to one push: OK, REMOVE, or FAIL with MPNS's error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// MPNS's error text for a FAIL; empty otherwise.
    pub error: String,
    /// The provider's reason (`BadDeviceToken`, `UNREGISTERED`, …) when it gave one; it is the
    /// `reason` label of the failure metrics and the gRPC answer's `reason`.
    pub reason: String,
    /// The provider's id for a push it took (APNs `apns-id`, FCM message `name`); `Send`
    /// answers it.
    pub provider_id: String,
}

impl Outcome {
    pub fn ok() -> Self {
        Outcome {
            status: Status::Ok,
            error: String::new(),
            reason: String::new(),
            provider_id: String::new(),
        }
    }

    /// OK, with the provider's id for the push.
    pub fn delivered(provider_id: impl Into<String>) -> Self {
        Outcome {
            provider_id: provider_id.into(),
            ..Outcome::ok()
        }
    }

    pub fn remove(reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Remove,
            reason: reason.into(),
            ..Outcome::ok()
        }
    }

    pub fn fail(error: impl Into<String>, reason: impl Into<String>) -> Self {
        Outcome {
            status: Status::Fail,
            error: error.into(),
            reason: reason.into(),
            provider_id: String::new(),
        }
    }
}

/// Which provider a target talks to; its label is the `platform` label of MPNS's metrics
/// (`apple`, `android`) and of pushgate's own. Each provider module names its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Family(&'static str);

impl Family {
    pub const APPLE: Family = Family("apple");
    pub const ANDROID: Family = Family("android");

    /// A provider's own family, e.g. `huawei`.
    pub const fn new(label: &'static str) -> Family {
        Family(label)
    }

    pub fn label(self) -> &'static str {
        self.0
    }
}
