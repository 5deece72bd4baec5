//! Compiles the gRPC contract with protox (pure Rust), so building needs no system `protoc`.
use std::{env, path::PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/pushgate/v1/push.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    // The descriptor set is kept for gRPC server reflection.
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out.join("pushgate_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
