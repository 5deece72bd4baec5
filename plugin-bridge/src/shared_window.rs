//! `ThrottleEnforce`'s one-second window counted in Redis (`ThrottleRedisURL`), so that every
//! replica behind a balancer shares one quota instead of each granting its own.
//!
//! One atomic script per request increments the key's counter for the current second of the
//! Redis server's clock (so replicas with skewed clocks still share windows) and lets it expire
//! soon after. What it is not: a different limit. The window, the key (`ThrottleVaryByHeader`)
//! and the answers are the in-memory limiter's (`throttle.rs`).

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// Increments this second's counter of KEYS[1] and returns it. The second comes from Redis's
/// own clock; the key lives two seconds.
const COUNT: &str = r"
local second = redis.call('TIME')[1]
local key = KEYS[1] .. ':' .. second
local n = redis.call('INCR', key)
if n == 1 then redis.call('EXPIRE', key, 2) end
return n
";

/// Longest a request waits for Redis before the failure mode decides.
const TIMEOUT: Duration = Duration::from_millis(250);

pub struct SharedWindow {
    client: redis::Client,
    /// Made on first use (Redis may start after pushgate); it reconnects by itself after.
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    script: redis::Script,
    /// When asking Redis last failed. For a second after, requests do not ask (one request a
    /// second does): while Redis is unreachable each ask costs up to its timeout, which every
    /// push would otherwise pay.
    failed_at: std::sync::Mutex<Option<Instant>>,
}

impl SharedWindow {
    /// Checks the URL only; connecting waits for the first request.
    pub fn new(url: &str) -> Result<SharedWindow, String> {
        let client = redis::Client::open(url)
            .map_err(|e| format!("ThrottleRedisURL is not a Redis URL: {e}"))?;
        Ok(SharedWindow {
            client,
            connection: tokio::sync::Mutex::new(None),
            script: redis::Script::new(COUNT),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    /// The request count of `key` in the current second, this request included.
    pub async fn count(&self, key: &str) -> Result<u64, String> {
        {
            let mut failed_at = self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
            match *failed_at {
                None => {}
                Some(at) if at.elapsed() < Duration::from_secs(1) => {
                    return Err("Redis failed less than a second ago".into())
                }
                // This request asks again; the others keep failing at once until it knows.
                Some(_) => *failed_at = Some(Instant::now()),
            }
        }
        let counted = self.ask(key).await;
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = match counted {
            Ok(_) => None,
            Err(_) => Some(Instant::now()),
        };
        counted
    }

    async fn ask(&self, key: &str) -> Result<u64, String> {
        let mut connection = self.connection().await?;
        let invocation = self.script.key(format!("pushgate:throttle:{key}"));
        let counted = invocation.invoke_async::<u64>(&mut connection);
        match tokio::time::timeout(TIMEOUT, counted).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("Redis: {e}")),
            Err(_) => Err(format!("Redis did not answer within {TIMEOUT:?}")),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, String> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let made = self.client.get_connection_manager_with_config(config);
        match tokio::time::timeout(TIMEOUT * 2, made).await {
            Ok(Ok(connection)) => {
                *slot = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(e)) => Err(format!("cannot connect to Redis: {e}")),
            Err(_) => Err("cannot connect to Redis: timed out".into()),
        }
    }
}
