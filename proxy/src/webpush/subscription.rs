//! A Web Push subscription as the Mattermost server hands it over in the device id: base64url
//! (no padding) of `{"endpoint": …, "p256dh": …, "auth": …}` (MPNS's pull request 166). The
//! endpoint and `auth` together let anyone push to the device: neither is ever logged. Errors
//! are MPNS's texts (Go's base64 and JSON errors, webpush-go's key errors), never the values.

use base64::{
    alphabet,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
    Engine,
};
use web_push_native::{p256, Auth};

/// Go's `base64.RawURLEncoding` and `URLEncoding`/`StdEncoding`: unlike base64's strict
/// defaults, Go ignores set bits after the last full byte.
const GO_RAW_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);
const GO_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// The device id's contents, keys still encoded: what MPNS checks before it sends.
pub struct Bundle {
    pub endpoint: String,
    p256dh: String,
    auth: String,
}

pub struct Subscription {
    /// The device's P-256 key (`p256dh`).
    key: p256::PublicKey,
    /// The device's 16-byte authentication secret (`auth`).
    auth: Auth,
}

impl Bundle {
    /// The bundle in `device_id`.
    pub fn decode(device_id: &str) -> Result<Bundle, String> {
        let raw = GO_RAW_URL
            .decode(device_id)
            .map_err(|e| format!("failed to base64url-decode device id: {}", go_error(&e)))?;
        let json = gojson::decode_object(&raw, "server.webPushBundle")
            .map_err(|e| format!("failed to JSON-decode device id bundle: {e}"))?;
        let mut fields = json.reader();
        let (endpoint, p256dh, auth) = (
            fields.string("endpoint"),
            fields.string("p256dh"),
            fields.string("auth"),
        );
        fields
            .finish()
            .map_err(|e| format!("failed to JSON-decode device id bundle: {e}"))?;
        if endpoint.is_empty() || p256dh.is_empty() || auth.is_empty() {
            return Err("device id bundle missing required fields".into());
        }
        Ok(Bundle {
            endpoint,
            p256dh,
            auth,
        })
    }

    /// The device's keys, as webpush-go reads them (any base64, padded or not).
    pub fn keys(&self) -> Result<Subscription, String> {
        let auth = subscription_key(&self.auth)?;
        let key = p256::PublicKey::from_sec1_bytes(&subscription_key(&self.p256dh)?)
            .map_err(|_| "Unmarshal Error: Public key is not a valid point on the curve")?;
        // RFC 8291 fixes 16 bytes; webpush-go takes any length, and a relay would refuse it.
        let auth = <[u8; 16]>::try_from(auth.as_slice())
            .map_err(|_| "auth is not a 16-byte secret".to_string())?;
        Ok(Subscription {
            key,
            auth: Auth::from(auth),
        })
    }
}

impl Subscription {
    /// `payload` encrypted for this subscription: RFC 8291's aes128gcm body, one record.
    pub fn encrypt(&self, payload: &[u8]) -> Result<Vec<u8>, String> {
        web_push_native::encrypt(payload.to_vec(), &self.key, &self.auth)
            .map_err(|e| format!("cannot encrypt the push: {e}"))
    }
}

/// A subscription key as webpush-go decodes one: padded to a multiple of four, then the
/// standard alphabet, then the URL one (whose error is the answer).
fn subscription_key(key: &str) -> Result<Vec<u8>, String> {
    let padded = format!("{key}{}", "=".repeat((4 - key.len() % 4) % 4));
    GO_STD
        .decode(&padded)
        .or_else(|_| GO_URL.decode(&padded))
        .map_err(|e| go_error(&e))
}

/// Go's text for a base64 error: where the input stops being base64.
fn go_error(e: &base64::DecodeError) -> String {
    let at = match *e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            at
        }
        base64::DecodeError::InvalidLength(len) => len,
        base64::DecodeError::InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {at}")
}

/// A VAPID key in either base64 alphabet, padded or not (what browsers, webpush-go and MPNS's
/// config take).
pub fn decode_key(key: &str) -> Result<Vec<u8>, String> {
    GO_RAW_URL
        .decode(key.trim_end_matches('='))
        .or_else(|_| GO_STD.decode(key))
        .map_err(|e| go_error(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device_id(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn a_bad_device_id_says_what_is_wrong_without_its_values() {
        let keys = |id: String| Bundle::decode(&id).and_then(|b| b.keys().map(|_| ()));
        for (id, why) in [
            (
                "***".to_string(),
                "failed to base64url-decode device id: illegal base64 data at input byte 0",
            ),
            (
                device_id("endpoint"),
                "failed to JSON-decode device id bundle: invalid character 'e' looking for beginning of value",
            ),
            (
                device_id(r#"{"endpoint":7}"#),
                "failed to JSON-decode device id bundle: json: cannot unmarshal number into Go struct field webPushBundle.endpoint of type string",
            ),
            (
                device_id(r#"{"endpoint":"https://x/secret"}"#),
                "device id bundle missing required fields",
            ),
            (
                device_id(
                    r#"{"endpoint":"https://x/secret","p256dh":"AAAA","auth":"c2VjcmV0c2VjcmV0c2VjcmV0"}"#,
                ),
                "Unmarshal Error: Public key is not a valid point on the curve",
            ),
            (
                device_id(r#"{"endpoint":"https://x/secret","p256dh":"AA","auth":"se!cret"}"#),
                "illegal base64 data at input byte 2",
            ),
        ] {
            assert_eq!(keys(id).err().unwrap(), why);
        }
    }

    #[test]
    fn keys_decode_as_webpush_go_decodes_them() {
        // Unpadded or padded, either alphabet, stray bits after the last byte ignored.
        for key in ["_-8", "_-8=", "/+8", "/+8=", "_-9"] {
            assert_eq!(subscription_key(key).unwrap(), vec![0xff, 0xef], "{key}");
        }
    }
}
