//! `manifest.json` is a valid Mattermost plugin manifest (model/manifest.go's rules) whose
//! version is the crates' version, and whose settings are the plugin's. (That the server accepts
//! it is proved by plugin-harness/, which activates the bundle through Mattermost's own code.)

#[test]
fn manifest_is_valid_and_versioned_with_the_crates() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();

    let id = m["id"].as_str().expect("id");
    assert!((3..=190).contains(&id.len()), "id length");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        "id characters: {id}"
    );
    assert!(!m["name"].as_str().unwrap_or("").is_empty(), "name");

    let version = m["version"].as_str().expect("version");
    let core: Vec<&str> = version
        .split(['-', '+'])
        .next()
        .unwrap()
        .split('.')
        .collect();
    assert_eq!(core.len(), 3, "strict semver: {version}");
    for part in core {
        assert!(
            !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()),
            "{version}"
        );
        assert!(
            part == "0" || !part.starts_with('0'),
            "no leading zeros: {version}"
        );
    }
    assert_eq!(
        version,
        env!("CARGO_PKG_VERSION"),
        "manifest version = crate version"
    );

    let settings = m["settings_schema"]["settings"]
        .as_array()
        .expect("settings_schema.settings");
    let types = [
        "text",
        "number",
        "bool",
        "dropdown",
        "radio",
        "generated",
        "username",
        "custom",
        "longtext",
    ];
    for s in settings {
        let key = s["key"].as_str().unwrap_or("");
        assert!(!key.is_empty(), "every setting has a key");
        assert!(
            types.contains(&s["type"].as_str().unwrap_or("")),
            "setting {key} type"
        );
    }
    // The settings are the ones the plugin reads, and it reads no others.
    let mut keys: Vec<&str> = settings.iter().filter_map(|s| s["key"].as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "AllowedSources",
            "GrpcAddress",
            "GrpcAuthToken",
            "PathSecret",
            "SendTimeoutSec",
            "TLSCACert",
            "TLSServerName",
            "UseTLS"
        ]
    );
    assert_eq!(
        m["server"]["executables"]["linux-amd64"], "server/dist/plugin-linux-amd64",
        "where the bundle puts pushgate-plugin"
    );
}
