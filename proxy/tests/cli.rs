//! The `pushgate` command line: MPNS's flags, and config errors that name the key and never
//! print a secret.

use std::process::Command;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pushgate-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn version_flags() {
    for flag in ["-version", "--version"] {
        let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        // MPNS's eight lines, in MPNS's order, each `Name:<tab>value`.
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(":\t"))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "GitVersion",
                "BuildHash",
                "BuildVersion",
                "GitTreeState",
                "BuildDate",
                "GoVersion",
                "Compiler",
                "Platform"
            ],
            "{text}"
        );
        assert!(
            text.contains(&format!("BuildVersion:\t{}", env!("CARGO_PKG_VERSION"))),
            "{text}"
        );
        assert!(text.contains("GoVersion:\trustc "), "{text}");
        assert!(!text.contains("unknown"), "every line stamped: {text}");
    }
}

#[test]
fn config_errors_exit_1_name_the_key_and_hide_secrets() {
    let dir = temp_dir("bad-config");
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"ApplePushSettings":[{"Type":"apple","ApplePushCertPassword":"s3cr3t-pass"}],"SendTimeoutSec":"thirty"}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("SendTimeoutSec"), "{all}");
    assert!(
        !all.contains("s3cr3t-pass") && !all.contains("thirty"),
        "{all}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["--config", "/nonexistent/x.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.json"));
}

/// Without `--config`, pushgate runs its embedded dry-run config (docs/deviations.md, 11); but a
/// `--config` that names a missing file is an error, as in MPNS: exit 1, the path named.
#[test]
fn a_missing_config_file_is_an_error_not_the_dry_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(["--config", "/nonexistent/mattermost-push-proxy.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read config file /nonexistent/mattermost-push-proxy.json"),
        "{err}"
    );
}
