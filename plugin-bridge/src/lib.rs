//! plugin-bridge: the HTTP API of the Mattermost Push Notification Service (MPNS), answered
//! exactly as MPNS answers it, with the work done by a pushgate `PushProxy` — in-process when
//! embedded in the `pushgate` binary, over gRPC when run as `pushgate-bridge`.

#![forbid(unsafe_code)]

pub mod backend;
mod bridge_metrics;
pub mod build_info;
pub mod decode;
pub mod redis_link;
pub mod routes;
mod shared_window;
pub mod shutdown;
pub mod throttle;
pub mod tls_mismatch;

pub use backend::{Backend, GrpcBackend, Readiness};
pub use bridge_metrics::prometheus_text;
pub use routes::{router, Settings};
pub use shutdown::Shutdown;
pub use throttle::ThrottleSettings;

/// Turns a Go-style listen address (`:8066`, `host:port`) into one tokio can bind; shared by
/// both binaries that take MPNS's `ListenAddress`.
pub fn bind_address(listen: &str) -> String {
    if listen.starts_with(':') {
        format!("0.0.0.0{listen}")
    } else {
        listen.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_listen_addresses() {
        assert_eq!(super::bind_address(":8066"), "0.0.0.0:8066");
        assert_eq!(super::bind_address("127.0.0.1:1"), "127.0.0.1:1");
    }
}
