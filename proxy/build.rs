//! Stamps the git commit into the binary for `-version` and `GET /version`, as MPNS's build does.
use std::process::Command;

fn main() {
    let hash = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    if let Some(hash) = hash {
        println!("cargo:rustc-env=PUSHGATE_GIT_HASH={hash}");
    }
    // A new commit changes HEAD (or the branch it points to).
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
