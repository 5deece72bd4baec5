// Stamps what MPNS's build stamps into the binary, for `-version` and `GET /version`: the git
// commit, whether the tree had changes, the build date, and the compiler's version. It runs for
// the bridge, the lowest crate that answers `/version`, and `build_info` hands the stamps to every
// binary (`pushgate`, `pushgate-bridge`, `pushgate-plugin`), so all report the same build.
use std::process::Command;

fn run(program: &str, args: &[&str]) -> Option<String> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|h| h.trim().to_string())
}

fn main() {
    if let Some(hash) = run("git", &["rev-parse", "--short", "HEAD"]).filter(|h| !h.is_empty()) {
        println!("cargo:rustc-env=PUSHGATE_GIT_HASH={hash}");
        let dirty = run("git", &["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|s| !s.is_empty());
        let state = if dirty { "dirty" } else { "clean" };
        println!("cargo:rustc-env=PUSHGATE_GIT_TREE_STATE={state}");
    }
    // Reproducible builds set SOURCE_DATE_EPOCH; otherwise the time of the build.
    let date = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) => run(
            "date",
            &["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M:%SZ"],
        ),
        Err(_) => run("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
    };
    if let Some(date) = date {
        println!("cargo:rustc-env=PUSHGATE_BUILD_DATE={date}");
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Some(version) = run(&rustc, &["--version"]) {
        println!("cargo:rustc-env=PUSHGATE_RUSTC_VERSION={version}");
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // A new commit changes HEAD (or the branch it points to). Asked of git, not assumed to be
    // ../.git: in a worktree that is a file, and a path that does not exist reruns every build.
    if let Some(dir) = run("git", &["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(dir) = run(
        "git",
        &["rev-parse", "--path-format=absolute", "--git-common-dir"],
    ) {
        println!("cargo:rerun-if-changed={dir}/refs/heads");
    }
}
