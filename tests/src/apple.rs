//! Apple test setup: a .p8 key made at test time and a config pointing at a mock APNs.

use std::path::PathBuf;

use pushgate_proxy::config::{AppleSettings, Config};

use crate::{dry_run_config, mock_apns::MockApns, temp_dir};

pub const KEY_ID: &str = "KEYID12345";
pub const TEAM_ID: &str = "TEAMID6789";

pub struct AppleKey {
    /// SPKI PEM, to verify the JWTs pushgate signs.
    pub public_pem: String,
    pub p8_path: PathBuf,
}

/// An ES256 (P-256) key in PKCS#8 PEM, the form of Apple's .p8 files.
pub fn apple_key() -> AppleKey {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dir = temp_dir("p8");
    let p8_path = dir.join("AuthKey.p8");
    std::fs::write(&p8_path, key.serialize_pem()).unwrap();
    AppleKey {
        public_pem: key.public_key_pem(),
        p8_path,
    }
}

/// `apple_rn` (topic com.mattermost.react.native) and `apple` (com.mattermost.Mattermost),
/// token auth, both sending to `mock`; Android entries stay dry-run.
pub fn apple_config(mock: &MockApns, key: &AppleKey) -> Config {
    let dir = temp_dir("ca");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &mock.ca_pem).unwrap();
    let entry = |kind: &str, topic: &str| AppleSettings {
        kind: kind.into(),
        topic: topic.into(),
        auth_key_file: key.p8_path.to_string_lossy().into(),
        auth_key_id: KEY_ID.into(),
        team_id: TEAM_ID.into(),
        endpoint: mock.endpoint(),
        ca_file: ca.to_string_lossy().into(),
        ..Default::default()
    };
    let mut config = dry_run_config();
    config.targets.apple = vec![
        entry("apple", "com.mattermost.Mattermost"),
        entry("apple_rn", "com.mattermost.react.native"),
    ];
    config
}

/// Checks an `authorization: bearer <jwt>` header: ES256, our kid and team, a fresh iat.
pub fn verify_bearer(header: &str, key: &AppleKey) -> serde_json::Value {
    let jwt = header.strip_prefix("bearer ").expect("bearer token");
    let decoding = jsonwebtoken::DecodingKey::from_ec_pem(key.public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(jwt, &decoding, &validation)
        .expect("the JWT verifies with the .p8's public key");
    assert_eq!(data.header.kid.as_deref(), Some(KEY_ID));
    assert_eq!(data.claims["iss"], TEAM_ID);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let iat = data.claims["iat"].as_u64().expect("iat");
    assert!(iat <= now && now - iat < 120, "iat {iat} is fresh");
    data.claims
}

/// A CA for APNs client certificates (what Apple's CA is to a real one), and the mock that
/// trusts it is started with its PEM.
pub fn client_ca() -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// `apple_config` switched to certificate auth: every Apple entry uses the certificate file at
/// `path` (PEM or .p12) with `password`.
pub fn cert_auth_config(
    mock: &MockApns,
    key: &AppleKey,
    path: &std::path::Path,
    password: &str,
) -> Config {
    let mut config = apple_config(mock, key);
    for entry in &mut config.targets.apple {
        entry.auth_key_file.clear();
        entry.cert_private = path.to_string_lossy().into();
        entry.cert_password = password.into();
    }
    config
}
