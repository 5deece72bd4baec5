//! Google service-account credentials and the OAuth2 JWT-bearer grant that turns them into an
//! FCM access token (cached and refreshed by `crate::oauth`).

use std::time::{SystemTime, UNIX_EPOCH};

use gojson::decode_object;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub token_uri: String,
    key: EncodingKey,
    key_id: String,
}

impl ServiceAccount {
    /// Reads and checks the service-account file: a bad file or key is a start-up error.
    pub fn load(path: &str, token_uri_override: &str) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("ServiceFileLocation {path}: {e}"))?;
        let o = decode_object(&bytes, "google.credentialsFile")
            .map_err(|e| format!("ServiceFileLocation {path}: {e}"))?;
        let field = |k: &str| {
            o.string(k)
                .map_err(|e| format!("ServiceFileLocation {path}: {e}"))
        };
        if field("type")? != "service_account" {
            return Err(format!(
                "ServiceFileLocation {path}: not a service account key (\"type\" must be \"service_account\")"
            ));
        }
        let mut project_id = field("project_id")?;
        if project_id.is_empty() {
            project_id = ["GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|p| !p.is_empty()))
                .ok_or(format!("ServiceFileLocation {path}: no project_id, and neither GOOGLE_CLOUD_PROJECT nor GCLOUD_PROJECT is set"))?;
        }
        let client_email = field("client_email")?;
        if client_email.is_empty() {
            return Err(format!("ServiceFileLocation {path}: no client_email"));
        }
        let key = EncodingKey::from_rsa_pem(field("private_key")?.as_bytes()).map_err(|e| {
            format!("ServiceFileLocation {path}: private_key is not an RSA PEM key: {e}")
        })?;
        let token_uri = [token_uri_override.to_string(), field("token_uri")?]
            .into_iter()
            .find(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        let account = ServiceAccount {
            project_id,
            client_email,
            token_uri,
            key,
            key_id: field("private_key_id")?,
        };
        account.assertion()?; // a key that cannot sign fails now, not at the first push
        Ok(account)
    }

    /// The signed JWT of the JWT-bearer grant (RFC 7523).
    fn assertion(&self) -> Result<String, String> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: u64,
            exp: u64,
        }
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = Header::new(Algorithm::RS256);
        if !self.key_id.is_empty() {
            header.kid = Some(self.key_id.clone());
        }
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + 3600,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the OAuth2 assertion: {e}"))
    }
}

impl crate::oauth::Grant for ServiceAccount {
    fn token_uri(&self) -> &str {
        &self.token_uri
    }

    fn form(&self) -> Result<Vec<(&'static str, String)>, String> {
        Ok(vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string(),
            ),
            ("assertion", self.assertion()?),
        ])
    }
}
