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

/// The auth token from a file (not on the command line, where `ps` shows it); a missing file
/// is a clear error; the version answer carries the build's git hash.
#[test]
fn auth_token_file_is_read_and_a_missing_one_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_pushgate-bridge"))
        .args([
            "--upstream",
            "http://127.0.0.1:1",
            "--auth-token-file",
            "/nonexistent/token",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--auth-token-file /nonexistent/token"),
        "{err}"
    );
}
