//! APNs provider-token auth: one ES256 JWT per key (`kid` = key id, `iss` = team id), shared by
//! every request and re-signed before Apple's one-hour limit.
//!
//! With a shared-state Redis (`SharedStateRedisURL`, or `ThrottleRedisURL`) every replica uses
//! the same token per key and team: the first that finds none (or one due) signs and offers it,
//! one atomic script keeps the first offer, the others take it. Apple answers
//! `TooManyProviderTokenUpdates` to a fleet whose every process signs its own. Redis unreachable:
//! each replica signs its own, as without Redis (logged once a minute); no push fails for it.

use std::{
    sync::RwLock,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pushgate_bridge::redis_link::RedisLink;
use serde::Serialize;

/// Apple refuses tokens older than an hour and more than one new token per 20 minutes; MPNS
/// (apns2) re-signs at 50 minutes. The fleet's token is replaced at the same age, so a new one
/// comes at most once in 50 minutes.
const REFRESH_AFTER: Duration = Duration::from_secs(3000);

/// A shared token outlives its use by a little, then Redis forgets it.
const SHARED_TTL: Duration = Duration::from_secs(3300);

/// KEYS[1]: the key and team's token, stored as "<iat> <bearer>". ARGV: the offered
/// "<iat> <bearer>" (empty: only read), the age in seconds at which a token is due, and the
/// bearer APNs just refused (empty: none), the time to live. Returns the token to use, or
/// nothing when there is none fresh and none was offered. Ages are by Redis's clock.
const AGREE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local space = string.find(current, ' ', 1, true)
  local iat = tonumber(string.sub(current, 1, space - 1))
  local now = tonumber(redis.call('TIME')[1])
  if string.sub(current, space + 1) ~= ARGV[3] and iat + tonumber(ARGV[2]) > now then
    return current
  end
end
if ARGV[1] == '' then return false end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
return ARGV[1]
";

pub struct TokenSigner {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    /// (bearer header value, issued at)
    current: RwLock<Option<(String, SystemTime)>>,
    /// One refresh at a time: the others wait for its token.
    refreshing: tokio::sync::Mutex<()>,
    shared: Option<Shared>,
    signed: prometheus::IntCounter,
}

/// The fleet's token in Redis.
struct Shared {
    link: RedisLink,
    script: redis::Script,
    /// `pushgate:apns-token:<team>:<key id>`.
    key: String,
    /// When the unreachable Redis was last logged.
    logged: std::sync::Mutex<Option<Instant>>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

impl TokenSigner {
    /// `p8` is the PKCS#8 PEM of the `.p8` file Apple issues; `shared_redis` the shared-state
    /// Redis URL, or "".
    pub fn new(
        p8: &[u8],
        key_id: &str,
        team_id: &str,
        shared_redis: &str,
        signed: prometheus::IntCounter,
    ) -> Result<Self, String> {
        let key = EncodingKey::from_ec_pem(p8)
            .map_err(|e| format!("AppleAuthKeyFile is not a PKCS#8 EC (P-256) key: {e}"))?;
        let shared = if shared_redis.is_empty() {
            None
        } else {
            Some(Shared {
                link: RedisLink::new(shared_redis, "SharedStateRedisURL")?,
                script: redis::Script::new(AGREE),
                key: format!("pushgate:apns-token:{team_id}:{key_id}"),
                logged: std::sync::Mutex::new(None),
            })
        };
        let signer = TokenSigner {
            key,
            key_id: key_id.to_string(),
            team_id: team_id.to_string(),
            current: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            shared,
            signed,
        };
        // A key that cannot sign is a start-up error; the token itself waits for the first push.
        signer.encode(0)?;
        Ok(signer)
    }

    /// The current `authorization` header value, refreshed when it is due.
    pub async fn bearer(&self) -> Result<String, String> {
        match self.fresh() {
            Some(token) => Ok(token),
            None => self.refresh(None).await,
        }
    }

    /// After APNs answered `ExpiredProviderToken` to `rejected`: a new token, unless another
    /// request already got one (Apple throttles token changes).
    pub async fn renew(&self, rejected: &str) -> Result<String, String> {
        match self.local() {
            Some((token, _)) if token != rejected => Ok(token),
            _ => self.refresh(Some(rejected)).await,
        }
    }

    fn local(&self) -> Option<(String, SystemTime)> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fresh(&self) -> Option<String> {
        let (token, issued) = self.local()?;
        (issued.elapsed().unwrap_or(Duration::MAX) < REFRESH_AFTER).then_some(token)
    }

    async fn refresh(&self, rejected: Option<&str>) -> Result<String, String> {
        let _one_at_a_time = self.refreshing.lock().await;
        // Another request may have refreshed while this one waited.
        match (self.local(), rejected) {
            (Some((token, _)), Some(rejected)) if token != rejected => return Ok(token),
            (_, None) => {
                if let Some(token) = self.fresh() {
                    return Ok(token);
                }
            }
            _ => {}
        }
        let (token, issued) = match &self.shared {
            None => self.sign()?,
            Some(shared) => self.agree(shared, rejected.unwrap_or("")).await?,
        };
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some((token.clone(), issued));
        Ok(token)
    }

    /// The fleet's token: the one in Redis if fresh, else one signed here and offered.
    async fn agree(&self, shared: &Shared, rejected: &str) -> Result<(String, SystemTime), String> {
        let stored = match shared.ask("", rejected).await {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                let (token, issued) = self.sign()?;
                let offer = format!("{} {token}", unix_secs(issued));
                match shared.ask(&offer, rejected).await {
                    Ok(Some(stored)) => stored,
                    // Redis keeps an offer or answers a fresher token; never nothing.
                    Ok(None) => return Ok((token, issued)),
                    Err(e) => {
                        shared.unreachable(&e);
                        return Ok((token, issued));
                    }
                }
            }
            Err(e) => {
                shared.unreachable(&e);
                return self.sign();
            }
        };
        match parse_stored(&stored) {
            Some(agreed) => Ok(agreed),
            None => self.sign(),
        }
    }

    /// A new token, counted in `pushgate_token_refreshes_total`.
    fn sign(&self) -> Result<(String, SystemTime), String> {
        let iat = unix_secs(SystemTime::now());
        let jwt = self.encode(iat)?;
        self.signed.inc();
        Ok((
            format!("bearer {jwt}"),
            UNIX_EPOCH + Duration::from_secs(iat),
        ))
    }

    fn encode(&self, iat: u64) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        header.typ = None;
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the APNs token: {e}"))
    }
}

impl Shared {
    /// Runs the script: the fresh token, after keeping `offer` when there was none.
    async fn ask(&self, offer: &str, rejected: &str) -> Result<Option<String>, String> {
        let due = REFRESH_AFTER.as_secs().to_string();
        let ttl = SHARED_TTL.as_secs().to_string();
        self.link
            .run(&self.script, &[&self.key], &[offer, &due, rejected, &ttl])
            .await
    }

    fn unreachable(&self, error: &str) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
            *logged = Some(Instant::now());
            tracing::error!(error = %error, "APNs provider tokens: the shared-state Redis cannot be reached; this replica signs its own until it can (logged once a minute)");
        }
    }
}

/// "<iat> <bearer>" as stored in Redis.
fn parse_stored(stored: &str) -> Option<(String, SystemTime)> {
    let (iat, bearer) = stored.split_once(' ')?;
    let iat: u64 = iat.parse().ok()?;
    Some((bearer.to_string(), UNIX_EPOCH + Duration::from_secs(iat)))
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
