//! The `pushgate-bridge` command line.

use std::process::Command;

#[test]
fn upstream_is_required_and_bad_flags_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_pushgate-bridge"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--upstream"));

    let out = Command::new(env!("CARGO_BIN_EXE_pushgate-bridge"))
        .args(["--upstream", "http://127.0.0.1:1", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}
