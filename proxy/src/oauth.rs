//! An OAuth2 access token for a provider that wants one (FCM, HMS), whatever the grant: one
//! cached token per target; when it is due, one caller fetches a new one and the others wait
//! for that result instead of each asking the token endpoint (no thundering herd). A token the
//! provider refused is never handed out again.
//!
//! What it is not: the grant. Each provider says what it posts (`Grant`): Google's JWT-bearer
//! assertion (`fcm/oauth.rs`), Huawei's client credentials (`hms.rs`).

use std::{
    sync::RwLock,
    time::{Duration, Instant},
};

use crate::{
    delivery::{Answer, Lost, Verdict},
    outcome::Outcome,
    upstream,
};

/// The longest a token fetch may take, whatever the attempt's budget.
const MAX_FETCH_TIME: Duration = Duration::from_secs(10);
/// Refresh this long before the endpoint's expiry, so no request carries a token about to lapse.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What a provider posts to its token endpoint.
pub trait Grant: Send + Sync + 'static {
    fn token_uri(&self) -> &str;

    /// The form fields of one token request (signed afresh each time where the grant signs).
    fn form(&self) -> Result<Vec<(&'static str, String)>, String>;
}

#[derive(Clone)]
struct AccessToken {
    bearer: String,
    refresh_at: Instant,
}

pub struct TokenSource<G> {
    grant: G,
    /// The token endpoint's client: a fetch an hour, over whatever HTTP version it speaks.
    http: reqwest::Client,
    current: RwLock<Option<AccessToken>>,
    refreshing: tokio::sync::Mutex<()>,
    /// `pushgate_token_refreshes_total` of the target.
    fetched: prometheus::IntCounter,
}

/// Why no token could be had.
pub enum TokenError {
    /// The token endpoint answered and refused our credentials.
    Rejected(String),
    /// The token endpoint could not be reached or answered nonsense.
    Unavailable(String, Lost),
}

impl TokenError {
    /// The attempt's answer: FAIL with `reason`; refused credentials make the target
    /// NOT_SERVING, an unreachable endpoint is worth another attempt.
    pub fn answer(self, reason: &str) -> Answer {
        match self {
            TokenError::Rejected(e) => Answer::new(Outcome::fail(e, reason), Verdict::Refused),
            TokenError::Unavailable(e, lost) => {
                Answer::new(Outcome::fail(e, reason), Verdict::Transport(lost))
            }
        }
    }
}

impl<G: Grant> TokenSource<G> {
    pub fn new(grant: G, http: reqwest::Client, fetched: prometheus::IntCounter) -> Self {
        TokenSource {
            grant,
            http,
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            fetched,
        }
    }

    /// The provider's `credential`: the bearer, or the attempt's answer with `reason`.
    pub async fn credential(
        &self,
        refused: Option<&str>,
        timeout: Duration,
        reason: &str,
    ) -> Result<Option<String>, Answer> {
        match self.bearer(refused, timeout).await {
            Ok(bearer) => Ok(Some(bearer)),
            Err(e) => Err(e.answer(reason)),
        }
    }

    fn cached(&self) -> Option<String> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.bearer.clone())
    }

    /// A valid `Bearer …` header value. `rejected` is a token the provider just refused: it is
    /// not handed out again. A fetch takes at most `timeout`, the attempt's budget: a token
    /// endpoint that hangs is a failing upstream, not a push that outlives its send budget.
    pub async fn bearer(
        &self,
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
        let fresh = self.fetch(timeout).await?;
        self.fetched.inc();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh.bearer)
    }

    async fn fetch(&self, timeout: Duration) -> Result<AccessToken, TokenError> {
        let form = self.grant.form().map_err(TokenError::Rejected)?;
        let request = self
            .http
            .post(self.grant.token_uri())
            .timeout(timeout.min(MAX_FETCH_TIME))
            .form(&form);
        let reply = upstream::exchange(request).await.map_err(|e| {
            let lost = upstream::lost(&e);
            let text = format!(
                "cannot reach the OAuth2 token endpoint: {}",
                upstream::describe(e)
            );
            TokenError::Unavailable(text, lost)
        })?;
        let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        if !reply.status.is_success() {
            let error = json["error"].as_str().unwrap_or("").to_string();
            let text = format!(
                "the OAuth2 token endpoint answered {}: {error}",
                reply.status
            );
            return Err(if reply.status.is_client_error() {
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
