//! Compiles the gRPC contract with protox (pure Rust), so building needs no system `protoc`.
use std::{env, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/pushgate/v1/push.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    // The descriptor set is kept for gRPC server reflection.
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = fds.encode_to_vec();
    std::fs::write(out.join("pushgate_descriptor.bin"), &descriptors)?;
    // Well-known types from pbjson-types: prost's own have no serde, and the HTTP/JSON API
    // speaks protobuf's JSON mapping (durations as "3600s", timestamps as RFC 3339).
    tonic_prost_build::configure()
        .extern_path(".google.protobuf.Duration", "::pbjson_types::Duration")
        .extern_path(".google.protobuf.Timestamp", "::pbjson_types::Timestamp")
        .compile_fds(fds)?;
    pbjson_build::Builder::new()
        .register_descriptors(&descriptors)?
        .build(&[".pushgate.v1"])?;
    Ok(())
}
