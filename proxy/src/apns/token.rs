//! APNs provider-token auth: one ES256 JWT per key (`kid` = key id, `iss` = team id), shared by
//! every request and re-signed before Apple's one-hour limit.

use std::{
    sync::RwLock,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Apple refuses tokens older than an hour and more than one new token per 20 minutes; MPNS
/// (apns2) re-signs at 50 minutes.
const REFRESH_AFTER: Duration = Duration::from_secs(3000);

pub struct TokenSigner {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    /// (bearer header value, issued at)
    current: RwLock<Option<(String, SystemTime)>>,
    signed: prometheus::IntCounter,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

impl TokenSigner {
    /// `p8` is the PKCS#8 PEM of the `.p8` file Apple issues.
    pub fn new(
        p8: &[u8],
        key_id: &str,
        team_id: &str,
        signed: prometheus::IntCounter,
    ) -> Result<Self, String> {
        let key = EncodingKey::from_ec_pem(p8)
            .map_err(|e| format!("AppleAuthKeyFile is not a PKCS#8 EC (P-256) key: {e}"))?;
        let signer = TokenSigner {
            key,
            key_id: key_id.to_string(),
            team_id: team_id.to_string(),
            current: RwLock::new(None),
            signed,
        };
        // Sign once now, so that a key that cannot sign is a start-up error.
        signer.sign()?;
        Ok(signer)
    }

    /// The current `authorization` header value, re-signing when it is due.
    pub fn bearer(&self) -> Result<String, String> {
        if let Some((token, issued)) = &*self.current.read().unwrap_or_else(|e| e.into_inner()) {
            if issued.elapsed().unwrap_or(Duration::MAX) < REFRESH_AFTER {
                return Ok(token.clone());
            }
        }
        self.sign()
    }

    /// After APNs answered `ExpiredProviderToken` to `rejected`: re-signs, unless another
    /// request already did (Apple throttles token changes).
    pub fn renew(&self, rejected: &str) -> Result<String, String> {
        if let Some((token, _)) = &*self.current.read().unwrap_or_else(|e| e.into_inner()) {
            if token != rejected {
                return Ok(token.clone());
            }
        }
        self.sign()
    }

    fn sign(&self) -> Result<String, String> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now();
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the APNs token: {e}"))?;
        let bearer = format!("bearer {jwt}");
        *current = Some((bearer.clone(), now));
        self.signed.inc();
        Ok(bearer)
    }
}
