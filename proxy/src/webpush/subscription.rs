//! A Web Push subscription as the Mattermost server hands it over in the device id: base64url
//! (no padding) of `{"endpoint": …, "p256dh": …, "auth": …}` (MPNS's pull request 166). The
//! endpoint and `auth` together let anyone push to the device: neither is ever logged.

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
    Engine,
};
use web_push_native::{p256, Auth};

pub struct Subscription {
    pub endpoint: String,
    /// The device's P-256 key (`p256dh`).
    key: p256::PublicKey,
    /// The device's 16-byte authentication secret (`auth`).
    auth: Auth,
}

impl Subscription {
    /// The subscription in `device_id`; an error says what is wrong, never the values.
    pub fn decode(device_id: &str) -> Result<Subscription, String> {
        let raw = URL_SAFE_NO_PAD
            .decode(device_id)
            .map_err(|e| format!("failed to base64url-decode device id: {e}"))?;
        let json: serde_json::Value = serde_json::from_slice(&raw)
            .map_err(|e| format!("failed to JSON-decode device id bundle: {e}"))?;
        let field = |k: &str| json[k].as_str().unwrap_or_default().to_string();
        let (endpoint, p256dh, auth) = (field("endpoint"), field("p256dh"), field("auth"));
        if endpoint.is_empty() || p256dh.is_empty() || auth.is_empty() {
            return Err("device id bundle missing required fields".into());
        }
        let key = decode_key(&p256dh)
            .ok()
            .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok())
            .ok_or("p256dh is not a P-256 public key")?;
        let auth = decode_key(&auth)
            .ok()
            .filter(|a| a.len() == 16)
            .ok_or("auth is not a 16-byte secret")?;
        Ok(Subscription {
            endpoint,
            key,
            auth: Auth::from(
                <[u8; 16]>::try_from(auth.as_slice())
                    .map_err(|_| "auth is not a 16-byte secret")?,
            ),
        })
    }

    /// `payload` encrypted for this subscription: RFC 8291's aes128gcm body, one record.
    pub fn encrypt(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        web_push_native::encrypt(payload.to_vec(), &self.key, &self.auth)
            .map_err(|e| format!("cannot encrypt the push: {e}"))
    }
}

/// A key in either base64 alphabet, padded or not (what browsers, webpush-go and MPNS's config
/// take).
pub fn decode_key(key: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let trimmed = key.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD.decode(key))
        .or_else(|_| URL_SAFE.decode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device_id(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn a_bad_device_id_says_what_is_wrong_without_its_values() {
        for (id, why) in [
            ("***".to_string(), "failed to base64url-decode"),
            (device_id("not json"), "failed to JSON-decode"),
            (
                device_id(r#"{"endpoint":"https://x/secret"}"#),
                "missing required fields",
            ),
            (
                device_id(
                    r#"{"endpoint":"https://x/secret","p256dh":"AAAA","auth":"c2VjcmV0c2VjcmV0c2VjcmV0"}"#,
                ),
                "p256dh is not",
            ),
        ] {
            let error = Subscription::decode(&id).err().unwrap();
            assert!(error.contains(why), "{error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
