//! Which of the tools some tests drive (Go, Node, Maven, Python's grpcio, redis-server,
//! systemd-analyze, prlimit, promtool, ss) this machine has. A test whose tool is missing is compiled as
//! `#[ignore]` with its reason (`cargo test` lists it as ignored, never as passed); under CI
//! (`CI` set) nothing is ignored, so a missing tool fails its test.
//!
//! The answer is kept until `PATH` or `CI` changes; after installing a tool by hand,
//! `touch tests/build.rs` asks again.

use std::process::{Command, Stdio};

/// `cfg` name, and the commands that must all succeed for the tool to count as present.
const TOOLS: &[(&str, &[&[&str]])] = &[
    ("missing_go", &[&["go", "version"]]),
    (
        "missing_node",
        &[&["node", "--version"], &["npm", "--version"]],
    ),
    (
        "missing_maven",
        &[&["mvn", "--version"], &["java", "-version"]],
    ),
    (
        "missing_python_http_ece",
        &[&["python3", "-c", "import http_ece, cryptography"]],
    ),
    (
        "missing_python_grpc",
        &[&[
            "python3",
            "-c",
            "import grpc, grpc_health, grpc_reflection, grpc_tools",
        ]],
    ),
    ("missing_redis", &[&["redis-server", "--version"]]),
    (
        "missing_systemd_analyze",
        &[&["systemd-analyze", "--version"]],
    ),
    ("missing_prlimit", &[&["prlimit", "--version"]]),
    ("missing_promtool", &[&["promtool", "--version"]]),
    ("missing_ss", &[&["ss", "--version"]]),
];

fn runs(command: &[&str]) -> bool {
    Command::new(command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn main() {
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    let under_ci = std::env::var_os("CI").is_some();
    for (cfg, commands) in TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if !under_ci && !commands.iter().all(|c| runs(c)) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
