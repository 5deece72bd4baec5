//! Android targets for tests: a service-account file whose key the mock FCM trusts, and a
//! config sending to the mock (the counterpart of `apple.rs`).

use crate::mock_fcm::{service_key, MockFcm, CLIENT_EMAIL, PROJECT};

/// A service-account file with the test key, written to `dir`.
pub fn service_account_file(dir: &std::path::Path, with_project: bool) -> std::path::PathBuf {
    let path = dir.join("service-account.json");
    let mut json = serde_json::json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": service_key().0,
        "client_email": CLIENT_EMAIL,
        "client_id": "1",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    if !with_project {
        json.as_object_mut().unwrap().remove("project_id");
    }
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// `android_rn` and `android` sending to `mock`; Apple entries stay dry-run.
pub fn android_config(mock: &MockFcm) -> pushgate_proxy::config::Config {
    let dir = crate::temp_dir("fcm");
    let file = service_account_file(&dir, true);
    let entry = |kind: &str| pushgate_proxy::config::AndroidSettings {
        kind: kind.into(),
        service_file_location: file.to_string_lossy().into(),
        fcm_endpoint: mock.endpoint(),
        fcm_token_uri: mock.token_uri(),
        ..Default::default()
    };
    let mut config = crate::dry_run_config();
    config.targets.android = vec![entry("android"), entry("android_rn")];
    config
}

/// Both providers live: the Apple targets sending to `apns` with `key`, the Android ones to
/// `fcm`.
pub fn apple_and_android_config(
    apns: &crate::mock_apns::MockApns,
    key: &crate::apple::AppleKey,
    fcm: &MockFcm,
) -> pushgate_proxy::config::Config {
    let mut config = crate::apple::apple_config(apns, key);
    config.targets.android = android_config(fcm).targets.android;
    config
}
