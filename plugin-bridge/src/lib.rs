//! plugin-bridge: the HTTP API of the Mattermost Push Notification Service (MPNS), answered
//! exactly as MPNS answers it, with the work done by a pushgate `PushProxy` — in-process when
//! embedded in the `pushgate` binary, over gRPC when run as `pushgate-bridge`.

pub mod backend;
pub mod decode;
pub mod routes;
pub mod throttle;

pub use backend::{Backend, GrpcBackend, Readiness};
pub use routes::{router, Settings};
pub use throttle::ThrottleSettings;
