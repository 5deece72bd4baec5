//! Google service-account credentials and the OAuth2 JWT-bearer grant that turns them into an
//! FCM access token. One cached token per target; when it is due, one caller refreshes it and
//! the others wait for that result instead of each asking Google (no thundering herd).

use std::{
    sync::RwLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use gojson::decode_object;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::{delivery::Lost, upstream};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The longest a token fetch may take, whatever the attempt's budget.
const MAX_FETCH_TIME: Duration = Duration::from_secs(10);
/// Refresh this long before Google's expiry, so no request carries a token about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

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

#[derive(Clone)]
struct AccessToken {
    bearer: String,
    refresh_at: Instant,
}

pub struct TokenSource {
    account: ServiceAccount,
    current: RwLock<Option<AccessToken>>,
    refreshing: tokio::sync::Mutex<()>,
    fetched: prometheus::IntCounter,
}

/// Why no token could be had.
pub enum TokenError {
    /// The token endpoint answered and refused our credentials.
    Rejected(String),
    /// The token endpoint could not be reached or answered nonsense.
    Unavailable(String, Lost),
}

impl TokenSource {
    pub fn new(account: ServiceAccount, fetched: prometheus::IntCounter) -> Self {
        TokenSource {
            account,
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            fetched,
        }
    }

    fn cached(&self) -> Option<String> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.bearer.clone())
    }

    /// A valid `Bearer …` header value. `rejected` is a token FCM just refused with 401: it is
    /// not handed out again. A fetch takes at most `timeout`, the attempt's budget: a token
    /// endpoint that hangs is a failing upstream, not a push that outlives its send budget.
    pub async fn bearer(
        &self,
        http: &reqwest::Client,
        rejected: Option<&str>,
        timeout: Duration,
    ) -> Result<String, TokenError> {
        if let Some(token) = self.cached().filter(|t| Some(t.as_str()) != rejected) {
            return Ok(token);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        // Whoever held the lock before us may have refreshed it already.
        if let Some(token) = self.cached().filter(|t| Some(t.as_str()) != rejected) {
            return Ok(token);
        }
        let fresh = self.fetch(http, timeout).await?;
        self.fetched.inc();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh.bearer)
    }

    async fn fetch(
        &self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<AccessToken, TokenError> {
        let assertion = self.account.assertion().map_err(TokenError::Rejected)?;
        let response = http
            .post(&self.account.token_uri)
            .timeout(timeout.min(MAX_FETCH_TIME))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                let lost = upstream::lost(&e);
                let text = format!(
                    "cannot reach the OAuth2 token endpoint: {}",
                    upstream::describe(e)
                );
                TokenError::Unavailable(text, lost)
            })?;
        let status = response.status();
        let body = upstream::read_answer(response).await.unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            let error = json["error"].as_str().unwrap_or("").to_string();
            let text = format!("the OAuth2 token endpoint answered {status}: {error}");
            return Err(if status.is_client_error() {
                TokenError::Rejected(text)
            } else {
                TokenError::Unavailable(text, Lost::Connection)
            });
        }
        let token = json["access_token"].as_str().ok_or_else(|| {
            TokenError::Unavailable(
                "the OAuth2 answer has no access_token".into(),
                Lost::Connection,
            )
        })?;
        let lifetime = Duration::from_secs(json["expires_in"].as_u64().unwrap_or(3600));
        Ok(AccessToken {
            bearer: format!("Bearer {token}"),
            refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN),
        })
    }
}
