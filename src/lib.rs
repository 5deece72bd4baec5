//! The public API of pushgate: the `pushgate.v1` gRPC types, client and server stubs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pushgate::v1::{push_proxy_client::PushProxyClient, PushNotification, SendPushRequest};
//! let mut client = PushProxyClient::connect("http://127.0.0.1:50051").await?;
//! let answer = client
//!     .send_push(SendPushRequest {
//!         notification: Some(PushNotification {
//!             platform: "apple_rn".into(),
//!             server_id: "my-server".into(),
//!             device_id: "a1b2c3d4".into(),
//!             message: "hello".into(),
//!             ..Default::default()
//!         }),
//!         request_id: "1".into(),
//!     })
//!     .await?;
//! println!("{:?}", answer.into_inner().status());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod v1 {
    tonic::include_proto!("pushgate.v1");
    // Serde in protobuf's JSON mapping (pbjson), for the HTTP/JSON form of `Send`.
    include!(concat!(env!("OUT_DIR"), "/pushgate.v1.serde.rs"));

    /// The encoded descriptor set, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("pushgate_descriptor");

    /// The fully qualified gRPC service name, also a health-check service name.
    pub const SERVICE_NAME: &str = "pushgate.v1.PushProxy";
}
